import assert from 'node:assert/strict';
import { blockedByHumanGate, findCycle, graphProblems, readySet } from '../../workflows/graph';
import type { TicketState } from '../../workflows/types';

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
});
