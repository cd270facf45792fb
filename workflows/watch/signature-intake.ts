/**
 * The signature's way into work (issue 27 items 3 and 4), pure: which failures go to agents, the ask for a fix slot,
 * and what a failed bisect says in the ticket.
 */
import type { FixSlotAsk } from './caps';
import type { CheckFailure } from './failure';
import type { WatchConfig } from './input';
import { signatureWorkflowId, type FailureSeen } from './messages';

/**
 * Whether a failure's ticket is for the intake batch's agents, and bisected first: a new failure, not flaky, not
 * systemic, not infrastructure (those are a person's: PERSON_KINDS, or never filed).
 */
export const forAgents = (f: Pick<CheckFailure, 'flaky' | 'systemic' | 'infra'>): boolean => !f.flaky && !f.systemic && !f.infra;

/** The input of `askFixSlot` for a signature seen by `f`'s run (the caps count the run). */
export function intakeAsk(watch: WatchConfig, signature: string, f: FailureSeen, info: { taskQueue: string }) {
  const ask: FixSlotAsk = { signature, workflowId: signatureWorkflowId(watch.watchId, signature), runId: f.runId, at: f.at };
  return { watchId: watch.watchId, maxFixesPerRun: watch.maxFixesPerRun ?? 5, maxFixesPerHour: watch.maxFixesPerHour ?? 10, taskQueue: info.taskQueue, ask };
}

/** Why a bisect failed, from the activity's failure (its root cause's message), one line. */
export function bisectFailure(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n')[0].slice(0, 500) || 'unknown error';
}
