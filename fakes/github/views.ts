/**
 * Records -> the JSON GitHub's REST API returns for them (and its webhooks carry): ids, node ids, `url` under the
 * fake's API root, `html_url` under the same host (as github.com is to api.github.com), timestamps, and the
 * required-but-constant fields GitHub's OpenAPI description asks for. Pure functions of the records and the facts
 * passed in; nothing here runs git.
 */
import type { GitCommit } from './git';
import {
  type CheckRunRecord,
  type CommentRecord,
  type HookRecord,
  type IssueEventRecord,
  type IssueRecord,
  type LabelRecord,
  type MilestoneRecord,
  type PullRecord,
  type RepoState,
  type ReviewCommentRecord,
  type ReviewRecord,
  type StatusRecord,
  nodeId,
} from './state';

/** A JSON object as the API returns it. */
export type Json = Record<string, unknown>;

/** Facts about a pull request that come from git (read by the handlers, frozen once it is closed). */
export interface PullFacts {
  headSha: string;
  baseSha: string;
  /** null while unknown (closed PRs). */
  mergeable: boolean | null;
  /** `clean`, `dirty` (conflicts), `draft`, `behind` (the base requires an up-to-date head and it is not) or `unknown`. */
  mergeableState: 'clean' | 'dirty' | 'draft' | 'behind' | 'unknown';
  commits: number;
  additions: number;
  deletions: number;
  changedFiles: number;
}

/** What the views need from the fake as a whole. */
export interface ViewContext {
  /** API root, e.g. `http://127.0.0.1:4567` (no trailing slash). */
  base: string;
  /** A stable numeric id for a login. */
  userId(login: string): number;
  /** Whether `login` is an organization (a repository owner nobody holds a token for). */
  isOrganization(login: string): boolean;
  /** Every repository of the fake (dependencies may cross repositories). */
  repos(): Iterable<RepoState>;
}

const ZERO_REACTIONS = { total_count: 0, '+1': 0, '-1': 0, laugh: 0, confused: 0, heart: 0, hooray: 0, eyes: 0, rocket: 0 };

/** Renders records for one fake. */
export class Views {
  constructor(private readonly ctx: ViewContext) {}

  private api(repo: RepoState): string {
    return `${this.ctx.base}/repos/${repo.fullName}`;
  }

  private html(repo: RepoState): string {
    return `${this.ctx.base}/${repo.fullName}`;
  }

  /** `simple-user`. */
  user(login: string): Json {
    const id = this.ctx.userId(login);
    const url = `${this.ctx.base}/users/${encodeURIComponent(login)}`;
    return {
      login,
      id,
      node_id: nodeId('U', id),
      avatar_url: `${this.ctx.base}/avatars/u/${id}`,
      gravatar_id: '',
      url,
      html_url: `${this.ctx.base}/${encodeURIComponent(login)}`,
      followers_url: `${url}/followers`,
      following_url: `${url}/following{/other_user}`,
      gists_url: `${url}/gists{/gist_id}`,
      starred_url: `${url}/starred{/owner}{/repo}`,
      subscriptions_url: `${url}/subscriptions`,
      organizations_url: `${url}/orgs`,
      repos_url: `${url}/repos`,
      events_url: `${url}/events{/privacy}`,
      received_events_url: `${url}/received_events`,
      type: this.ctx.isOrganization(login) ? 'Organization' : login.endsWith('[bot]') ? 'Bot' : 'User',
      user_view_type: 'public',
      site_admin: false,
    };
  }

  /** The author association GitHub shows for `login` in `repo`. */
  association(repo: RepoState, login: string): string {
    return login === repo.owner ? 'OWNER' : 'COLLABORATOR';
  }

  /** `repository` (`full` adds the `full-repository` fields). `clone_url` is the bare repository's path. */
  repository(repo: RepoState, full = false): Json {
    const api = this.api(repo);
    const html = this.html(repo);
    const host = new URL(this.ctx.base).host;
    const openIssues = [...repo.issues.values()].filter((i) => i.state === 'open').length;
    const owner = this.user(repo.owner);
    const view: Json = {
      id: repo.id,
      node_id: nodeId('R', repo.id),
      name: repo.name,
      full_name: repo.fullName,
      owner,
      private: false,
      html_url: html,
      description: null,
      fork: false,
      url: api,
      archive_url: `${api}/{archive_format}{/ref}`,
      assignees_url: `${api}/assignees{/user}`,
      blobs_url: `${api}/git/blobs{/sha}`,
      branches_url: `${api}/branches{/branch}`,
      collaborators_url: `${api}/collaborators{/collaborator}`,
      comments_url: `${api}/comments{/number}`,
      commits_url: `${api}/commits{/sha}`,
      compare_url: `${api}/compare/{base}...{head}`,
      contents_url: `${api}/contents/{+path}`,
      contributors_url: `${api}/contributors`,
      deployments_url: `${api}/deployments`,
      downloads_url: `${api}/downloads`,
      events_url: `${api}/events`,
      forks_url: `${api}/forks`,
      git_commits_url: `${api}/git/commits{/sha}`,
      git_refs_url: `${api}/git/refs{/sha}`,
      git_tags_url: `${api}/git/tags{/sha}`,
      git_url: `git://${host}/${repo.fullName}.git`,
      issue_comment_url: `${api}/issues/comments{/number}`,
      issue_events_url: `${api}/issues/events{/number}`,
      issues_url: `${api}/issues{/number}`,
      keys_url: `${api}/keys{/key_id}`,
      labels_url: `${api}/labels{/name}`,
      languages_url: `${api}/languages`,
      merges_url: `${api}/merges`,
      milestones_url: `${api}/milestones{/number}`,
      notifications_url: `${api}/notifications{?since,all,participating}`,
      pulls_url: `${api}/pulls{/number}`,
      releases_url: `${api}/releases{/id}`,
      ssh_url: `git@${host}:${repo.fullName}.git`,
      stargazers_url: `${api}/stargazers`,
      statuses_url: `${api}/statuses/{sha}`,
      subscribers_url: `${api}/subscribers`,
      subscription_url: `${api}/subscription`,
      tags_url: `${api}/tags`,
      teams_url: `${api}/teams`,
      trees_url: `${api}/git/trees{/sha}`,
      clone_url: repo.gitDir,
      mirror_url: null,
      hooks_url: `${api}/hooks`,
      svn_url: html,
      homepage: null,
      language: null,
      forks_count: 0,
      stargazers_count: 0,
      watchers_count: 0,
      size: 0,
      default_branch: repo.defaultBranch,
      open_issues_count: openIssues,
      is_template: false,
      topics: [],
      has_issues: true,
      has_projects: false,
      has_wiki: false,
      has_pages: false,
      has_downloads: true,
      has_discussions: false,
      archived: false,
      disabled: false,
      visibility: 'public',
      pushed_at: repo.createdAt,
      created_at: repo.createdAt,
      updated_at: repo.createdAt,
      permissions: { admin: true, maintain: true, push: true, triage: true, pull: true },
      allow_rebase_merge: false,
      allow_squash_merge: true,
      allow_merge_commit: true,
      allow_auto_merge: false,
      delete_branch_on_merge: false,
      allow_update_branch: false,
      use_squash_pr_title_as_default: false,
      squash_merge_commit_title: 'COMMIT_OR_PR_TITLE',
      squash_merge_commit_message: 'COMMIT_MESSAGES',
      merge_commit_title: 'MERGE_MESSAGE',
      merge_commit_message: 'PR_TITLE',
      allow_forking: true,
      web_commit_signoff_required: false,
      license: null,
      forks: 0,
      open_issues: openIssues,
      watchers: 0,
    };
    if (full) {
      view.subscribers_count = 0;
      view.network_count = 0;
      if (this.ctx.isOrganization(repo.owner)) view.organization = owner;
    }
    return view;
  }

  /** `label`. */
  label(repo: RepoState, label: LabelRecord): Json {
    return {
      id: label.id,
      node_id: label.nodeId,
      url: `${this.api(repo)}/labels/${encodeURIComponent(label.name)}`,
      name: label.name,
      description: label.description,
      color: label.color,
      default: false,
    };
  }

  /** `milestone`, with its open and closed issue counts. */
  milestone(repo: RepoState, m: MilestoneRecord): Json {
    const issues = [...repo.issues.values()].filter((i) => i.milestone === m.number);
    return {
      url: `${this.api(repo)}/milestones/${m.number}`,
      html_url: `${this.html(repo)}/milestone/${m.number}`,
      labels_url: `${this.api(repo)}/milestones/${m.number}/labels`,
      id: m.id,
      node_id: m.nodeId,
      number: m.number,
      state: m.state,
      title: m.title,
      description: m.description,
      creator: this.user(m.creator),
      open_issues: issues.filter((i) => i.state === 'open').length,
      closed_issues: issues.filter((i) => i.state === 'closed').length,
      created_at: m.createdAt,
      updated_at: m.updatedAt,
      closed_at: m.closedAt,
      due_on: m.dueOn,
    };
  }

  /** Who blocks `issue` and whom it blocks, open ones and all (`issue-dependencies-summary`). */
  private dependencySummary(repo: RepoState, issue: IssueRecord): Json {
    const byId = new Map<number, IssueRecord>();
    const edges: { blocked: IssueRecord; blockingId: number }[] = [];
    for (const r of this.ctx.repos()) {
      for (const i of r.issues.values()) byId.set(i.id, i);
      for (const d of r.dependencies) {
        const blocked = r.issues.get(d.blockedNumber);
        if (blocked) edges.push({ blocked, blockingId: d.blockingId });
      }
    }
    const blockers = repo.dependencies.filter((d) => d.blockedNumber === issue.number).map((d) => byId.get(d.blockingId));
    const blocking = edges.filter((e) => e.blockingId === issue.id).map((e) => e.blocked);
    return {
      blocked_by: blockers.filter((b) => b?.state === 'open').length,
      blocking: blocking.filter((b) => b.state === 'open').length,
      total_blocked_by: blockers.length,
      total_blocking: blocking.length,
    };
  }

  /** `issue`; a pull request's issue half carries `pull_request` (as GitHub's issue list returns it). */
  issue(repo: RepoState, issue: IssueRecord): Json {
    const api = `${this.api(repo)}/issues/${issue.number}`;
    const milestone = issue.milestone === null ? undefined : repo.milestones.get(issue.milestone);
    const pull = issue.pull ? repo.pulls.get(issue.number) : undefined;
    const view: Json = {
      id: issue.id,
      node_id: issue.nodeId,
      url: api,
      repository_url: this.api(repo),
      labels_url: `${api}/labels{/name}`,
      comments_url: `${api}/comments`,
      events_url: `${api}/events`,
      html_url: `${this.html(repo)}/${pull ? 'pull' : 'issues'}/${issue.number}`,
      number: issue.number,
      state: issue.state,
      state_reason: issue.stateReason,
      title: issue.title,
      body: issue.body,
      user: this.user(issue.user),
      labels: repo.labelsOf(issue).map((l) => this.label(repo, l)),
      assignee: issue.assignees[0] ? this.user(issue.assignees[0]) : null,
      assignees: issue.assignees.map((a) => this.user(a)),
      milestone: milestone ? this.milestone(repo, milestone) : null,
      locked: issue.locked,
      active_lock_reason: null,
      comments: repo.commentsOn(issue.number).length,
      closed_at: issue.closedAt,
      created_at: issue.createdAt,
      updated_at: issue.updatedAt,
      closed_by: issue.closedBy ? this.user(issue.closedBy) : null,
      author_association: this.association(repo, issue.user),
      reactions: { url: `${api}/reactions`, ...ZERO_REACTIONS },
      timeline_url: `${api}/timeline`,
      performed_via_github_app: null,
      sub_issues_summary: { total: 0, completed: 0, percent_completed: 0 },
      issue_dependencies_summary: this.dependencySummary(repo, issue),
    };
    if (pull) {
      const html = `${this.html(repo)}/pull/${issue.number}`;
      view.draft = pull.draft;
      view.pull_request = {
        url: `${this.api(repo)}/pulls/${issue.number}`,
        html_url: html,
        diff_url: `${html}.diff`,
        patch_url: `${html}.patch`,
        merged_at: pull.mergedAt,
      };
    }
    return view;
  }

  /** `issue-comment`. */
  comment(repo: RepoState, c: CommentRecord): Json {
    const issue = repo.issues.get(c.issueNumber);
    const url = `${this.api(repo)}/issues/comments/${c.id}`;
    return {
      id: c.id,
      node_id: c.nodeId,
      url,
      html_url: `${this.html(repo)}/${issue?.pull ? 'pull' : 'issues'}/${c.issueNumber}#issuecomment-${c.id}`,
      body: c.body,
      user: this.user(c.user),
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      issue_url: `${this.api(repo)}/issues/${c.issueNumber}`,
      author_association: this.association(repo, c.user),
      performed_via_github_app: null,
      reactions: { url: `${url}/reactions`, ...ZERO_REACTIONS },
    };
  }

  /** `labeled-issue-event` / `unlabeled-issue-event`. */
  event(repo: RepoState, e: IssueEventRecord): Json {
    return {
      id: e.id,
      node_id: e.nodeId,
      url: `${this.api(repo)}/issues/events/${e.id}`,
      actor: this.user(e.actor),
      event: e.event,
      commit_id: null,
      commit_url: null,
      created_at: e.createdAt,
      performed_via_github_app: null,
      label: e.label,
    };
  }

  /**
   * `pull-request` (`full`) or `pull-request-simple` (lists). `pull-request-simple` documents a label's `description`
   * as a non-null string, so a label without one shows `''` there (and `null` everywhere else, as GitHub sends it).
   */
  pull(repo: RepoState, p: PullRecord, facts: PullFacts, full: boolean): Json {
    const issue = repo.issues.get(p.number);
    if (!issue) throw new Error(`pull request #${p.number} of ${repo.fullName} has no issue record`);
    const api = `${this.api(repo)}/pulls/${p.number}`;
    const html = `${this.html(repo)}/pull/${p.number}`;
    const issueApi = `${this.api(repo)}/issues/${p.number}`;
    const milestone = issue.milestone === null ? undefined : repo.milestones.get(issue.milestone);
    const side = (ref: string, sha: string): Json => ({
      label: `${repo.owner}:${ref}`,
      ref,
      sha,
      user: this.user(repo.owner),
      repo: this.repository(repo),
    });
    const view: Json = {
      url: api,
      id: p.id,
      node_id: p.nodeId,
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: issueApi,
      commits_url: `${api}/commits`,
      review_comments_url: `${api}/comments`,
      review_comment_url: `${this.api(repo)}/pulls/comments{/number}`,
      comments_url: `${issueApi}/comments`,
      statuses_url: `${this.api(repo)}/statuses/${facts.headSha}`,
      number: p.number,
      state: issue.state,
      locked: issue.locked,
      title: issue.title,
      user: this.user(issue.user),
      body: issue.body,
      labels: repo.labelsOf(issue).map((l) => {
        const label = this.label(repo, l);
        return full ? label : { ...label, description: l.description ?? '' };
      }),
      milestone: milestone ? this.milestone(repo, milestone) : null,
      active_lock_reason: null,
      created_at: issue.createdAt,
      updated_at: issue.updatedAt,
      closed_at: issue.closedAt,
      merged_at: p.mergedAt,
      merge_commit_sha: p.mergeCommitSha,
      assignee: issue.assignees[0] ? this.user(issue.assignees[0]) : null,
      assignees: issue.assignees.map((a) => this.user(a)),
      requested_reviewers: [],
      requested_teams: [],
      head: side(p.headRef, facts.headSha),
      base: side(p.baseRef, facts.baseSha),
      _links: {
        self: { href: api },
        html: { href: html },
        issue: { href: issueApi },
        comments: { href: `${issueApi}/comments` },
        review_comments: { href: `${api}/comments` },
        review_comment: { href: `${this.api(repo)}/pulls/comments{/number}` },
        commits: { href: `${api}/commits` },
        statuses: { href: `${this.api(repo)}/statuses/${facts.headSha}` },
      },
      author_association: this.association(repo, issue.user),
      auto_merge: null,
      draft: p.draft,
    };
    if (full) {
      Object.assign(view, {
        merged: p.merged,
        mergeable: facts.mergeable,
        rebaseable: facts.mergeable,
        mergeable_state: facts.mergeableState,
        merged_by: p.mergedBy ? this.user(p.mergedBy) : null,
        comments: repo.commentsOn(p.number).length,
        review_comments: [...repo.reviewComments.values()].filter((c) => c.pullNumber === p.number).length,
        maintainer_can_modify: p.maintainerCanModify,
        commits: facts.commits,
        additions: facts.additions,
        deletions: facts.deletions,
        changed_files: facts.changedFiles,
      });
    }
    return view;
  }

  /** `pull-request-review`; `webhook` gives the lowercase state webhooks carry (`changes_requested`). */
  review(repo: RepoState, r: ReviewRecord, webhook = false): Json {
    const html = `${this.html(repo)}/pull/${r.pullNumber}#pullrequestreview-${r.id}`;
    const pullUrl = `${this.api(repo)}/pulls/${r.pullNumber}`;
    const view: Json = {
      id: r.id,
      node_id: r.nodeId,
      user: this.user(r.user),
      body: r.body,
      state: webhook ? r.state.toLowerCase() : r.state,
      html_url: html,
      pull_request_url: pullUrl,
      _links: { html: { href: html }, pull_request: { href: pullUrl } },
      commit_id: r.commitId,
      author_association: this.association(repo, r.user),
    };
    if (r.submittedAt) view.submitted_at = r.submittedAt;
    return view;
  }

  /** `pull-request-review-comment`. */
  reviewComment(repo: RepoState, c: ReviewCommentRecord): Json {
    const url = `${this.api(repo)}/pulls/comments/${c.id}`;
    const html = `${this.html(repo)}/pull/${c.pullNumber}#discussion_r${c.id}`;
    const pullUrl = `${this.api(repo)}/pulls/${c.pullNumber}`;
    const view: Json = {
      url,
      pull_request_review_id: c.reviewId,
      id: c.id,
      node_id: c.nodeId,
      diff_hunk: c.diffHunk,
      path: c.path,
      commit_id: c.commitId,
      original_commit_id: c.commitId,
      user: this.user(c.user),
      body: c.body,
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      html_url: html,
      pull_request_url: pullUrl,
      author_association: this.association(repo, c.user),
      _links: { self: { href: url }, html: { href: html }, pull_request: { href: pullUrl } },
      start_line: null,
      original_start_line: null,
      start_side: null,
      side: c.side,
      subject_type: c.line === null ? 'file' : 'line',
      reactions: { url: `${url}/reactions`, ...ZERO_REACTIONS },
    };
    if (c.line !== null) Object.assign(view, { line: c.line, original_line: c.line });
    return view;
  }

  /** `status` (what POST /statuses/{sha} returns). */
  status(repo: RepoState, s: StatusRecord): Json {
    return {
      url: `${this.api(repo)}/statuses/${s.sha}`,
      avatar_url: this.user(s.creator).avatar_url,
      id: s.id,
      node_id: s.nodeId,
      state: s.state,
      description: s.description,
      target_url: s.targetUrl,
      context: s.context,
      created_at: s.createdAt,
      updated_at: s.updatedAt,
      creator: this.user(s.creator),
    };
  }

  /** `combined-commit-status` for `sha`: the newest status per context; failure over pending over success. */
  combinedStatus(repo: RepoState, sha: string): Json {
    const latest = new Map<string, StatusRecord>();
    for (const s of repo.statuses) if (s.sha === sha) latest.set(s.context, s);
    const statuses = [...latest.values()];
    const states = new Set(statuses.map((s) => s.state));
    const state =
      states.has('error') || states.has('failure') ? 'failure' : states.has('pending') || statuses.length === 0 ? 'pending' : 'success';
    return {
      state,
      // The same fields as a status, less its creator (GitHub's `simple-commit-status`).
      statuses: statuses.map((s) => {
        const { creator: _creator, ...simple } = this.status(repo, s) as Record<string, unknown>;
        return simple;
      }),
      sha,
      total_count: statuses.length,
      repository: this.repository(repo),
      commit_url: `${this.api(repo)}/commits/${sha}`,
      url: `${this.api(repo)}/commits/${sha}/status`,
    };
  }

  /** `check-run`; `pulls` are the open pull requests whose head is the run's sha (`pull-request-minimal`). */
  checkRun(repo: RepoState, c: CheckRunRecord, pulls: { number: number; id: number; head: string; headSha: string; base: string; baseSha: string }[]): Json {
    const url = `${this.api(repo)}/check-runs/${c.id}`;
    const ref = { id: repo.id, url: this.api(repo), name: repo.name };
    return {
      id: c.id,
      head_sha: c.headSha,
      node_id: c.nodeId,
      external_id: c.externalId,
      url,
      html_url: `${this.html(repo)}/runs/${c.id}`,
      details_url: c.detailsUrl,
      status: c.status,
      conclusion: c.conclusion,
      started_at: c.startedAt,
      completed_at: c.completedAt,
      output: { ...c.output, annotations_count: 0, annotations_url: `${url}/annotations` },
      name: c.name,
      check_suite: { id: c.id + 1 },
      app: null,
      pull_requests: pulls.map((p) => ({
        id: p.id,
        number: p.number,
        url: `${this.api(repo)}/pulls/${p.number}`,
        head: { ref: p.head, sha: p.headSha, repo: ref },
        base: { ref: p.base, sha: p.baseSha, repo: ref },
      })),
    };
  }

  /** `hook`; the secret shows as `********`, as GitHub masks it. */
  hook(repo: RepoState, h: HookRecord): Json {
    const url = `${this.api(repo)}/hooks/${h.id}`;
    const last = h.deliveries.at(-1);
    const config: Json = { content_type: h.config.contentType, insecure_ssl: h.config.insecureSsl, url: h.config.url };
    if (h.config.secret !== null) config.secret = '********';
    return {
      type: 'Repository',
      id: h.id,
      name: 'web',
      active: h.active,
      events: h.events,
      config,
      updated_at: h.updatedAt,
      created_at: h.createdAt,
      url,
      test_url: `${url}/test`,
      ping_url: `${url}/pings`,
      deliveries_url: `${url}/deliveries`,
      last_response: last
        ? { code: last.status, status: last.status !== null && last.status < 300 ? 'active' : 'failed', message: last.error ?? 'OK' }
        : { code: null, status: 'unused', message: null },
    };
  }

  /** `commit` (as in a branch): the author is a user when the email is a users.noreply one the fake knows. */
  commit(repo: RepoState, c: GitCommit, knownUser: (email: string) => string | undefined): Json {
    const api = this.api(repo);
    const asUser = (email: string): Json | null => {
      const login = knownUser(email);
      return login ? this.user(login) : null;
    };
    return {
      url: `${api}/commits/${c.sha}`,
      sha: c.sha,
      node_id: nodeId('C', parseInt(c.sha.slice(0, 8), 16)),
      html_url: `${this.html(repo)}/commit/${c.sha}`,
      comments_url: `${api}/commits/${c.sha}/comments`,
      commit: {
        url: `${api}/git/commits/${c.sha}`,
        author: c.author,
        committer: c.committer,
        message: c.message.replace(/\n$/, ''),
        comment_count: 0,
        tree: { sha: c.tree, url: `${api}/git/trees/${c.tree}` },
        verification: { verified: false, reason: 'unsigned', payload: null, signature: null, verified_at: null },
      },
      author: asUser(c.author.email),
      committer: asUser(c.committer.email),
      parents: c.parents.map((sha) => ({ sha, url: `${api}/commits/${sha}`, html_url: `${this.html(repo)}/commit/${sha}` })),
    };
  }

  /** `branch-with-protection` for an unprotected branch. */
  branch(repo: RepoState, name: string, commit: Json): Json {
    const api = `${this.api(repo)}/branches/${encodeURIComponent(name)}`;
    return {
      name,
      commit,
      _links: { html: `${this.html(repo)}/tree/${name}`, self: api },
      protected: false,
      protection: { enabled: false, required_status_checks: { enforcement_level: 'off', contexts: [], checks: [] } },
      protection_url: `${api}/protection`,
    };
  }
}
