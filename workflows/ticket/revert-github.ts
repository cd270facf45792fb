/**
 * Revert on regression with the GitHub forge (issue 26 item 5): the culprit's merge is undone through a pull request
 * labelled `ratchet:revert` (activities/pull-request.ts `openRevertPullRequest`: a revert commit made without a
 * checkout on the remote base's tip, validated with the batch's gates like any candidate, its body naming the
 * regressions), landed as a ticket's pull request with `land: "merge"` is (`landPullRequest`: the required checks,
 * a merge at the validated head, a head the base moved past brought up to date and validated again). A person who
 * closes it unmerged keeps the merge. Workflow code.
 */
import { ActivityFailure, condition } from '@temporalio/workflow';
import type { LandResult } from '../../activities/pull-request';
import type { ForgeConfig, Regression } from '../types';
import { acts, type TicketEffects } from './effects';
import { candidateChecks } from './queue';

/**
 * The patch id of reverting through a `ratchet:revert` pull request; histories from before it waited at the `revert`
 * gate for a person to revert on GitHub.
 */
export const GITHUB_REVERT_PATCH = 'github-revert-pr';

/**
 * What came of a revert pull request: `merged` with the merge commit that undid the merge on the base, `kept` when a
 * person closed it unmerged (recorded as an intervention), `failed` with why it could not land (a conflict, red gates
 * or required checks, a review asking for changes, a harness fault).
 */
export type GitHubRevert = { merged: string; number: number } | { kept: number } | { failed: string };

/**
 * Opens the pull request that reverts `merge` (the ticket's merge on the base; `regs`: the regressions it caused) and
 * lands it, reading it on a durable timer from `pollMs` of the batch's GitHub forge (`batchForge`) doubling up to ten
 * times that; `land: "merge"` applies whatever the batch or the ticket says (ratchet lands its own revert).
 * @returns see {@link GitHubRevert}.
 */
export async function revertOnGitHub(fx: TicketEffects, regs: Regression[], merge: string, batchForge: Extract<ForgeConfig, { kind: 'github' }>): Promise<GitHubRevert> {
  const { state: s, ticket, config } = fx;
  const forge = { ...batchForge, land: 'merge' as const };
  const batch = { batchId: config.batchId, repo: config.repo, baseBranch: config.baseBranch, forge };
  const n = s.reverts.filter((r) => r.ticketId === ticket.id).length + 1;
  const id = `${ticket.id}-revert-${n}`;
  const checks = candidateChecks(config);
  const long = { ...fx.options.gates, startToCloseTimeout: checks.timeoutMs, heartbeatTimeout: checks.heartbeatMs };
  const failure = (err: unknown): { status: 'error'; message: string } => {
    if (!(err instanceof ActivityFailure)) throw err;
    return { status: 'error', message: `harness error: ${err.cause?.message ?? err.message}` };
  };
  fx.enter('merge', `reverting ${merge.slice(0, 10)} through a pull request`);
  const pr = await acts.openRevertPullRequest
    .executeWithOptions({ ...long, summary: `open the revert of ${ticket.id}'s merge` }, [{ config: batch, ticketId: ticket.id, title: ticket.title, merge, n, regressions: regs, attempt: s.attempt, checks }])
    .catch(failure);
  if (pr.status === 'error') return { failed: pr.message };
  if (pr.status === 'conflict') return { failed: `the revert conflicts in ${pr.paths.join(', ')}` };
  if (pr.status === 'red') return { failed: `the revert fails ${[...pr.gates.map((g) => `gate ${g}`), ...pr.tests].join(', ')}` };
  const message = `ratchet: revert ${ticket.id} (${config.batchId}): ${merge}`;
  let head = pr.head;
  let waitMs = forge.pollMs;
  for (;;) {
    const before = s.prNudges;
    const read: LandResult | { status: 'error'; message: string } = await acts.landPullRequest({ config: batch, ticketId: id, title: ticket.title, number: pr.number, commit: head, seenReviews: [], upToDate: true, message }).catch(failure);
    const r =
      read.status === 'behind'
        ? await acts.updatePullRequest
            .executeWithOptions({ ...long, summary: `bring revert #${pr.number} up to date with ${config.baseBranch}` }, [{ config: batch, ticketId: id, number: pr.number, commit: head, baseCommit: read.base, attempt: s.attempt, checks }])
            .catch(failure)
        : read;
    switch (r.status) {
      case 'error':
        return { failed: r.message };
      case 'merged':
        return { merged: r.commit, number: pr.number };
      case 'closed':
        s.interventions.push({ kind: 'reject', ticketId: ticket.id, gate: 'revert', by: 'a person on GitHub', comment: `closed revert #${pr.number} unmerged`, at: Date.now() });
        return { kept: pr.number };
      case 'changes-requested':
        return { failed: `${r.review.by} asked for changes on revert #${pr.number}: ${r.review.body.slice(0, 200)}` };
      case 'checks-failed':
        return { failed: `required checks failed on revert #${pr.number}: ${r.failed.join(', ')}` };
      case 'conflict':
        return { failed: r.message };
      case 'semantic-conflict':
        return { failed: `brought up to date with ${config.baseBranch} (${r.base.slice(0, 10)}), revert #${pr.number} fails ${[...r.gates.map((g) => `gate ${g.name}`), ...r.tests].join(', ')}` };
      case 'updated':
        head = r.head;
        waitMs = forge.pollMs;
        break;
      case 'waiting': {
        const nudged = await condition(() => s.prNudges > before, waitMs);
        waitMs = nudged ? forge.pollMs : Math.min(waitMs * 2, forge.pollMs * 10);
      }
    }
  }
}
