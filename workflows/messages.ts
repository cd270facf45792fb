/**
 * Signals, updates and queries: the names a person types (DESIGN.md "public contract"). Kept stable.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  DiscoveredRecord,
  DiscoveredWork,
  Evidence,
  GateDecision,
  GateReason,
  HarnessSettings,
  HealRecord,
  Intervention,
  PhaseName,
  PhaseSpan,
  Probe,
  RoleProfile,
  RouteRole,
  RouteSize,
  RunReport,
  TicketKind,
  TicketRow,
  TicketOutcome,
  TicketState,
  TrackerTamper,
} from './types';
import type { OracleVerdict } from './oracle';
import type { AgentRunReport, TapMessage, TapState } from './batch/agent-breaker';

/** Task queue every ratchet worker polls. */
export const TASK_QUEUE = 'ratchet';

export const batchWorkflowId = (batchId: string): string => `batch-${batchId}`;
export const ticketWorkflowId = (batchId: string, ticketId: string): string => `ticket-${batchId}-${ticketId}`;

/** What the `approve` / `reject` update returns to the caller. */
export interface GateAnswer {
  ticketId: string;
  gate: GateReason;
  decision: 'approve' | 'reject';
}

export const approveUpdate = defineUpdate<GateAnswer, [GateDecision]>('approve');
export const rejectUpdate = defineUpdate<GateAnswer, [GateDecision]>('reject');
export const approveSignal = defineSignal<[GateDecision]>('approve');
export const rejectSignal = defineSignal<[GateDecision]>('reject');

/** Payload of the batch's `resume` update and signal. */
export interface ResumeDecision {
  by: string;
  comment?: string;
  /**
   * For a batch paused by a tracker tamper: `restore` (default) writes back what ratchet last recorded for each
   * tampered ticket (unless the person already fixed the tracker); `accept` takes the tracker's state as the
   * person's own decision, recorded as evidence with their name.
   */
  tamper?: 'restore' | 'accept';
  /**
   * For a batch paused at the discovery cap: `file` (default) files the held discovered tickets anyway; `drop`
   * drops them (the tickets that reported them are told, and go on without them).
   */
  discovered?: 'file' | 'drop';
}

/**
 * Payload of the batch's `discover` update: a person files discovered work into the running batch
 * (`temporal workflow update execute --workflow-id batch-<id> --name discover --input '{...}'`).
 */
export interface DiscoverRequest {
  /** Who files it (recorded with the ticket). */
  by: string;
  /** Ticket id; default `discovered-<n>`. Must be new to the batch and the tracker. */
  id?: string;
  title: string;
  body?: string;
  acceptance?: string[];
  /** Default `discovered`. */
  kind?: TicketKind;
  /** Tickets of the batch it waits for. */
  dependsOn?: string[];
  /** Tickets of the batch, not started yet, that wait for it. */
  blocks?: string[];
  /** Its own verify-live probes (a watch's check, docs/watch.md): a person's, frozen when it is filed. */
  probes?: Probe[];
}

/** What the `discover` update returns: the ticket as filed, with its edges. */
export interface DiscoverAnswer {
  ticketId: string;
  dependsOn: string[];
  blocks: string[];
}

export const discoverUpdate = defineUpdate<DiscoverAnswer, [DiscoverRequest]>('discover');

/** Ticket -> batch: the work an attempt's agent reported discovering (validated by the implement activity). */
export const discoveredSignal = defineSignal<[{ ticketId: string; attempt: number; heal?: number; work: (DiscoveredWork & { blocksThisTicket: boolean })[] }]>(
  'discovered',
);

/** Batch -> ticket: what became of entries of its `discovered` report (`index` into that attempt's list). */
export const discoveryFiledSignal = defineSignal<[{ replies: { attempt: number; index: number; record: DiscoveredRecord }[] }]>('discoveryFiled');

/**
 * Ticket -> batch: a self-heal ran (counted against `heal.maxPerBatch`); with `harness` when it was accepted, so the
 * batch's later tickets start with the healed harness.
 */
export const healSignal = defineSignal<[{ ticketId: string; record: HealRecord; harness?: HarnessSettings }]>('heal');

/**
 * Batch -> ticket: another running ticket's heal was accepted (`healedBy` names it). `harness` replaces the harness part
 * of the ticket's config (setup steps, prompt rules, time limits, verify settings; never its definition of done) for
 * every step it starts from then on, so its gate runs and merge-queue entries use the harness the batch now has.
 */
export const harnessSignal = defineSignal<[{ healedBy: string; harness: HarnessSettings }]>('harness');

/**
 * Ticket -> batch: an agent run's outcome (its failure normalized), or that the ticket waits at the batch's closed agent
 * tap (batch/agent-breaker.ts, issue 27 item 6).
 */
export const agentRunSignal = defineSignal<[AgentRunReport]>('agentRun');

/** Batch -> ticket: the agent tap as this ticket sees it (open, closed with the reason, or its canary run granted). */
export const agentTapSignal = defineSignal<[Omit<TapMessage, 'to'>]>('agentTap');

/**
 * Ticket -> batch: the ticket's plan was too big and it is split as an epic is decomposed (ticket/plan.ts): the batch
 * takes it as an epic from now on, so its approved sub-tickets may block it while it runs.
 */
export const splitSignal = defineSignal<[{ ticketId: string }]>('split');

/** Batch -> ticket: a discovered ticket this ticket waits for has ended (done, or human-gated). */
export const blockerDoneSignal = defineSignal<[{ ticketId: string; outcome: TicketOutcome }]>('blockerDone');

/**
 * Batch: resume scheduling after it paused (circuit breaker, or no ticket could start). The update's validator
 * rejects a call while the batch is not paused; the signal ignores it.
 */
export const resumeUpdate = defineUpdate<{ batchId: string; state: 'running' }, [ResumeDecision]>('resume');
export const resumeSignal = defineSignal<[ResumeDecision]>('resume');

/** Claim -> batch: a no-op that fails when the batch's workflow is closed, so a stale claim frees its tracker. */
export const claimCheckSignal = defineSignal('claimCheck');

/** Sent by a ticket workflow to its batch when its compare-and-set tracker write finds a state it did not write. */
export const trackerTamperSignal = defineSignal<[TrackerTamper]>('trackerTamper');

/** A ticket's progress as its batch shows it: sent after each tracker write, and when a human gate opens or closes. */
export interface TicketProgress {
  ticketId: string;
  /** What the ticket last wrote to the tracker. */
  state: TicketState;
  phase: PhaseName;
  attempt: number;
  /** The human gate it waits at, or null. */
  gate: GateReason | null;
  /** When it began waiting there, workflow time (ms since epoch). */
  since?: number;
  /** Every person's answer at this ticket's gates so far (absent from tickets started by older code). */
  interventions?: Intervention[];
}

/**
 * Ticket -> batch, once, when a ticket workflow with a parent ends: its report without the timeline
 * (`phases`; the ticket workflow's own result has it), or the message of the failure that ended it, or (`refused`)
 * the state it found in the tracker instead of the one the batch started it with, when it did not take the ticket.
 */
export interface TicketEnd {
  ticketId: string;
  report?: TicketRow;
  failure?: string;
  /** A ticket started from its graph node (`readSelf`) found this state, not the expected one: it wrote nothing and ran nothing. */
  refused?: TicketState;
}
/**
 * Sent to a ticket workflow when its pull request changed on GitHub (merged, closed, reviewed, checks): it reads the
 * pull request at once instead of at its next poll. Carries nothing to trust: the workflow reads GitHub itself.
 */
export const pullRequestSignal = defineSignal<[{ number?: number; event?: string }?]>('pullRequest');

export const ticketEndedSignal = defineSignal<[TicketEnd]>('ticketEnded');

/** Ticket -> batch: see {@link TicketProgress}; keeps the batch's status fresh without re-reading the tracker. */
export const ticketProgressSignal = defineSignal<[TicketProgress]>('ticketProgress');

export interface TicketStatus {
  ticketId: string;
  title: string;
  phase: PhaseName;
  attempt: number;
  /** Attempts allowed so far: the batch's `maxAttempts` per round, times the rounds granted (approve, accepted heal). */
  maxAttempts: number;
  /** Set while the ticket waits at a human gate. */
  waitingFor?: GateReason;
  waitingReason?: string;
  timeline: PhaseSpan[];
  interventions: Intervention[];
  lastFeedback?: string;
  mergeCommit?: string;
  /** The ticket's pull request, once opened (GitHub forge). */
  pullRequest?: { number: number; url: string };
  /** Set while the ticket rides out an outage (its repository or a folder gone or unwritable): what, and since when (ms). */
  outage?: { reason: string; since: number };
  /** The plan's size (`unknown`: a free-text plan), once planned (issue 28 item 2). */
  planSize?: RouteSize;
  /** The profile that ran each role so far, with why it fell back when it did (issue 28 item 3). */
  profiles?: Partial<Record<RouteRole, RoleProfile>>;
}

/**
 * What a batch's `status` query asks for (its one optional argument). Absent: the first {@link STATUS_PAGE} tickets.
 * - `tickets: "all"` (default): the batch's tickets in graph order, `limit` of them (default and at most
 *   {@link STATUS_PAGE}) from index `from` (default 0); `ticketCount` says how many there are.
 * - `tickets: "active"`: only the tickets that run or wait at a gate, and the ended tickets from index `endedFrom` of
 *   the list of ended tickets (in the order they ended; `endedCount` says how long it is). What `ratchet watch`
 *   polls: its cost follows what changed, not the batch's size.
 * The run report (`report`, also the workflow's result) comes only with an answer that lists every ticket. Pages
 * keep every answer under Temporal's 2 MB payload limit: ~355 bytes an ended ticket with its evidence (30-character
 * titles), so ~700 KB a page, where all of 10,000 tickets would be ~3.4 MB.
 */
export interface BatchStatusRequest {
  tickets?: 'all' | 'active';
  from?: number;
  limit?: number;
  endedFrom?: number;
}

/** The most tickets one `status` answer lists (see {@link BatchStatusRequest}). */
export const STATUS_PAGE = 2_000;

export interface BatchStatus {
  batchId: string;
  state: 'loading' | 'running' | 'paused' | 'done' | 'failed';
  pausedReason?: string;
  /** The workflow id of the merge queue its tickets land through (`mergeQueueStatus` query). Absent while loading. */
  mergeQueue?: string;
  /** How many tickets the batch has; `tickets` lists a page of them (or the active ones). Absent from older batches. */
  ticketCount?: number;
  /** Tickets by the tracker state the batch sees, over the whole batch. Absent from older batches. */
  counts?: Partial<Record<TicketState, number>>;
  /** How many tickets have ended, i.e. the length of the list `ended` pages through. Absent from older batches. */
  endedCount?: number;
  /** With `tickets: "active"`: the ended tickets from `endedFrom` on, in the order they ended. */
  ended?: { ticketId: string; outcome: TicketOutcome }[];
  tickets: {
    id: string;
    title: string;
    dependsOn: string[];
    state: TicketState;
    running: boolean;
    /** The ticket's phase as of its last progress signal, while it runs. */
    phase?: PhaseName;
    waitingFor?: GateReason;
    /** When it began waiting at `waitingFor`, ms since epoch: the client shows how long it has waited. */
    waitingSince?: number;
    /** What ratchet recorded for the ticket in this batch, if anything. */
    evidence?: Evidence;
  }[];
  oracle: OracleVerdict;
  /** Tracker states that changed without ratchet writing them; unresolved ones hold the batch paused. */
  trackerTampers: TrackerTamper[];
  /** Discovered work: filed, held at the cap, dropped or refused. */
  discovered: DiscoveredRecord[];
  /** Self-heals of the batch's tickets so far, as each ticket reported them. */
  heals: HealRecord[];
  /**
   * The agent tap (batch/agent-breaker.ts), absent while it never closed: `tripped` (agents stopped, `line` says why),
   * `canary` (one ticket's run goes first), or `open` again; the tickets waiting at it, how many times it closed.
   */
  agents?: { state: TapState; line?: string; canary?: string; waiting: string[]; trips: number };
  /** What people did so far: at tickets' gates (as their progress reported it) and to the batch (`resume`). */
  interventions: { total: number; byKind: Record<string, number> };
  report?: RunReport;
}

export const statusQuery = defineQuery<TicketStatus>('status');
export const batchStatusQuery = defineQuery<BatchStatus, [BatchStatusRequest?]>('status');
