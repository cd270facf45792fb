import assert from 'node:assert/strict';
import { blockedByHumanGate, findCycle, graphProblems, inStartOrder, readySet } from '../../workflows/graph';
import { DEFAULT_TICKET_ORDER, type TicketKind, type TicketState } from '../../workflows/types';

const n = (id: string, ...dependsOn: string[]) => ({ id, dependsOn });

describe('graph', () => {
  it('finds no cycle in a chain', () => {
    assert.equal(findCycle([n('a'), n('b', 'a'), n('c', 'b')]), undefined);
  });

  it('names the cycle it finds, in dependency order', () => {
    assert.deepEqual(findCycle([n('a', 'c'), n('b', 'a'), n('c', 'b'), n('d')]), ['a', 'c', 'b', 'a']);
  });

  it('reports duplicate ids, unknown dependencies and cycles with the fix', () => {
    const problems = graphProblems([n('a'), n('a'), n('b', 'ghost'), n('x', 'y'), n('y', 'x')]);
    assert.equal(problems.length, 3);
    assert.match(problems[0], /duplicate ticket id "a": give each ticket its own id/);
    assert.match(problems[1], /ticket "b" field "dependsOn" names unknown ticket "ghost"/);
    assert.match(problems[2], /dependency cycle x -> y -> x: remove one of these dependsOn edges/);
  });

  it('reports a ticket that depends on itself', () => {
    assert.match(graphProblems([n('a', 'a')]).join('\n'), /ticket "a" depends on itself/);
  });

  it('puts a ticket in the ready set only when every dependency is done', () => {
    const nodes = [n('a'), n('b', 'a'), n('c', 'a', 'b'), n('d')];
    const states = new Map<string, TicketState>([
      ['a', 'done'],
      ['b', 'merged'],
      ['c', 'todo'],
      ['d', 'todo'],
    ]);
    assert.deepEqual(readySet(nodes, states, new Set()), ['b', 'd']);
    states.set('b', 'done');
    assert.deepEqual(readySet(nodes, states, new Set(['b', 'd'])), ['c']);
  });

  it('leaves started, done and human-gated tickets out of the ready set', () => {
    const states = new Map<string, TicketState>([
      ['a', 'done'],
      ['b', 'human-gated'],
      ['c', 'todo'],
    ]);
    assert.deepEqual(readySet([n('a'), n('b'), n('c')], states, new Set(['c'])), []);
  });

  it('finds dependents blocked by a human-gated ticket, through chains, naming the root blocker', () => {
    const states = new Map<string, TicketState>([
      ['a', 'human-gated'],
      ['b', 'todo'],
      ['c', 'todo'],
      ['d', 'todo'],
    ]);
    const blocked = blockedByHumanGate([n('a'), n('b', 'a'), n('c', 'b'), n('d')], states);
    assert.deepEqual([...blocked], [
      ['b', 'a'],
      ['c', 'a'],
    ]);
  });

  describe('start order (issue 28 item 6)', () => {
    const kinds = new Map<string, TicketKind | undefined>([
      ['r1', 'refactor'],
      ['f1', 'feature'],
      ['c1', 'chore'],
      ['b1', 'bug'],
      ['f2', 'feature'],
      ['old', undefined],
      ['b2', 'bug'],
      ['d1', 'discovered'],
    ]);
    const ids = [...kinds.keys()];
    const kindOf = (id: string) => kinds.get(id);

    it('starts bugs, then features, then chores and refactors by default, each kind in the tracker\'s order', () => {
      assert.deepEqual(inStartOrder(ids, kindOf, DEFAULT_TICKET_ORDER), ['b1', 'b2', 'f1', 'f2', 'old', 'd1', 'c1', 'r1']);
    });

    it('counts a ticket whose kind is unknown (loaded before kinds were kept) as a feature', () => {
      assert.deepEqual(inStartOrder(['old', 'f1', 'b1'], kindOf, ['bug', 'feature']), ['b1', 'old', 'f1']);
    });

    it('follows a batch file\'s order, kinds it leaves out last in the tracker\'s order', () => {
      assert.deepEqual(inStartOrder(ids, kindOf, ['refactor', 'chore']), ['r1', 'c1', 'f1', 'b1', 'f2', 'old', 'b2', 'd1']);
    });

    it('keeps the tracker\'s order alone with "tracker"', () => {
      assert.deepEqual(inStartOrder(ids, kindOf, 'tracker'), ids);
    });
  });
});
