/**
 * Activity side of the guard (workflows/guard.ts, issue 26 item 4): a ticket asks its batch's guard for a round by
 * signal-with-start, so the first request of a batch starts the guard and every later one finds it, on any worker.
 */
import { Context } from '@temporalio/activity';
import { guardRequestSignal, guardWorkflowId, type GuardInput, type GuardRequest } from '../workflows/guard/messages';

export interface EnterGuardInput {
  /** The guard's input, used when this request starts it. */
  guard: GuardInput;
  request: GuardRequest;
  /** Task queue the guard runs on when this request starts it (the requester's). */
  taskQueue: string;
}

/**
 * Asks for a round (starting the guard if it is not running). Idempotent: the guard runs one round per request id.
 * Returns once the signal is recorded; the result arrives later as the `guardResult` signal.
 */
export async function enterGuard(input: EnterGuardInput): Promise<void> {
  await Context.current().client.workflow.signalWithStart('guardWorkflow', {
    workflowId: guardWorkflowId(input.guard.batchId),
    taskQueue: input.taskQueue,
    args: [input.guard],
    signal: guardRequestSignal,
    signalArgs: [input.request],
    staticSummary: `ratchet guard of batch ${input.guard.batchId}: done tickets stay done`,
  });
}
