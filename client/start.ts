/**
 * Starting a batch through the public contract, after a worker has checked it where the repository is and no other
 * batch holds its tracker.
 */
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { batchWorkflowId, TASK_QUEUE } from '../workflows/messages';
import { BadInputError } from '../workflows/errors';
import type { StartableBatch } from './batch-file';

/**
 * Starts a batch workflow (`batchWorkflow` on task queue `ratchet`, id `batch-<batchId>`), after refusing bad input
 * with nothing started: a worker runs the same validation as the batch's own `loadBatch` (`checkBatchWorkflow`, on
 * the host that holds the repository: ticket files, probes, `tickets` ids, repo, base branch, `envFrom`), and the
 * tracker must not be held by another running batch.
 * @param batch - from {@link loadBatchFile}.
 * @returns the workflow id and the first run id.
 * @throws BadInputError for bad input, a tracker another batch holds, a batch with that id already running, or no
 *   worker polling the task queue (the message says what to do).
 */
export async function startBatch(client: Client, batch: StartableBatch): Promise<{ workflowId: string; runId: string }> {
  const workflowId = batchWorkflowId(batch.batchId);
  const check = await checkBatch(client, batch, workflowId);
  const holder = await claimHolder(client, check.claim);
  if (holder) {
    throw new BadInputError(`batch ${batch.batchId}`, [
      `the tracker ${holder.ticketsDir} is held by running batch ${holder.batchId} (claim workflow ${check.claim}); ` +
        `fix: let it finish (\`ratchet watch ${holder.batchId}\`) or cancel it, then start this one: two batches over one ` +
        'tracker would merge tickets twice',
    ]);
  }
  try {
    const handle = await client.workflow.start('batchWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [batch],
      staticSummary: `ratchet batch ${batch.batchId}`,
    });
    return { workflowId, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new BadInputError(`batch ${batch.batchId}`, [
        `workflow ${workflowId} is already running; fix: watch it with \`ratchet watch ${batch.batchId}\`, ` +
          'or set a different "batchId" in the batch file',
      ]);
    }
    throw err;
  }
}

/** How long `ratchet start` waits for a worker to check a batch, ms. */
const CHECK_TIMEOUT_MS = 120_000;

/** Runs `checkBatchWorkflow` on a worker; its bad-input failure becomes a BadInputError with the same message. */
async function checkBatch(client: Client, batch: StartableBatch, workflowId: string): Promise<{ batchId: string; tickets: number; claim: string }> {
  if (!(await workerPolls(client))) {
    throw new BadInputError(`batch ${batch.batchId}`, [
      `no ratchet worker polls task queue "${TASK_QUEUE}", and a worker checks the batch where the repository is; ` +
        'fix: start one (`ratchet worker`) and run this again',
    ]);
  }
  try {
    return await client.workflow.execute('checkBatchWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: `check-${workflowId}-${Date.now().toString(36)}`,
      args: [batch, workflowId],
      workflowExecutionTimeout: CHECK_TIMEOUT_MS,
      staticSummary: `ratchet start: check batch ${batch.batchId} before starting it`,
    });
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.nonRetryable) throw new BadInputError(`batch ${batch.batchId}`, [cause.message]);
    throw err;
  }
}

/** How long `ratchet start` waits for a worker to show up on the task queue (one just started polls within it), ms. */
const WORKER_WAIT_MS = 10_000;

/** Whether a worker polls task queue `ratchet` now or within {@link WORKER_WAIT_MS}. */
async function workerPolls(client: Client): Promise<boolean> {
  const deadline = Date.now() + WORKER_WAIT_MS;
  for (;;) {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: TASK_QUEUE },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
    });
    if (pollers?.length) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The running batch that holds the claim `claimId`, or undefined when no such claim runs. */
async function claimHolder(client: Client, claimId: string): Promise<{ batchId: string; ticketsDir: string } | undefined> {
  try {
    const handle = client.workflow.getHandle(claimId);
    if ((await handle.describe()).status.name !== 'RUNNING') return undefined;
    return await handle.query<{ batchId: string; ticketsDir: string }>('holder');
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
