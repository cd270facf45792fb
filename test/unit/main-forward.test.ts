/**
 * The pure state of the merge queue (workflows/merge-queue/line.ts) and the guard (workflows/guard/state.ts): which
 * commits are tested together, what a queue carries into its next run, the guard's rotation and a regression's
 * culprit.
 */
import assert from 'node:assert/strict';
import { GuardSet } from '../../workflows/guard/state';
import { MergeLine, RECENT_VERDICTS } from '../../workflows/merge-queue/line';
import type { CandidateChecks, QueueEntry } from '../../workflows/merge-queue/messages';

const checks = (batchId: string): CandidateChecks => ({
  ref: { batchId, repo: '/r', baseBranch: 'main', worktreesDir: '/w', artifactsDir: '/a' },
  gates: [{ name: 'test', command: 'npm test', timeoutMs: 1_000, files: [], tests: [], envFrom: [] }],
  setup: [],
  agentEnv: { env: {}, envFrom: [] },
  secrets: [],
  timeoutMs: 1_000,
  heartbeatMs: 1_000,
});
const entry = (ticketId: string, batchId = 'b', batchSize = 3): QueueEntry => ({
  requester: `ticket-${batchId}-${ticketId}`,
  requestId: `r-${batchId}-${ticketId}`,
  ticketId,
  title: ticketId,
  commit: `${ticketId}`.padEnd(40, '0'),
  baseCommit: '0'.repeat(40),
  attempt: 1,
  checks: checks(batchId),
  batchSize,
});

describe('the merge queue\'s line', () => {
  it('tests the first in line with those right behind it of the same batch, up to its batchSize', () => {
    const q = new MergeLine();
    for (const e of [entry('a'), entry('b'), entry('x', 'other'), entry('c'), entry('d')]) q.enter(e);
    assert.deepEqual(q.nextGroup().map((e) => e.ticketId), ['a', 'b'], 'another batch\'s commit ends the group');
    assert.deepEqual(q.nextGroup().map((e) => e.ticketId), ['x']);
    assert.deepEqual(q.nextGroup().map((e) => e.ticketId), ['c', 'd']);
    assert.deepEqual(q.nextGroup(), []);
  });

  it('keeps one place per request, answers a decided request with its verdict again, and lets a waiting one leave', () => {
    const q = new MergeLine();
    assert.equal(q.enter(entry('a')), undefined);
    assert.equal(q.enter(entry('a')), undefined);
    assert.equal(q.line.length, 1, 'a repeated request does not queue twice');
    const [a] = q.nextGroup();
    q.testing = [a];
    q.enter(entry('a'));
    assert.equal(q.line.length, 0, 'nor while it is under test');
    const verdict = { ticketId: 'a', requestId: a.requestId, outcome: 'merged' as const, commit: 'm'.repeat(40), candidate: 1, validated: true };
    q.decided(verdict);
    assert.deepEqual(q.enter(entry('a')), verdict);
    q.enter(entry('b'));
    q.leave(entry('b').requestId);
    assert.equal(q.line.length, 0);
  });

  it('carries the candidate under test back into the line, its verdicts (bounded) and its count into the next run', () => {
    const q = new MergeLine();
    q.enter(entry('a'));
    q.enter(entry('b'));
    q.testing = q.nextGroup();
    q.candidates = 4;
    for (let i = 0; i < RECENT_VERDICTS + 5; i++) q.decided({ ticketId: `t${i}`, requestId: `x${i}`, outcome: 'conflict', paths: [] });
    const next = new MergeLine(q.snapshot());
    assert.deepEqual(next.line.map((e) => e.ticketId), ['a', 'b'], 'the candidate under test is tested again');
    assert.equal(next.candidates, 4);
    assert.equal(next.status('k').recent.length, 20);
    assert.equal(next.snapshot().recent.length, RECENT_VERDICTS);
  });
});

describe('the guard\'s set', () => {
  const probes = [{ kind: 'command' as const, name: 'p', command: 'true', timeoutMs: 1_000, files: [] }];

  it('rotates through the set, never guards the ticket that just landed with itself, and runs all in the final round', () => {
    const g = new GuardSet();
    for (const t of ['a', 'b', 'c', 'd']) {
      g.landed(t, `${t}1`);
      g.join({ ticketId: t, probes }, `${t}1`);
    }
    const ids = (list: { ticketId: string }[]) => list.map((t) => t.ticketId);
    assert.deepEqual(ids(g.choose(2, false, 'e')), ['a', 'b']);
    assert.deepEqual(ids(g.choose(2, false, 'e')), ['c', 'd']);
    assert.deepEqual(ids(g.choose(2, false, 'e')), ['a', 'b']);
    assert.ok(!ids(g.choose(2, false, 'a')).includes('a'), 'the set less the one that landed');
    assert.deepEqual(ids(g.choose(2, true)), ['a', 'b', 'c', 'd']);
    assert.deepEqual(ids(g.choose('all', false, 'e')), ['a', 'b', 'c', 'd']);
  });

  it('names the first landing after a probe last passed as the culprit, and never a revert', () => {
    const g = new GuardSet();
    g.landed('a', 'a1');
    g.join({ ticketId: 'a', probes }, 'a1');
    const b = g.landed('b', 'b1');
    g.passed('a', b, 'p: exit 0');
    const c = g.landed('c', 'c1');
    g.landed('revert', 'r1', 'x1');
    const d = g.landed('d', 'd1');
    assert.ok(c < d);
    const r = g.regressed('a', 'p', d, 'exit 1: 404');
    assert.deepEqual(r && { culprit: r.culprit, commit: r.culpritCommit, suspects: r.suspects, before: r.before, after: r.after }, {
      culprit: 'c',
      commit: 'c1',
      suspects: ['c', 'd'],
      before: 'p: exit 0',
      after: 'exit 1: 404',
    });
    assert.equal(g.reverts(), 1);
    assert.equal(g.lastLanding(), 'd1');
  });

  it('forgets a reverted ticket until it lands and is verified again', () => {
    const g = new GuardSet();
    g.landed('a', 'a1');
    g.join({ ticketId: 'a', probes }, 'a1');
    g.leave('a');
    assert.equal(g.size(), 0);
    assert.deepEqual(new GuardSet(g.snapshot()).snapshot(), g.snapshot());
  });
});
