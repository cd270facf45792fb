/**
 * A ticket's run state (workflows/ticket/state.ts), without a server: the timeline, rounds of attempts, feedback,
 * gates and the report are what the `status` query, the Web UI and the batch's report show.
 */
import assert from 'node:assert/strict';
import { FEEDBACK_CHARS, FEEDBACK_ENTRIES, TicketRunState } from '../../workflows/ticket/state';

const ticket = { id: 't1', title: 'Add /health' };

describe('TicketRunState', () => {
  it('records each phase as a span with its attempt and the first line of its failure as the note', () => {
    const s = new TicketRunState(3, 'todo', 1_000);
    s.enter('plan', 1_000);
    s.nextAttempt();
    s.enter('implement', 1_500);
    s.enter('validate', 2_000);
    s.fail('gates: test', 'Attempt 1: gate "test" (exit 1) failed.\n--- test output ---');
    s.enter('implement', 3_500);
    assert.deepEqual(s.timeline, [
      { phase: 'plan', attempt: undefined, startedAt: 1_000, ms: 500, note: undefined },
      { phase: 'implement', attempt: 1, startedAt: 1_500, ms: 500, note: undefined },
      { phase: 'validate', attempt: 1, startedAt: 2_000, ms: 1_500, note: 'Attempt 1: gate "test" (exit 1) failed.' },
    ]);
    assert.equal(s.signature, 'gates: test');
  });

  it('allows maxAttempts per round and a new round after an approve, and refunds an attempt that waited for a blocker', () => {
    const s = new TicketRunState(2, 'todo', 0);
    assert.equal(s.nextAttempt(), true);
    assert.equal(s.nextAttempt(), true);
    assert.equal(s.nextAttempt(), false, 'the round is spent');
    assert.equal(s.status(ticket).maxAttempts, 2);
    s.newRound();
    assert.equal(s.status(ticket).maxAttempts, 4);
    assert.equal(s.nextAttempt(), true);
    s.refundAttempt();
    assert.equal(s.status(ticket).maxAttempts, 5);
    assert.equal(s.nextAttempt(), true);
    assert.equal(s.nextAttempt(), true);
    assert.equal(s.nextAttempt(), false);
    assert.equal(s.attempt, 5);
  });

  it('keeps the last few feedback entries, each cut to a few KB with its start and end', () => {
    const s = new TicketRunState(3, 'todo', 0);
    for (let i = 0; i < FEEDBACK_ENTRIES + 2; i++) s.addFeedback(`entry ${i}`);
    assert.deepEqual(s.feedback, Array.from({ length: FEEDBACK_ENTRIES }, (_, i) => `entry ${i + 2}`));
    s.addFeedback(`head\n${'x'.repeat(10_000)}\ntail`);
    const last = s.feedback.at(-1) as string;
    assert.ok(last.length <= FEEDBACK_CHARS + 10, `cut to ${last.length}`);
    assert.ok(last.startsWith('head') && last.endsWith('tail'));
  });

  it('refuses an approve with no "by" or while no gate waits, and records an answer as an intervention', () => {
    const s = new TicketRunState(3, 'in-progress', 0);
    assert.throws(() => s.checkDecision('t1', 'approve', { by: 'ann' }), /not waiting at a human gate: it is in phase queued/);
    s.enter('human-gate', 10);
    s.lastWritten = 'awaiting-human';
    s.openGate('plan', 'plan ready', 10);
    assert.throws(() => s.checkDecision('t1', 'approve', { by: ' ' }), /field "by" is " "/);
    s.checkDecision('t1', 'approve', { by: 'ann' });
    assert.deepEqual(s.decide('t1', 'approve', { by: 'ann', comment: 'ok', trackerState: 'in-progress' }), { ticketId: 't1', gate: 'plan', decision: 'approve' });
    assert.throws(() => s.checkDecision('t1', 'reject', { by: 'bob' }), /not waiting/, 'an answered gate takes no second answer');
    const d = s.closeGate('t1', 20);
    assert.equal(d.kind, 'approve');
    assert.deepEqual(s.interventions, [{ kind: 'approve', ticketId: 't1', gate: 'plan', by: 'ann', comment: 'ok', at: 20 }]);
    assert.equal(s.waiting, undefined);
    assert.equal(s.lastWritten, 'in-progress', 'an answer given in the tracker moved the state there itself');
  });

  it('answers status, the Web UI details and the report from the same state', () => {
    const s = new TicketRunState(3, 'todo', 0);
    s.enter('plan', 0);
    s.nextAttempt();
    s.enter('implement', 100);
    s.enter('merge', 300);
    s.mergeCommit = 'abc1234';
    s.pullRequest = { number: 7, url: 'https://example.invalid/pull/7' };
    s.enter('done', 400);
    const status = s.status(ticket);
    assert.equal(status.phase, 'done');
    assert.equal(status.mergeCommit, 'abc1234');
    assert.deepEqual(status.pullRequest, { number: 7, url: 'https://example.invalid/pull/7' });
    assert.match(s.details(ticket), /^### t1: Add \/health\nNow: \*\*done\*\* attempt 1\/3\nPull request: \[#7\]/);
    const report = s.report(ticket, 'done', undefined);
    assert.deepEqual(report.phaseMs, { plan: 100, implement: 200, merge: 100 });
    assert.equal(report.attempts, 1);
    assert.equal(report.heals, undefined, 'no heals: no list');
  });
});
