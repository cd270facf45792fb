/**
 * The merge queue (issue 26: "main only moves forward"): one `mergeQueueWorkflow` per repository and base branch,
 * `merge-queue-merge:<repo>@<base>`, grown from the deployment-wide lock (workflows/lock.ts). Tickets put their
 * validated commits in line; the queue tests the first `mergeQueue.batchSize` of them as one candidate (the base tip
 * with each merged onto it in order: base + A + B + C) and lands it only when the batch's gates pass on it. Red splits
 * the candidate in halves tested in turn, or (with the batch's `maxParallel` above 1) tests its prefixes at once,
 * until the culprits are found in line order; the rest land, and each culprit is sent
 * back as a **semantic conflict** (it passed on its own base, fails merged). Nothing lands unvalidated: a candidate
 * of one commit whose tree is its attempt's own was validated by that attempt.
 *
 * Protocol: a ticket asks with the `enterMergeQueue` local activity (signal-with-start of `mergeQueueEnter`) and waits
 * for `mergeQueueVerdict` carrying its request id; asking again with the same id is answered with the verdict again.
 * The line and the candidate under test show in the Web UI's details and the `mergeQueueStatus` query (`ratchet
 * status`). It ends after `IDLE_MS` with an empty line and continues-as-new, carrying its line and recent verdicts,
 * when Temporal suggests it. Deterministic: the candidate's work is the `landCandidate` activity.
 */
import { ActivityFailure, condition, continueAsNew, getExternalWorkflowHandle, log, patched, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { LandCandidateInput, LandCandidateResult } from '../activities/merge-queue';

import { NON_RETRYABLE } from './errors';
import { MergeLine } from './merge-queue/line';
import { queueEnterSignal, queueLeaveSignal, queueStatusQuery, queueVerdictSignal, type QueueEntry, type QueueInput, type QueueVerdict } from './merge-queue/messages';

/** What one run of a candidate gave: the activity's result, or a harness fault after its retries. */
type Tried = LandCandidateResult | { status: 'error'; message: string };

/** The patch id of testing a red candidate's prefixes at once; histories from before it tested halves in turn. */
export const PARALLEL_SPLIT_PATCH = 'queue-parallel-split';

/** An idle queue ends after this long, ms; the next request starts it again. */
const IDLE_MS = 10 * 60_000;

const acts = proxyActivities<Activities>({ startToCloseTimeout: '10 minutes' });

/** Lands validated commits in line order, one candidate at a time; see the file comment. */
export async function mergeQueueWorkflow(input: QueueInput): Promise<void> {
  const q = new MergeLine(input);
  const split = patched(PARALLEL_SPLIT_PATCH);
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

  // Candidates under test at once: a red candidate's prefixes, up to its batch's `maxParallel` (patched: before it, a
  // red candidate was only split in halves tested in turn).
  let busy = 0;
  const slots = (group: QueueEntry[]): number => (split ? Math.max(1, group[0].checks.parallel ?? 1) : 1);
  /** Runs `landCandidate` on `group` when a slot is free, showing it under test. */
  const run = async (group: QueueEntry[], how: Pick<LandCandidateInput, 'land' | 'validated'> = {}): Promise<{ r: Tried; n: number }> => {
    await condition(() => busy < slots(group));
    busy++;
    q.testing = [...q.testing, ...group];
    const n = ++q.candidates;
    show();
    const r = await landCandidate(group, n, how).finally(() => void busy--);
    q.testing = q.testing.filter((e) => !group.includes(e));
    return { r, n };
  };
  const semanticConflict = (e: QueueEntry, n: number, r: Extract<Tried, { status: 'red' }>): Promise<void> => {
    const { base, gates, tests, guardFeedback } = r;
    return tell(e, { ticketId: e.ticketId, requestId: e.requestId, outcome: 'semantic-conflict', candidate: n, base, gates, tests, ...(guardFeedback ? { guardFeedback } : {}), landedSince: r.landedSince[e.ticketId] ?? [] });
  };

  /**
   * Tests `group` as one candidate and lands it when green (`validated`: what an earlier run of it passed). Red: with
   * one slot, split in halves tested in turn; with more (`maxParallel`), its prefixes are tested at once
   * ({@link firstCulprit}).
   */
  const settle = async (group: QueueEntry[], validated?: LandCandidateInput['validated']): Promise<void> => {
    if (!group.length) return;
    const { r, n } = await run(group, validated ? { validated } : {});
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
        if (group.length === 1) return semanticConflict(group[0], n, r);
        if (slots(group) > 1) return firstCulprit(group);
        const half = Math.ceil(group.length / 2);
        await settle(group.slice(0, half));
        return settle(group.slice(half));
      }
      case 'error':
        for (const e of group) await tell(e, { ticketId: e.ticketId, requestId: e.requestId, outcome: 'error', message: r.message });
        return;
      case 'green':
        throw new Error('landCandidate validated without landing a candidate it was asked to land');
    }
  };

  /**
   * `group` is red: its prefixes (the first entry, the first two, ...: up to the slots free, the whole being known red)
   * are validated at once without landing. The first red prefix names the culprit in line order (what a test of the
   * halves in turn would find); the green prefix before it lands without running its checks again (while the base
   * has not moved), the culprit goes back, and the rest are tested as a new candidate. All tested prefixes green: the
   * longest lands and the rest are tested again.
   */
  const firstCulprit = async (group: QueueEntry[]): Promise<void> => {
    const k = Math.min(slots(group), group.length - 1);
    const tried = await Promise.all(Array.from({ length: k }, (_, i) => run(group.slice(0, i + 1), { land: false })));
    const failed = tried.find(({ r }) => r.status === 'error');
    if (failed?.r.status === 'error') {
      for (const e of group) await tell(e, { ticketId: e.ticketId, requestId: e.requestId, outcome: 'error', message: failed.r.message });
      return;
    }
    const j = tried.findIndex(({ r }) => r.status !== 'green');
    const greenBefore = (j === -1 ? tried[k - 1] : tried[j - 1])?.r;
    const lands = j === -1 ? k : j;
    if (lands > 0 && greenBefore?.status === 'green') await settle(group.slice(0, lands), { base: greenBefore.base, tree: greenBefore.tree });
    if (j === -1) return settle(group.slice(k));
    const { r, n } = tried[j];
    if (r.status === 'red') await semanticConflict(group[j], n, r);
    else if (r.status === 'conflict') await tell(group[j], { ticketId: group[j].ticketId, requestId: group[j].requestId, outcome: 'conflict', paths: r.paths });
    return settle(group.slice(j + 1));
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
async function landCandidate(group: QueueEntry[], candidate: number, how: Pick<LandCandidateInput, 'land' | 'validated'>): Promise<Tried> {
  const { checks } = group[0];
  try {
    return await acts.landCandidate.executeWithOptions(
      {
        startToCloseTimeout: checks.timeoutMs,
        heartbeatTimeout: checks.heartbeatMs,
        retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE] },
        summary: `candidate #${candidate}: ${group.map((e) => e.ticketId).join(' + ')}`,
      },
      [{ checks, entries: group.map(({ ticketId, title, commit, baseCommit, attempt, revert }) => ({ ticketId, title, commit, baseCommit, attempt, ...(revert ? { revert } : {}) })), candidate, ...how }],
    );
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    return { status: 'error', message: `the merge queue's candidate #${candidate} failed: ${err.cause?.message ?? err.message}` };
  }
}
