/**
 * A ticket's side of the merge queue (workflows/merge-queue.ts, issue 26): its validated commit goes in line for its
 * repository and base, and the ticket waits for the verdict: merged (what landed is what the queue validated), a
 * conflict, or a **semantic conflict** (the commit passed its gates on its own base and fails them merged onto
 * today's), which costs the attempt and sends the next one off from the new base with the failing gates, tests and
 * what landed since as feedback. Workflow code.
 */
import { CancellationScope, condition, getExternalWorkflowHandle, isCancellation, proxyLocalActivities, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { harnessOf } from '../done';
import { asStepFailure } from '../local';
import { mergeQueueKey, mergeQueueWorkflowId, queueLeaveSignal, queueVerdictSignal, type CandidateChecks, type QueueEntry, type QueueVerdict } from '../merge-queue/messages';
import * as metrics from '../metrics';
import { OPTIONS } from '../options';
import { repoRef, secretNames } from '../repo-ref';
import { DEFAULT_QUEUE_BATCH, type BatchConfig } from '../types';
import { acts, type TicketEffects } from './effects';
import { failSemanticConflict } from './semantic-conflict';

const local = proxyLocalActivities<Activities>(OPTIONS.lock);

/** A ticket in line asks the queue again this often, ms: a verdict lost with a queue that was terminated is asked for again. */
const ASK_AGAIN_MS = 10 * 60_000;

/**
 * What validates a candidate with this ticket's commit in it: the batch's gates and the harness's setup steps in the
 * agent's box, as validate runs them; the candidate's time limit covers the gates and setup twice (the candidate, and
 * a run on the base tip for PASS_TO_PASS) and two minutes; a red candidate's halves are tested `maxParallel` at once.
 */
export function candidateChecks(config: BatchConfig): CandidateChecks {
  const { env, envFrom, sandbox, cacheDirs, network } = config.agent;
  const setup = harnessOf(config).setup;
  const runMs = config.gates.reduce((sum, g) => sum + g.timeoutMs, 0) + setup.reduce((sum, s) => sum + s.timeoutMs, 0) * config.gates.length;
  return {
    ref: repoRef(config),
    gates: config.gates,
    setup,
    agentEnv: { env, envFrom, sandbox, cacheDirs, network },
    secrets: secretNames(config),
    timeoutMs: 2 * runMs + 120_000,
    heartbeatMs: config.heartbeatTimeoutMs,
    parallel: config.maxParallel,
  };
}

/**
 * Puts `commit` in the merge queue for the ticket's base and waits for the verdict: a validated commit (cut from
 * `baseCommit`), or with `revert` the ticket's merge commit to undo. A cancelled ticket gives up its place.
 */
export async function queued(fx: TicketEffects, commit: string, baseCommit: string, revert?: boolean): Promise<QueueVerdict> {
  const { ticket, config } = fx;
  const key = mergeQueueKey(config.repo, config.baseBranch);
  const requestId = uuid4();
  let verdict: QueueVerdict | undefined;
  setHandler(queueVerdictSignal, (v) => {
    if (v.requestId === requestId) verdict ??= v;
  });
  const entry: QueueEntry = {
    requester: workflowInfo().workflowId,
    requestId,
    ticketId: ticket.id,
    title: ticket.title,
    commit,
    baseCommit,
    attempt: fx.state.attempt,
    checks: candidateChecks(config),
    batchSize: config.mergeQueue?.batchSize ?? DEFAULT_QUEUE_BATCH,
    ...(revert ? { revert } : {}),
  };
  try {
    do {
      await local.enterMergeQueue
        .executeWithOptions({ ...OPTIONS.lock, summary: `put ${ticket.id}${revert ? "'s revert" : ''} in the merge queue ${key}` }, [{ key, entry, taskQueue: workflowInfo().taskQueue }])
        .catch(asStepFailure('enterMergeQueue'));
    } while (!(await condition(() => verdict !== undefined, ASK_AGAIN_MS)));
  } catch (err) {
    // A cancelled ticket gives up its place (one already in a candidate under test stays there until it is decided).
    if (isCancellation(err)) await CancellationScope.nonCancellable(() => getExternalWorkflowHandle(mergeQueueWorkflowId(key)).signal(queueLeaveSignal, { requestId }).catch(() => undefined));
    throw err;
  }
  return verdict as QueueVerdict;
}

/**
 * Puts `commit` (cut from `baseCommit`) in the merge queue and waits for its verdict.
 * @returns true when merged (`state.mergeCommit` set), false when the attempt failed with feedback (a conflict, a
 *   semantic conflict, or the queue's harness fault).
 */
export async function landThroughQueue(fx: TicketEffects, commit: string, baseCommit: string): Promise<boolean> {
  const { state: s, ticket, config } = fx;
  const n = s.attempt;
  const v = await queued(fx, commit, baseCommit);
  switch (v.outcome) {
    case 'merged':
      s.mergeCommit = v.commit;
      s.landings.push({ commit: v.commit, candidate: v.candidate, validated: v.validated });
      metrics.merged();
      // The worktree and gate export go on the worker that holds them (any worker ran the candidate).
      await fx.onHost('merge', OPTIONS.merge, (options) => acts.releaseTicket.executeWithOptions({ ...options, summary: `release ${ticket.id}'s worktree` }, [{ ref: repoRef(config), ticketId: ticket.id }]));
      return true;
    case 'conflict':
      return s.fail(
        `conflict: ${v.paths.join(', ')}`,
        `Attempt ${n}: merging into ${config.baseBranch} conflicted in ${v.paths.join(', ')}. The next attempt starts from the new ${config.baseBranch}.`,
      );
    case 'semantic-conflict':
      return failSemanticConflict(fx, v);
    case 'error':
      return s.fail('harness error in merge', `Attempt ${n}: harness error in merge: ${v.message}`);
  }
}
