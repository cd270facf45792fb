/**
 * Pull requests (opened from branches of the bare repository, merged in it), reviews and their inline comments.
 */
import { branchSha, casBranch, commitsBetween, commitSubjects, commitTree, diffStat, firstHunk, lineCount, mergeTree, resolveCommit } from '../git';
import { HttpError, validationFailed } from '../core';
import { type PullRecord, type ReviewRecord, type ReviewState, nodeId, now } from '../state';
import type { Json } from '../views';
import { type Ctx, type Handler, announceIssue, created, issueOf, newIssue, ok, pullOf, setIssueState, sortBy, str } from './context';

// ---- pull requests --------------------------------------------------------------------------------------------

/** `owner:branch` or `branch` -> the branch, when the owner is this repository's (the fake has no forks). */
function branchOfHead(c: Ctx, head: string): string | undefined {
  const colon = head.indexOf(':');
  if (colon < 0) return head;
  return head.slice(0, colon).toLowerCase() === c.repo.owner.toLowerCase() ? head.slice(colon + 1) : undefined;
}

export const listPulls: Handler = async (c) => {
  const state = str(c.query.state) ?? 'open';
  const head = str(c.query.head);
  const headBranch = head === undefined ? undefined : branchOfHead(c, head);
  let items = [...c.repo.pulls.values()].filter((p) => state === 'all' || c.repo.issues.get(p.number)?.state === state);
  if (head !== undefined) items = items.filter((p) => p.headRef === headBranch);
  if (str(c.query.base) !== undefined) items = items.filter((p) => p.baseRef === c.query.base);
  const sort = str(c.query.sort) ?? 'created';
  const updated = (p: PullRecord): string => c.repo.issues.get(p.number)?.updatedAt ?? '';
  const key = sort === 'updated' ? updated : sort === 'popularity' ? (p: PullRecord) => c.repo.commentsOn(p.number).length : (p: PullRecord) => p.number;
  const { slice, headers } = c.page(sortBy(items, key, c.query.direction, sort === 'created' ? 'desc' : 'asc'));
  const views: Json[] = [];
  for (const p of slice) views.push(c.core.views.pull(c.repo, p, await c.core.pullFacts(c.repo, p, false), false));
  return ok(views, headers);
};

/**
 * Opens a pull request. 422 with GitHub's errors when the head or base branch does not exist (`invalid`), when there
 * are no commits between them ("No commits between main and feature"), or when an open PR for the same head and base
 * exists ("A pull request already exists for acme:feature.").
 */
export const createPull: Handler = async (c) => {
  const body = c.body ?? {};
  const headRef = String(body.head);
  const base = String(body.base);
  const head = branchOfHead(c, headRef);
  const title = str(body.title)?.trim();
  if (body.issue !== undefined) throw validationFailed({ resource: 'PullRequest', field: 'issue', code: 'invalid' });
  if (!title) throw validationFailed({ resource: 'PullRequest', field: 'title', code: 'missing_field' });
  const headSha = head === undefined ? undefined : await branchSha(c.repo.gitDir, head);
  if (!head || !headSha) throw validationFailed({ resource: 'PullRequest', field: 'head', code: 'invalid' });
  const baseSha = await branchSha(c.repo.gitDir, base);
  if (!baseSha) throw validationFailed({ resource: 'PullRequest', field: 'base', code: 'invalid' });
  if (c.repo.openPull(head, base)) {
    throw validationFailed({ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${c.repo.owner}:${head}.` });
  }
  if ((await commitsBetween(c.repo.gitDir, baseSha, headSha)) === 0) {
    throw validationFailed({ resource: 'PullRequest', code: 'custom', message: `No commits between ${base} and ${head}` });
  }
  const issue = newIssue(c, title, str(body.body) ?? null, true);
  const id = c.core.ids.next();
  const p: PullRecord = {
    id,
    nodeId: nodeId('PR', id),
    number: issue.number,
    headRef: head,
    baseRef: base,
    draft: body.draft === true,
    maintainerCanModify: body.maintainer_can_modify !== false,
    merged: false,
    mergedAt: null,
    mergedBy: null,
    mergeCommitSha: null,
    headSha,
    baseSha,
  };
  c.repo.pulls.set(p.number, p);
  const view = c.core.views.pull(c.repo, p, await c.core.pullFacts(c.repo, p, true), true);
  c.core.emit(c.repo, 'pull_request', c.login, { action: 'opened', number: p.number, pull_request: view });
  return created(view);
};

export const getPull: Handler = async (c) => {
  const p = pullOf(c, c.path.pull_number);
  return ok(c.core.views.pull(c.repo, p, await c.core.pullFacts(c.repo, p, true), true));
};

export const updatePull: Handler = async (c) => {
  const p = pullOf(c, c.path.pull_number);
  const issue = issueOf(c, p.number);
  const body = c.body ?? {};
  if (str(body.base) !== undefined && body.base !== p.baseRef) {
    if (!(await branchSha(c.repo.gitDir, String(body.base)))) throw validationFailed({ resource: 'PullRequest', field: 'base', code: 'invalid' });
    p.baseRef = String(body.base);
  }
  if (str(body.title) !== undefined) issue.title = String(body.title);
  if (str(body.body) !== undefined) issue.body = String(body.body);
  if (typeof body.maintainer_can_modify === 'boolean') p.maintainerCanModify = body.maintainer_can_modify;
  issue.updatedAt = now();
  const state = str(body.state) as 'open' | 'closed' | undefined;
  if (state && !(p.merged && state === 'open')) await setIssueState(c, issue, state, null);
  else if (state === 'open') throw validationFailed({ resource: 'PullRequest', code: 'custom', message: 'state cannot be changed. The pull request has been merged.' });
  return ok(c.core.views.pull(c.repo, p, await c.core.pullFacts(c.repo, p, true), true));
};

export const checkIfMerged: Handler = async (c) => {
  const p = pullOf(c, c.path.pull_number);
  if (!p.merged) throw new HttpError(404, 'Not Found', undefined, true);
  return { status: 204 };
};

/** Closing keywords GitHub honours in a PR body merged into the default branch: `Fixes #12`, `closes #3`, ... */
const CLOSING = /\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b/gi;

/**
 * Merges a pull request in the bare repository: `git merge-tree --write-tree`, `git commit-tree` (a merge commit, or
 * one parent for `squash`), then a compare-and-swap `update-ref` of the base (recomputed if the base moved meanwhile).
 * 409 when `sha` is not the head; 405 when it cannot be merged (merged, closed, draft, conflicts, `rebase`, which the
 * fake repository does not allow, or a head that lacks the base's tip when the base requires it up to date:
 * `upToDateBranches`). Issues the body closes (`Fixes #n`) are closed when the base is the default branch.
 */
export const mergePull: Handler = async (c) => {
  const p = pullOf(c, c.path.pull_number);
  const issue = issueOf(c, p.number);
  const body = c.body ?? {};
  const method = str(body.merge_method) ?? 'merge';
  const notMergeable = (message = 'Pull Request is not mergeable'): HttpError => new HttpError(405, message);
  if (p.merged || issue.state === 'closed') throw notMergeable();
  if (p.draft) throw notMergeable('Pull Request is still a draft');
  if (method === 'rebase') throw notMergeable('Rebase merges are not allowed on this repository.');
  const headSha = await branchSha(c.repo.gitDir, p.headRef);
  if (!headSha) throw notMergeable();
  if (body.sha !== undefined && body.sha !== headSha) throw new HttpError(409, 'Head branch was modified. Review and try the merge again.');
  await c.repo.beforeMerge?.(p);
  const at = now();
  const author = { name: c.login, email: c.core.emailOf(c.login), date: at };
  for (let attempt = 0; attempt < 3; attempt++) {
    const baseSha = await branchSha(c.repo.gitDir, p.baseRef);
    if (!baseSha) throw notMergeable();
    if (c.repo.upToDateBranches.has(p.baseRef) && (await commitsBetween(c.repo.gitDir, headSha, baseSha)) > 0) throw notMergeable('Head branch is not up to date with the base branch');
    const merged = await mergeTree(c.repo.gitDir, baseSha, headSha);
    if (!merged.clean) throw notMergeable();
    const squash = method === 'squash';
    const title = str(body.commit_title) ?? (squash ? `${issue.title} (#${p.number})` : `Merge pull request #${p.number} from ${c.repo.owner}/${p.headRef}`);
    const details =
      str(body.commit_message) ??
      (squash ? (await commitSubjects(c.repo.gitDir, baseSha, headSha)).map((s) => `* ${s}`).join('\n\n') : issue.title);
    const message = details ? `${title}\n\n${details}\n` : `${title}\n`;
    const sha = await commitTree(c.repo.gitDir, merged.tree, squash ? [baseSha] : [baseSha, headSha], message, author);
    if (!(await casBranch(c.repo.gitDir, p.baseRef, sha, baseSha))) continue;
    Object.assign(p, { merged: true, mergedAt: at, mergedBy: c.login, mergeCommitSha: sha, headSha, baseSha });
    Object.assign(issue, { state: 'closed', closedAt: at, closedBy: c.login, updatedAt: at });
    await announceIssue(c, issue, 'closed');
    if (p.baseRef === c.repo.defaultBranch) {
      for (const m of (issue.body ?? '').matchAll(CLOSING)) {
        const closes = c.repo.issues.get(Number(m[1]));
        if (closes && !closes.pull) await setIssueState(c, closes, 'closed', 'completed');
      }
    }
    return ok({ sha, merged: true, message: 'Pull Request successfully merged' });
  }
  throw new HttpError(409, 'Base branch was modified. Review and try the merge again.');
};

// ---- reviews --------------------------------------------------------------------------------------------------

const REVIEW_STATES: Record<string, ReviewState> = { APPROVE: 'APPROVED', REQUEST_CHANGES: 'CHANGES_REQUESTED', COMMENT: 'COMMENTED' };

export const listReviews: Handler = async (c) => {
  const p = pullOf(c, c.path.pull_number);
  const { slice, headers } = c.page([...c.repo.reviews.values()].filter((r) => r.pullNumber === p.number && (r.state !== 'PENDING' || r.user === c.login)));
  return ok(
    slice.map((r) => c.core.views.review(c.repo, r)),
    headers,
  );
};

/**
 * Submits a review (no `event`: a pending review). GitHub's 422s (`errors` as strings): approving or requesting
 * changes on one's own pull request, requesting changes or commenting without a body, an inline comment on a path
 * the pull request does not change or past the file's end (last two worded by guess).
 */
export const createReview: Handler = async (c) => {
  const p = pullOf(c, c.path.pull_number);
  const issue = issueOf(c, p.number);
  const body = c.body ?? {};
  const event = str(body.event);
  const text = str(body.body) ?? '';
  const comments = (Array.isArray(body.comments) ? body.comments : []) as { path: string; line?: number; position?: number; body: string; side?: string }[];
  const refuse = (...errors: string[]): HttpError => new HttpError(422, 'Unprocessable Entity', errors);
  if (issue.user === c.login && event === 'APPROVE') throw refuse('Can not approve your own pull request');
  if (issue.user === c.login && event === 'REQUEST_CHANGES') throw refuse('Can not request changes on your own pull request');
  if (event === 'REQUEST_CHANGES' && !text.trim()) throw refuse('Body is required when requesting changes');
  if (event === 'COMMENT' && !text.trim() && comments.length === 0) throw refuse('Body is required when commenting');
  const facts = await c.core.pullFacts(c.repo, p, false);
  const commitId = str(body.commit_id) ?? facts.headSha;
  if (!(await resolveCommit(c.repo.gitDir, commitId))) throw refuse(`No commit found for SHA: ${commitId}`);
  const changed = new Set((await diffStat(c.repo.gitDir, facts.baseSha, commitId)).map((f) => f.path));
  for (const cm of comments) {
    if (!changed.has(cm.path)) throw refuse('Pull request review thread path could not be resolved');
    const lines = await lineCount(c.repo.gitDir, commitId, cm.path);
    if (cm.line !== undefined && (lines === undefined || cm.line < 1 || cm.line > lines)) throw refuse('Pull request review thread line must be part of the diff');
  }
  const id = c.core.ids.next();
  const at = now();
  const state = event ? (REVIEW_STATES[event] ?? 'COMMENTED') : 'PENDING';
  const review: ReviewRecord = { id, nodeId: nodeId('PRR', id), pullNumber: p.number, user: c.login, body: text, state, commitId, submittedAt: state === 'PENDING' ? null : at };
  c.repo.reviews.set(id, review);
  for (const cm of comments) {
    const cid = c.core.ids.next();
    c.repo.reviewComments.set(cid, {
      id: cid,
      nodeId: nodeId('PRRC', cid),
      reviewId: id,
      pullNumber: p.number,
      path: cm.path,
      line: cm.line ?? cm.position ?? null,
      side: cm.side === 'LEFT' ? 'LEFT' : 'RIGHT',
      body: cm.body,
      user: c.login,
      commitId,
      diffHunk: await firstHunk(c.repo.gitDir, facts.baseSha, commitId, cm.path),
      createdAt: at,
      updatedAt: at,
    });
  }
  if (state !== 'PENDING') {
    c.core.emit(c.repo, 'pull_request_review', c.login, {
      action: 'submitted',
      review: c.core.views.review(c.repo, review, true),
      pull_request: c.core.views.pull(c.repo, p, facts, false),
    });
  }
  return ok(c.core.views.review(c.repo, review));
};

export const listReviewComments: Handler = async (c) => {
  const p = pullOf(c, c.path.pull_number);
  const since = str(c.query.since);
  const items = [...c.repo.reviewComments.values()].filter((x) => x.pullNumber === p.number && (since === undefined || x.updatedAt >= since));
  const sorted = c.query.sort === 'updated' ? sortBy(items, (x) => x.updatedAt, c.query.direction, 'asc') : sortBy(items, (x) => x.id, c.query.direction, 'asc');
  const { slice, headers } = c.page(sorted);
  return ok(
    slice.map((x) => c.core.views.reviewComment(c.repo, x)),
    headers,
  );
};
