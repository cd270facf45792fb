/**
 * Starting a batch through the public contract, after a worker has checked it where the repository is and no other
 * batch holds its tracker; started means the batch holds its tracker's claim (workflows/claim.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { formatMs } from '../workflows/duration';
import { batchStatusQuery, batchWorkflowId, TASK_QUEUE, type BatchStatus } from '../workflows/messages';
import { BadInputError, BatchFailedError } from '../workflows/errors';
import { secretEnvRefusal } from '../workflows/secret-env';
import type { StartableBatch } from './batch-file';
import { isUnreachable, rootMessage } from './errors';

/**
 * Starts a batch workflow (`batchWorkflow` on task queue `ratchet`, id `batch-<batchId>`), after refusing bad input
 * with nothing started: a worker runs the same validation as the batch's own `loadBatch` (`checkBatchWorkflow`, on
 * the host that holds the repository: ticket files, probes, `tickets` ids, repo, base branch, `envFrom`), and the
 * tracker must not be held by another running batch. Returns only once the batch has loaded and holds its tracker's
 * claim (its `status` query is past `loading`), so that two batches started at once over one tracker are not both
 * reported started: the one that lost the claim fails before starting any ticket, and this throws. A secret-looking
 * `agent.env` entry is refused first, before any workflow starts (its value would be in that workflow's history).
 * @param batch - from {@link loadBatchFile}.
 * @param opts.claimTimeoutMs - how long to wait for the claim after the start, ms (default 120 000).
 * @returns the workflow id and the first run id.
 * @throws BadInputError for bad input (a secret in `agent.env`: naming the field, its kind and the fix, never the
 *   value), a tracker another batch holds (before the start, or claimed by it while this one loaded: the message names
 *   that batch), a batch with that id already running, or no worker polling the task
 *   queue (the message says what to do); BatchFailedError when the batch failed while loading for another reason;
 *   Error when it neither claimed nor failed within `claimTimeoutMs` (it may still: the message says how to look).
 */
export async function startBatch(client: Client, batch: StartableBatch, opts: { claimTimeoutMs?: number } = {}): Promise<{ workflowId: string; runId: string }> {
  const workflowId = batchWorkflowId(batch.batchId);
  // Before anything starts, even the check: the check's input would hold the value in its history.
  const secrets = secretEnvRefusal(batch);
  if (secrets.length) throw new BadInputError(`batch ${batch.batchId}`, secrets);
  const check = await checkBatch(client, batch, workflowId);
  const holder = await claimHolder(client, check.claim);
  if (holder) throw heldBy(batch.batchId, holder, check.claim);
  let handle: WorkflowHandleWithFirstExecutionRunId;
  try {
    handle = await client.workflow.start('batchWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [batch],
      staticSummary: `ratchet batch ${batch.batchId}`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new BadInputError(`batch ${batch.batchId}`, [
        `workflow ${workflowId} is already running; fix: watch it with \`ratchet watch ${batch.batchId}\`, ` +
          'or set a different "batchId" in the batch file',
      ]);
    }
    throw err;
  }
  await untilClaimed(client, handle, batch.batchId, check.claim, opts.claimTimeoutMs ?? CLAIM_TIMEOUT_MS);
  return { workflowId, runId: handle.firstExecutionRunId };
}

/** The refusal of a batch whose tracker `holder` holds, naming that batch and the claim. */
function heldBy(batchId: string, holder: { batchId: string; ticketsDir: string }, claimId: string, lost = false): BadInputError {
  return new BadInputError(`batch ${batchId}`, [
    `the tracker ${holder.ticketsDir} is held by running batch ${holder.batchId} (claim workflow ${claimId})` +
      (lost ? `, which claimed it while this one loaded: batch ${batchId} stopped before starting any ticket` : '') +
      `; fix: let it finish (\`ratchet watch ${holder.batchId}\`) or cancel it, then start this one: two batches over one ` +
      'tracker would merge tickets twice',
  ]);
}

/** How long `ratchet start` waits for a started batch to load and claim its tracker, ms. */
const CLAIM_TIMEOUT_MS = 120_000;
/** How often it asks the batch's `status` query meanwhile, ms (a query cannot be awaited for a change). */
const CLAIM_POLL_MS = 250;

/**
 * Waits until the batch holds its tracker's claim: its `status` query says anything but `loading` (the batch answers
 * `loading` until it has loaded and claimed, workflows/batch.ts), or it completed. Its end is awaited, not polled.
 * @throws see {@link startBatch}.
 */
async function untilClaimed(client: Client, handle: WorkflowHandle, batchId: string, claimId: string, timeoutMs: number): Promise<void> {
  const stop = new AbortController();
  const ended = client
    .withAbortSignal(stop.signal, () => handle.result())
    .then(
      () => ({ failure: undefined }),
      (failure: unknown) => ({ failure }),
    );
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const state = await Promise.race([ended.then(() => 'ended' as const), stateOf(client, handle)]);
      if (state === 'ended') {
        const { failure } = await ended;
        if (failure === undefined) return; // done already: it held its claim
        throw await lostOrFailed(client, batchId, claimId, failure);
      }
      if (state !== undefined && state !== 'loading') return;
      if (Date.now() > deadline) {
        throw new Error(
          `batch ${batchId} was started (workflow ${handle.workflowId}) but has not loaded and claimed its tracker within ` +
            `${formatMs(timeoutMs)}; it may still: \`ratchet status ${batchId}\` says where it is (a worker must be running)`,
        );
      }
      await Promise.race([ended, sleep(CLAIM_POLL_MS, undefined, { signal: stop.signal }).catch(() => undefined)]);
    }
  } finally {
    stop.abort();
  }
}

/**
 * The batch's `state` from its `status` query, or undefined when no worker answered within 10 s.
 * @throws what the call threw when Temporal itself cannot be reached.
 */
async function stateOf(client: Client, handle: WorkflowHandle): Promise<BatchStatus['state'] | undefined> {
  try {
    return (await client.withDeadline(Date.now() + 10_000, () => handle.query(batchStatusQuery))).state;
  } catch (err) {
    if (isUnreachable(err)) throw err;
    return undefined;
  }
}

/**
 * What to throw for a batch that failed while loading: the claim's refusal naming its holder when it lost the claim
 * (workflows/batch/effects.ts `claim`), else its failure.
 */
async function lostOrFailed(client: Client, batchId: string, claimId: string, failure: unknown): Promise<Error> {
  const cause = failure instanceof WorkflowFailedError ? failure.cause : undefined;
  const type = cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
  const message = rootMessage(failure);
  if (type === 'BadInput' && message.includes(`claim workflow ${claimId}`)) {
    const holder = await claimHolder(client, claimId).catch(() => undefined);
    if (holder && holder.batchId !== batchId) return heldBy(batchId, holder, claimId, true);
    return new BadInputError(`batch ${batchId}`, [message]);
  }
  if (failure instanceof WorkflowFailedError) return new BatchFailedError(batchId, message, type);
  return failure instanceof Error ? failure : new Error(message);
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
