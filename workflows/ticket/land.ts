/**
 * Landing a validated commit (DESIGN.md "forge"): a merge into the local base under the deployment-wide merge lock,
 * or the ticket's one pull request on GitHub. Workflow code.
 */
import { ActivityFailure, condition, patched } from '@temporalio/workflow';
import type { LandResult } from '../../activities/pull-request';
import * as metrics from '../metrics';
import { MERGE_HOLD_MS, OPTIONS } from '../options';
import { repoRef } from '../repo-ref';
import type { ForgeConfig } from '../types';
import { acts, type TicketEffects } from './effects';
import { candidateChecks, landThroughQueue } from './queue';
import { failSemanticConflict } from './semantic-conflict';

/** The patch id of landing through the merge queue (issue 26); histories from before it merged under the lock. */
export const MERGE_QUEUE_PATCH = 'merge-queue';

/**
 * The patch id of merging a pull request only at a head that contains the base's tip and passed the gates there
 * (issue 26); histories from before it let GitHub merge a head that lacked the tip.
 */
export const GITHUB_UP_TO_DATE_PATCH = 'github-up-to-date';

/**
 * Lands `commit` (cut from `baseCommit`): through the merge queue (workflows/merge-queue.ts), which validates it
 * merged onto the base tip before the base moves, or through the ticket's pull request on GitHub.
 * @returns true when merged (`state.mergeCommit` set), false when the attempt failed with feedback (a conflict, a
 *   semantic conflict, a review asking for changes, failed checks), 'rejected' when a person closed the pull request.
 */
export async function land(fx: TicketEffects, commit: string, baseCommit: string): Promise<boolean | 'rejected'> {
  const { state: s, ticket, config } = fx;
  if (config.forge?.kind === 'github') return landOnGitHub(fx, commit, baseCommit, config.forge);
  if (patched(MERGE_QUEUE_PATCH)) return landThroughQueue(fx, commit, baseCommit);
  // Histories from before the queue: the merge under the merge lock, unvalidated on the base tip.
  // The lock of merges into the base: one per repository and base branch, whichever worker or batch merges. On the
  // worker holding the worktree, which the merge removes; any worker can merge (it needs no checkout).
  const merged = await fx.withLock(`merge:${config.repo}@${config.baseBranch}`, 'merge', MERGE_HOLD_MS, () =>
    fx.onHost('merge', OPTIONS.merge, (options) => acts.merge.executeWithOptions({ ...options, summary: `merge ${ticket.id}` }, [{ ref: repoRef(config), ticketId: ticket.id, title: ticket.title, commit }])),
  );
  if (merged.conflict) {
    return s.fail(
      `conflict: ${merged.conflict.join(', ')}`,
      `Attempt ${s.attempt}: merging into ${config.baseBranch} conflicted in ${merged.conflict.join(', ')}. The next attempt starts from the new ${config.baseBranch}.`,
    );
  }
  s.mergeCommit = merged.commit;
  metrics.merged();
  return true;
}

/**
 * Lands the validated `commit` (cut from `baseCommit`) through the ticket's one pull request (`forge.kind: "github"`):
 * pushes it, opens or finds the pull request, then reads it until it merges: at once when the `pullRequest` signal
 * says it changed (a webhook), else on a durable timer from `pollMs` doubling up to ten times that. With
 * `land: "merge"`, ratchet merges only a head that contains the base's tip and passed the gates: a head the base has
 * moved past is brought up to date ({@link bringUpToDate}) and read again. A review asking for changes, a failed
 * required check, a conflict or a semantic conflict fails the attempt with that as feedback (the next attempt is
 * pushed to the same pull request); a pull request closed unmerged is a person's reject. The ticket's `land`
 * overrides the batch's.
 */
async function landOnGitHub(fx: TicketEffects, commit: string, baseCommit: string, batchForge: Extract<ForgeConfig, { kind: 'github' }>): Promise<boolean | 'rejected'> {
  const { state: s, ticket, config } = fx;
  const n = s.attempt;
  // A ticket may ask for a person's merge (or allow ratchet's) whatever the batch says.
  const forge = { ...batchForge, land: ticket.land ?? batchForge.land };
  const batch = { batchId: config.batchId, repo: config.repo, baseBranch: config.baseBranch, forge };
  const reviews = s.seenReviews;
  const answered = reviews.length ? ` It answers review${reviews.length > 1 ? 's' : ''} ${reviews.map((r) => `#${r}`).join(', ')}.` : '';
  const notes = `**ratchet**: attempt ${n} of ticket ${ticket.id}, commit \`${commit.slice(0, 10)}\`, passed the gates (${config.gates.map((g) => g.name).join(', ') || 'none'}).${answered}`;
  const pr = await acts.openPullRequest({ config: batch, ticketId: ticket.id, title: ticket.title, body: ticket.body, tracker: { ticketsDir: config.ticketsDir, tracker: config.tracker }, commit, attempt: n, notes });
  s.pullRequest = { number: pr.number, url: pr.url };
  fx.show();
  // What ratchet may merge: the validated commit, then each head it brought up to date and validated.
  const upToDate = forge.land === 'merge' && patched(GITHUB_UP_TO_DATE_PATCH);
  let head = commit;
  let waitMs = forge.pollMs;
  let awaiting = false;
  const person = (kind: 'merge' | 'reject' | 'review', by: string, comment: string): void => {
    s.interventions.push({ kind, ticketId: ticket.id, gate: 'pull-request', by, comment, at: Date.now() });
  };
  for (;;) {
    // A webhook's nudge that arrives while the pull request is read (or the label written) still wakes it.
    const before = s.prNudges;
    const read = await acts.landPullRequest({ config: batch, ticketId: ticket.id, title: ticket.title, number: pr.number, commit: head, seenReviews: [...reviews], ...(upToDate ? { upToDate } : {}) });
    const r = read.status === 'behind' ? await bringUpToDate(fx, batch, pr.number, head, baseCommit, notes) : read;
    switch (r.status) {
      case 'merged':
        if (forge.land === 'human') person('merge', r.by ?? 'a person on GitHub', `merged #${pr.number}`);
        s.mergeCommit = r.commit;
        metrics.merged();
        return true;
      case 'closed':
        person('reject', 'a person on GitHub', `closed #${pr.number} unmerged`);
        s.rejectedWhy = `pull request #${pr.number} was closed unmerged`;
        return 'rejected';
      case 'changes-requested': {
        reviews.push(r.review.id);
        person('review', r.review.by, r.review.body.slice(0, 200));
        const inline = r.review.comments.map((c) => `- ${c.path}${c.line ? `:${c.line}` : ''}: ${c.body}`);
        return s.fail(`review ${r.review.id}`, [`Attempt ${n}: ${r.review.by} asked for changes on pull request #${pr.number}:`, r.review.body, ...inline].filter(Boolean).join('\n'));
      }
      case 'checks-failed':
        return s.fail(`checks: ${r.failed.join(', ')}`, `Attempt ${n}: required checks failed on pull request #${pr.number}: ${r.failed.join(', ')}.`);
      case 'conflict':
        return s.fail('conflict: pull request', `Attempt ${n}: ${r.message}. The next attempt starts from the new ${config.baseBranch}.`);
      case 'semantic-conflict':
        return failSemanticConflict(fx, { ...r, candidate: pr.number });
      case 'error':
        return s.fail('harness error in merge', `Attempt ${n}: harness error in merge: ${r.message}`);
      case 'updated':
        // The new head's required checks start now: read it again at once (the base may have moved again).
        head = r.head;
        waitMs = forge.pollMs;
        break;
      case 'waiting': {
        if (forge.land === 'human' && !awaiting) {
          awaiting = true;
          await fx.writeState('awaiting-human', `pull request #${pr.number}: a person merges it`);
        }
        const nudged = await condition(() => s.prNudges > before, waitMs);
        waitMs = nudged ? forge.pollMs : Math.min(waitMs * 2, forge.pollMs * 10);
      }
    }
  }
}

/**
 * Brings pull request `number`'s head up to date with the base and validates it there (`updatePullRequest`, with the
 * limits of a merge queue candidate's checks: the gates and setup twice, for PASS_TO_PASS against the base tip);
 * ratchet's comment on the pull request (`notes`) gains what came of it.
 * @returns the activity's answer (`updated`, `conflict`, `semantic-conflict`), or `error` when it failed after its
 *   retries (a harness fault, as the merge queue's candidate error).
 */
async function bringUpToDate(
  fx: TicketEffects,
  batch: { batchId: string; repo: string; baseBranch: string; forge: Extract<ForgeConfig, { kind: 'github' }> },
  number: number,
  head: string,
  baseCommit: string,
  notes: string,
): Promise<Extract<LandResult, { status: 'updated' | 'conflict' | 'semantic-conflict' }> | { status: 'error'; message: string }> {
  const { state: s, ticket, config } = fx;
  const checks = candidateChecks(config);
  try {
    return await acts.updatePullRequest.executeWithOptions(
      { ...fx.options.gates, startToCloseTimeout: checks.timeoutMs, heartbeatTimeout: checks.heartbeatMs, summary: `bring #${number} of ${ticket.id} up to date with ${config.baseBranch}` },
      [{ config: batch, ticketId: ticket.id, number, commit: head, baseCommit, attempt: s.attempt, checks, notes }],
    );
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    return { status: 'error', message: `bringing pull request #${number} up to date with ${config.baseBranch} failed: ${err.cause?.message ?? err.message}` };
  }
}
