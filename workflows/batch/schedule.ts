/**
 * BatchSchedule: what a batch knows and decides between its turns (DESIGN.md "Batch"): the graph (it grows with
 * discovered work), the tracker's view and what ratchet last wrote, evidence, what runs, waits and ended, tampers,
 * discovered work, heals and interventions; the rules over them (trusted view, tamper notice, ready set, heal
 * budgets, pauses), the status page, the Web UI details and the final report. Built from the continue-as-new carry
 * and returned by `snapshot()` (samples-typescript `batch-sliding-window`). Pure: no I/O, and no SDK call but the
 * `patched()` check of the ready set's order ({@link BatchSchedule.orderByKind}); the batch workflow does the reads,
 * writes, signals and starts (test/unit/batch-schedule.test.ts).
 */
import { patched } from '@temporalio/workflow';
import { overBatchBudget } from './budget';
import { loadedCarry, rowOf, workflowNote, type BatchCarry, type Discovery } from '../carry';
import { definitionFor, withHarness } from '../done';
import { startTerms } from '../discovered-check';
import { discoveredId, discoverRequestToWork, discoveryProblem, overCap } from '../discovery';
import { inStartOrder, readySet } from '../graph';
import { STATUS_PAGE, type BatchStatus, type BatchStatusRequest, type DiscoverRequest, type ResumeDecision, type TicketEnd, type TicketProgress } from '../messages';
import { oracle, type OracleVerdict } from '../oracle';
import {
  DEFAULT_TICKET_ORDER,
  type DiscoveredRecord,
  type DiscoveredWork,
  type Evidence,
  type GateReason,
  type HarnessSettings,
  type HealRecord,
  type Intervention,
  type LoadedBatch,
  type PhaseName,
  type Regression,
  type RunReport,
  type Ticket,
  type TicketFact,
  type TicketInput,
  type TicketNode,
  type TicketRow,
  type TicketState,
  type TrackerTamper,
  type MainHealth,
  type MainLineEntry,
} from '../types';
import { mergeQueueKey, mergeQueueWorkflowId } from '../merge-queue/messages';
import { AgentBreaker, type AgentRunReport } from './agent-breaker';

/** Up to this many tickets, the batch's Web UI details list every ticket; above it, only running ones. */
const DETAILS_ROWS = 100;

const isFinal = (s: TicketState | undefined): boolean => s === 'done' || s === 'human-gated';

/**
 * The patch id of starting the ready set in kind order (0.2.3, issue 28 item 6): histories from before it started
 * tickets in the tracker's order.
 */
export const READY_BY_KIND_PATCH = 'ready-by-kind';

export class BatchSchedule {
  readonly loaded: LoadedBatch;
  readonly startedAt: number;
  state: BatchStatus['state'];
  pausedReason: string | undefined;
  pausedBy: Intervention['gate'];
  /** Main's health when the batch finished (batch/health.ts); set only at the very end, so never carried. */
  mainHealth: MainHealth | undefined;
  mainLine: MainLineEntry[] | undefined;
  /** The graph: discovered tickets join it while the batch runs. */
  readonly tickets: TicketNode[];
  readonly ids: string[];
  readonly byId: Map<string, TicketNode>;
  /** The tracker's view, as last read. */
  readonly states: Map<string, TicketState>;
  /** What ratchet last wrote (or read at load) for each ticket no workflow of ours owns right now. */
  readonly expected: Map<string, TicketState>;
  readonly evidence: Record<string, Evidence>;
  readonly tampers: TrackerTamper[];
  /** Tampers a person settled with `resume`, still to act on in the loop. */
  settle: { tamper: TrackerTamper; how: 'restore' | 'accept' }[] = [];
  readonly running: Set<string>;
  readonly started: Set<string>;
  readonly waiting: Map<string, GateReason>;
  /** For running tickets: the phase of their last progress signal, and since when they wait at their gate. */
  readonly phases: Map<string, PhaseName>;
  readonly waitingSince: Map<string, number>;
  /** Ended tickets' report rows, in the order they ended. */
  readonly reports: Map<string, TicketRow>;
  readonly batchInterventions: Intervention[];
  /** Per running or ended ticket, the interventions its progress signals reported (its report supersedes them). */
  readonly ticketInterventions: Map<string, Intervention[]>;
  /** Discovered work to file at the next turn, and work held at the discovery cap for a person. */
  discoveries: Discovery[] = [];
  held: Discovery[];
  /** What became of each discovered piece of work, by its key. */
  readonly discovered: Map<string, DiscoveredRecord>;
  discoverySeq: number;
  /** Every heal a ticket of this batch ran or declined as churn, as its ticket reported it. */
  readonly heals: HealRecord[];
  /** The heal budget each started ticket was given (see {@link healing}). */
  readonly healBudgets: Map<string, number>;
  /** Running tickets that wait for discovered blockers (ticket -> blockers not yet ended). */
  readonly parked: Map<string, Set<string>>;
  consecutiveFailures: number;
  /** Tracker writes made by this batch's chain (across continue-as-new): the fence number of the next one. */
  trackerWrites: number;
  /** Tickets whose `ticketEnded` signal said "look": their end is read from their closed workflow (batch/ends.ts). */
  readonly endsToCheck: Set<string>;
  /** Tickets whose end is being read now. */
  readonly checking = new Set<string>();
  lastFailure: string | undefined;
  /** Resumes at the batch's `budget` gate: each grants another `budget.batchUsd` (batch/budget.ts). */
  budgetGrants: number;
  /** Landings reopened for a regression, `<ticket>@<merge>`: each at most once (batch/reopen.ts). */
  readonly reopened: Set<string>;
  /** The agent tap: agent runs failing the same way across tickets stop the batch's agents (batch/agent-breaker.ts). */
  readonly agents: AgentBreaker;
  /** Tickets whose tracker state the loop reads at its next turn. */
  readonly toRead = new Set<string>();
  /** When each ticket's workflow ended in this run, workflow time (for the unblock latency metric). */
  readonly endedAt = new Map<string, number>();
  verdict: OracleVerdict = oracle([], [], {});
  report: RunReport | undefined;
  /** Something changed that the loop should look at. */
  dirty = true;
  /**
   * Whether this run starts the ready set in the batch's `order` (kinds) rather than the tracker's order alone: the
   * `patched()` check, asked only when the two would start different tickets or start them in another order. Unit
   * tests, which run outside a workflow, set their own.
   */
  orderByKind: () => boolean = () => patched(READY_BY_KIND_PATCH);

  /**
   * @param carry what the previous run carried, or {@link BatchSchedule.loaded}'s for a batch that has just loaded.
   * @param fresh true for a batch that has just loaded: the tickets' states at load are what ratchet expects, and a
   *   final one counts as evidence (`preexisting`).
   */
  constructor(carry: BatchCarry, fresh = false) {
    this.loaded = carry.loaded;
    this.startedAt = carry.startedAt;
    this.state = carry.state;
    this.pausedReason = carry.pausedReason;
    this.pausedBy = carry.pausedBy;
    this.tickets = carry.loaded.tickets.map((t) => ({ ...t, dependsOn: [...t.dependsOn] }));
    this.ids = this.tickets.map((t) => t.id);
    this.byId = new Map(this.tickets.map((t) => [t.id, t]));
    this.states = new Map(carry.states);
    this.expected = new Map(carry.expected);
    this.evidence = carry.evidence;
    this.tampers = carry.tampers;
    this.running = new Set(carry.running);
    this.started = new Set(carry.started);
    this.waiting = new Map(carry.waiting);
    this.phases = new Map(carry.phases);
    this.waitingSince = new Map(carry.waitingSince);
    this.reports = new Map(carry.rows);
    this.batchInterventions = carry.batchInterventions;
    this.held = carry.held;
    this.discovered = new Map(carry.discovered);
    this.discoverySeq = carry.discoverySeq;
    this.heals = carry.heals;
    this.ticketInterventions = new Map(carry.ticketInterventions);
    this.healBudgets = new Map(carry.healBudgets);
    this.parked = new Map(carry.parked.map(([id, blockers]) => [id, new Set(blockers)]));
    this.consecutiveFailures = carry.consecutiveFailures;
    this.trackerWrites = carry.trackerWrites ?? 0;
    this.endsToCheck = new Set(carry.endsToCheck ?? []);
    this.lastFailure = carry.lastFailure;
    this.reopened = new Set(carry.reopened ?? []);
    this.budgetGrants = carry.budgetGrants ?? 0;
    this.agents = new AgentBreaker(carry.agents, carry.loaded.config.breaker?.sameFailure);
    if (!fresh) return;
    for (const t of this.tickets) {
      this.states.set(t.id, t.state);
      this.expected.set(t.id, t.state);
      if (isFinal(t.state)) {
        const note = `the tracker said ${t.state}${t.stateNote ? ` (${t.stateNote})` : ''} when the batch loaded`;
        this.evidence[t.id] = { outcome: t.state as Evidence['outcome'], source: 'preexisting', note, at: this.startedAt };
      }
    }
  }

  /** The schedule of a batch that has just loaded `loaded` at `startedAt` (workflow time, ms). */
  static loaded(loaded: LoadedBatch, startedAt: number): BatchSchedule {
    return new BatchSchedule(loadedCarry(loaded, startedAt), true);
  }

  /** The batch's config as loaded; an accepted heal replaces its harness part. */
  get config(): LoadedBatch['config'] {
    return this.loaded.config;
  }

  /** What the batch carries into its next run: the graph's nodes, the tracker's view, evidence and report rows. */
  snapshot(): BatchCarry {
    const running = this.running;
    return {
      loaded: { ...this.loaded, tickets: this.tickets },
      startedAt: this.startedAt,
      state: this.state,
      pausedReason: this.pausedReason,
      pausedBy: this.pausedBy,
      states: [...this.states],
      expected: [...this.expected],
      evidence: this.evidence,
      tampers: this.tampers,
      running: [...running],
      started: [...this.started],
      waiting: [...this.waiting],
      phases: [...this.phases],
      waitingSince: [...this.waitingSince],
      rows: [...this.reports],
      batchInterventions: this.batchInterventions,
      held: this.held,
      discovered: [...this.discovered],
      discoverySeq: this.discoverySeq,
      heals: this.heals,
      ticketInterventions: [...this.ticketInterventions].filter(([id]) => running.has(id) && !this.reports.has(id)),
      healBudgets: [...this.healBudgets].filter(([id]) => running.has(id)),
      parked: [...this.parked].map(([id, blockers]) => [id, [...blockers]]),
      consecutiveFailures: this.consecutiveFailures,
      trackerWrites: this.trackerWrites,
      ...(this.endsToCheck.size + this.checking.size ? { endsToCheck: [...this.endsToCheck, ...this.checking] } : {}),
      lastFailure: this.lastFailure,
      ...(this.reopened.size ? { reopened: [...this.reopened] } : {}),
      ...(this.budgetGrants ? { budgetGrants: this.budgetGrants } : {}),
      ...(this.agents.counted() ? { agents: this.agents.c } : {}),
    };
  }

  // ---- what the messages do -------------------------------------------------------------------------------------

  /**
   * `ticketEnded` from 0.2.1: a running ticket says it ended; its end is read from its closed workflow, never taken
   * from the signal (batch/ends.ts). A ticket not running, or already being read, is ignored.
   */
  toCheck(ticketId: string): void {
    if (!this.running.has(ticketId) || this.checking.has(ticketId)) return;
    this.endsToCheck.add(ticketId);
    this.dirty = true;
  }

  /** `ticketEnded`: a ticket's end (its report row, its failure, or a refused take). A ticket not running is ignored. */
  onEnded(end: TicketEnd, now: number): void {
    if (!this.running.has(end.ticketId)) return;
    if (end.refused !== undefined) this.notTaken(end.ticketId, end.refused, now);
    else this.ended(end, now);
  }

  /** `ticketProgress`: what a running ticket wrote and where it is; a gate opening or closing asks for a read. */
  onProgress({ ticketId, state, phase, gate, since, interventions }: TicketProgress): void {
    if (!this.running.has(ticketId)) return; // a late signal from a ticket workflow that has ended
    if (interventions) this.ticketInterventions.set(ticketId, interventions);
    // What a running ticket writes is its own (no tamper check while it runs): shown as is.
    this.states.set(ticketId, state);
    this.phases.set(ticketId, phase);
    const was = this.waiting.get(ticketId);
    if (gate) this.waiting.set(ticketId, gate);
    else this.waiting.delete(ticketId);
    if (gate && since !== undefined) this.waitingSince.set(ticketId, since);
    else this.waitingSince.delete(ticketId);
    if ((was ?? null) !== gate) this.dirty = true;
  }

  /** `agentRun`: a running ticket's agent run outcome, or that it waits at the closed tap (batch/agent-breaker.ts). */
  onAgentRun(r: AgentRunReport): void {
    if (!this.running.has(r.ticketId)) return;
    const v = this.agents.c.v;
    this.agents.report(r, this.running);
    // The loop looks when the tap closed or opened, or has messages to send.
    this.dirty ||= this.agents.c.v !== v || this.agents.c.outbox.length > 0;
  }

  /** `heal`: a ticket's heal; an accepted one's harness applies to the tickets started from now on. */
  onHeal({ record, harness }: { record: HealRecord; harness?: HarnessSettings }): void {
    this.heals.push(record);
    if (harness) this.loaded.config = withHarness(this.loaded.config, harness);
  }

  /** `split`: a running ticket's plan is split as an epic is decomposed; its node is an epic from now on. */
  onSplit(ticketId: string): void {
    const node = this.byId.get(ticketId);
    if (node && this.running.has(ticketId)) node.kind = 'epic';
  }

  /** `trackerTamper`: a ticket's own write found a state ratchet did not write. */
  onTamper(t: TrackerTamper): void {
    this.tampers.push({ ...t, seenBy: 'ticket' });
    this.dirty = true;
  }

  /** `discovered`: work a ticket's attempt (or heal) reported, filed at the next turn (agents' work is capped). */
  onDiscovered({ ticketId, attempt, heal, work }: { ticketId: string; attempt: number; heal?: number; work: (DiscoveredWork & { blocksThisTicket: boolean })[] }): void {
    work.forEach(({ blocksThisTicket, ...w }, index) => {
      this.discoveries.push({
        key: `${ticketId}#${attempt}#${index}`,
        work: { ...w, id: undefined, dependsOn: [], blocks: blocksThisTicket ? [ticketId] : [] },
        filedBy: heal ? { kind: 'agent', ticketId, attempt, heal } : { kind: 'agent', ticketId, attempt },
        reply: { ticketId, attempt, index },
        capped: true,
      });
    });
    this.dirty = true;
  }

  /**
   * The `discover` update's validator: the batch runs or is paused, it has probes, and the work fits the graph.
   * @throws Error naming the problem.
   */
  checkDiscover(req: DiscoverRequest): void {
    if (this.state === 'loading' || this.state === 'done' || this.state === 'failed') {
      throw new Error(`batch ${this.config.batchId} is ${this.state}; discover is accepted only while the batch runs or is paused`);
    }
    const work = discoverRequestToWork(req);
    const none = work.probes?.length ? undefined : this.noProbes();
    if (none) throw new Error(`discover: ${none}`);
    // Without an id, the id the loop would pick stands in (it only matters for uniqueness).
    let id = work.id;
    for (let n = 1; id === undefined || (work.id === undefined && this.ids.includes(id)); n++) id = discoveredId(undefined, n);
    const problem = discoveryProblem({ ...work, id }, this.tickets, this.started, { kind: 'person', by: req.by });
    if (problem) throw new Error(`discover: ${problem}`);
  }

  /** Queues a person's discovered work. @returns the key its record will be found under. */
  discover(req: DiscoverRequest): string {
    const key = `person#${this.discoverySeq++}`;
    this.discoveries.push({ key, work: discoverRequestToWork(req), filedBy: { kind: 'person', by: req.by }, capped: false });
    this.dirty = true;
    return key;
  }

  /**
   * The `resume` validator: a payload with `by` and known options, while the batch is paused.
   * @throws Error naming the field, the value and the fix.
   */
  checkResume(d: ResumeDecision, workflowId: string): void {
    if (typeof d?.by !== 'string' || d.by.trim() === '') {
      throw new Error(`resume needs a payload {"by": "<who>", "comment"?: "<text>", "tamper"?: "restore" | "accept"}: field "by" is ${JSON.stringify(d?.by)}`);
    }
    if (d.discovered !== undefined && d.discovered !== 'file' && d.discovered !== 'drop') {
      throw new Error(`resume field "discovered" is ${JSON.stringify(d.discovered)}: use "file" (file the held discovered tickets) or "drop"`);
    }
    if (d.tamper !== undefined && d.tamper !== 'restore' && d.tamper !== 'accept') {
      throw new Error(`resume field "tamper" is ${JSON.stringify(d.tamper)}: use "restore" (write back what ratchet recorded) or "accept" (take the tracker's state as your decision)`);
    }
    if (this.state !== 'paused') throw new Error(`batch ${workflowId} is ${this.state}, not paused; resume is accepted only while the status query shows state "paused"`);
  }

  /**
   * `resume`: a person's answer to the pause: settles open tampers (restore or accept), files or drops held
   * discovered work, resets the breaker, and lets tickets that ended without done or human-gated run again.
   * @returns the discovered work the person dropped (the caller answers its tickets).
   */
  resume({ by, comment, tamper, discovered: how }: ResumeDecision, now: number): Discovery[] {
    this.batchInterventions.push({ kind: 'resume', ticketId: '', gate: this.pausedBy, by, comment, at: now });
    if (this.pausedBy === 'agent-breaker') this.agents.resume();
    if (this.pausedBy === 'budget') this.budgetGrants++;
    for (const t of this.unresolved()) {
      t.resolved = { by, at: now, action: tamper === 'accept' ? 'accepted' : 'restoring' };
      this.settle.push({ tamper: t, how: tamper ?? 'restore' });
      this.toRead.add(t.ticketId);
    }
    const dropped = how === 'drop' ? this.held : [];
    if (how !== 'drop') for (const d of this.held) this.discoveries.push({ ...d, capped: false });
    this.held = [];
    this.state = 'running';
    this.pausedReason = undefined;
    this.consecutiveFailures = 0;
    for (const id of [...this.started]) if (!this.running.has(id) && !this.evidence[id]) this.started.delete(id);
    this.dirty = true;
    return dropped;
  }

  // ---- ends of tickets --------------------------------------------------------------------------------------------

  /** Records a ticket workflow's end: its evidence and report row, or its failure; the loop takes it from there. */
  ended({ ticketId, report: r, failure }: TicketEnd, now: number): void {
    if (r) {
      this.endedAt.set(ticketId, now);
      this.reports.set(ticketId, rowOf(r));
      this.evidence[ticketId] = { outcome: r.outcome, source: 'workflow', note: workflowNote(r), mergeCommit: r.mergeCommit, at: now };
      this.expected.set(ticketId, r.outcome);
      // What the ticket wrote last (ticket workflows send no progress signal for that write); the turn's read checks it.
      this.states.set(ticketId, r.outcome);
      this.consecutiveFailures = r.outcome === 'done' ? 0 : this.consecutiveFailures + 1;
    } else {
      this.consecutiveFailures++;
      // What the failed workflow last wrote is unknown here: the next read is taken as ratchet's own.
      this.expected.delete(ticketId);
      this.lastFailure = `ticket ${ticketId} workflow failed: ${failure ?? '?'}`;
    }
    this.running.delete(ticketId);
    this.agents.ended(ticketId);
    this.waiting.delete(ticketId);
    this.waitingSince.delete(ticketId);
    this.phases.delete(ticketId);
    this.toRead.add(ticketId);
    this.dirty = true;
  }

  /**
   * A ticket started from its graph node found `found` in the tracker, not the state it was started with, and took
   * nothing: it is not started, and the tracker tamper waits for a person's `resume`, as when the batch's read finds
   * one (no ticket starts meanwhile).
   */
  notTaken(ticketId: string, found: TicketState, now: number): void {
    this.running.delete(ticketId);
    this.agents.ended(ticketId);
    this.started.delete(ticketId);
    this.phases.delete(ticketId);
    this.states.set(ticketId, found);
    const want = this.expected.get(ticketId) ?? 'todo';
    if (!this.unresolved().some((t) => t.ticketId === ticketId)) this.tampers.push({ ticketId, from: want, to: found, at: now, seenBy: 'batch' });
    this.toRead.add(ticketId);
    this.dirty = true;
  }

  /** A ticket the batch records human-gated because its blocker was (after the tracker write). */
  gatedBehind(id: string, blocker: string, now: number): void {
    const note = `blocked by human-gated ticket ${blocker}`;
    this.evidence[id] = { outcome: 'human-gated', source: 'blocked', note, at: now };
    this.started.add(id);
    this.reports.set(id, { ticketId: id, outcome: 'human-gated', attempts: 0, reason: note });
  }

  // ---- the tracker's view -----------------------------------------------------------------------------------------

  unresolved(): TrackerTamper[] {
    return this.tampers.filter((t) => !t.resolved);
  }

  /** The oracle's verdict over the tracker's view as last read (what status shows between full reads). */
  known(): OracleVerdict {
    return oracle(this.ids, [...this.states].map(([id, s]) => ({ id, state: s })), this.evidence);
  }

  /** Sets the oracle's verdict: over `facts` when they are a full read, else over the view as last read. */
  judge(facts: readonly TicketFact[], full: boolean): OracleVerdict {
    this.verdict = full ? oracle(this.ids, facts, this.evidence) : this.known();
    return this.verdict;
  }

  /** The tracker's view with every final state ratchet has no evidence for taken back: what scheduling may trust. */
  trusted(): Map<string, TicketState> {
    const view = new Map<string, TicketState>();
    for (const id of this.ids) {
      const s = this.states.get(id) ?? 'todo';
      view.set(id, isFinal(s) && this.evidence[id]?.outcome !== s ? (this.expected.get(id) ?? 'todo') : s);
    }
    return view;
  }

  /** Which tickets this turn reads: those that changed and are about to start, or every ticket once all have ended. */
  toReadNow(): { readIds: string[]; full: boolean } {
    const allEnded = this.running.size === 0 && this.ids.every((id) => this.evidence[id] !== undefined);
    const readIds = allEnded ? this.ids : [...this.toRead];
    this.toRead.clear();
    return { readIds, full: allEnded };
  }

  /**
   * Takes a read of the tracker (`facts` of `readIds`): states, what ratchet expects of tickets it never wrote, and
   * tampers: a ticket no workflow of ours owns now and no `resume` is settling whose state is not what ratchet wrote.
   */
  applyRead(facts: readonly TicketFact[], readIds: readonly string[], now: number): void {
    const read = new Map(facts.map((f) => [f.id, f.state]));
    for (const f of facts) this.states.set(f.id, f.state);
    for (const id of readIds) if (!read.has(id)) this.states.delete(id);
    for (const id of this.ids) if (!this.expected.has(id) && !this.running.has(id)) this.expected.set(id, this.states.get(id) ?? 'todo');
    const settling = new Set(this.settle.map((x) => x.tamper.ticketId));
    for (const id of readIds) {
      const want = this.expected.get(id);
      if (this.running.has(id) || settling.has(id) || want === undefined) continue;
      const got = read.get(id) ?? 'missing';
      if (got === want || this.unresolved().some((t) => t.ticketId === id)) continue;
      this.tampers.push({ ticketId: id, from: want, to: got, at: now, seenBy: 'batch' });
    }
  }

  /** A write ratchet made as the batch: a state before it that ratchet did not write is a tamper. */
  wrote(id: string, to: TicketState, previous: TicketState | 'missing', now: number, overwritingTamper = false): void {
    const want = this.expected.get(id);
    if (!overwritingTamper && want !== undefined && previous !== want && previous !== to) {
      this.tampers.push({ ticketId: id, from: want, to: previous, at: now, seenBy: 'batch' });
    }
    this.expected.set(id, to);
    this.states.set(id, to);
  }

  // ---- starting tickets -------------------------------------------------------------------------------------------

  /** Nothing asks the batch to stop starting tickets: no pause, no tamper or discovery to settle, no tripped breaker. */
  mayStart(): boolean {
    return (
      this.state === 'running' &&
      !this.discoveries.length &&
      !this.settle.length &&
      !this.held.length &&
      this.unresolved().length === 0 &&
      this.consecutiveFailures < this.config.circuitBreaker &&
      overBatchBudget(this.config, this.reports.values(), this.budgetGrants) === undefined
    );
  }

  /**
   * Ready tickets that fit in the free slots, in the order they start: by kind in the batch's `order` (default
   * {@link DEFAULT_TICKET_ORDER}), then the tracker's (from 0.2.3; see {@link orderByKind}). A running ticket parked
   * on its discovered blockers holds no slot, nor (`waitingFree`) one waiting for a person at a gate: the rest of the
   * batch goes on meanwhile, and an answered ticket goes on at once even when that puts the batch over `maxParallel`
   * for a while.
   */
  ready(waitingFree = true): string[] {
    let holding = 0;
    for (const id of this.running) if (!this.parked.has(id) && !(waitingFree && this.waiting.has(id))) holding++;
    // The agent tap holds starts while it is closed, but for one canary after a person's resume.
    const free = Math.min(this.config.maxParallel - holding, this.agents.startable());
    if (free <= 0) return [];
    const ready = readySet(this.tickets, this.trusted(), this.started);
    const byTracker = ready.slice(0, free);
    const ordered = inStartOrder(ready, (id) => this.byId.get(id)?.kind, this.config.order ?? DEFAULT_TICKET_ORDER).slice(0, free);
    return ordered.some((id, i) => id !== byTracker[i]) && this.orderByKind() ? ordered : byTracker;
  }

  /** Whether a running ticket waits for a person (and so, from 0.2.1, holds no slot). */
  anyWaiting(): boolean {
    for (const id of this.running) if (this.waiting.has(id)) return true;
    return false;
  }

  /**
   * Marks ticket `id` started and builds its workflow's input from its graph node: the batch's title, state, edges
   * and the probes and allowed paths of the definition of done frozen at load, whatever the tracker says now (no agent
   * moves the finish line by editing a ticket file); body, acceptance, kind, gate, size and land are the ticket
   * workflow's to read (`readSelf`). A discovered ticket an agent filed starts with the terms of its check
   * (discovered-check.ts): its finder's probes, or `approveFirst` when nothing executable checks it.
   * @returns the input, and the unblock latency (ms) when every blocker ended in this run.
   */
  start(id: string, now: number): { input: TicketInput; unblockedMs?: number } {
    const node = this.byId.get(id) as TicketNode;
    const frozen = this.loaded.definitionOfDone;
    const ended = node.dependsOn.map((d) => this.endedAt.get(d));
    const unblockedMs = ended.length && ended.every((t) => t !== undefined) ? now - Math.max(...(ended as number[])) : undefined;
    this.started.add(id);
    this.running.add(id);
    const terms = startTerms(this.filedAs(id), frozen?.ticketProbes ?? {});
    const ticket: Ticket = {
      id,
      title: node.title,
      body: '',
      acceptance: [],
      kind: 'feature',
      state: this.expected.get(id) ?? node.state,
      dependsOn: node.dependsOn,
      probes: frozen?.ticketProbes[id] ?? terms.probes ?? [],
      allowPaths: frozen?.allowPaths[id] ?? [],
    };
    const approveFirst = terms.approveFirst !== undefined ? { approveFirst: terms.approveFirst } : {};
    const canary = this.agents.starting(id) ? { agentTap: 'canary' as const } : {};
    const input: TicketInput = { batchId: this.config.batchId, config: this.config, ticket, ...this.healing(id), readSelf: true, ...approveFirst, ...canary };
    return { input, ...(unblockedMs !== undefined ? { unblockedMs } : {}) };
  }

  /**
   * Starts `id` again, a ticket that ended done, because its landing `merge` broke done tickets (batch/reopen.ts): its
   * row and evidence go (its next end brings them back, the earlier run's part carried on), and it runs again from
   * the state ratchet last wrote. A landing is reopened at most once, and never for a regression the ticket already
   * saw after that landing (it was handled then: a person kept the merge, or `revert.mode` decided).
   * @returns its input, or undefined when it is not done, runs, has no regression new to it, or that landing was
   *   reopened before.
   */
  reopen(id: string, regressions: Regression[], reverts: number, now: number): TicketInput | undefined {
    const before = this.reports.get(id);
    const seen = (r: Regression): boolean => (before?.regressions ?? []).some((b) => b.ticketId === r.ticketId && b.probe === r.probe && b.culpritCommit === r.culpritCommit);
    const regs = regressions.filter((r) => !seen(r));
    const merge = regs[0]?.culpritCommit ?? '';
    if (!before || before.outcome !== 'done' || !regs.length || this.running.has(id) || this.reopened.has(`${id}@${merge}`)) return undefined;
    this.reopened.add(`${id}@${merge}`);
    this.reports.delete(id);
    delete this.evidence[id];
    this.endedAt.delete(id);
    const { input } = this.start(id, now);
    return { ...input, reopen: { merge, regressions: regs, reverts, before } };
  }

  /**
   * What a ticket starting now needs for its self-heal: the frozen definition of done and its heal budget. The budget
   * is reserved: `heal.maxPerBatch` minus the heals run so far and minus what running tickets hold and have not used,
   * capped by `heal.maxPerTicket`. So tickets healing at once never run more than the batch's budget between them; a
   * ticket's unused reservation is free again when it ends.
   */
  healing(ticketId: string): Pick<TicketInput, 'definition' | 'healBudget'> {
    const heal = this.config.heal;
    if (!heal || !this.loaded.definitionOfDone) return {};
    const ran = (id?: string): number => this.heals.filter((h) => h.outcome !== 'churn' && (id === undefined || h.ticketId === id)).length;
    let held = 0;
    for (const id of this.running) if (id !== ticketId) held += Math.max(0, (this.healBudgets.get(id) ?? 0) - ran(id));
    const budget = Math.max(0, Math.min(heal.maxPerTicket, heal.maxPerBatch - ran() - held));
    this.healBudgets.set(ticketId, budget);
    return { definition: definitionFor(this.loaded.definitionOfDone, ticketId), healBudget: budget };
  }

  /** Pauses scheduling behind a batch-level human gate (`resume`) when a tamper, held work or the breaker asks. */
  pauseIfNeeded(): void {
    const open = this.unresolved();
    const overBudget = this.state === 'running' ? overBatchBudget(this.config, this.reports.values(), this.budgetGrants) : undefined;
    if (open.length) {
      this.pause(
        'tracker-tamper',
        `tracker tamper: ${open.map((t) => `${t.ticketId} went ${t.from} -> ${t.to} without ratchet writing it`).join('; ')}; ` +
          'nothing counts it; send the batch "resume" to restore what ratchet recorded (or with "tamper": "accept" to take the tracker\'s state as your decision)',
      );
    } else if (this.held.length) {
      const held = this.held;
      this.pause('discovery-cap', `discovery cap: ${held.length} discovered ticket(s) held (${held.map((d) => `"${d.work.title}"`).join(', ')}): ${this.discovered.get(held[0].key)?.reason ?? ''}`);
    } else if (this.state === 'running' && this.agents.tripped) {
      this.pause('agent-breaker', this.agents.reason());
    } else if (overBudget) {
      this.pause('budget', overBudget);
    } else if (this.state === 'running' && this.consecutiveFailures >= this.config.circuitBreaker) {
      const last = this.lastFailure ? ` (last: ${this.lastFailure})` : '';
      this.pause('circuit-breaker', `circuit breaker: ${this.consecutiveFailures} tickets in a row ended without done${last}; send the batch "resume" (update or signal) to go on`);
    }
  }

  pause(by: Intervention['gate'], reason: string): void {
    this.state = 'paused';
    this.pausedBy = by;
    this.pausedReason = reason;
  }

  // ---- discovered work --------------------------------------------------------------------------------------------

  /** Why no discovered ticket can be filed: it would have no verify-live probe (they take the batch's). */
  noProbes(): string | undefined {
    if (this.config.probes.length > 0) return undefined;
    return 'the batch has no batch-level probe, and a discovered ticket is verified live by those; add "probes" to the batch file';
  }

  /** Why an agent's work must wait for a person (the discovery cap), if it must. */
  overCap(d: Discovery): string | undefined {
    const finder = d.filedBy.kind === 'agent' ? d.filedBy.ticketId : undefined;
    if (!d.capped || finder === undefined) return undefined;
    return overCap([...this.discovered.values()], finder, this.config.discovery);
  }

  /** The record of discovered work filed as ticket `id`, if it is one. */
  filedAs(id: string): DiscoveredRecord | undefined {
    for (const r of this.discovered.values()) if (r.status === 'filed' && r.ticketId === id) return r;
    return undefined;
  }

  /** Records what became of a piece of discovered work. @returns the record. */
  record(d: Discovery, outcome: Pick<DiscoveredRecord, 'status' | 'reason' | 'ticketId'>, now: number): DiscoveredRecord {
    const r: DiscoveredRecord = { ...outcome, title: d.work.title, filedBy: d.filedBy, dependsOn: d.work.dependsOn, blocks: d.work.blocks, at: now };
    this.discovered.set(d.key, r);
    return r;
  }

  /** Adds a filed discovered ticket to the graph with its edges; a running ticket it blocks is parked on it. */
  addTicket(ticket: Ticket, blocks: readonly string[]): void {
    this.tickets.push(ticket);
    this.ids.push(ticket.id);
    this.byId.set(ticket.id, ticket);
    this.states.set(ticket.id, 'todo');
    this.expected.set(ticket.id, 'todo');
    for (const b of blocks) {
      const blocked = this.byId.get(b) as TicketNode;
      blocked.dependsOn = [...blocked.dependsOn, ticket.id];
      if (this.running.has(b)) this.parked.set(b, new Set([...(this.parked.get(b) ?? []), ticket.id]));
    }
  }

  /** Parked tickets' blockers that have ended, taken off the parked list. @returns [dependent, blocker, outcome]. */
  endedBlockers(): [string, string, Evidence['outcome']][] {
    const woken: [string, string, Evidence['outcome']][] = [];
    for (const [dependent, blockers] of this.parked) {
      for (const b of [...blockers]) {
        const ev = this.evidence[b];
        if (!ev) continue;
        blockers.delete(b);
        woken.push([dependent, b, ev.outcome]);
      }
      if (blockers.size === 0) this.parked.delete(dependent);
    }
    return woken;
  }

  // ---- what people see --------------------------------------------------------------------------------------------

  /** Every intervention so far, by the tickets' reports where they ended, else their progress, plus the batch's. */
  interventions(): Intervention[] {
    return [...this.ids.flatMap((id) => this.reports.get(id)?.interventions ?? this.ticketInterventions.get(id) ?? []), ...this.batchInterventions];
  }

  /** The `status` query's answer: a page of the tickets, or the active ones and what ended since the asker's cursor. */
  status(ask?: BatchStatusRequest): BatchStatus {
    const counts: Partial<Record<TicketState, number>> = {};
    for (const t of this.tickets) {
      const s = this.states.get(t.id) ?? t.state;
      counts[s] = (counts[s] ?? 0) + 1;
    }
    const active = ask?.tickets === 'active';
    const from = Math.max(0, Math.floor(ask?.from ?? 0));
    const limit = Math.min(STATUS_PAGE, Math.max(0, Math.floor(ask?.limit ?? STATUS_PAGE)));
    const listed = active ? this.tickets.filter((t) => this.running.has(t.id) || this.waiting.has(t.id)) : this.tickets.slice(from, from + limit);
    return {
      batchId: this.config.batchId,
      state: this.state,
      pausedReason: this.pausedReason,
      mergeQueue: mergeQueueWorkflowId(mergeQueueKey(this.config.repo, this.config.baseBranch)),
      ticketCount: this.tickets.length,
      counts,
      endedCount: this.reports.size,
      // The ended list is built only when asked for: the default answer needs its length alone.
      ...(active ? { ended: [...this.reports].slice(Math.max(0, Math.floor(ask?.endedFrom ?? 0))).map(([id, r]) => ({ ticketId: id, outcome: r.outcome })) } : {}),
      tickets: listed.map((t) => ({
        id: t.id,
        title: t.title,
        dependsOn: t.dependsOn,
        state: this.states.get(t.id) ?? t.state,
        running: this.running.has(t.id),
        phase: this.running.has(t.id) ? this.phases.get(t.id) : undefined,
        waitingFor: this.waiting.get(t.id),
        waitingSince: this.waitingSince.get(t.id),
        evidence: this.evidence[t.id],
      })),
      oracle: this.known(),
      trackerTampers: this.tampers,
      discovered: [...this.discovered.values()],
      heals: this.heals,
      ...this.agents.status(),
      interventions: countInterventions(this.interventions()),
      // The report (also the workflow's result, ~100 bytes a ticket) only with an answer that lists every ticket.
      ...(!active && from === 0 && this.tickets.length <= limit ? { report: this.report } : {}),
    };
  }

  /** The Web UI's current details: the batch's state, the oracle, what the loop and people did, and the tickets. */
  details(): string {
    // A batch of thousands lists the tickets that run (and wait) and counts the rest.
    const listed = this.tickets.length <= DETAILS_ROWS ? this.tickets : this.tickets.filter((t) => this.running.has(t.id)).slice(0, DETAILS_ROWS);
    const notListed = this.tickets.length - listed.length;
    const rows = listed.map((t) => {
      const w = this.waiting.get(t.id);
      const ev = this.evidence[t.id];
      return `| ${t.id} | ${this.states.get(t.id)}${this.running.has(t.id) ? ' (running)' : ''}${w ? `, waiting for a person: ${w}` : ''} | ${ev ? `${ev.outcome} (${ev.source})` : '-'} | ${t.dependsOn.join(', ')} |`;
    });
    const tamperRows = this.tampers.map(
      (t) => `- **tracker tamper**: ${t.ticketId} ${t.from} -> ${t.to} (seen by the ${t.seenBy})${t.resolved ? `, settled by ${t.resolved.by}: ${t.resolved.action}` : ', waiting for a person: `resume`'}`,
    );
    const healRows = this.heals.map((h) => `- **heal** ${h.ticketId} #${h.n}: ${h.outcome} (${h.verdict})${h.differences?.length ? `: it ${h.differences.join('; ')}` : ''}`);
    const discoveredRows = [...this.discovered.values()].map((d) => {
      const by = d.filedBy.kind === 'person' ? d.filedBy.by : `${d.filedBy.ticketId}${d.filedBy.heal ? ` heal ${d.filedBy.heal}` : ` attempt ${d.filedBy.attempt}`}`;
      const waits = d.check === 'approve' ? ", waits for a person's approve (nothing executable checks it)" : '';
      return `- **discovered** "${d.title}" by ${by}: ${d.status}${d.ticketId ? ` as ${d.ticketId}` : ''}${d.blocks.length ? `, blocks ${d.blocks.join(', ')}` : ''}${waits}`;
    });
    const people = countInterventions(this.interventions());
    const v = this.verdict;
    return [
      `### batch ${this.config.batchId}: ${this.state}${this.pausedReason ? ` (${this.pausedReason})` : ''}`,
      `oracle: ${v.satisfied ? 'satisfied' : `${v.pending.length} pending`}, ${v.done.length} done, ${v.humanGated.length} human-gated`,
      `interventions: ${people.total}${people.total ? ` (${Object.entries(people.byKind).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`,
      ...(this.agents.line() ? [`- **${this.agents.line()}**`] : []),
      ...tamperRows,
      ...healRows,
      ...discoveredRows,
      '',
      '| ticket | tracker | evidence | depends on |',
      '|---|---|---|---|',
      ...rows,
      ...(notListed ? ['', `${notListed} more tickets not running: \`ratchet status\` lists them all`] : []),
    ].join('\n');
  }

  /** The run report once the oracle is satisfied (`now`: workflow time, ms); also kept for the status query. */
  finalReport(now: number): RunReport {
    const rows = this.ids.map((id) => this.reports.get(id) ?? alreadyFinalRow(id, this.evidence[id]));
    const all = [...rows.flatMap((r) => r.interventions ?? []), ...this.batchInterventions];
    const v = this.verdict;
    this.report = {
      batchId: this.config.batchId,
      oracle: { satisfied: v.satisfied, done: v.done, humanGated: v.humanGated, pending: v.pending.map((p) => p.id) },
      tickets: rows,
      interventions: { total: all.length, byKind: countInterventions(all).byKind, list: all },
      trackerTampers: this.tampers,
      tamperingsCaught: rows.flatMap((r) => r.tamperings ?? []),
      ...(this.mainHealth ? { mainHealth: this.mainHealth } : {}),
      ...(this.mainLine ? { mainLine: this.mainLine } : {}),
      semanticConflicts: rows.flatMap((r) => r.semanticConflicts ?? []),
      regressions: rows.flatMap((r) => r.regressions ?? []),
      reverts: rows.flatMap((r) => r.reverts ?? []),
      flaky: rows.flatMap((r) => r.flaky ?? []),
      discovered: [...this.discovered.values()],
      heals: rows.flatMap((r) => r.heals ?? []),
      startedAt: this.startedAt,
      ms: now - this.startedAt,
      doneFingerprint: this.loaded.doneFingerprint,
    };
    return this.report;
  }
}

/** How many interventions, in all and by kind: what the status and the Web UI details show. */
function countInterventions(list: readonly Intervention[]): BatchStatus['interventions'] {
  const byKind: Record<string, number> = {};
  for (const i of list) byKind[i.kind] = (byKind[i.kind] ?? 0) + 1;
  return { total: list.length, byKind };
}

/** The report row of a ticket the batch did not run: its evidence says why it counts. */
function alreadyFinalRow(ticketId: string, ev: Evidence | undefined): TicketRow {
  return { ticketId, outcome: ev?.outcome ?? 'human-gated', attempts: 0, reason: ev?.note ?? 'no evidence' };
}
