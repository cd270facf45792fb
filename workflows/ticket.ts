/**
 * ticketWorkflow: one ticket from plan to done or human-gated (DESIGN.md "Ticket lifecycle"); a child of its batch.
 *
 *   take (tracker: in-progress) -> [approve first: an agent's unchecked discovered ticket] -> plan -> [plan gate]
 *   -> rounds of attempts (implement -> validate -> land), each spent round escalated (self-heal, else a person)
 *   -> tracker: merged -> deploy + verify-live, a failure escalated -> tracker: done
 *   (reopened by its batch, batch/reopen.ts: take -> revert its earlier landing -> rounds of attempts as above)
 *
 * The rooms: ticket/state.ts (what the run knows: pure), ticket/effects.ts (handlers, signals to the batch, tracker
 * writes, locks, host routing, human gates), ticket/attempt.ts, ticket/land.ts, ticket/verify.ts, ticket/heal.ts
 * (self-heal and the one `escalate()` ladder), ticket/discovered.ts, ticket/approve-first.ts, ticket/plan.ts (the plan,
 * its profile and the split hook). Deterministic: no I/O here, only activities, timers and conditions.
 */
import { allHandlersFinished, condition, isCancellation } from '@temporalio/workflow';
import { ticketEndedSignal } from './messages';
import * as metrics from './metrics';
import { approvedToStart } from './ticket/approve-first';
import { attemptRound } from './ticket/attempt';
import { TicketEffects } from './ticket/effects';
import { isEpic, runEpic } from './ticket/epic';
import { escalate, guarded } from './ticket/heal';
import { onRegression, revertEarlierLanding } from './ticket/revert';
import { plan } from './ticket/plan';
import { deployAndVerify } from './ticket/verify';
import type { Ticket, TicketInput, TicketReport, TicketState } from './types';

/** Why a ticket ended human-gated, as its report says. */
type End = { end: string };

/**
 * The workflow: runs the lifecycle and tells the batch how it ended by the `ticketEnded` signal (to the batch's
 * workflow id, so a batch that continued as new gets it), with the report minus its timeline; a ticket workflow that
 * fails sends the failure's message; one started from its graph node (`readSelf`) whose first write finds its ticket
 * moved by someone else takes nothing and sends `refused` (see NotTaken). Returns the whole report.
 */
export async function ticketWorkflow(input: TicketInput): Promise<TicketReport> {
  const fx = new TicketEffects(input);
  fx.listen();
  let report: TicketReport;
  try {
    const ran = await lifecycle(fx);
    if (ran instanceof NotTaken) {
      await fx.signalParent(ticketEndedSignal, [{ ticketId: input.ticket.id, refused: ran.found }]);
      return ran.report(input.ticket);
    }
    report = ran;
  } catch (err) {
    // Cancellation is the batch's (or a person's) own doing: nothing to tell.
    if (!isCancellation(err)) await fx.signalParent(ticketEndedSignal, [{ ticketId: input.ticket.id, failure: (err as Error).message }]);
    throw err;
  }
  const { phases: _timeline, ...row } = report;
  await fx.signalParent(ticketEndedSignal, [{ ticketId: report.ticketId, report: row }]);
  return report;
}

/** The ticket's process, one step a line. */
async function lifecycle(fx: TicketEffects): Promise<TicketReport | NotTaken> {
  const taken = await take(fx);
  if (taken !== true) return taken instanceof NotTaken ? taken : finish(fx, 'human-gated', taken.end);
  if (fx.input.reopen) {
    // Its landing broke a done ticket after it ended done (batch/reopen.ts): revert, then back to work.
    if ((await revertEarlierLanding(fx, fx.input.reopen)) === 'kept') return finish(fx, 'done');
    fx.state.newRound(fx.config.maxAttempts);
  } else {
    const approved = await approvedToStart(fx);
    if (approved !== true) return finish(fx, 'human-gated', approved.end);
    if (isEpic(fx)) return runEpic(fx, (outcome, why) => finish(fx, outcome, why));
    const planned = await plan(fx);
    // Too big to implement as one ticket (an XL plan): split as an epic is decomposed.
    if (planned === 'split') return runEpic(fx, (outcome, why) => finish(fx, outcome, why));
    if (planned !== true) return finish(fx, 'human-gated', planned.end);
  }
  for (;;) {
    const merged = await attemptUntilMerged(fx);
    if (merged !== true) return finish(fx, 'human-gated', merged.end);
    const recorded = await guarded(fx, 'recording merged in the tracker', () => fx.writeState('merged', `merge ${fx.state.mergeCommit ?? ''}`.trim()));
    if (recorded === 'rejected') return finish(fx, 'human-gated', 'rejected after a harness fault');
    const live = await verifyUntilLive(fx);
    // Its landing broke a done ticket and was reverted: back to work, from the base with the revert.
    if (live === 'reverted') {
      fx.state.newRound(fx.config.maxAttempts);
      continue;
    }
    return live === true ? finish(fx, 'done') : finish(fx, 'human-gated', live.end);
  }
}

/**
 * Records `in-progress`. A ticket started from its graph node (`readSelf`) reads itself whole with that write, which
 * is refused when someone else moved the ticket since the batch last read it (a tracker tamper the batch settles with
 * a person). The tracker's own fields as they are now; the batch's edges, state and frozen finish line (probes,
 * allowed paths) stay, whatever the ticket file says (DESIGN.md "Trust boundaries").
 */
async function take(fx: TicketEffects): Promise<true | NotTaken | End> {
  fx.show();
  const expected = fx.state.lastWritten;
  const first = await guarded(fx, 'recording in-progress in the tracker', () => fx.writeState('in-progress', undefined, { take: fx.input.readSelf === true }));
  if (first === 'rejected') return { end: 'rejected after a harness fault' };
  if (first.refused !== undefined) return new NotTaken(first.refused, expected);
  if (first.read) {
    const { id, dependsOn, probes, allowPaths, state } = fx.ticket;
    fx.ticket = { ...first.read, id, dependsOn, probes, allowPaths, state };
    fx.show();
  }
  return true;
}

/** Rounds of attempts until one merges; a spent round is escalated, and a heal or a person's approve grants another. */
async function attemptUntilMerged(fx: TicketEffects): Promise<true | End> {
  const s = fx.state;
  for (;;) {
    const round = await attemptRound(fx);
    if (round === 'merged') return true;
    if (round === 'rejected') return { end: s.rejectedWhy ?? `protected change rejected at attempt ${s.attempt}` };
    if (round === 'blocked') return { end: `blocked by discovered ticket ${s.blockedBy ?? '?'}, which ended human-gated` };
    const stop = `${s.attempt} attempts failed; last: ${(s.lastFeedback ?? '').split('\n')[0]}`;
    const next = await escalate(fx, { at: 'attempts', stop: `attempts exhausted: ${stop}`, gate: 'attempts-exhausted', reason: stop, rejected: `rejected after ${s.attempt} attempts` });
    if (next !== 'again') return next;
    s.newRound(fx.config.maxAttempts);
  }
}

/**
 * Deploy and verify-live until the probes pass; a failure is escalated (a heal, a discovered gap, or a person). A
 * landing the guard finds broke a done ticket is reverted (ticket/revert.ts): 'reverted'.
 */
async function verifyUntilLive(fx: TicketEffects): Promise<true | End | 'reverted'> {
  const s = fx.state;
  for (;;) {
    const live = await guarded(fx, 'deploy and verify-live', () => deployAndVerify(fx));
    if (live === 'rejected') return { end: 'rejected after a harness fault in deploy or verify-live' };
    if (live === true) return true;
    if (typeof live !== 'string') return (await onRegression(fx, live.regressions, live.reverts)) === 'reverted' ? 'reverted' : true;
    s.failureNote = `verify-live failed: ${live.split('\n')[0]}`;
    s.signature = `probes: ${live.replace(/^(after \d+ rounds over \d+ ms|the same answer \d+ rounds in a row \(round \d+\)): /, '')}`;
    const next = await escalate(fx, { at: 'verify', stop: `verify-live failed after a clean merge: ${live}`, gate: 'verify-live-failed', reason: live, rejected: `verify-live failed: ${live}` });
    if (next !== 'again') return next;
  }
}

/** Records the outcome in the tracker (guarded: a person decides when it cannot be written) and builds the report. */
async function finish(fx: TicketEffects, outcome: 'done' | 'human-gated', why?: string): Promise<TicketReport> {
  const reason = fx.state.expired ?? why;
  fx.enter(outcome, reason);
  metrics.ticketFinished(outcome);
  // The batch learns the ticket's last state from its ticketEnded signal (the report's outcome): no progress signal.
  await guarded(fx, `recording ${outcome} in the tracker`, () => fx.writeState(outcome, reason, { announce: false }));
  await fx.settle();
  await condition(allHandlersFinished);
  return fx.state.report(fx.ticket, outcome, reason);
}

/**
 * A ticket started from its graph node that found another state in the tracker than the one it was started with
 * (someone moved it since the batch's last read): it wrote nothing and ran nothing; the batch records the tracker
 * tamper and waits for a person, as when its own read finds one.
 */
class NotTaken {
  constructor(
    readonly found: TicketState,
    readonly expected: TicketState,
  ) {}

  /** The workflow's result: human-gated, no attempt, the reason naming both states. */
  report(ticket: Ticket): TicketReport {
    const reason = `not taken: the tracker says ${this.found}, not ${this.expected}, without ratchet writing it (a tracker tamper); the batch waits for a person's resume`;
    return { ticketId: ticket.id, title: ticket.title, outcome: 'human-gated', attempts: 0, phases: [], phaseMs: {}, interventions: [], reason, tamperings: [], guardedBy: [], notTaken: this.found };
  }
}
