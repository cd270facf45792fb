/**
 * The GitHub forge (DESIGN.md "Words": forge): a ticket's branch is pushed to the repository and lands through exactly
 * one pull request. Every call is safe to repeat: the pull request is looked up by its head branch before one is
 * opened, ratchet's comment on it carries a hidden marker and is edited in place, and a merge names the head commit
 * it merges (GitHub refuses it when the head moved).
 */
import type { ForgeConfig } from '../../workflows/types';
import { gitToken, githubFailure, splitRepo, statusOf, type GitHub } from '../github/client';

/** A batch's forge when it is GitHub's. */
export type GitHubForgeConfig = Extract<ForgeConfig, { kind: 'github' }>;

/** The marker of the one comment ratchet keeps on a pull request. */
export const PR_NOTES_MARKER = '<!-- ratchet:pull-request -->';

/** What a pull request says now, as far as landing it goes. */
export type PullRequestView =
  | { status: 'merged'; number: number; mergeCommit: string; /** Login of who merged it, when GitHub says. */ by?: string }
  | { status: 'closed'; number: number; by?: string }
  | {
      status: 'open';
      number: number;
      headSha: string;
      /** GitHub's verdict on merging it: true, false (conflict), or null while it computes. */
      mergeable: boolean | null;
      /** Reviews asking for changes, newest last. */
      changesRequested: ReviewFeedback[];
      /** Required checks by name: `success`, `failure` (any other conclusion) or `pending` (absent or running). */
      checks: Record<string, 'success' | 'failure' | 'pending'>;
    };

/** A review that asked for changes, with its inline comments. */
export interface ReviewFeedback {
  id: number;
  by: string;
  body: string;
  comments: { path: string; line?: number; body: string }[];
}

/** Longest review text carried into a payload, characters. */
const MAX_REVIEW_CHARS = 4_000;

/** Pull requests of one GitHub repository; see the module comment. One instance per worker and repository. */
export class GitHubForge {
  private readonly owner: string;
  private readonly repo: string;

  constructor(
    private readonly gh: GitHub,
    readonly config: GitHubForgeConfig,
  ) {
    ({ owner: this.owner, repo: this.repo } = splitRepo(config.repo, 'forge.repo'));
  }

  private where(number?: number): string {
    return number === undefined ? `repository "${this.config.repo}" (forge.repo)` : `pull request #${number} of ${this.config.repo}`;
  }

  /** The token git pushes and fetches with (the client's token, or the App's current installation token). */
  gitToken(): Promise<string | undefined> {
    return gitToken(this.gh);
  }

  /** Where branches are pushed: `forge.remote`, else the repository's clone URL. */
  async remote(): Promise<string> {
    if (this.config.remote) return this.config.remote;
    const r = await this.gh.rest.repos.get({ owner: this.owner, repo: this.repo }).catch((err) => {
      throw githubFailure(err, this.where(), 'check forge.repo and the token');
    });
    return r.data.clone_url;
  }

  /**
   * The pull request of `branch` into `base`: the open one, else a merged one (a retry after it merged), else a new
   * one. A closed, unmerged one is not reopened: a person closed it (the caller treats that as a reject). With
   * `newAfterMerged` (the head commit the caller pushed), a merged one whose head was another commit is not the
   * answer: its merge was reverted and the branch holds new work, so a new pull request is opened (GitHub allows one
   * per head branch once the earlier is merged).
   * @returns its number, URL and whether this call opened it.
   */
  async openOrFind(opts: { branch: string; base: string; title: string; body: string; newAfterMerged?: string }): Promise<{ number: number; url: string; opened: boolean; state: 'open' | 'merged' | 'closed' }> {
    const found = await this.find(opts.branch, opts.base);
    const superseded = found?.state === 'merged' && opts.newAfterMerged !== undefined && found.head !== opts.newAfterMerged;
    if (found && !superseded) return { number: found.number, url: found.url, state: found.state, opened: false };
    const r = await this.gh.rest.pulls
      .create({ owner: this.owner, repo: this.repo, head: opts.branch, base: opts.base, title: opts.title, body: opts.body })
      .catch((err) => {
        throw githubFailure(err, this.where(), `check that ${opts.base} exists on ${this.config.repo} and the branch was pushed`);
      });
    return { number: r.data.number, url: r.data.html_url, opened: true, state: 'open' };
  }

  /**
   * The pull request of `branch` into `base`, without opening one: the open one, else the newest merged one, else a
   * closed one.
   * @returns its number, URL, state and head commit, or undefined when there is none.
   */
  async find(branch: string, base: string): Promise<{ number: number; url: string; state: 'open' | 'merged' | 'closed'; head: string } | undefined> {
    const found = await this.gh
      .paginate(this.gh.rest.pulls.list, { owner: this.owner, repo: this.repo, head: `${this.owner}:${branch}`, base, state: 'all', per_page: 100 })
      .catch((err) => {
        throw githubFailure(err, this.where(), 'check forge.repo and baseBranch');
      });
    // The newest merged one: a ticket whose merge was reverted has more than one.
    const pick = found.find((p) => p.state === 'open') ?? found.filter((p) => p.merged_at).sort((a, b) => b.number - a.number)[0] ?? found[0];
    if (!pick) return undefined;
    return { number: pick.number, url: pick.html_url, state: pick.state === 'open' ? 'open' : pick.merged_at ? 'merged' : 'closed', head: pick.head.sha };
  }

  /** Adds `label` to the pull request (its issue half; GitHub creates a label the repository lacks). Safe to repeat. */
  async label(number: number, label: string): Promise<void> {
    await this.gh.rest.issues.addLabels({ owner: this.owner, repo: this.repo, issue_number: number, labels: [label] }).catch((err) => {
      throw githubFailure(err, this.where(number), 'the token needs write access to issues and pull requests');
    });
  }

  /** Reads a pull request: its state, reviews asking for changes (with inline comments) and the required checks. */
  async view(number: number): Promise<PullRequestView> {
    const base = { owner: this.owner, repo: this.repo };
    const fail = (err: unknown): never => {
      throw githubFailure(err, this.where(number));
    };
    const pr = (await this.gh.rest.pulls.get({ ...base, pull_number: number }).catch(fail)).data;
    if (pr.merged && pr.merge_commit_sha) return { status: 'merged', number, mergeCommit: pr.merge_commit_sha, ...(pr.merged_by ? { by: pr.merged_by.login } : {}) };
    if (pr.state === 'closed') return { status: 'closed', number };
    const reviews = await this.gh.paginate(this.gh.rest.pulls.listReviews, { ...base, pull_number: number, per_page: 100 }).catch(fail);
    const asking = reviews.filter((r) => r.state === 'CHANGES_REQUESTED');
    let comments: { pull_request_review_id: number | null; path: string; line?: number | null; body: string }[] = [];
    if (asking.length) comments = await this.gh.paginate(this.gh.rest.pulls.listReviewComments, { ...base, pull_number: number, per_page: 100 }).catch(fail);
    const changesRequested = asking.map((r) => ({
      id: r.id,
      by: r.user?.login ?? 'someone',
      body: (r.body ?? '').slice(0, MAX_REVIEW_CHARS),
      comments: comments
        .filter((c) => c.pull_request_review_id === r.id)
        .map((c) => ({ path: c.path, ...(c.line ? { line: c.line } : {}), body: c.body.slice(0, MAX_REVIEW_CHARS) })),
    }));
    return { status: 'open', number, headSha: pr.head.sha, mergeable: pr.mergeable, changesRequested, checks: await this.checks(pr.head.sha) };
  }

  /** The required checks' states on `sha`: commit statuses (by context) and check runs (by name); the latest wins. */
  private async checks(sha: string): Promise<Record<string, 'success' | 'failure' | 'pending'>> {
    const out: Record<string, 'success' | 'failure' | 'pending'> = {};
    if (this.config.requiredChecks.length === 0) return out;
    const base = { owner: this.owner, repo: this.repo, ref: sha };
    const fail = (err: unknown): never => {
      throw githubFailure(err, `commit ${sha} of ${this.config.repo}`);
    };
    const combined = (await this.gh.rest.repos.getCombinedStatusForRef({ ...base, per_page: 100 }).catch(fail)).data;
    const runs = (await this.gh.rest.checks.listForRef({ ...base, per_page: 100 }).catch(fail)).data.check_runs;
    for (const name of this.config.requiredChecks) {
      const status = combined.statuses.find((s) => s.context === name);
      const run = runs.find((r) => r.name === name);
      if (run) out[name] = run.status !== 'completed' ? 'pending' : run.conclusion === 'success' ? 'success' : 'failure';
      else if (status) out[name] = status.state === 'success' ? 'success' : status.state === 'pending' ? 'pending' : 'failure';
      else out[name] = 'pending';
    }
    return out;
  }

  /**
   * Merges the pull request at head `sha` with the configured method.
   * @returns the merge commit; `conflict` when GitHub says it cannot be merged (405: conflicts, or a protection rule
   *   such as a head that is not up to date); `moved` when the head is no longer `sha` (409).
   */
  async merge(number: number, sha: string, title: string): Promise<{ merged: true; commit: string } | { merged: false; why: 'conflict' | 'moved'; message: string }> {
    try {
      // A refusal (405, 409) is GitHub's answer, not a fault: no retry by the plugin (its backoff waited 30 s for the
      // same answer). A 5xx is retried by the activity, which reads the pull request before it merges again.
      const r = await this.gh.rest.pulls.merge({ owner: this.owner, repo: this.repo, pull_number: number, sha, merge_method: this.config.mergeMethod, commit_title: title, request: { retries: 0 } });
      return { merged: true, commit: r.data.sha };
    } catch (err) {
      const status = statusOf(err);
      if (status === 405) {
        const view = await this.view(number);
        if (view.status === 'merged') return { merged: true, commit: view.mergeCommit }; // a retry after it merged
        return { merged: false, why: 'conflict', message: (err as Error).message };
      }
      if (status === 409) return { merged: false, why: 'moved', message: (err as Error).message };
      throw githubFailure(err, this.where(number));
    }
  }

  /** Writes ratchet's one comment on the pull request: edited in place, created only when there is none. */
  async comment(number: number, text: string): Promise<void> {
    const base = { owner: this.owner, repo: this.repo };
    const fail = (err: unknown): never => {
      throw githubFailure(err, this.where(number));
    };
    const body = `${PR_NOTES_MARKER}\n${text}`;
    const comments = await this.gh.paginate(this.gh.rest.issues.listComments, { ...base, issue_number: number, per_page: 100 }).catch(fail);
    const mine = comments.find((c) => c.body?.startsWith(PR_NOTES_MARKER));
    if (!mine) await this.gh.rest.issues.createComment({ ...base, issue_number: number, body }).catch(fail);
    else if (mine.body !== body) await this.gh.rest.issues.updateComment({ ...base, comment_id: mine.id, body }).catch(fail);
  }
}
