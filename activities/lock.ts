/**
 * Activity side of the deployment-wide lock (workflows/lock.ts): asks `lock-<key>` for the lock by signal-with-start,
 * so the lock workflow is started by the first request for its key and found by every later one, on any worker.
 */
import { Context } from '@temporalio/activity';
import { lockRequestSignal, lockWorkflowId, type LockRequest } from '../workflows/lock';

export interface RequestLockInput {
  key: string;
  request: LockRequest;
  /** Task queue the lock workflow runs on when this request starts it (the requester's). */
  taskQueue: string;
}

/**
 * Puts `request` in line for `key` (starting the lock workflow if it is not running). Idempotent: the lock keeps one
 * place per request id, so a retried call does not queue twice. Returns once the signal is recorded; the grant
 * arrives later as the `lockGranted` signal.
 */
export async function requestLock(input: RequestLockInput): Promise<void> {
  await Context.current().client.workflow.signalWithStart('lockWorkflow', {
    workflowId: lockWorkflowId(input.key),
    taskQueue: input.taskQueue,
    args: [{ key: input.key }],
    signal: lockRequestSignal,
    signalArgs: [input.request],
    staticSummary: `ratchet lock ${input.key}: one holder at a time`,
  });
}
