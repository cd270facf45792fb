/**
 * The fake's data: plain records per repository (issues and the pull requests that share their numbers, labels,
 * milestones, comments, issue events, dependencies, reviews, statuses, check runs, hooks) and the few rules that are
 * pure bookkeeping (numbering, ids, label matching). Rendering to GitHub's JSON is views.ts; git is git.ts.
 * Times are ISO 8601 strings without milliseconds, as GitHub writes them.
 */

/** `2024-05-01T12:00:00Z`: now, as GitHub writes times. */
export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** An issue, or the issue half of a pull request (`pull` set): title, body, state, labels and comments live here. */
export interface IssueRecord {
  id: number;
  nodeId: string;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  stateReason: 'completed' | 'not_planned' | 'duplicate' | 'reopened' | null;
  /** Login of the author. */
  user: string;
  /** Label names (as the repository spells them), in the order they were added. */
  labels: string[];
  assignees: string[];
  /** Milestone number. */
  milestone: number | null;
  locked: boolean;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  closedBy: string | null;
  /** True for the issue half of a pull request. */
  pull: boolean;
}

/** The pull-request half: branches, draft and merge facts. The head sha is read from git while the PR is open. */
export interface PullRecord {
  id: number;
  nodeId: string;
  number: number;
  /** Branch names in this repository. */
  headRef: string;
  baseRef: string;
  draft: boolean;
  maintainerCanModify: boolean;
  merged: boolean;
  mergedAt: string | null;
  mergedBy: string | null;
  mergeCommitSha: string | null;
  /**
   * Head and base shas as last read from the bare repository while open (a fallback if a branch is deleted), and
   * frozen when the PR closes or merges.
   */
  headSha: string;
  baseSha: string;
}

/** A repository label. */
export interface LabelRecord {
  id: number;
  nodeId: string;
  name: string;
  /** Six hex digits, no `#`. */
  color: string;
  description: string | null;
}

/** A milestone; `creator` is a login, `dueOn` ISO 8601 or null. */
export interface MilestoneRecord {
  id: number;
  nodeId: string;
  number: number;
  title: string;
  description: string | null;
  state: 'open' | 'closed';
  dueOn: string | null;
  creator: string;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
}

/** A comment on an issue or on a pull request's conversation; `user` is a login. */
export interface CommentRecord {
  id: number;
  nodeId: string;
  issueNumber: number;
  body: string;
  user: string;
  createdAt: string;
  updatedAt: string;
}

/** An issue event GitHub's list-events returns; the fake records the label ones. */
export interface IssueEventRecord {
  id: number;
  nodeId: string;
  issueNumber: number;
  event: 'labeled' | 'unlabeled';
  actor: string;
  label: { name: string; color: string };
  createdAt: string;
}

/** Issue `blockedNumber` of this repository is blocked by the issue whose global id is `blockingId` (any repository). */
export interface DependencyRecord {
  blockedNumber: number;
  blockingId: number;
}

/** A review's state as the REST API spells it (webhooks send it lower-cased). */
export type ReviewState = 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'PENDING';

/** A pull-request review; `commitId` is the head it reviewed, `submittedAt` null while pending. */
export interface ReviewRecord {
  id: number;
  nodeId: string;
  pullNumber: number;
  user: string;
  body: string;
  state: ReviewState;
  commitId: string;
  submittedAt: string | null;
}

/** An inline comment of a review: `line` in the file at `commitId` (null for a comment on the whole file). */
export interface ReviewCommentRecord {
  id: number;
  nodeId: string;
  reviewId: number;
  pullNumber: number;
  path: string;
  line: number | null;
  side: 'LEFT' | 'RIGHT';
  body: string;
  user: string;
  commitId: string;
  diffHunk: string;
  createdAt: string;
  updatedAt: string;
}

/** A commit status on `sha` for one `context`; `creator` is a login. */
export interface StatusRecord {
  id: number;
  nodeId: string;
  sha: string;
  state: 'error' | 'failure' | 'pending' | 'success';
  targetUrl: string | null;
  description: string | null;
  context: string;
  creator: string;
  createdAt: string;
  updatedAt: string;
}

/** A check run on `headSha`; `conclusion` is set once `status` is `completed`. */
export interface CheckRunRecord {
  id: number;
  nodeId: string;
  name: string;
  headSha: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  externalId: string | null;
  detailsUrl: string | null;
  startedAt: string | null;
  completedAt: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
}

/** One attempt to deliver an event to a hook: `status` is the receiver's HTTP status, null when it was unreachable. */
export interface DeliveryRecord {
  guid: string;
  event: string;
  action: string | null;
  status: number | null;
  error: string | null;
  attempts: number;
  deliveredAt: string;
}

/** A repository webhook; `secret` is kept in clear (the API shows it masked), `deliveries` oldest first. */
export interface HookRecord {
  id: number;
  active: boolean;
  events: string[];
  config: { url: string; contentType: 'json' | 'form'; secret: string | null; insecureSsl: string };
  createdAt: string;
  updatedAt: string;
  deliveries: DeliveryRecord[];
}

/**
 * Everything one fake repository holds besides its git objects. Collections are keyed by what identifies their
 * records: issues and pulls by number (they share one sequence), labels by lower-cased name (GitHub matches names
 * case-insensitively), milestones by number, comments, reviews and review comments by id; logs are arrays.
 */
export class RepoState {
  readonly issues = new Map<number, IssueRecord>();
  readonly pulls = new Map<number, PullRecord>();
  readonly labels = new Map<string, LabelRecord>();
  readonly milestones = new Map<number, MilestoneRecord>();
  readonly comments = new Map<number, CommentRecord>();
  readonly events: IssueEventRecord[] = [];
  readonly dependencies: DependencyRecord[] = [];
  readonly reviews = new Map<number, ReviewRecord>();
  readonly reviewComments = new Map<number, ReviewCommentRecord>();
  readonly statuses: StatusRecord[] = [];
  readonly checkRuns: CheckRunRecord[] = [];
  readonly hooks: HookRecord[] = [];
  /**
   * Base branches whose protection requires a pull request's head to be up to date before it merges (GitHub's
   * "Require branches to be up to date before merging", `required_status_checks.strict`); a test adds to it.
   */
  readonly upToDateBranches = new Set<string>();
  /**
   * A test's hook, awaited when a merge request passed its checks and before the merge is computed (inside the
   * repository's lock; it may push to the bare repository, not call the API): how a test moves the base between a
   * client's last read and its merge.
   */
  beforeMerge?: (pull: PullRecord) => Promise<void>;
  private lastNumber = 0;
  private lastMilestone = 0;

  constructor(
    readonly id: number,
    readonly owner: string,
    readonly name: string,
    readonly defaultBranch: string,
    /** Absolute path of the bare repository. */
    readonly gitDir: string,
    readonly createdAt: string,
  ) {}

  get fullName(): string {
    return `${this.owner}/${this.name}`;
  }

  /** The next issue/PR number (they share one sequence, as on GitHub). */
  nextNumber(): number {
    return ++this.lastNumber;
  }

  nextMilestoneNumber(): number {
    return ++this.lastMilestone;
  }

  /** The label called `name`, in any case. */
  label(name: string): LabelRecord | undefined {
    return this.labels.get(name.toLowerCase());
  }

  addLabel(label: LabelRecord): void {
    this.labels.set(label.name.toLowerCase(), label);
  }

  /** The issue's labels, sorted by name (GitHub's order). */
  labelsOf(issue: IssueRecord): LabelRecord[] {
    return issue.labels
      .map((name) => this.label(name))
      .filter((l): l is LabelRecord => l !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Comments on issue (or PR) `number`, oldest first. */
  commentsOn(number: number): CommentRecord[] {
    return [...this.comments.values()].filter((c) => c.issueNumber === number);
  }

  /** The open pull request from `headRef` into `baseRef`, if any. */
  openPull(headRef: string, baseRef: string): PullRecord | undefined {
    return [...this.pulls.values()].find((p) => p.headRef === headRef && p.baseRef === baseRef && this.issues.get(p.number)?.state === 'open');
  }
}

/** Ids shared by every record of one fake: unique across kinds, and far from issue numbers so the two never pass for each other. */
export class IdSource {
  private last = 1_000_000;

  next(): number {
    this.last += 7;
    return this.last;
  }
}

/** GitHub-looking node id: a type prefix and the id, base64url. */
export function nodeId(prefix: string, id: number): string {
  return `${prefix}_${Buffer.from(`fake:${id}`).toString('base64url')}`;
}
