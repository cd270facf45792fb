/**
 * What every handler shares: the request context, the answer shape, small readers, and the state changes that issues
 * and pull requests have in common (opening an issue record, closing/reopening, announcing them to webhooks).
 */
import { branchSha } from '../git';
import { type FakeCore, notFound, validationFailed } from '../core';
import { type IssueRecord, nodeId, now, type PullRecord, type RepoState } from '../state';
import type { Json } from '../views';

/** A validated request to one repository, as a handler sees it. */
export interface Ctx {
  core: FakeCore;
  repo: RepoState;
  /** The acting login (the token's). */
  login: string;
  path: Record<string, unknown>;
  query: Record<string, unknown>;
  /** The JSON body, undefined when the request had none. */
  body: Record<string, unknown> | undefined;
  /** One page of `items` per `per_page` (default 30, max 100) and `page`, and the `Link` header for it. */
  page<T>(items: T[]): { slice: T[]; headers: Record<string, string> };
}

/** A handler's answer; `body` undefined sends no body. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** One operation: answers, or throws HttpError (anything else is a bug in the fake: 500 and a violation). */
export type Handler = (c: Ctx) => Promise<Reply>;

/** 200 with `body`. */
export const ok = (body: unknown, headers?: Record<string, string>): Reply => ({ status: 200, body, headers });
/** 201 with `body`, and `Location: body.url` as GitHub sends for a created resource. */
export const created = (body: Json): Reply => ({ status: 201, body, headers: typeof body.url === 'string' ? { location: body.url } : {} });

/** `v` if it is a string. */
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Issue (or PR) `number` of the request's repository. @throws HttpError 404 if there is none. */
export function issueOf(c: Ctx, number: unknown): IssueRecord {
  const issue = c.repo.issues.get(Number(number));
  if (!issue) throw notFound();
  return issue;
}

/** Pull request `number`. @throws HttpError 404 if there is none. */
export function pullOf(c: Ctx, number: unknown): PullRecord {
  const p = c.repo.pulls.get(Number(number));
  if (!p) throw notFound();
  return p;
}

/** GitHub's order for sorted lists: by `key`, `direction` (default `desc`). */
export function sortBy<T>(items: T[], key: (t: T) => string | number, direction: unknown, fallback: 'asc' | 'desc' = 'desc'): T[] {
  const sign = (direction ?? fallback) === 'asc' ? 1 : -1;
  return [...items].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -sign : x > y ? sign : 0;
  });
}

/** A new open issue record (the issue half of a PR when `pull`) by `c.login`, with the repository's next number. */
export function newIssue(c: Ctx, title: string, body: string | null, pull: boolean): IssueRecord {
  const id = c.core.ids.next();
  const at = now();
  const issue: IssueRecord = {
    id,
    nodeId: nodeId(pull ? 'PRI' : 'I', id),
    number: c.repo.nextNumber(),
    title,
    body,
    state: 'open',
    stateReason: null,
    user: c.login,
    labels: [],
    assignees: [],
    milestone: null,
    locked: false,
    createdAt: at,
    updatedAt: at,
    closedAt: null,
    closedBy: null,
    pull,
  };
  c.repo.issues.set(issue.number, issue);
  return issue;
}

/** Sends `issues.<action>`, or `pull_request.<action>` for a pull request's issue half. */
export async function announceIssue(c: Ctx, issue: IssueRecord, action: string, extra: Record<string, unknown> = {}): Promise<void> {
  const p = issue.pull ? c.repo.pulls.get(issue.number) : undefined;
  if (p) {
    const facts = await c.core.pullFacts(c.repo, p, true);
    c.core.emit(c.repo, 'pull_request', c.login, {
      action,
      number: p.number,
      pull_request: c.core.views.pull(c.repo, p, facts, true),
      ...extra,
    });
  } else {
    c.core.emit(c.repo, 'issues', c.login, { action, issue: c.core.views.issue(c.repo, issue), ...extra });
  }
}

/**
 * Closes or reopens `issue` (and its pull request) as `c.login`, announcing it; a no-op if it is in that state already.
 * @throws HttpError 422 when a pull request cannot be reopened (see assertReopenable).
 */
export async function setIssueState(c: Ctx, issue: IssueRecord, state: 'open' | 'closed', reason: IssueRecord['stateReason']): Promise<void> {
  if (issue.state === state) {
    if (state === 'closed' && reason) issue.stateReason = reason;
    return;
  }
  const p = issue.pull ? c.repo.pulls.get(issue.number) : undefined;
  if (p && state === 'open') await assertReopenable(c, p);
  if (p) await c.core.pullFacts(c.repo, p, false); // remember the shas before they freeze
  const at = now();
  issue.state = state;
  issue.updatedAt = at;
  if (state === 'closed') {
    issue.closedAt = at;
    issue.closedBy = c.login;
    issue.stateReason = p ? null : (reason ?? 'completed');
  } else {
    issue.closedAt = null;
    issue.closedBy = null;
    issue.stateReason = p ? null : 'reopened';
  }
  await announceIssue(c, issue, state === 'closed' ? 'closed' : 'reopened');
}

/**
 * A closed pull request can be reopened only while its head branch exists and no other open PR has the same head and
 * base (422 otherwise; the first message is a guess, the second is GitHub's).
 */
export async function assertReopenable(c: Ctx, p: PullRecord): Promise<void> {
  if (!(await branchSha(c.repo.gitDir, p.headRef))) {
    throw validationFailed({ resource: 'PullRequest', code: 'custom', message: 'state cannot be changed. The head branch was deleted.' });
  }
  if (c.repo.openPull(p.headRef, p.baseRef)) {
    throw validationFailed({ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${c.repo.owner}:${p.headRef}.` });
  }
}
