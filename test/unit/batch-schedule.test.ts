/**
 * The batch's schedule (workflows/batch/schedule.ts), without a server: what starts, what counts, what pauses the
 * batch, and that its carry comes back as it went.
 */
import assert from 'node:assert/strict';
import { BatchSchedule } from '../../workflows/batch/schedule';
import type { BatchConfig, LoadedBatch, TicketNode } from '../../workflows/types';

const config = { batchId: 'b1', maxParallel: 2, circuitBreaker: 2, discovery: { maxPerBatch: 10, maxPerTicket: 3 }, probes: [{ name: 'up', command: 'true', timeoutMs: 1000 }] } as unknown as BatchConfig;

function loaded(tickets: TicketNode[]): LoadedBatch {
  return { config: { ...config }, tickets, doneFingerprint: 'f'.repeat(64), trackerKey: 'k' };
}

const node = (id: string, dependsOn: string[] = [], state: TicketNode['state'] = 'todo'): TicketNode => ({ id, title: `Ticket ${id}`, dependsOn, state });
const row = (ticketId: string, outcome: 'done' | 'human-gated' = 'done') => ({ ticketId, outcome, attempts: 1, mergeCommit: outcome === 'done' ? 'c'.repeat(40) : undefined });

describe('BatchSchedule', () => {
  it('starts ready tickets up to maxParallel and a dependent as soon as its blocker reports done', () => {
    const s = BatchSchedule.loaded(loaded([node('a'), node('b'), node('c'), node('d', ['a'])]), 0);
    assert.deepEqual(s.ready(), ['a', 'b']);
    for (const id of s.ready()) s.start(id, 10);
    assert.deepEqual(s.ready(), [], 'both slots are taken');
    s.onEnded({ ticketId: 'a', report: row('a') }, 100);
    assert.deepEqual(s.ready(), ['c'], 'one slot is free: graph order');
    assert.equal(s.trusted().get('a'), 'done', 'its end set its state: d is ready in the same turn');
    const { input, unblockedMs } = s.start('d', 130);
    assert.equal(unblockedMs, 30, 'unblocked 30 ms after its blocker ended');
    assert.equal(input.readSelf, true);
    assert.equal(input.ticket.state, 'todo');
    assert.deepEqual(input.ticket.dependsOn, ['a']);
  });

  it('counts a final tracker state only with its own evidence; one it never wrote is a tracker tamper', () => {
    const s = BatchSchedule.loaded(loaded([node('a'), node('b', [], 'done')]), 0);
    assert.equal(s.evidence.b?.source, 'preexisting', 'done before the batch loaded counts');
    s.applyRead([{ id: 'a', state: 'done' }, { id: 'b', state: 'done' }], ['a', 'b'], 5);
    assert.equal(s.trusted().get('a'), 'todo', 'an agent wrote done: scheduling does not trust it');
    assert.deepEqual(s.tampers.map((t) => [t.ticketId, t.from, t.to]), [['a', 'todo', 'done']]);
    s.pauseIfNeeded();
    assert.equal(s.state, 'paused');
    assert.match(s.pausedReason ?? '', /tracker tamper: a went todo -> done/);
    assert.equal(s.mayStart(), false);
  });

  it('a resume restores what ratchet recorded and lets the batch run again', () => {
    const s = BatchSchedule.loaded(loaded([node('a')]), 0);
    s.applyRead([{ id: 'a', state: 'done' }], ['a'], 5);
    s.pauseIfNeeded();
    assert.throws(() => s.checkResume({ by: '' }, 'batch-b1'), /field "by" is ""/);
    assert.throws(() => s.checkResume({ by: 'ann', tamper: 'undo' as never }, 'batch-b1'), /"tamper" is "undo"/);
    s.checkResume({ by: 'ann' }, 'batch-b1');
    s.resume({ by: 'ann' }, 10);
    assert.equal(s.state, 'running');
    assert.deepEqual(s.settle.map((x) => [x.tamper.ticketId, x.how]), [['a', 'restore']]);
    assert.throws(() => s.checkResume({ by: 'ann' }, 'batch-b1'), /is running, not paused/);
    assert.equal(s.interventions().length, 1);
  });

  it('trips the circuit breaker after consecutive tickets end without done', () => {
    const s = BatchSchedule.loaded(loaded([node('a'), node('b'), node('c')]), 0);
    s.start('a', 0);
    s.start('b', 0);
    s.onEnded({ ticketId: 'a', report: row('a', 'human-gated') }, 1);
    s.onEnded({ ticketId: 'b', failure: 'boom' }, 2);
    s.pauseIfNeeded();
    assert.equal(s.state, 'paused');
    assert.match(s.pausedReason ?? '', /circuit breaker: 2 tickets in a row ended without done \(last: ticket b workflow failed: boom\)/);
  });

  it('ignores the end of a ticket it does not count as running', () => {
    const s = BatchSchedule.loaded(loaded([node('a')]), 0);
    s.onEnded({ ticketId: 'a', report: row('a') }, 1);
    assert.equal(s.evidence.a, undefined);
  });

  it('files discovered work into the graph: the ticket it blocks waits for it, parked, holding no slot', () => {
    const s = BatchSchedule.loaded(loaded([node('a'), node('b')]), 0);
    s.start('a', 0);
    s.onDiscovered({ ticketId: 'a', attempt: 1, work: [{ title: 'First this', body: '', acceptance: [], kind: 'chore', dependsOn: [], blocks: [], blocksThisTicket: true }] });
    const [d] = s.discoveries;
    assert.equal(s.overCap(d), undefined);
    s.addTicket({ ...d.work, id: 'a-d1', dependsOn: [], probes: [], allowPaths: [], state: 'todo' }, d.work.blocks);
    assert.deepEqual(s.byId.get('a')?.dependsOn, ['a-d1']);
    assert.deepEqual([...(s.parked.get('a') ?? [])], ['a-d1']);
    assert.deepEqual(s.ready(), ['b', 'a-d1'], 'the parked ticket holds no slot');
    s.start('a-d1', 5);
    s.onEnded({ ticketId: 'a-d1', report: row('a-d1') }, 9);
    assert.deepEqual(s.endedBlockers(), [['a', 'a-d1', 'done']]);
    assert.equal(s.parked.size, 0);
  });

  it('carries itself across continue-as-new unchanged', () => {
    const s = BatchSchedule.loaded(loaded([node('a'), node('b', ['a'])]), 0);
    s.start('a', 0);
    s.onEnded({ ticketId: 'a', report: row('a') }, 50);
    s.start('b', 60);
    const again = new BatchSchedule(JSON.parse(JSON.stringify(s.snapshot())));
    assert.deepEqual(JSON.parse(JSON.stringify(again.snapshot())), JSON.parse(JSON.stringify(s.snapshot())));
    assert.deepEqual([...again.running], ['b']);
    assert.equal(again.evidence.a?.outcome, 'done');
    assert.equal(again.status().endedCount, 1);
  });

  describe('the order the ready set starts in (issue 28 item 6)', () => {
    const kinded = (id: string, kind: TicketNode['kind'], dependsOn: string[] = []): TicketNode => ({ ...node(id, dependsOn), kind });
    const mixed = () => [kinded('r', 'refactor'), kinded('c', 'chore'), kinded('f', 'feature'), kinded('b', 'bug'), kinded('b2', 'bug', ['f'])];

    it('starts bugs and features before chores and refactors, in the tracker\'s order within a kind', () => {
      const s = BatchSchedule.loaded(loaded(mixed()), 0);
      let asked = 0;
      s.orderByKind = () => (asked++, true);
      assert.deepEqual(s.ready(), ['b', 'f']);
      assert.equal(asked, 1, 'the patch check is asked where the order changes what starts');
      for (const id of s.ready()) s.start(id, 10);
      s.onEnded({ ticketId: 'f', report: row('f') }, 20);
      assert.deepEqual(s.ready(), ['b2'], 'a bug made ready by its blocker goes before the chore and the refactor');
      s.start('b2', 30);
      s.onEnded({ ticketId: 'b', report: row('b') }, 40);
      s.onEnded({ ticketId: 'b2', report: row('b2') }, 50);
      assert.deepEqual(s.ready(), ['c', 'r']);
    });

    it('keeps the tracker\'s order for a history from before it (the patch check says no)', () => {
      const s = BatchSchedule.loaded(loaded(mixed()), 0);
      s.orderByKind = () => false;
      assert.deepEqual(s.ready(), ['r', 'c']);
    });

    it('asks no patch check when the order changes nothing (one kind, or nodes loaded before kinds were kept)', () => {
      const s = BatchSchedule.loaded(loaded([node('a'), node('b'), kinded('c', 'feature')]), 0);
      s.orderByKind = () => assert.fail('asked without need');
      assert.deepEqual(s.ready(), ['a', 'b']);
    });

    it('follows the batch file\'s order, or the tracker\'s alone with "tracker"', () => {
      const refactorsFirst = loaded(mixed());
      refactorsFirst.config.order = ['refactor', 'bug'];
      const s = BatchSchedule.loaded(refactorsFirst, 0);
      s.orderByKind = () => true;
      assert.deepEqual(s.ready(), ['r', 'b']);
      const plain = loaded(mixed());
      plain.config.order = 'tracker';
      const t = BatchSchedule.loaded(plain, 0);
      t.orderByKind = () => assert.fail('asked without need');
      assert.deepEqual(t.ready(), ['r', 'c']);
    });
  });
});
