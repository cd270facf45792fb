/**
 * What a ticket workflow knows of its own run, as plain data with the rules that change it: phase and timeline,
 * attempts and rounds, feedback for the next attempt, heal bookkeeping, the human gate it waits at, interventions and
 * tamperings. It answers the `status` query, the Web UI details and the ticket's report. Pure: no SDK call, no clock
 * (callers pass workflow time, ms since epoch); tested without a server (test/unit/ticket-state.test.ts).
 */
import type { GateAnswer, TicketStatus } from '../messages';
import type {
  DiscoveredRecord,
  FailureCause,
  FailureCounts,
  GateDecision,
  GateReason,
  HealRecord,
  Intervention,
  PhaseName,
  PhaseSpan,
  FlakyProbe,
  Landing,
  Regression,
  RevertRecord,
  RoleProfile,
  RouteRole,
  RouteSize,
  SemanticConflict,
  TamperingCaught,
  Ticket,
  TicketOutcome,
  TicketReport,
  TicketRow,
  TicketState,
} from '../types';
import type { ReviewRecord } from '../review';
import { CostLedger } from '../cost';

/** Feedback kept for the next attempt: the latest entries, each cut to a few KB, so payloads stay small. */
export const FEEDBACK_ENTRIES = 3;
export const FEEDBACK_CHARS = 3000;

/** A person's answer at a human gate, as the `approve` / `reject` update or signal (or the tracker) gave it. */
export interface Decision {
  kind: 'approve' | 'reject';
  by: string;
  comment?: string;
  /** Set when the answer came from the tracker, which moved the state there itself. */
  trackerState?: TicketState;
  /** An approve's JSON patch of an epic's decomposition (see `GateDecision.patch`). */
  patch?: unknown[];
}

/**
 * The cause of a failed attempt, from the signature {@link TicketRunState.fail} records (ticket/attempt.ts, queue.ts,
 * land.ts, semantic-conflict.ts write them): what the report counts failed attempts by (issue 28 item 7). Pure.
 */
export function failureCause(signature: string): FailureCause {
  if (signature.startsWith('gates:')) return 'gates';
  if (signature.startsWith('semantic conflict:')) return 'semantic-conflict';
  if (signature.startsWith('conflict:')) return 'conflict';
  if (signature.startsWith('protected:')) return 'protected';
  if (signature.startsWith('agent ')) return 'agent';
  if (signature.startsWith('harness error') || signature.startsWith('setup:')) return 'harness';
  if (signature.startsWith('checks:')) return 'checks';
  if (signature.startsWith('review')) return 'review';
  return 'other';
}

/** The phases whose spans carry the attempt they belong to. */
const ATTEMPT_PHASES: readonly PhaseName[] = ['implement', 'validate', 'merge'];

export class TicketRunState {
  phase: PhaseName = 'queued';
  phaseStartedAt: number;
  /** The attempt the current phase belongs to, taken when it starts (the counter moves on before the next span). */
  phaseAttempt: number | undefined;
  /** First line of the feedback recorded during the current phase: the note of its span when no other is given. */
  failureNote: string | undefined;
  readonly timeline: PhaseSpan[] = [];

  /** Attempts started so far, and those the current round still allows. */
  attempt = 0;
  budget: number;
  /** Attempts allowed so far: `maxAttempts` per round, rounds granted by a person's approve or an accepted heal. */
  cap: number;

  readonly feedback: string[] = [];
  lastFeedback: string | undefined;
  /** What its agent runs spent, by role and profile (workflows/cost.ts), and approves at its `budget` gate so far. */
  readonly cost = new CostLedger();
  budgetGrants = 0;
  /** The reviews before merge so far (ticket/review.ts), each BLOCK's findings marked resolved or not by the next. */
  readonly reviews: ReviewRecord[] = [];
  /** The approved plan the attempts follow (none when the plan step failed without a plan gate). */
  plan: string | undefined;
  /** The plan's size (`unknown`: free text); implement routes by it (workflows/agent-routes.ts). */
  planSize: RouteSize | undefined;
  /** The profile that ran each role so far, with why it fell back when it did. */
  readonly profiles: Partial<Record<RouteRole, RoleProfile>> = {};

  waiting: { gate: GateReason; reason: string; since: number } | undefined;
  /** Markdown the Web UI details show under the timeline while the ticket waits at a gate (an epic's proposal). */
  gateDetails: string | undefined;
  decision: Decision | undefined;
  /** Set when a human gate's timeout expired with no answer: the reason the ticket is recorded human-gated. */
  expired: string | undefined;
  /** Why the last attempt ended in a person's reject, when that was not a protected change. */
  rejectedWhy: string | undefined;
  readonly interventions: Intervention[] = [];
  readonly tamperings: TamperingCaught[] = [];
  /** Attempts the merge queue sent back: they failed the gates merged onto the base. */
  readonly semanticConflicts: SemanticConflict[] = [];
  /** What the guard found after this ticket's deploys, the reverts of its landings, and flaky guard probes. */
  readonly regressions: Regression[] = [];
  readonly reverts: RevertRecord[] = [];
  readonly flaky: FlakyProbe[] = [];
  /** Its merges the merge queue landed. */
  readonly landings: Landing[] = [];
  guardedBy: string[] = [];

  mergeCommit: string | undefined;
  /** The ticket's pull request (GitHub forge), once opened. */
  pullRequest: { number: number; url: string } | undefined;
  /** Reviews already turned into feedback. */
  readonly seenReviews: number[] = [];
  /** `pullRequest` signals received: each one reads the pull request again at once. */
  prNudges = 0;

  /** The batch's answers about discovered work this ticket reported (attempt, or minus a heal's number -> entry -> record). */
  readonly discoveryReplies = new Map<number, Map<number, DiscoveredRecord>>();
  /** Discovered blockers of this ticket that have ended, as the batch reported. */
  readonly blockerOutcomes = new Map<string, TicketOutcome>();
  /** Set when a discovered blocker ended human-gated: this ticket cannot be done either. */
  blockedBy: string | undefined;

  /**
   * The failure signature of the last failed attempt (which gates, tests, step or probes failed): a heal followed by
   * the same signature is churn, not progress.
   */
  signature = '';
  /** The signature the last accepted heal addressed. */
  healedAgainst: string | undefined;
  readonly heals: HealRecord[] = [];

  /** What ratchet last wrote for this ticket: each write compares the tracker's state with it. */
  lastWritten: TicketState;
  /** Tracker writes this workflow made: the fence number of the next one (the same on every replay). */
  trackerWrites = 0;
  /** The outage being ridden out now, if any (workflows/ticket/outage.ts). */
  outage: { reason: string; since: number } | undefined;
  /** Outages ridden out, for the report. */
  outages: { reason: string; ms: number }[] = [];
  /** Processes the ticket's agents, gates and probes left running, killed when their step ended. */
  killed = 0;
  /** A tracker write that failed and is tried again until it lands or a later write supersedes it. */
  pendingWrite: { to: TicketState; note: string } | undefined;
  /** The worker-specific task queue of the worker whose disk holds the ticket's worktree, once a step said so. */
  host: string | undefined;

  /**
   * @param maxAttempts the batch's attempts per round.
   * @param written the tracker state the batch started the ticket with (what ratchet last wrote).
   * @param now workflow time, ms.
   */
  constructor(
    private readonly maxAttempts: number,
    written: TicketState,
    now: number,
  ) {
    this.budget = maxAttempts;
    this.cap = maxAttempts;
    this.lastWritten = written;
    this.phaseStartedAt = now;
  }

  /**
   * Carries on from the ticket's earlier run in this batch (a reopened ticket, batch/reopen.ts): its attempts keep
   * counting (attempt folders are not reused), and its landings, reverts, semantic conflicts, regressions, interventions
   * and failed attempts stay in its report.
   */
  carryOn(before: TicketRow): void {
    this.attempt = before.attempts;
    this.landings.push(...(before.landings ?? []));
    this.reverts.push(...(before.reverts ?? []));
    this.semanticConflicts.push(...(before.semanticConflicts ?? []));
    this.regressions.push(...(before.regressions ?? []));
    this.interventions.push(...(before.interventions ?? []));
    this.reviews.push(...(before.reviews ?? []));
    Object.assign(this.failures, before.failures ?? {});
  }

  /** Ends the current phase's span (none for `queued`) and starts `next`. @returns the phase left. */
  enter(next: PhaseName, now: number, note?: string): PhaseName {
    const from = this.phase;
    if (from !== 'queued') {
      this.timeline.push({ phase: from, attempt: this.phaseAttempt, startedAt: this.phaseStartedAt, ms: now - this.phaseStartedAt, note: note ?? this.failureNote });
    }
    this.failureNote = undefined;
    this.phase = next;
    this.phaseAttempt = ATTEMPT_PHASES.includes(next) ? this.attempt : undefined;
    this.phaseStartedAt = now;
    return from;
  }

  /** Starts the next attempt of the round. @returns false when the round's budget is spent. */
  nextAttempt(): boolean {
    if (this.budget <= 0) return false;
    this.budget--;
    this.attempt++;
    return true;
  }

  /** A new round of `maxAttempts` (a person's approve, an accepted heal). */
  newRound(maxAttempts = this.maxAttempts): void {
    this.budget = maxAttempts;
    this.cap = this.attempt + maxAttempts;
  }

  /** An attempt that waited for a discovered blocker is not held against the cap: one more. */
  refundAttempt(): void {
    this.budget++;
    this.cap++;
  }

  /** Records feedback for the next attempt: the last {@link FEEDBACK_ENTRIES}, each cut to {@link FEEDBACK_CHARS}. */
  addFeedback(text: string): void {
    const cut = text.length > FEEDBACK_CHARS ? `${text.slice(0, 400)}\n...\n${text.slice(-(FEEDBACK_CHARS - 400))}` : text;
    this.feedback.push(cut);
    while (this.feedback.length > FEEDBACK_ENTRIES) this.feedback.shift();
    this.lastFeedback = cut;
    this.failureNote = cut.split('\n')[0];
  }

  /** Failed attempts by cause ({@link failureCause}), for the report. */
  readonly failures: FailureCounts = {};

  /** Records a failed attempt: its signature (for churn), its cause and the feedback the next attempt gets. */
  fail(signature: string, feedback: string): false {
    this.signature = signature;
    const cause = failureCause(signature);
    this.failures[cause] = (this.failures[cause] ?? 0) + 1;
    this.addFeedback(feedback);
    return false;
  }

  /**
   * The `approve` / `reject` validator's rule: a payload with `by`, while a gate waits and is not answered yet.
   * @throws Error naming the field or the phase, so the caller of the update sees why.
   */
  checkDecision(ticketId: string, kind: Decision['kind'], d: GateDecision): void {
    if (typeof d?.by !== 'string' || d.by.trim() === '') {
      throw new Error(`${kind} needs a payload {"by": "<who>", "comment"?: "<text>"}: field "by" is ${JSON.stringify(d?.by)}`);
    }
    if (d.patch !== undefined && (kind !== 'approve' || this.waiting?.gate !== 'decomposition' || !Array.isArray(d.patch))) {
      throw new Error(`${kind} field "patch" is ${JSON.stringify(d.patch).slice(0, 80)}: a JSON patch (an array of RFC 6902 operations) goes only with approve at an epic's decomposition gate; fix: leave it out, or send it there`);
    }
    if (!this.waiting || this.decision) {
      throw new Error(
        `ticket ${ticketId} is not waiting at a human gate: it is in phase ${this.phase}` +
          (this.attempt ? ` (attempt ${this.attempt}, cap ${this.maxAttempts} per round)` : '') +
          `; ${kind} is accepted only while the status query shows waitingFor`,
      );
    }
  }

  /** Takes a checked answer. @returns what the update answers. */
  decide(ticketId: string, kind: Decision['kind'], d: GateDecision): GateAnswer {
    const gate = (this.waiting as { gate: GateReason }).gate;
    this.decision = { kind, by: d.by, comment: d.comment, ...(d.trackerState ? { trackerState: d.trackerState } : {}), ...(d.patch !== undefined ? { patch: d.patch } : {}) };
    return { ticketId, gate, decision: kind };
  }

  /** Opens a human gate: no answer yet. */
  openGate(gate: GateReason, reason: string, now: number): void {
    this.waiting = { gate, reason, since: now };
  }

  /** Closes the gate with its answer, recorded as an intervention. @returns the answer. */
  closeGate(ticketId: string, now: number): Decision {
    const d = this.decision as Decision;
    const gate = (this.waiting as { gate: GateReason }).gate;
    this.interventions.push({ kind: d.kind, ticketId, gate, by: d.by, comment: d.comment, at: now });
    this.waiting = undefined;
    // An answer given in the tracker moved the state there itself (a removed awaiting-human label): not a tamper.
    if (d.trackerState && this.lastWritten === 'awaiting-human') this.lastWritten = d.trackerState;
    return d;
  }

  /** Records the batch's answers about discovered work. */
  addDiscoveryReplies(replies: readonly { attempt: number; index: number; record: DiscoveredRecord }[]): void {
    for (const { attempt, index, record } of replies) {
      const forKey = this.discoveryReplies.get(attempt) ?? new Map<number, DiscoveredRecord>();
      forKey.set(index, record);
      this.discoveryReplies.set(attempt, forKey);
    }
  }

  /** Notes an outage (the first failure of one sets its start; later ones update what it is). */
  startOutage(reason: string, now: number): void {
    this.outage = { reason, since: this.outage?.since ?? now };
  }

  /** Ends the outage being ridden out, for the report. */
  endOutage(now: number): void {
    if (!this.outage) return;
    this.outages.push({ reason: this.outage.reason.slice(0, 300), ms: now - this.outage.since });
    this.outage = undefined;
  }

  /** Heals that ran (churn does not count against the budget). */
  healsRun(): number {
    return this.heals.filter((h) => h.outcome !== 'churn').length;
  }

  /** What the `status` query answers. */
  status(ticket: Pick<Ticket, 'id' | 'title'>): TicketStatus {
    return {
      ticketId: ticket.id,
      title: ticket.title,
      phase: this.phase,
      attempt: this.attempt,
      maxAttempts: this.cap,
      waitingFor: this.waiting?.gate,
      waitingReason: this.waiting?.reason,
      timeline: this.timeline,
      interventions: this.interventions,
      lastFeedback: this.lastFeedback,
      mergeCommit: this.mergeCommit,
      ...(this.pullRequest ? { pullRequest: this.pullRequest } : {}),
      ...(this.outage ? { outage: this.outage } : {}),
      ...this.routing(),
    };
  }

  /** The plan's size and the profiles that ran, when known (status and report). */
  private routing(): { planSize?: RouteSize; profiles?: Partial<Record<RouteRole, RoleProfile>> } {
    return { ...(this.planSize !== undefined ? { planSize: this.planSize } : {}), ...(Object.keys(this.profiles).length ? { profiles: { ...this.profiles } } : {}) };
  }

  /** The ticket's allowance at `budget.ticketUsd` = `per`: its budget, once more for each approve at the gate. */
  budgetUsd(per: number): number {
    return per * (1 + this.budgetGrants);
  }

  /** The report's cost fields: known dollars and tokens, runs of unknown cost, and the lines by role and profile. */
  private spend(): Pick<TicketReport, 'costUsd' | 'tokens' | 'costUnknownRuns' | 'costs'> {
    const { usd, tokens, usdUnknown } = this.cost;
    if (!this.cost.runs) return {};
    return { ...(usd !== undefined ? { costUsd: usd } : {}), ...(tokens !== undefined ? { tokens } : {}), ...(usdUnknown ? { costUnknownRuns: usdUnknown } : {}), costs: this.cost.entries };
  }

  /** The Web UI's current details: a short markdown timeline of phases and attempts. */
  details(ticket: Pick<Ticket, 'id' | 'title'>): string {
    const rows = this.timeline.map((s) => `- ${s.phase}${s.attempt ? ` #${s.attempt}` : ''}: ${Math.round(s.ms / 100) / 10}s${s.note ? ` (${s.note})` : ''}`);
    const outage = this.outage ? ` (riding out an outage: ${this.outage.reason})` : '';
    const now = `**${this.phase}**${this.attempt ? ` attempt ${this.attempt}/${this.cap}` : ''}${this.waiting ? ` (waiting for a person: ${this.waiting.gate})` : ''}${outage}`;
    const pr = this.pullRequest ? [`Pull request: [#${this.pullRequest.number}](${this.pullRequest.url})`] : [];
    const gate = this.waiting && this.gateDetails ? ['', this.gateDetails] : [];
    return [`### ${ticket.id}: ${ticket.title}`, `Now: ${now}`, ...pr, ...rows, ...gate].join('\n');
  }

  /** The workflow's result once it ended `outcome` (the timeline must be closed by entering `outcome` first). */
  report(ticket: Pick<Ticket, 'id' | 'title'> & Partial<Pick<Ticket, 'kind' | 'size'>>, outcome: TicketOutcome, reason: string | undefined): TicketReport {
    const phaseMs: TicketReport['phaseMs'] = {};
    for (const s of this.timeline) phaseMs[s.phase] = (phaseMs[s.phase] ?? 0) + s.ms;
    return {
      ticketId: ticket.id,
      title: ticket.title,
      outcome,
      attempts: this.attempt,
      mergeCommit: this.mergeCommit,
      phases: this.timeline,
      phaseMs,
      interventions: this.interventions,
      reason,
      tamperings: this.tamperings,
      guardedBy: this.guardedBy,
      ...(this.heals.length ? { heals: this.heals } : {}),
      ...(this.outages.length ? { outages: this.outages } : {}),
      ...(this.killed ? { killed: this.killed } : {}),
      ...(this.semanticConflicts.length ? { semanticConflicts: this.semanticConflicts } : {}),
      ...(this.regressions.length ? { regressions: this.regressions } : {}),
      ...(this.reverts.length ? { reverts: this.reverts } : {}),
      ...(this.flaky.length ? { flaky: this.flaky } : {}),
      ...(this.landings.length ? { landings: this.landings } : {}),
      ...(this.reviews.length ? { reviews: this.reviews } : {}),
      ...this.spend(),
      failures: this.failures,
      ...(ticket.kind !== undefined ? { kind: ticket.kind } : {}),
      ...(ticket.size !== undefined ? { size: ticket.size } : {}),
      ...this.routing(),
    };
  }
}
