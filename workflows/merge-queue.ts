/**
 * The merge queue (issue 26: "main only moves forward"): one `mergeQueueWorkflow` per repository and base branch,
 * `merge-queue-merge:<repo>@<base>`, grown from the deployment-wide lock (workflows/lock.ts). Tickets put their
 * validated commits in line; the queue tests the first `mergeQueue.batchSize` of them as one candidate (the base tip
 * with each merged onto it in order: base + A + B + C) and lands it only when the batch's gates pass on it. Red splits
 * the candidate in halves and tests them in turn until the culprits are found; the rest land, and each culprit is sent
 * back as a **semantic conflict** (it passed on its own base, fails merged). Nothing lands unvalidated: a candidate
 * of one commit whose tree is its attempt's own was validated by that attempt.
 *
 * Protocol: a ticket asks with the `enterMergeQueue` local activity (signal-with-start of `mergeQueueEnter`) and waits
 * for `mergeQueueVerdict` carrying its request id; asking again with the same id is answered with the verdict again.
 * The line and the candidate under test show in the Web UI's details and the `mergeQueueStatus` query (`ratchet
 * status`). It ends after `IDLE_MS` with an empty line and continues-as-new, carrying its line and recent verdicts,
 * when Temporal suggests it. Deterministic: the candidate's work is the `landCandidate` activity.
 */
import { ActivityFailure, condition, continueAsNew, getExternalWorkflowHandle, log, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { LandCandidateResult } from '../activities/merge-queue';
import { NON_RETRYABLE } from './errors';
import { MergeLine } from './merge-queue/line';
import { queueEnterSignal, queueLeaveSignal, queueStatusQuery, queueVerdictSignal, type QueueEntry, type QueueInput, type QueueVerdict } from './merge-queue/messages';

/** An idle queue ends after this long, ms; the next request starts it again. */
const IDLE_MS = 10 * 60_000;

const acts = proxyActivities<Activities>({ startToCloseTimeout: '10 minutes' });

/** Lands validated commits in line order, one candidate at a time; see the file comment. */
export async function mergeQueueWorkflow(input: QueueInput): Promise<void> {
  const q = new MergeLine(input);
  const show = (): void => setCurrentDetails(q.details(input.key));
  const send = async (entry: QueueEntry, verdict: QueueVerdict): Promise<void> => {
    try {
      await getExternalWorkflowHandle(entry.requester).signal(queueVerdictSignal, verdict);
    } catch (err) {
      // The ticket is gone (completed, terminated): its verdict stays in `recent` for a ticket that asks again.
      log.warn(`merge queue ${input.key}: ${entry.requester} could not be told its verdict (${(err as Error).message})`);
    }
  };
  const tell = (entry: QueueEntry, verdict: QueueVerdict): Promise<void> => {
    q.decided(verdict);
    return send(entry, verdict);
  };
  setHandler(queueEnterSignal, (entry) => {
    const had = q.enter(entry);
    if (had) void send(entry, had);
    show();
  });
  setHandler(queueLeaveSignal, ({ requestId }) => {
    q.leave(requestId);
    show();
  });
  setHandler(queueStatusQuery, () => q.status(input.key));
  show();

  /** Tests `group` as one candidate; red splits it and tests the halves in turn. */
  const settle = async (group: QueueEntry[]): Promise<void> => {
    if (!group.length) return;
    q.testing = group;
    const n = ++q.candidates;
    show();
    const r = await landCandidate(group, n);
    q.testing = [];
    switch (r.status) {
      case 'landed':
        for (const [i, e] of group.entries()) await tell(e, { ticketId: e.ticketId, requestId: e.requestId, outcome: 'merged', commit: r.merges[i].commit, candidate: n, validated: r.validated });
        return;
      case 'conflict': {
        const culprit = group.find((e) => e.ticketId === r.ticketId) ?? group[0];
        await tell(culprit, { ticketId: culprit.ticketId, requestId: culprit.requestId, outcome: 'conflict', paths: r.paths });
        return settle(group.filter((e) => e !== culprit));
      }
      case 'red': {
        if (group.length > 1) {
          const half = Math.ceil(group.length / 2);
          await settle(group.slice(0, half));
          return settle(group.slice(half));
        }
        const [e] = group;
        const { base, gates, tests, guardFeedback } = r;
        return tell(e, { ticketId: e.ticketId, requestId: e.requestId, outcome: 'semantic-conflict', candidate: n, base, gates, tests, ...(guardFeedback ? { guardFeedback } : {}), landedSince: r.landedSince[e.ticketId] ?? [] });
      }
      case 'error':
        for (const e of group) await tell(e, { ticketId: e.ticketId, requestId: e.requestId, outcome: 'error', message: r.message });
    }
  };

  while (!workflowInfo().continueAsNewSuggested) {
    if (!(await condition(() => q.line.length > 0, IDLE_MS))) return;
    await settle(q.nextGroup());
    show();
  }
  await continueAsNew<typeof mergeQueueWorkflow>({ key: input.key, ...q.snapshot() });
}

/**
 * Runs `landCandidate` with the limits of the group's checks (its gates and setup, twice: the candidate and a base
 * run for PASS_TO_PASS). A failure after its retries (a harness fault, not the code) is an `error` for the group.
 */
async function landCandidate(group: QueueEntry[], candidate: number): Promise<LandCandidateResult | { status: 'error'; message: string }> {
  const { checks } = group[0];
  try {
    return await acts.landCandidate.executeWithOptions(
      {
        startToCloseTimeout: checks.timeoutMs,
        heartbeatTimeout: checks.heartbeatMs,
        retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE] },
        summary: `candidate #${candidate}: ${group.map((e) => e.ticketId).join(' + ')}`,
      },
      [{ checks, entries: group.map(({ ticketId, title, commit, baseCommit, attempt, revert }) => ({ ticketId, title, commit, baseCommit, attempt, ...(revert ? { revert } : {}) })), candidate }],
    );
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    return { status: 'error', message: `the merge queue's candidate #${candidate} failed: ${err.cause?.message ?? err.message}` };
  }
}
