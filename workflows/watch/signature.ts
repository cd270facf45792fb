/**
 * signatureWorkflow (issue 27 items 2 and 5): one per failure signature of a watch, `signature-<watchId>-<signature>`,
 * started by the first run that sees the failure (signal-with-start of `failureSeen`) and found by every later one:
 * two runs racing on one failure reach the same workflow, so one ticket is filed, by the server's id, never by a
 * read-then-create.
 *
 * Its life, one message at a time (a sighting, a run that did not see it, a person's "won't fix"):
 * - observed (seen once) -> confirmed (seen in `confirmAfterRuns` runs, or twice on one commit) -> filed: a ticket in
 *   the watch's tracker (`bug`; a failure gone when its check ran again on the same commit is `flaky`, a run judged
 *   systemic files `systemic`: both a person's). A failure the check could not even run to (a time-out) is
 *   infrastructure: confirmed, never filed for an agent.
 * - filed -> fixing (the ticket is in a batch's hands) -> fixed (the tracker says done: the tracker is the oracle,
 *   never an agent) -> closed once `closeAfterGreenRuns` runs that started after the ticket was done ran its check and
 *   did not see it (`runPassed`). The ticket's state is read at every message about it, so it is as fresh as the
 *   latest run.
 * - A failure of a run started after the ticket was done reopens the same ticket (back to `todo`, its body gaining the
 *   run, commit, message and tail) and the green count starts again; a run started before it checked a base without
 *   the fix, and only counts.
 * - closed -> a failure again files a new ticket (`-2`, `-3`...) linked to the closed one.
 * - wont-fix (the `wontFix` update, or the ticket rejected: human-gated in the tracker): nothing more is filed while
 *   the failure's normalized first line is the one it was said for (a changed line is, by the key, another signature).
 *   A still-`todo` ticket is set human-gated, so no batch takes it.
 * A signature nobody sees for 30 days ends (a won't-fix one stays, to keep suppressing). Deterministic: the tracker
 * and the filing are activities.
 *
 * Into work (issue 27 items 3 and 4, signature/intake.ts): a failure confirmed as new (not flaky, systemic or infra)
 * is bisected first (`firstBadCommit`, from the last good run's commit when one told it), and its ticket's body names
 * the first bad commit. A `bug` of a watch with an intake batch waits for a slot of the watch's fix caps, then is
 * filed by that batch's `discover` update (the batch writes it to the tracker and starts it); without one running it
 * is filed into the tracker as before.
 */
import { allHandlersFinished, ApplicationFailure, condition, continueAsNew, log, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { NON_RETRYABLE } from '../errors';
import { bisectTimeoutMs, DEFAULT_BISECT_RUNS } from './bisect';
import type { FixSlotGrant } from './caps';
import { intakeRequest } from './intake';
import { onUpdateOrSignal } from '../handlers';
import { OPTIONS } from '../options';
import type { TicketState } from '../types';
import { detectedTicket, greenFor, reopenEvidence, reopenMarker, signatureDetails, stateOfTicket } from './detected';
import { bisectFailure, forAgents, intakeAsk } from './signature-intake';
import { normalizeMessage } from './failure';
import type { WatchConfig } from './input';
import { fixSlotGrantedSignal } from './caps';
import * as metrics from './metrics';
import {
  failureSeenSignal,
  runPassedSignal,
  signatureStatusQuery,
  wontFixSignal,
  wontFixUpdate,
  type FailureSeen,
  type RunPassed,
  type SignatureInput,
  type SignatureMessage,
  type SignatureStatus,
  type WontFixAnswer,
  type WontFixRequest,
} from './messages';

/** A signature nobody sees for this long ends; a later sighting starts it again (its ticket found and followed). */
const IDLE_MS = 30 * 24 * 3600_000;
/** Distinct run ids kept to count runs once each (a retried report signals twice). */
const RUNS_KEPT = 100;
/** Ticket ids tried when the next one is taken by a ticket of another life of the signature. */
const FILE_TRIES = 20;
/** States whose ticket the tracker decides about. */
const OPEN = ['filed', 'fixing', 'fixed'] as const;

const acts = proxyActivities<Activities>(OPTIONS.quick);

/** Keeps one failure's lifecycle; see the file comment. */
export async function signatureWorkflow(input: SignatureInput): Promise<void> {
  const keeper = new Keeper(input.watch, input.signature, input.status, input.runIds ?? []);
  const inbox: SignatureMessage[] = [...(input.pending ?? [])];
  setHandler(failureSeenSignal, (seen) => void inbox.push({ seen }));
  setHandler(runPassedSignal, (passed) => void inbox.push({ passed }));
  setHandler(fixSlotGrantedSignal, (granted) => void inbox.push({ granted }));
  onUpdateOrSignal(wontFixUpdate, wontFixSignal, (r) => keeper.checkWontFix(r, inbox), (r) => {
    inbox.push({ wontFix: { by: r.by.trim(), reason: r.reason.trim(), at: Date.now() } });
    return keeper.wontFixAnswer();
  });
  setHandler(signatureStatusQuery, () => keeper.status);

  const due = (): boolean => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= (input.continueAsNewAtEvents ?? Infinity);
  while (!due()) {
    const idle = keeper.idleMs();
    if (idle === undefined) await condition(() => inbox.length > 0);
    else if (!(await condition(() => inbox.length > 0, Math.max(idle, 1)))) return;
    const m = inbox.shift() as SignatureMessage;
    const before = keeper.status && { state: keeper.status.state, tickets: keeper.status.tickets.length };
    await keeper.take(m);
    if (keeper.status) {
      measured(before, keeper.status, 'seen' in m);
      setCurrentDetails(signatureDetails(keeper.status, input.watch.closeAfterGreenRuns));
    }
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof signatureWorkflow>({ ...input, ...(keeper.status ? { status: keeper.status } : {}), pending: inbox, runIds: keeper.runIds });
}

/**
 * The watch's metrics for one message taken (watch/metrics.ts): a state entered, a ticket filed, or a sighting of a
 * failure whose ticket is open that filed nothing (a duplicate the server's one-workflow-per-signature suppressed).
 */
function measured(before: { state: string; tickets: number } | undefined, s: SignatureStatus, sighting: boolean): void {
  const kind = s.failure.systemic ? 'systemic' : s.failure.flaky ? 'flaky' : s.failure.infra ? 'infra' : 'new';
  if (s.state !== before?.state) metrics.signatureEntered(s.state, kind);
  if (s.tickets.length > (before?.tickets ?? 0)) metrics.ticketFiled(s.failure.systemic ? 'systemic' : s.failure.flaky ? 'flaky' : 'bug');
  else if (sighting && before && (OPEN as readonly string[]).includes(before.state)) metrics.duplicateSuppressed();
}

/** The signature's state and its transitions; each message is taken whole before the next. */
class Keeper {
  constructor(
    readonly watch: WatchConfig,
    readonly signature: string,
    public status: SignatureStatus | undefined,
    readonly runIds: string[],
  ) {}

  private get by(): string {
    return `watch ${this.watch.watchId}`;
  }

  /** Ms left before an unseen signature ends; undefined while won't fix (it keeps suppressing). */
  idleMs(): number | undefined {
    const s = this.status;
    if (!s) return IDLE_MS;
    if (s.state === 'wont-fix') return undefined;
    const last = (OPEN as readonly string[]).includes(s.state) ? Math.max(s.lastSeen, s.lastGreen ?? 0) : s.lastSeen;
    return last + IDLE_MS - Date.now();
  }

  async take(m: SignatureMessage): Promise<void> {
    if ('wontFix' in m) return this.wontFix(m.wontFix);
    if ('granted' in m) return this.granted(m.granted);
    const run = 'seen' in m ? m.seen : m.passed;
    if (this.runIds.includes(run.runId)) return; // a retried report
    this.runIds.push(run.runId);
    while (this.runIds.length > RUNS_KEPT) this.runIds.shift();
    if ('seen' in m) await this.seen(m.seen);
    else await this.passed(m.passed);
  }

  /** A run saw the failure. */
  private async seen(f: FailureSeen): Promise<void> {
    const again = this.status?.commits.includes(f.commit) ?? false;
    const s = (this.status = counted(this.status, this.watch, this.signature, f));
    if (s.state === 'observed' && (s.runs >= this.watch.confirmAfterRuns || again || f.failure.flaky === true || f.failure.systemic === true)) s.state = 'confirmed';
    if (s.state === 'confirmed' && !s.failure.infra) return this.file(f);
    if (s.state === 'closed') return this.file(f);
    if (s.state === 'wont-fix') {
      if (normalizeMessage(f.failure.message) !== s.wontFix?.normalized) return this.file(f);
      s.suppressed += 1;
      return;
    }
    if (!isOpen(s.state) || !s.ticketId) return;
    const t = await this.readTicket(s.ticketId);
    // Reopened only by a run that started after the ticket was done: an earlier one checked a base without the fix.
    if (t.state === 'done' && f.startedAt >= (s.doneSince ?? Infinity)) await this.reopen(s.ticketId, f);
  }

  /** A run ran checks and did not see the failure. */
  private async passed(p: RunPassed): Promise<void> {
    const s = this.status;
    // The last good commit a bisect starts from: a run that checked its check there and did not see it.
    if (s && greenFor(this.watch, s.failure.check, p.checks) && !s.commits.includes(p.commit)) s.lastGood = p.commit;
    if (!s || !isOpen(s.state) || !s.ticketId || !greenFor(this.watch, s.failure.check, p.checks)) return;
    const t = await this.readTicket(s.ticketId);
    if (t.state !== 'done' || p.startedAt < (s.doneSince ?? Infinity)) return;
    s.greenRuns += 1;
    s.lastGreen = p.at;
    if (s.greenRuns >= this.watch.closeAfterGreenRuns) {
      s.state = 'closed';
      s.closedAt = p.at;
    }
  }

  /**
   * Reads the ticket's tracker state and follows it (see `stateOfTicket`); the green count is kept only while done.
   * @returns what the tracker said.
   */
  private async readTicket(ticketId: string): Promise<{ state?: TicketState; since?: number }> {
    const s = this.status as SignatureStatus;
    const t = await acts.readDetectedTicket({ ticketsDir: this.watch.ticketsDir, ticketId });
    if (!t.state) return t; // the ticket's file is gone: nothing to follow
    const was = s.trackerState;
    s.trackerState = t.state;
    const next = stateOfTicket(t.state);
    if (next === 'fixed') {
      // Since when: the tracker's time of the write, else now (the first read that saw it: later, so stricter).
      s.doneSince = was === 'done' && s.doneSince !== undefined ? s.doneSince : (t.since ?? Date.now());
      s.state = 'fixed';
      return t;
    }
    s.greenRuns = 0;
    delete s.doneSince;
    if (next === 'wont-fix' && s.state !== 'wont-fix') {
      this.markWontFix({ by: 'tracker', reason: `ticket ${ticketId} was rejected (human-gated in the tracker)`, at: Date.now() });
    } else s.state = next;
    return t;
  }

  /**
   * Files the signature's next ticket: the first, a recurrence after it closed (linked to the closed one), or one
   * after a changed won't-fix reason. An id taken by a ticket of an earlier life of this signature (its workflow ended
   * idle) is followed when that ticket is still open, and linked to when it is done.
   */
  private async file(f?: FailureSeen): Promise<void> {
    const s = this.status as SignatureStatus;
    // A new failure: its first bad commit first, for the ticket's body (once; a failed bisect files anyway).
    if (s.state === 'confirmed' && f && forAgents(s.failure) && !s.bisect && s.bisectFailed === undefined) await this.bisect(f);
    if (this.watch.batch && forAgents(s.failure)) {
      if (!s.slot) {
        // The fix caps: ask for a slot, and wait for it (a later sighting asks again, for its run).
        if (f) await acts.askFixSlot(intakeAsk(this.watch, this.signature, f, workflowInfo()));
        s.waiting = 'fix cap: waiting for a slot (maxFixesPerRun, maxFixesPerHour)';
        return;
      }
      delete s.waiting;
      if (await this.handOver()) return;
    }
    let previous = s.ticketId;
    const first = s.tickets.length + 1;
    for (let n = first; n < first + FILE_TRIES; n++) {
      const ticket = detectedTicket(this.watch, s, n, previous);
      const r = await acts.fileTicket({ ticketsDir: this.watch.ticketsDir, ticket, by: this.by });
      const taken = r.status === 'taken' ? await acts.readDetectedTicket({ ticketsDir: this.watch.ticketsDir, ticketId: ticket.id }) : undefined;
      if (taken && !taken.state) continue; // a file of that name that is not a ticket
      s.state = 'filed';
      s.ticketId = ticket.id;
      s.trackerState = 'todo';
      s.greenRuns = 0;
      if (!s.tickets.includes(ticket.id)) s.tickets.push(ticket.id);
      delete s.closedAt;
      delete s.doneSince;
      delete s.wontFix;
      if (!taken) return;
      if (taken.state !== 'done') {
        await this.readTicket(ticket.id);
        return;
      }
      previous = ticket.id;
    }
    throw ApplicationFailure.create({ nonRetryable: true, message: `signature ${this.signature}: ${FILE_TRIES} ticket ids after ${String(previous)} are taken in ${this.watch.ticketsDir}; fix: move the stale bug-${this.signature.slice(0, 12)}* files away` });
  }

  /** A slot of the fix caps: the waiting ticket is handed over now (ignored when nothing waits for it any more). */
  private async granted(g: FixSlotGrant): Promise<void> {
    const s = this.status;
    if (!s?.waiting) return;
    s.slot = g;
    await this.file();
  }

  /**
   * Files the next ticket into the watch's intake batch (its `discover` update writes it to the tracker and adds it
   * to the running batch). The slot is spent either way.
   * @returns whether it was filed so; false: no intake batch runs, or it refused (the ticket is filed as before).
   */
  private async handOver(): Promise<boolean> {
    const s = this.status as SignatureStatus;
    delete s.slot;
    const ticket = detectedTicket(this.watch, s, s.tickets.length + 1, s.ticketId);
    const r = await acts.handToIntake({ watchId: this.watch.watchId, request: { ...intakeRequest(this.watch.watchId, ticket), id: ticket.id } });
    if (r.status !== 'filed') {
      delete s.intake;
      if (r.status === 'refused') log.warn(`signature ${this.signature}: intake batch ${r.batchId} refused ${ticket.id} (${r.reason}); filed into the tracker instead`);
      return false;
    }
    Object.assign(s, { state: 'filed', ticketId: r.ticketId, trackerState: 'todo', greenRuns: 0, intake: r.batchId });
    if (!s.tickets.includes(r.ticketId)) s.tickets.push(r.ticketId);
    delete s.closedAt;
    delete s.doneSince;
    delete s.wontFix;
    return true;
  }

  /** Finds the first bad commit of a new failure seen on `f.commit` (from the last good commit when known). */
  private async bisect(f: FailureSeen): Promise<void> {
    const s = this.status as SignatureStatus;
    const maxRuns = this.watch.bisect?.maxRuns ?? DEFAULT_BISECT_RUNS;
    const bisecting = proxyActivities<Activities>({
      startToCloseTimeout: bisectTimeoutMs(this.watch, s.failure.check, maxRuns),
      heartbeatTimeout: '1 minute',
      retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 2, nonRetryableErrorTypes: [...NON_RETRYABLE] },
    });
    try {
      s.bisect = await bisecting.firstBadCommit({ watch: this.watch, check: s.failure.check, signature: this.signature, bad: f.commit, ...(s.lastGood ? { good: s.lastGood } : {}), maxRuns });
    } catch (err) {
      s.bisectFailed = bisectFailure(err);
    }
  }

  /** The ticket was done and the failure is back: the same ticket, back to todo, with the new evidence. */
  private async reopen(ticketId: string, f: FailureSeen): Promise<void> {
    const s = this.status as SignatureStatus;
    const note = `reopened by ${this.by}: failed again on ${f.commit.slice(0, 10)} in run ${f.runId}`;
    const r = await acts.reopenTicket({ ticketsDir: this.watch.ticketsDir, ticketId, evidence: reopenEvidence(f, s.greenRuns), marker: reopenMarker(f.runId), by: this.by, note });
    if (r.refused) {
      s.trackerState = r.previous;
      s.state = stateOfTicket(r.previous);
      return;
    }
    Object.assign(s, { state: 'filed', trackerState: 'todo', greenRuns: 0, reopened: s.reopened + 1 });
    delete s.doneSince;
  }

  /** A person's "won't fix": recorded; a ticket nobody took yet is set human-gated so no batch takes it. */
  private async wontFix(w: WontFixRequest & { at: number }): Promise<void> {
    const s = this.status as SignatureStatus;
    this.markWontFix(w);
    if (!s.ticketId || s.trackerState !== 'todo') return;
    const r = await acts.setTicketState({ ticketsDir: this.watch.ticketsDir, ticketId: s.ticketId, state: 'human-gated', note: `won't fix (${w.by}): ${w.reason}`.slice(0, 300), by: this.by, expect: 'todo' });
    s.trackerState = r.refused ? r.previous : 'human-gated';
  }

  private markWontFix(w: WontFixRequest & { at: number }): void {
    const s = this.status as SignatureStatus;
    Object.assign(s, { state: 'wont-fix', wontFix: { ...w, normalized: normalizeMessage(s.failure.message) }, greenRuns: 0, suppressed: 0 });
    // A ticket waiting for a fix slot is not handed over any more (a slot granted later is ignored).
    delete s.waiting;
  }

  /** The `wontFix` update's validator: who and why, given, for a signature seen and not won't fix already. */
  checkWontFix(r: WontFixRequest, inbox: SignatureMessage[]): void {
    const problems: string[] = [];
    if (typeof r?.by !== 'string' || !r.by.trim() || r.by.length > 200) problems.push(`field "by" is ${JSON.stringify(r?.by)}: give who decides, such as your name (at most 200 characters)`);
    if (typeof r?.reason !== 'string' || !r.reason.trim() || r.reason.length > 2000) problems.push(`field "reason" is ${JSON.stringify(r?.reason)}: say why it will not be fixed (at most 2000 characters)`);
    if (problems.length) throw new Error(`wontFix on signature ${this.signature}: ${problems.join('; ')}`);
    if (!this.status) throw new Error(`signature ${this.signature} has no sighting yet; fix: send wontFix once a run has seen it`);
    const w = this.status.state === 'wont-fix' ? this.status.wontFix : inbox.find((m) => 'wontFix' in m);
    if (w) throw new Error(`signature ${this.signature} is won't fix already${this.status.wontFix ? ` (${this.status.wontFix.by}: ${this.status.wontFix.reason})` : ''}; nothing to do`);
  }

  wontFixAnswer(): WontFixAnswer {
    const s = this.status as SignatureStatus;
    return { signature: this.signature, ...(s.ticketId ? { ticketId: s.ticketId } : {}), normalized: normalizeMessage(s.failure.message) };
  }
}

const isOpen = (state: string): boolean => (OPEN as readonly string[]).includes(state);

/** The status after one more sighting (a run not counted before). */
function counted(s: SignatureStatus | undefined, watch: WatchConfig, signature: string, f: FailureSeen): SignatureStatus {
  if (!s) return { watchId: watch.watchId, signature, state: 'observed', occurrences: 1, runs: 1, commits: [f.commit], firstSeen: f.at, lastSeen: f.at, tickets: [], greenRuns: 0, reopened: 0, suppressed: 0, failure: f.failure };
  const commits = s.commits.includes(f.commit) ? s.commits : [...s.commits, f.commit].slice(-20);
  return { ...s, occurrences: s.occurrences + 1, runs: s.runs + 1, commits, lastSeen: Math.max(s.lastSeen, f.at), failure: f.failure };
}
