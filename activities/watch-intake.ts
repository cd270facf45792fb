/**
 * A detected ticket's way into work (issue 27 item 4): a slot of the watch's fix caps (workflows/watch/caps.ts), and
 * the intake batch's `discover` update that files the ticket into the watch's tracker and the running batch at once
 * (workflows/watch/intake.ts). Activities: a workflow can signal but neither signal-with-start nor send an update.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { batchWorkflowId, discoverUpdate, type DiscoverRequest } from '../workflows/messages';
import { fixCapWorkflowId, fixSlotAskedSignal, type FixSlotAsk } from '../workflows/watch/caps';
import { intakeBatchId } from '../workflows/watch/intake';

export interface AskFixSlotInput {
  watchId: string;
  maxFixesPerRun: number;
  maxFixesPerHour: number;
  /** The task queue the caps' workflow runs on when this ask starts it. */
  taskQueue: string;
  ask: FixSlotAsk;
}

/**
 * Asks the watch's fix caps for a slot (signal-with-start of `fix-cap-<watchId>`): the answer comes later, as the
 * `fixSlotGranted` signal to `ask.workflowId`. Idempotent: an ask of a signature already waiting keeps its place.
 */
export async function askFixSlot(input: AskFixSlotInput): Promise<void> {
  const { client } = Context.current();
  await client.workflow.signalWithStart('fixCapWorkflow', {
    workflowId: fixCapWorkflowId(input.watchId),
    taskQueue: input.taskQueue,
    args: [{ watchId: input.watchId, maxFixesPerRun: input.maxFixesPerRun, maxFixesPerHour: input.maxFixesPerHour }],
    signal: fixSlotAskedSignal,
    signalArgs: [input.ask],
    staticSummary: `fix caps of watch ${input.watchId}`,
  });
}

export interface HandToIntakeInput {
  watchId: string;
  request: DiscoverRequest & { id: string };
}

/** What became of a hand-over: filed (by the batch, into the tracker), no intake batch running, or refused (why). */
export type HandToIntakeResult = { status: 'filed'; batchId: string; ticketId: string } | { status: 'no-batch'; batchId: string } | { status: 'refused'; batchId: string; reason: string };

/**
 * Files a detected ticket into the watch's running intake batch through its `discover` update (the batch writes it
 * to the tracker, once, and starts it when ready). A batch still loading is retried (the error says so).
 * @returns filed; `no-batch` when `batch-intake-<watchId>` does not run; refused with the batch's reason (an id
 *   the tracker holds already, a batch that ended).
 */
export async function handToIntake(input: HandToIntakeInput): Promise<HandToIntakeResult> {
  const { client } = Context.current();
  const batchId = intakeBatchId(input.watchId);
  try {
    const r = await client.workflow.getHandle(batchWorkflowId(batchId)).executeUpdate(discoverUpdate, { args: [input.request], updateId: `watch-${input.request.id}` });
    return { status: 'filed', batchId, ticketId: r.ticketId };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { status: 'no-batch', batchId };
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    const reason = rootMessage(err);
    // Loading: it takes discoveries in a moment (the activity's retry).
    if (/ is loading;/.test(reason)) throw new Error(`intake batch ${batchId} is still loading: ${reason}`, { cause: err });
    if (/ is (done|failed);/.test(reason)) return { status: 'no-batch', batchId };
    return { status: 'refused', batchId, reason };
  }
}

function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
