/**
 * One fake's world: its repositories, ids, users, views, webhook dispatcher, and the facts that need git (a pull
 * request's shas, mergeability and diff size). Handlers (handlers.ts) act on it; the server (index.ts) owns it.
 */
import { Mutex } from 'async-mutex';
import { branchSha, commitsBetween, diffStat, mergeTree } from './git';
import { IdSource, type IssueRecord, type PullRecord, type RepoState } from './state';
import { Views, type PullFacts, type ViewContext } from './views';
import { WebhookDispatcher } from './webhooks';

/** An error answered with GitHub's error body `{ message, documentation_url, errors? }`; no body when `empty`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: unknown[],
    readonly empty = false,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** 404 Not Found, GitHub's answer for anything missing (or hidden). */
export const notFound = (message = 'Not Found'): HttpError => new HttpError(404, message);

/** 422 Validation Failed with GitHub's `errors` objects (`resource`, `field`, `code`, `message`). */
export const validationFailed = (...errors: Record<string, unknown>[]): HttpError => new HttpError(422, 'Validation Failed', errors);

/** The fake's world. */
export class FakeCore implements ViewContext {
  readonly ids = new IdSource();
  readonly views: Views;
  readonly webhooks: WebhookDispatcher;
  private readonly repoMap = new Map<string, RepoState>();
  private readonly locks = new Map<RepoState, Mutex>();
  private readonly userIds = new Map<string, number>();
  private readonly people: Set<string>;

  constructor(
    /** API root, e.g. `http://127.0.0.1:4567`; set once the server listens. */
    public base: string,
    /** Logins that hold a token: users; every other repository owner is an organization. */
    people: Iterable<string>,
    log: (line: string) => void,
  ) {
    this.people = new Set(people);
    this.views = new Views(this);
    this.webhooks = new WebhookDispatcher(log);
  }

  userId(login: string): number {
    let id = this.userIds.get(login);
    if (id === undefined) {
      id = this.ids.next();
      this.userIds.set(login, id);
    }
    return id;
  }

  /** The login whose GitHub no-reply address `email` is (`<id>+<login>@users.noreply.github.com`). */
  loginOfEmail(email: string): string | undefined {
    const m = /^(\d+)\+([^@]+)@users\.noreply\.github\.com$/.exec(email);
    return m && this.userIds.get(m[2] ?? '') === Number(m[1]) ? m[2] : undefined;
  }

  /** The no-reply address GitHub uses for `login` in commits it makes. */
  emailOf(login: string): string {
    return `${this.userId(login)}+${login}@users.noreply.github.com`;
  }

  isOrganization(login: string): boolean {
    return !this.people.has(login);
  }

  repos(): Iterable<RepoState> {
    return this.repoMap.values();
  }

  /** The repository `owner/name` (case-insensitive, as GitHub), or undefined. */
  repo(owner: string, name: string): RepoState | undefined {
    return this.repoMap.get(`${owner}/${name}`.toLowerCase());
  }

  /**
   * Registers `repo`.
   * @throws Error if a repository of that name exists.
   */
  addRepo(repo: RepoState): void {
    const key = repo.fullName.toLowerCase();
    if (this.repoMap.has(key)) throw new Error(`the fake already has a repository ${repo.fullName}`);
    this.repoMap.set(key, repo);
    this.locks.set(repo, new Mutex());
  }

  /** Runs `fn` with `repo` to itself: requests to one repository are handled one at a time (git and state agree). */
  exclusive<T>(repo: RepoState, fn: () => Promise<T>): Promise<T> {
    const lock = this.locks.get(repo);
    if (!lock) throw new Error(`unknown repository ${repo.fullName}`);
    return lock.runExclusive(fn);
  }

  /** The issue with global id `id`, in whichever repository. */
  issueById(id: number): { repo: RepoState; issue: IssueRecord } | undefined {
    for (const repo of this.repoMap.values()) {
      const issue = [...repo.issues.values()].find((i) => i.id === id);
      if (issue) return { repo, issue };
    }
    return undefined;
  }

  /**
   * Announces a change to the repository's hooks: `payload` gets `repository` and `sender` (the acting login) and is
   * delivered to each hook subscribed to `event`, after this call returns.
   */
  emit(repo: RepoState, event: string, sender: string, payload: Record<string, unknown>): void {
    if (repo.hooks.length === 0) return;
    const full = { ...payload, repository: this.views.repository(repo), sender: this.views.user(sender) };
    for (const hook of repo.hooks) this.webhooks.enqueue(hook, repo.id, event, full);
  }

  /**
   * A pull request's git facts. While open, head and base are read from the bare repository (a push moves them) and
   * remembered; once closed they stay where they were. `withMergeability` adds the merge check and diff size.
   */
  async pullFacts(repo: RepoState, p: PullRecord, withMergeability: boolean): Promise<PullFacts> {
    const open = repo.issues.get(p.number)?.state === 'open';
    if (open) {
      p.headSha = (await branchSha(repo.gitDir, p.headRef)) ?? p.headSha;
      p.baseSha = (await branchSha(repo.gitDir, p.baseRef)) ?? p.baseSha;
    }
    const facts: PullFacts = {
      headSha: p.headSha,
      baseSha: p.baseSha,
      mergeable: null,
      mergeableState: 'unknown',
      commits: 0,
      additions: 0,
      deletions: 0,
      changedFiles: 0,
    };
    if (!withMergeability) return facts;
    const files = await diffStat(repo.gitDir, p.baseSha, p.headSha);
    facts.commits = await commitsBetween(repo.gitDir, p.baseSha, p.headSha);
    facts.changedFiles = files.length;
    facts.additions = files.reduce((n, f) => n + f.additions, 0);
    facts.deletions = files.reduce((n, f) => n + f.deletions, 0);
    if (open) {
      facts.mergeable = (await mergeTree(repo.gitDir, p.baseSha, p.headSha)).clean;
      const behind = repo.upToDateBranches.has(p.baseRef) && (await commitsBetween(repo.gitDir, p.headSha, p.baseSha)) > 0;
      facts.mergeableState = !facts.mergeable ? 'dirty' : p.draft ? 'draft' : behind ? 'behind' : 'clean';
    }
    return facts;
  }
}
