/**
 * Plain serializable shapes shared by workflows, activities, workers and the client.
 * Everything here travels in Temporal payloads (2 MB hard limit each), so it holds references and short
 * summaries, never transcripts or diffs.
 */

/** Ticket kinds, from DESIGN.md "Words". */
export const TICKET_KINDS = ['feature', 'bug', 'chore', 'refactor', 'review-feedback', 'discovered'] as const;
export type TicketKind = (typeof TICKET_KINDS)[number];

/**
 * Tracker states. Only the harness writes them.
 * - `todo`: not started; `in-progress`: a ticket workflow owns it;
 * - `awaiting-human`: parked at a human gate; `merged`: on the base branch, not yet verified live;
 * - `done`: merged and verified live; `human-gated`: a person rejected it (or its blocker), recorded as such.
 */
export const TICKET_STATES = ['todo', 'in-progress', 'awaiting-human', 'merged', 'done', 'human-gated'] as const;
export type TicketState = (typeof TICKET_STATES)[number];

/** A probe run by verify-live against the merged, running system. */
export type Probe =
  | { kind: 'command'; name: string; command: string; timeoutMs: number }
  | {
      kind: 'http';
      name: string;
      url: string;
      method: string;
      /** Expected HTTP status code. */
      expectStatus: number;
      /** A substring the response body must contain, when set. */
      expectBody?: string;
      timeoutMs: number;
    };

/** One ticket as read from the tracker. */
export interface Ticket {
  id: string;
  title: string;
  body: string;
  acceptance: string[];
  dependsOn: string[];
  kind: TicketKind;
  /** `plan`: a person approves the plan before implementing starts. */
  gate?: 'plan';
  size?: 'S' | 'M' | 'L';
  /** Ticket-specific verify-live probes, run in addition to the batch's. */
  probes: Probe[];
  state: TicketState;
  /** The harness's one-line reason for `state`. */
  stateNote?: string;
}

/** A deterministic check on an attempt's worktree: passes iff the command exits 0. */
export interface Gate {
  name: string;
  command: string;
  /** Wall-clock limit for the command, ms. */
  timeoutMs: number;
}

/** The agent engine: any command line, run through the shell in the worktree (see README "Agent protocol"). */
export interface AgentConfig {
  command: string;
  /** Limit for one agent run, ms. */
  timeoutMs: number;
  env: Record<string, string>;
}

/**
 * A batch's configuration after validation and defaults: what the batch workflow carries.
 * Paths are absolute.
 */
export interface BatchConfig {
  batchId: string;
  repo: string;
  baseBranch: string;
  /** Folder of ticket files, absolute. */
  ticketsDir: string;
  /** Where transcripts, prompts and gate logs go, absolute. */
  artifactsDir: string;
  /** Where per-attempt worktrees are created, absolute. */
  worktreesDir: string;
  /** Ticket ids to run; empty means every ticket in the tracker. */
  tickets: string[];
  agent: AgentConfig;
  gates: Gate[];
  /** Runs on the base branch after every merge (e.g. restart the service); serialized per repository. */
  deploy?: { command: string; timeoutMs: number };
  probes: Probe[];
  verify: { deadlineMs: number; intervalMs: number };
  maxParallel: number;
  maxAttempts: number;
  /** Consecutive tickets ending human-gated that pause scheduling behind the batch's `resume`. */
  circuitBreaker: number;
  /** Activity heartbeat timeout for agent runs and gates, ms; a dead worker is noticed after this long. */
  heartbeatTimeoutMs: number;
}

/** What a batch workflow returns after `loadBatch`: the config plus the tickets to run. */
export interface LoadedBatch {
  config: BatchConfig;
  tickets: Ticket[];
  /** sha256 of the definition of done (gates, probes, oracle policy), fixed at batch start. */
  doneFingerprint: string;
}

/** A ticket's facts as the oracle sees them: read from the tracker, never from an agent. */
export interface TicketFact {
  id: string;
  state: TicketState;
}

export type PhaseName = 'queued' | 'plan' | 'implement' | 'validate' | 'merge' | 'deploy' | 'verify-live' | 'human-gate' | 'done' | 'human-gated';

/** A finished span of a phase; times are workflow time (ms since epoch). */
export interface PhaseSpan {
  phase: PhaseName;
  attempt?: number;
  startedAt: number;
  ms: number;
  /** One line: what happened. */
  note?: string;
}

export type GateReason = 'plan' | 'attempts-exhausted' | 'verify-live-failed';

/** A human action in a run (DESIGN.md "intervention"). */
export interface Intervention {
  kind: 'approve' | 'reject' | 'resume';
  /** Empty for batch-level interventions (`resume`). */
  ticketId: string;
  gate: GateReason | 'circuit-breaker';
  by: string;
  comment?: string;
  /** Workflow time, ms since epoch. */
  at: number;
}

/** Payload of the `approve` and `reject` updates and signals. */
export interface GateDecision {
  by: string;
  comment?: string;
}

export interface GateResult {
  name: string;
  passed: boolean;
  exitCode: number | null;
  ms: number;
  /** Last few KB of combined output: feedback for the next attempt. */
  tail: string;
  /** Full log in the artifacts folder. */
  logPath: string;
}

export interface ValidateResult {
  passed: boolean;
  gates: GateResult[];
}

export interface ProbeResult {
  name: string;
  passed: boolean;
  detail: string;
}

export interface VerifyResult {
  passed: boolean;
  probes: ProbeResult[];
}

/** What one agent run produced. Transcripts stay on disk; only the reference and a summary travel. */
export interface AgentRun {
  exitCode: number | null;
  timedOut: boolean;
  ms: number;
  /** Absolute path of the transcript (stdout + stderr). */
  transcriptPath: string;
  /** Last lines of output, a few KB at most. */
  summary: string;
  /** Parsed JSON the agent wrote to `$RATCHET_RESULT_FILE`, if any. */
  result?: unknown;
}

export interface PlanResult {
  agent: AgentRun;
  /** The plan text, truncated to a few KB; the full plan is at `planPath`. */
  plan: string;
  planPath: string;
}

export interface ImplementResult {
  agent: AgentRun;
  branch: string;
  worktree: string;
  /** Commit on the ticket branch holding the attempt's work; absent when the agent changed nothing. */
  commit?: string;
  /** Files changed relative to the base, for the timeline. */
  filesChanged: number;
}

export interface MergeResult {
  merged: boolean;
  alreadyMerged: boolean;
  /** Merge commit (or the commit that already contained the branch). */
  commit?: string;
  /** Set when the merge could not be made; the conflicting paths. */
  conflict?: string[];
}

export type TicketOutcome = 'done' | 'human-gated';

/** The ticket workflow's result, one row of the run report. */
export interface TicketReport {
  ticketId: string;
  title: string;
  outcome: TicketOutcome;
  attempts: number;
  mergeCommit?: string;
  phases: PhaseSpan[];
  /** Total ms per phase name. */
  phaseMs: Partial<Record<PhaseName, number>>;
  interventions: Intervention[];
  reason?: string;
}

/** The batch workflow's result. */
export interface RunReport {
  batchId: string;
  oracle: { satisfied: boolean; done: string[]; humanGated: string[]; pending: string[] };
  tickets: TicketReport[];
  interventions: { total: number; byKind: Record<string, number>; list: Intervention[] };
  startedAt: number;
  ms: number;
  doneFingerprint: string;
}

/** Input of the ticket workflow (a child of the batch). */
export interface TicketInput {
  batchId: string;
  config: BatchConfig;
  ticket: Ticket;
}
