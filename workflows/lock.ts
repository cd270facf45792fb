/**
 * The deployment-wide lock (DESIGN.md "Shapes"; the pattern of samples-typescript `mutex`): one `lockWorkflow` per
 * target, `lock-<key>`, serializes what must not run twice at once across every worker, host and batch: merges into
 * one base branch, deploys to one target. It lives in Temporal, not in a worker's memory, so two workers on two hosts
 * wait for each other, and the waiting is durable (a `condition` in the requesting workflow, not an activity holding a
 * process-local mutex without heartbeats) and visible in the Web UI (the lock's details name its holder and queue).
 *
 * Protocol: a workflow asks with the `requestLock` activity (signal-with-start of `lockRequest`), waits for
 * `lockGranted` carrying its request id, does its work, and signals `lockRelease`. A holder that does not release
 * within its `holdMs` (its workflow was terminated, say) loses the lock to the next in line. The lock workflow ends
 * after `IDLE` with an empty queue (the next request starts it again) and continues-as-new, carrying its queue, when
 * Temporal suggests it.
 */
import { condition, continueAsNew, defineQuery, defineSignal, getExternalWorkflowHandle, log, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { formatMs } from './duration';

/** A request for the lock; `requestId` is unique per request (the requester's uuid4). */
export interface LockRequest {
  /** Workflow id of the requester: `lockGranted` is signalled to it. */
  requester: string;
  requestId: string;
  /** How long the holder may keep the lock before it is released for it, ms. */
  holdMs: number;
  /** What it is for, shown in the Web UI, e.g. `merge ticket-b1-greet`. */
  what: string;
}

/** `lockWorkflow`'s input: the key, and (after a continue-as-new) the requests still waiting. */
export interface LockInput {
  key: string;
  queue?: LockRequest[];
}

/** What the `lockStatus` query answers. */
export interface LockStatus {
  key: string;
  holder?: LockRequest & { since: number };
  queue: LockRequest[];
  /** Grants in this run, and how many of them ended by the holder's `holdMs` instead of a release. */
  grants: number;
  expired: number;
}

export const lockRequestSignal = defineSignal<[LockRequest]>('lockRequest');
export const lockReleaseSignal = defineSignal<[{ requestId: string }]>('lockRelease');
/** Sent by the lock to the requester when its request holds the lock. */
export const lockGrantedSignal = defineSignal<[{ key: string; requestId: string }]>('lockGranted');
export const lockStatusQuery = defineQuery<LockStatus>('lockStatus');

/** The lock workflow's id for `key` (keys are readable: `merge:<repo>@<base>`, `deploy:<target>`). */
export const lockWorkflowId = (key: string): string => `lock-${key}`;

/** An idle lock ends after this long, ms; the next request starts it again. */
const IDLE_MS = 10 * 60_000;

/** Serializes the holders of one key; see the file comment. */
export async function lockWorkflow(input: LockInput): Promise<void> {
  const queue: LockRequest[] = [...(input.queue ?? [])];
  /** Releases seen for requests not yet granted, or granted and not yet noticed. */
  const released = new Set<string>();
  let holder: (LockRequest & { since: number }) | undefined;
  let grants = 0;
  let expired = 0;

  const show = (): void =>
    setCurrentDetails(
      [
        `**lock** \`${input.key}\``,
        holder ? `held by \`${holder.requester}\` (${holder.what}) since ${new Date(holder.since).toISOString()}` : 'free',
        queue.length ? `waiting (${queue.length}):\n${queue.map((r) => `- \`${r.requester}\` (${r.what})`).join('\n')}` : 'nobody waiting',
        `grants in this run: ${grants}, released by time-out: ${expired}`,
      ].join('\n\n'),
    );
  setHandler(lockRequestSignal, (r) => {
    // A retried requestLock activity signals twice: one place in line per request.
    if (holder?.requestId === r.requestId || queue.some((q) => q.requestId === r.requestId)) return;
    queue.push(r);
    show();
  });
  setHandler(lockReleaseSignal, ({ requestId }) => {
    released.add(requestId);
    const i = queue.findIndex((q) => q.requestId === requestId);
    if (i >= 0) queue.splice(i, 1); // gave up before its turn
    show();
  });
  setHandler(lockStatusQuery, () => ({ key: input.key, ...(holder ? { holder } : {}), queue: [...queue], grants, expired }));
  show();

  while (!workflowInfo().continueAsNewSuggested) {
    if (!(await condition(() => queue.length > 0, IDLE_MS))) return;
    const next = queue.shift() as LockRequest;
    holder = { ...next, since: Date.now() };
    grants++;
    show();
    try {
      await getExternalWorkflowHandle(next.requester).signal(lockGrantedSignal, { key: input.key, requestId: next.requestId });
    } catch (err) {
      // The requester is gone (completed, terminated): nobody to hold it.
      log.warn(`lock ${input.key}: ${next.requester} could not be told it holds the lock (${(err as Error).message}); next`);
      holder = undefined;
      continue;
    }
    if (!(await condition(() => released.has(next.requestId), next.holdMs))) {
      expired++;
      log.warn(`lock ${input.key}: ${next.requester} (${next.what}) held it for ${formatMs(next.holdMs)} without releasing; released for it`);
    }
    released.delete(next.requestId);
    holder = undefined;
    show();
  }
  await continueAsNew<typeof lockWorkflow>({ key: input.key, queue });
}
