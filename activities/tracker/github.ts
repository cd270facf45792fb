/**
 * The GitHub tracker: tickets are issues of one repository (DESIGN.md "Words": tracker).
 *
 * - **Selection.** The batch file's `tracker.labels` (an issue needs all of them), `milestone` (number or title) and
 *   `issues` (numbers); pull requests are never tickets.
 * - **Ids.** A ticket's id is its issue number (`"12"`). A discovered issue ratchet filed keeps the id ratchet gave it,
 *   written as a hidden marker in its body (`<!-- ratchet:id=a-d1 -->`), so filing is idempotent and the batch's
 *   graph does not depend on GitHub's numbering.
 * - **Fields.** Title and body from the issue; acceptance criteria from the task list in the body (`- [ ] ...`) or
 *   the lines of an "Acceptance criteria" section; kind from a label (`bug`, `chore`, `refactor`, `feature`,
 *   `enhancement`, or `<prefix>:kind:<kind>`; `<prefix>:epic` for an epic); a plan gate from `<prefix>:gate:plan`; size from `size:S|M|L`; `<prefix>:land:human` (or `:land:merge`)
 *   overrides the forge's `land` for the issue's pull request.
 * - **Dependencies.** GitHub's native issue dependencies (`blocked_by`), plus `Depends on #n` lines as a fallback.
 * - **States.** Labels `<prefix>:<state>` (e.g. `ratchet:in-progress`), set idempotently: the old state label is
 *   removed and the new one added, other labels are left alone; `done` also closes the issue. An issue with no state
 *   label is `todo` when open and `done` when closed (closed before the batch, by a person). Two state labels at once
 *   say nothing: the ticket is absent from the facts (not done) until ratchet writes a state again.
 * - **Notes.** One comment per issue, found by its hidden marker (`<!-- ratchet:notes -->`) and edited in place:
 *   never a new comment per event.
 * The evidence rule of the oracle is unchanged: a state label that changes without ratchet is a tracker tamper.
 */
import { TICKET_KINDS, TICKET_STATES, type Ticket, type TicketFact, type TicketKind, type TicketState, type TrackerConfig } from '../../workflows/types';
import { BadInputError } from '../../workflows/errors';
import { ID_PATTERN } from '../../workflows/input';
import { ISSUE_ID_MARKER, issueTicketId as markerId } from '../../workflows/ids';
import { githubFailure, splitRepo, statusOf, type GitHub } from '../github/client';
import { isStale, withFence, type TrackerDecision, type GateCursor, type StateWrite, type StateWritten, type Tracker } from './tracker';

type GitHubTrackerConfig = Extract<TrackerConfig, { kind: 'github' }>;

/** An issue as ratchet reads it (the REST API's issue, narrowed). */
interface Issue {
  number: number;
  id: number;
  title: string;
  body?: string | null;
  state: string;
  labels: (string | { name?: string })[];
  pull_request?: unknown;
}

/** The marker of the one comment ratchet keeps on an issue. */
export const NOTES_MARKER = '<!-- ratchet:notes -->';
/** The hidden line of the notes comment that keeps the fences (`Fence`): `<!-- ratchet:fences {"<run>":<seq>} -->`. */
const FENCES_LINE = /<!-- ratchet:fences (\{[^\n]*?\}) -->/;

/** The fences kept in a notes comment's body (pure); none when there is no such line or it is not JSON. */
export function fencesOf(body: string | undefined): Record<string, number> {
  const m = body === undefined ? null : FENCES_LINE.exec(body);
  if (!m) return {};
  try {
    const value = JSON.parse(m[1]) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
    return Object.fromEntries(Object.entries(value).filter((e): e is [string, number] => Number.isSafeInteger(e[1])));
  } catch {
    return {};
  }
}

/** The body of ratchet's notes comment (pure): the marker, the state and note, who wrote it, and the fences. */
function notesBody(state: TicketState, note: string | undefined, by: string | undefined, fences: Record<string, number>): string {
  const fenceLine = Object.keys(fences).length ? `<!-- ratchet:fences ${JSON.stringify(fences)} -->` : '';
  return [NOTES_MARKER, fenceLine, `**ratchet**: \`${state}\`${note ? `: ${note}` : ''}`, by ? `\n<sub>${by}</sub>` : '']
    .filter(Boolean)
    .join('\n')
    .trim();
}
const DEPENDS_ON = /^\s*depends on:?\s+((?:#\d+[\s,]*(?:and\s+)?)+)/gim;
const KIND_LABELS: Record<string, TicketKind> = { bug: 'bug', chore: 'chore', refactor: 'refactor', feature: 'feature', enhancement: 'feature' };
/** Most issues a selection may list: a batch carries its tickets in payloads (2 MB each). */
const MAX_ISSUES = 2_000;

function labelNames(issue: Pick<Issue, 'labels'>): string[] {
  return issue.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? ''))).filter(Boolean);
}

/** The acceptance criteria of an issue body (pure): its task-list items, else the lines of an "Acceptance" section. */
export function acceptanceOf(body: string): string[] {
  const tasks = [...body.matchAll(/^\s*[-*] \[[ xX]\] (.+)$/gm)].map((m) => m[1].trim());
  if (tasks.length) return tasks;
  const section = /^#{1,6}\s*acceptance(?: criteria)?\s*$([\s\S]*?)(?=^#{1,6}\s|(?![\s\S]))/im.exec(body);
  if (!section) return [];
  return section[1]
    .split('\n')
    .map((l) => l.replace(/^\s*(?:[-*]|\d+\.)\s+/, '').trim())
    .filter(Boolean);
}

/** The issue numbers of `Depends on #n` lines in a body (pure). */
export function dependsOnLines(body: string): number[] {
  const out: number[] = [];
  for (const m of body.matchAll(DEPENDS_ON)) for (const n of m[1].matchAll(/#(\d+)/g)) out.push(Number(n[1]));
  return out;
}

/** A GitHub issues tracker; see the module comment. One instance per worker and repository (it caches ETags). */
export class GitHubTracker implements Tracker {
  private readonly owner: string;
  private readonly repo: string;
  /** ratchet id of a filed issue -> issue number. */
  private readonly filed = new Map<string, number>();
  /** Issue number -> the id of ratchet's notes comment on it. */
  private readonly notes = new Map<number, number>();
  /** Issue number -> its last response and ETag, for conditional requests (a 304 costs no rate limit). */
  private readonly cache = new Map<number, { etag: string; issue: Issue }>();

  constructor(
    private readonly gh: GitHub,
    readonly config: GitHubTrackerConfig,
  ) {
    ({ owner: this.owner, repo: this.repo } = splitRepo(config.repo, 'tracker.repo'));
  }

  private label(state: TicketState): string {
    return `${this.config.labelPrefix}:${state}`;
  }

  /** The state the labels say (see the module comment), or undefined when they say two. */
  stateOf(issue: Pick<Issue, 'labels' | 'state'>): TicketState | undefined {
    const prefix = `${this.config.labelPrefix}:`;
    const states = labelNames(issue)
      .filter((l) => l.startsWith(prefix))
      .map((l) => l.slice(prefix.length))
      .filter((s): s is TicketState => (TICKET_STATES as readonly string[]).includes(s));
    if (states.length > 1) return undefined;
    return states[0] ?? (issue.state === 'closed' ? 'done' : 'todo');
  }

  private where(number?: number): string {
    return number === undefined ? `repository "${this.config.repo}" (tracker.repo)` : `issue #${number} of ${this.config.repo}`;
  }

  /** Reads one issue, conditionally when it was read before. @throws BadInputError when there is no such issue. */
  private async issue(number: number): Promise<Issue> {
    const cached = this.cache.get(number);
    try {
      const r = await this.gh.rest.issues.get({
        owner: this.owner,
        repo: this.repo,
        issue_number: number,
        ...(cached ? { headers: { 'if-none-match': cached.etag } } : {}),
      });
      const issue = r.data as Issue;
      if (r.headers.etag) this.cache.set(number, { etag: r.headers.etag, issue });
      return issue;
    } catch (err) {
      if (statusOf(err) === 304 && cached) return cached.issue;
      throw githubFailure(err, this.where(number), 'check the issue number in the batch file or the dependency that names it');
    }
  }

  private async milestoneNumber(): Promise<number | undefined> {
    const m = this.config.milestone;
    if (m === undefined || typeof m === 'number') return m;
    const all = await this.gh.paginate(this.gh.rest.issues.listMilestones, { owner: this.owner, repo: this.repo, state: 'all', per_page: 100 }).catch((err) => {
      throw githubFailure(err, this.where(), 'check tracker.repo and the token');
    });
    const found = all.find((x) => x.title === m);
    if (!found) {
      throw new BadInputError('batch input', [
        `field "tracker.milestone" is "${m}": ${this.config.repo} has no milestone of that title (it has ${all.map((x) => `"${x.title}"`).join(', ') || 'none'}); fix: use one of those or its number`,
      ]);
    }
    return found.number;
  }

  /** The issues the batch file selects (open and closed), pull requests left out, by number. */
  private async selected(): Promise<Issue[]> {
    const byNumber = new Map<number, Issue>();
    const { labels } = this.config;
    const milestone = await this.milestoneNumber();
    if (labels.length || milestone !== undefined) {
      const listed = await this.gh
        .paginate(this.gh.rest.issues.listForRepo, {
          owner: this.owner,
          repo: this.repo,
          state: 'all',
          per_page: 100,
          ...(labels.length ? { labels: labels.join(',') } : {}),
          ...(milestone !== undefined ? { milestone: String(milestone) } : {}),
        })
        .catch((err) => {
          throw githubFailure(err, this.where(), 'check tracker.repo, tracker.labels and tracker.milestone');
        });
      for (const i of listed as Issue[]) if (!i.pull_request) byNumber.set(i.number, i);
    }
    for (const n of this.config.issues) if (!byNumber.has(n)) byNumber.set(n, await this.issue(n));
    // Discovered issues ratchet filed for this selection carry its labels, so a later batch over it finds them too.
    const issues = [...byNumber.values()].filter((i) => !i.pull_request).sort((a, b) => a.number - b.number);
    if (issues.length > MAX_ISSUES) {
      throw new BadInputError('batch input', [`the tracker selects ${issues.length} issues, over ${MAX_ISSUES}; fix: narrow tracker.labels or tracker.milestone`]);
    }
    for (const i of issues) {
      const id = markerId(i.body);
      if (id) this.filed.set(id, i.number);
    }
    return issues;
  }

  /**
   * See `Tracker.gateAnswer`. Reads the issue conditionally (an unchanged issue costs a 304 and no rate limit) and,
   * when there is no cursor yet or its labels changed, its events. The gate began with ratchet's own
   * `labeled <prefix>:awaiting-human` event (the newest one); after it, the first `labeled <prefix>:approve|reject` or
   * `unlabeled <prefix>:awaiting-human` by anyone but that event's actor (ratchet's login) is the answer, by its
   * actor. So an answer given before the first read still counts, and ratchet's own label writes never answer.
   */
  async gateAnswer(id: string, after?: GateCursor): Promise<{ cursor: GateCursor; answer?: TrackerDecision }> {
    const number = await this.numberOf(id);
    if (number === undefined) throw new BadInputError(`ticket ${id}`, [`names no issue of ${this.config.repo}`]);
    const issue = await this.issue(number);
    const labels = labelNames(issue).sort().join('\n');
    if (after && after.labels === labels) return { cursor: after };
    const events = (await this.gh
      .paginate(this.gh.rest.issues.listEvents, { owner: this.owner, repo: this.repo, issue_number: number, per_page: 100 })
      .catch((err) => {
        throw githubFailure(err, this.where(number), 'check that the token can read the issue');
      })) as { id: number; event: string; label?: { name: string } | null; actor?: { login: string } | null }[];
    events.sort((a, b) => a.id - b.id);
    const p = `${this.config.labelPrefix}:`;
    const opened = after ? undefined : events.filter((e) => e.event === 'labeled' && e.label?.name === `${p}awaiting-human`).at(-1);
    const cursor: GateCursor = {
      event: events.reduce((m, e) => Math.max(m, e.id), after?.event ?? 0),
      labels,
      ...((after?.self ?? opened?.actor?.login) ? { self: after?.self ?? opened?.actor?.login } : {}),
    };
    // Without the gate's own label event (its write failed), only what happens from now on is judged.
    const from = after ? after.event : (opened?.id ?? cursor.event);
    for (const e of events.filter((x) => x.id > from && x.actor?.login !== cursor.self)) {
      const label = e.label?.name;
      const kind =
        e.event === 'labeled' && label === `${p}approve` ? 'approve' : e.event === 'labeled' && label === `${p}reject` ? 'reject'
          : e.event === 'unlabeled' && label === `${p}awaiting-human` ? 'approve' : undefined;
      if (!kind) continue;
      const by = e.actor?.login ?? 'someone on GitHub';
      const comment = `${e.event} "${label}" on issue #${number} (GitHub)`;
      // The state the removal left. An issue read before the removal (it landed between that read and the events')
      // still carries the label: read it again, or the answer would say awaiting-human and ratchet's next write
      // would look like a tamper.
      const now = e.event === 'unlabeled' && labelNames(issue).includes(`${p}awaiting-human`) ? await this.issue(number) : issue;
      const left = e.event === 'unlabeled' ? { trackerState: this.stateOf(now) ?? 'todo' } : {};
      return { cursor, answer: { kind, by, comment, ...left } };
    }
    return { cursor };
  }

  /** `#<issue number>` of ticket `id`, or undefined when no issue is known by it. */
  async closingReference(id: string): Promise<string | undefined> {
    const n = await this.numberOf(id);
    return n === undefined ? undefined : `#${n}`;
  }

  private idOf(issue: Issue): string {
    return markerId(issue.body) ?? String(issue.number);
  }

  /** The issue number of ticket `id`. @throws BadInputError for an id that is neither a number nor one ratchet filed. */
  private async numberOf(id: string): Promise<number | undefined> {
    if (/^\d+$/.test(id)) return Number(id);
    if (!ID_PATTERN.test(id)) throw new BadInputError(`ticket id "${id}"`, ['must match [A-Za-z0-9._-]{1,64}']);
    if (!this.filed.has(id)) await this.findFiled();
    return this.filed.get(id);
  }

  /** Learns the ids of the issues ratchet filed (label `<prefix>:discovered`). */
  private async findFiled(): Promise<void> {
    const listed = await this.gh
      .paginate(this.gh.rest.issues.listForRepo, { owner: this.owner, repo: this.repo, state: 'all', per_page: 100, labels: `${this.config.labelPrefix}:discovered` })
      .catch((err) => {
        throw githubFailure(err, this.where(), 'check tracker.repo');
      });
    for (const i of listed as Issue[]) {
      const id = markerId(i.body);
      if (id) this.filed.set(id, i.number);
    }
  }

  private async toTicket(issue: Issue, numberToId: (n: number) => string): Promise<Ticket> {
    const body = (issue.body ?? '').replace(ISSUE_ID_MARKER, '').trim();
    const labels = labelNames(issue);
    const prefix = `${this.config.labelPrefix}:`;
    // `<prefix>:epic` is the short form of `<prefix>:kind:epic` (docs/epics.md).
    const kindLabel = labels.includes(`${prefix}epic`) ? 'epic' : labels.find((l) => l.startsWith(`${prefix}kind:`))?.slice(`${prefix}kind:`.length);
    const kind = (TICKET_KINDS as readonly string[]).includes(kindLabel ?? '')
      ? (kindLabel as TicketKind)
      : (labels.map((l) => KIND_LABELS[l.toLowerCase()]).find(Boolean) ?? (markerId(issue.body) ? 'discovered' : 'feature'));
    const size = labels.map((l) => /^size:([SML])$/i.exec(l)?.[1]?.toUpperCase()).find(Boolean) as Ticket['size'];
    const land = (['human', 'merge'] as const).find((l) => labels.includes(`${prefix}land:${l}`));
    const blockers = await this.gh
      .paginate(this.gh.rest.issues.listDependenciesBlockedBy, { owner: this.owner, repo: this.repo, issue_number: issue.number, per_page: 100 })
      .catch((err) => {
        throw githubFailure(err, this.where(issue.number), 'check that issue dependencies are enabled for the repository');
      });
    const deps = [...new Set([...blockers.map((b) => b.number), ...dependsOnLines(body)])].filter((n) => n !== issue.number);
    const state = this.stateOf(issue) ?? 'todo';
    return {
      id: this.idOf(issue),
      title: issue.title,
      body,
      acceptance: acceptanceOf(body),
      dependsOn: deps.map(numberToId),
      kind,
      ...(labels.includes(`${prefix}gate:plan`) ? { gate: 'plan' as const } : {}),
      ...(size ? { size } : {}),
      ...(land ? { land } : {}),
      probes: [],
      allowPaths: [],
      state,
    };
  }

  /**
   * Every selected issue as a ticket, by issue number. A dependency on an issue outside the selection stays in
   * `dependsOn` (by number) so the batch names it as unknown, unless that issue is closed (done before the batch).
   */
  async list(): Promise<Ticket[]> {
    const issues = await this.selected();
    const inSelection = new Map(issues.map((i) => [i.number, this.idOf(i)]));
    const tickets = await Promise.all(issues.map((i) => this.toTicket(i, (n) => inSelection.get(n) ?? String(n))));
    const outside = [...new Set(tickets.flatMap((t) => t.dependsOn))].filter((d) => !tickets.some((t) => t.id === d));
    const closed = new Set<string>();
    for (const d of outside) if (/^\d+$/.test(d) && (await this.issue(Number(d))).state === 'closed') closed.add(d);
    return tickets.map((t) => ({ ...t, dependsOn: t.dependsOn.filter((d) => !closed.has(d)) }));
  }

  async get(id: string): Promise<Ticket | undefined> {
    const n = await this.numberOf(id);
    if (n === undefined) return undefined;
    const issue = await this.issue(n).catch((err) => {
      if (err instanceof BadInputError) return undefined;
      throw err;
    });
    if (!issue || issue.pull_request) return undefined;
    await this.findFiled();
    return this.toTicket(issue, (d) => [...this.filed].find(([, num]) => num === d)?.[0] ?? String(d));
  }

  /**
   * Sets the state label (removing any other state label), closes the issue on `done` (reopens it on any other
   * state), and writes `note` and the fences into ratchet's notes comment. Idempotent: the same state, note and fence
   * again write nothing. Labels have no compare-and-set on GitHub: the issue and the notes comment are read afresh
   * (the issue by a conditional request on its ETag; the comment by its id) just before the write, and that read is the compare.
   * @returns the state the labels said just before (`todo` when they said two); `refused` and nothing written when
   *   `write.expect` or `write.fence` says so (see `Tracker.setState`).
   * @throws BadInputError when the ticket has no issue.
   */
  async setState(id: string, state: TicketState, write: StateWrite = {}): Promise<StateWritten> {
    if (!TICKET_STATES.includes(state)) throw new BadInputError(`ticket ${id}`, [`state "${String(state)}" is not one of ${TICKET_STATES.join(', ')}`]);
    const { note, by, expect, fence } = write;
    const number = await this.numberOf(id);
    if (number === undefined) throw new BadInputError(`ticket ${id}`, [`no issue of ${this.config.repo} carries ratchet's id "${id}"`]);
    const [issue, notes] = await Promise.all([this.issue(number), this.readNotes(number)]);
    const previous = this.stateOf(issue) ?? 'todo';
    const seen = fencesOf(notes?.body);
    if (isStale(seen, fence)) return { previous, refused: 'stale' };
    if (expect !== undefined && previous !== expect && previous !== state) return { previous, refused: 'expected' };
    const prefix = `${this.config.labelPrefix}:`;
    const stale = labelNames(issue).filter((l) => l.startsWith(prefix) && (TICKET_STATES as readonly string[]).includes(l.slice(prefix.length)) && l !== this.label(state));
    const base = { owner: this.owner, repo: this.repo, issue_number: number };
    const fail = (err: unknown): never => {
      throw githubFailure(err, this.where(number));
    };
    if (!labelNames(issue).includes(this.label(state))) await this.gh.rest.issues.addLabels({ ...base, labels: [this.label(state)] }).catch(fail);
    for (const name of stale) {
      await this.gh.rest.issues.removeLabel({ ...base, name }).catch((err) => {
        if (statusOf(err) !== 404) fail(err); // already gone: a retry of this call
      });
    }
    const wantState = state === 'done' ? 'closed' : 'open';
    if (issue.state !== wantState) {
      await this.gh.rest.issues.update({ ...base, state: wantState, ...(wantState === 'closed' ? { state_reason: 'completed' as const } : {}) }).catch(fail);
    }
    this.cache.delete(number);
    await this.writeNotes(number, notes, notesBody(state, note, by, withFence(seen, fence)));
    return { previous };
  }

  /** Ratchet's one notes comment on issue `number` as GitHub has it now (by its id once known), or undefined. */
  private async readNotes(number: number): Promise<{ id: number; body: string } | undefined> {
    const base = { owner: this.owner, repo: this.repo };
    const fail = (err: unknown): never => {
      throw githubFailure(err, this.where(number));
    };
    const known = this.notes.get(number);
    if (known !== undefined) {
      const got = await this.gh.rest.issues.getComment({ ...base, comment_id: known }).catch((err) => (statusOf(err) === 404 ? undefined : fail(err)));
      if (got) return { id: known, body: got.data.body ?? '' };
      this.notes.delete(number); // deleted by a person: look for another, else write a new one
    }
    const comments = await this.gh.paginate(this.gh.rest.issues.listComments, { ...base, issue_number: number, per_page: 100 }).catch(fail);
    const mine = comments.find((c) => c.body?.startsWith(NOTES_MARKER));
    if (!mine) return undefined;
    this.notes.set(number, mine.id);
    return { id: mine.id, body: mine.body ?? '' };
  }

  /** Writes ratchet's notes comment on issue `number`: edits `current` in place, creates one only when there is none. */
  private async writeNotes(number: number, current: { id: number; body: string } | undefined, body: string): Promise<void> {
    const base = { owner: this.owner, repo: this.repo };
    const fail = (err: unknown): never => {
      throw githubFailure(err, this.where(number));
    };
    if (current === undefined) {
      const created = await this.gh.rest.issues.createComment({ ...base, issue_number: number, body }).catch(fail);
      this.notes.set(number, created.data.id);
      return;
    }
    if (current.body === body) return;
    await this.gh.rest.issues.updateComment({ ...base, comment_id: current.id, body }).catch(fail);
  }

  /**
   * Files discovered work as a new issue labelled `<prefix>:discovered` and `<prefix>:todo` (plus the selection's
   * labels, so a later batch over the same selection sees it), its id in a hidden marker, and a native blocked-by
   * edge to each of its `dependsOn`. See {@link Tracker.file}.
   */
  async file(ticket: Ticket, by: string): Promise<{ status: 'created' | 'existing' | 'taken' }> {
    if (/^\d+$/.test(ticket.id)) return { status: 'taken' }; // numbers are GitHub's to give
    const known = await this.numberOf(ticket.id);
    if (known !== undefined) {
      const issue = await this.issue(known);
      return { status: issue.title === ticket.title ? 'existing' : 'taken' };
    }
    const body = `${ticket.body}${ticket.acceptance.length ? `\n\n## Acceptance criteria\n${ticket.acceptance.map((a) => `- [ ] ${a}`).join('\n')}` : ''}\n\n<sub>Filed by ratchet: ${by.replace(/\s+/g, ' ')}</sub>\n<!-- ratchet:id=${ticket.id} -->`;
    const labels = [...new Set([...this.config.labels, `${this.config.labelPrefix}:discovered`, this.label('todo')])];
    const created = await this.gh.rest.issues
      .create({ owner: this.owner, repo: this.repo, title: ticket.title, body, labels, ...(typeof this.config.milestone === 'number' ? { milestone: this.config.milestone } : {}) })
      .catch((err) => {
        throw githubFailure(err, this.where(), 'check tracker.repo and the token');
      });
    this.filed.set(ticket.id, created.data.number);
    for (const dep of ticket.dependsOn) await this.link(ticket.id, dep);
    return { status: 'created' };
  }

  /**
   * Records that ticket `blocked` waits for ticket `blocker` as a native dependency (blocked by). Idempotent: an edge
   * that exists already is left as it is.
   */
  async link(blocked: string, blocker: string): Promise<void> {
    const [b, by] = [await this.numberOf(blocked), await this.numberOf(blocker)];
    if (b === undefined || by === undefined) throw new BadInputError(`tickets ${blocked}, ${blocker}`, [`not both issues of ${this.config.repo}`]);
    const existing = await this.gh.paginate(this.gh.rest.issues.listDependenciesBlockedBy, { owner: this.owner, repo: this.repo, issue_number: b, per_page: 100 }).catch((err) => {
      throw githubFailure(err, this.where(b));
    });
    if (existing.some((i) => i.number === by)) return;
    const blockerIssue = await this.issue(by);
    await this.gh.rest.issues.addBlockedByDependency({ owner: this.owner, repo: this.repo, issue_number: b, issue_id: blockerIssue.id }).catch((err) => {
      throw githubFailure(err, this.where(b), 'check that issue dependencies are enabled for the repository');
    });
  }

  /** The state of each of `ids` that names an issue; issues with two state labels are absent (not done). */
  async facts(ids: string[]): Promise<TicketFact[]> {
    // In parallel: reads are not spaced (only writes are), and conditional ones cost no rate limit when unchanged.
    const facts = await Promise.all(
      ids.map(async (id): Promise<TicketFact | undefined> => {
        const n = await this.numberOf(id);
        if (n === undefined) return undefined;
        const issue = await this.issue(n).catch((err) => {
          if (err instanceof BadInputError) return undefined;
          throw err;
        });
        const state = issue && !issue.pull_request ? this.stateOf(issue) : undefined;
        return state && { id, state };
      }),
    );
    return facts.filter((f): f is TicketFact => f !== undefined);
  }
}
