/**
 * Plain serializable shapes shared by workflows, activities, workers and the client.
 * Everything here travels in Temporal payloads (2 MB hard limit each), so it holds references and short
 * summaries, never transcripts or diffs.
 */

import type { CostEntry } from './cost';
import type { ReviewConfig, ReviewRecord } from './review';

/**
 * Ticket kinds, from DESIGN.md "Words". `epic`: not implemented; an agent in role `decompose` splits it into
 * sub-tickets a person approves (docs/epics.md).
 */
export const TICKET_KINDS = ['feature', 'bug', 'chore', 'refactor', 'review-feedback', 'discovered', 'flaky', 'systemic', 'epic'] as const;

/**
 * Kinds a batch leaves to people (issue 27): a watch's flaky test and a systemic failure are filed for a person, never
 * for a fixing agent, so a batch runs them only when its `tickets` field names them.
 */
export const PERSON_KINDS: readonly TicketKind[] = ['flaky', 'systemic'];
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
  | {
      kind: 'command';
      name: string;
      command: string;
      timeoutMs: number;
      /** Files the command runs (scripts, config), relative to the repository: protected paths. */
      files: string[];
    }
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
  /**
   * How this ticket's pull request lands when the batch's forge is GitHub, overriding `forge.land`: `human` waits for
   * a person to merge it (a change a person wants to see land), `merge` lets ratchet merge it. Unset: `forge.land`.
   */
  land?: 'merge' | 'human';
  /** Ticket-specific verify-live probes, run in addition to the batch's. */
  probes: Probe[];
  /**
   * Protected paths (globs relative to the repository) this ticket's job is to change; an attempt that touches
   * them merges only after a person's `approve` at a `protected-change` gate.
   */
  allowPaths: string[];
  /** The tracker's state (see the tracker for where it lives); only the harness writes it. */
  state: TicketState;
  /** The harness's one-line reason for `state`. */
  stateNote?: string;
}

/**
 * A ticket as a batch keeps it (DESIGN.md "Scale-out"): its place in the graph and the tracker's state, without the
 * body, acceptance, probes or allowed paths, so a batch of thousands stays within Temporal's 2 MB payloads. The whole
 * ticket is read from the tracker when it starts; its probes and allowed paths come from the frozen definition of
 * done.
 */
export type TicketNode = Pick<Ticket, 'id' | 'title' | 'dependsOn' | 'state' | 'stateNote'> & {
  /**
   * The ticket's kind as loaded (or filed): the ready set is started in kind order ({@link TicketOrder}). Absent in
   * nodes of batches loaded before it, which count as `feature`.
   */
  kind?: TicketKind;
};

/**
 * The order a batch starts its ready set in (the batch file's `order`): kinds, first started first, each kind in the
 * tracker's order, kinds left out after the named ones; or `tracker`: the tracker's order alone.
 */
export type TicketOrder = TicketKind[] | 'tracker';

/**
 * The ready set's order when the batch file sets none: bugs, review feedback (work already under review), features
 * and discovered work, then chores and refactors (seed 004: "workers always perform product work (features, bugs)
 * before picking up refactors").
 */
export const DEFAULT_TICKET_ORDER: readonly TicketKind[] = ['bug', 'review-feedback', 'feature', 'discovered', 'chore', 'refactor'];

/** A deterministic check on an attempt's worktree: passes iff the command exits 0. */
export interface Gate {
  name: string;
  command: string;
  /** Wall-clock limit for the command, ms. */
  timeoutMs: number;
  /** Files the command runs (Makefile, scripts, test config), relative to the repository: protected paths. */
  files: string[];
  /** Glob (relative to the worktree) of the JUnit XML report(s) the command writes: enables the regression guard. */
  junit?: string;
  /** Globs of test files: a bug ticket's changed test files are run against the base code (fail-to-pass). */
  tests: string[];
  /** Names of worker environment variables the command gets (values never travel in payloads). */
  envFrom: string[];
  /**
   * Domains the gate's boxed run may reach (`example.com`, `*.example.com`), through ratchet's egress proxy; empty or
   * absent (histories before it): no network at all.
   */
  network?: string[];
}

/** The agent engine: any command line, run through the shell in the worktree (see README "Agent protocol"). */
export interface AgentConfig {
  command: string;
  /** Limit for one agent run, ms. */
  timeoutMs: number;
  /** Plain (non-secret) variables; they travel in workflow histories. */
  env: Record<string, string>;
  /** Names of variables the worker passes from its own environment at run time; their values are redacted. */
  envFrom: string[];
  /** `bwrap`: boxed (required); `none`: unboxed; unset: boxed wherever bubblewrap works on the worker's host. */
  sandbox?: 'bwrap' | 'none';
  /** Absolute folders the agent may write besides its worktree (package caches, its CLI's own state). */
  cacheDirs: string[];
  /**
   * Domains the boxed agent and the harness's setup steps may reach (`api.anthropic.com`, `*.npmjs.org`), through
   * ratchet's egress proxy; empty: no network. Absent (histories before it): {@link DEFAULT_AGENT_NETWORK}.
   */
  network?: string[];
  /**
   * A known agent CLI whose output ratchet reads (activities/agents/presets.ts): its answer text, cost and tokens.
   * The batch file's `preset` also fills in `command` when it gives none. Absent: a plain command (docs/agents.md).
   */
  preset?: AgentPreset;
}

/** Agent CLIs ratchet knows the output of (docs/agents.md "Presets"). */
export const AGENT_PRESETS = ['claude-code', 'codex', 'aider'] as const;
export type AgentPreset = (typeof AGENT_PRESETS)[number];

/** A plan's size estimate (issue 28 item 2): `XL` (or above the batch's `plan.splitAbove`) is split, not implemented. */
export const PLAN_SIZES = ['S', 'M', 'L', 'XL'] as const;
export type PlanSize = (typeof PLAN_SIZES)[number];
/** A size a route reads: a plan's, or `unknown` (a free-text plan, or no plan yet). */
export type RouteSize = PlanSize | 'unknown';

/** The roles a batch routes to agent profiles (`routes` in the batch file). */
export const ROUTE_ROLES = ['plan', 'decompose', 'review', 'heal', 'implement'] as const;
export type RouteRole = (typeof ROUTE_ROLES)[number];

/** One role's route: a profile name, or a profile per size (a size left out falls back to `default`, and says so). */
export type Route = string | Partial<Record<RouteSize, string>>;

/**
 * Which profile ran a role, as the status and the report show it; `fallback` says why it is not the one the route
 * names for that size (a route never falls back silently).
 */
export interface RoleProfile {
  profile: string;
  fallback?: string;
}

/**
 * A typed plan (issue 28 item 2): the plan role's JSON answer, checked by schema (activities/plan-answer.ts). Texts are
 * bounded so the plan travels in payloads (4 KB in all); the whole answer is in the plan's artifacts.
 */
export interface TypedPlan {
  summary: string;
  steps: string[];
  files: string[];
  risks: string[];
  size: PlanSize;
  sizeReason: string;
  tests: string[];
}

/**
 * The domains an agent may reach when the batch names none: the model APIs (Anthropic, OpenAI, Google). Never the
 * Temporal frontend, the GitHub API or the worker's ports (issue 25).
 */
export const DEFAULT_AGENT_NETWORK: readonly string[] = ['api.anthropic.com', 'api.openai.com', 'generativelanguage.googleapis.com'];

/**
 * Where a batch's tickets live (DESIGN.md "Words": tracker). `local`: ticket files in `ticketsDir`. `github`: issues of
 * `repo` selected by `labels` (all of them), `milestone` (number or title) and/or `issues` (numbers); a ticket's id is
 * its issue number (`"12"`), or the id ratchet gave a discovered issue. States are labels `<labelPrefix>:<state>`.
 */
export type TrackerConfig =
  | { kind: 'local' }
  | {
      kind: 'github';
      repo: string;
      labels: string[];
      milestone?: number | string;
      issues: number[];
      labelPrefix: string;
      /**
       * How often (ms) an issue waiting at a human gate is read for a person's answer by label, doubling up to ten times
       * that while nothing changes; a webhook's signal answers at once. Absent in batches started before it existed.
       */
      pollMs?: number;
    };

/**
 * Where a tracker's reading of a gate got to: the newest issue event judged, the labels then (an unchanged issue needs
 * no re-read), and `self`, ratchet's own login as its gate label write showed it (its events never answer).
 */
export interface GateCursor {
  event: number;
  labels: string;
  self?: string;
}

/** A person's answer to a human gate, read from the tracker (GitHub: a label). */
export interface TrackerDecision {
  kind: 'approve' | 'reject';
  by: string;
  comment: string;
  /** The state the answer left in the tracker, when it changed it (see `GateDecision.trackerState`). */
  trackerState?: TicketState;
}

/**
 * Where a ticket's branch lands (DESIGN.md "Words": forge). `local`: merged into the local base branch. `github`: pushed
 * to `remote` (default the repository's clone URL) with one pull request per ticket; `land: "merge"` merges it through
 * the API once the gates, the `requiredChecks` (status contexts or check-run names on the head) and the reviews agree;
 * `land: "human"` waits durably until a person merges it (closed unmerged: a reject). `pollMs`: how often an open pull
 * request is read when no webhook says it changed.
 */
export type ForgeConfig =
  | { kind: 'local' }
  | {
      kind: 'github';
      repo: string;
      remote?: string;
      land: 'merge' | 'human';
      requiredChecks: string[];
      mergeMethod: 'merge' | 'squash';
      pollMs: number;
    };

/**
 * A batch's configuration after validation and defaults: what the batch workflow carries.
 * Paths are absolute.
 */
export interface BatchConfig {
  batchId: string;
  /**
   * A watch's intake batch (docs/watch.md): it loads no ticket, takes the watch's tickets through `discover`, and
   * stays open when its oracle is satisfied (idle, not done) until it is cancelled (`ratchet watch stop`).
   */
  intake?: boolean;
  repo: string;
  baseBranch: string;
  /** Folder of ticket files, absolute. */
  ticketsDir: string;
  /** The GitHub tracker; absent: the local tracker (the tickets folder). */
  tracker?: TrackerConfig;
  /** The GitHub forge; absent: the local forge (merges into the base branch). */
  forge?: ForgeConfig;
  /** Where transcripts, prompts and gate logs go, absolute. */
  artifactsDir: string;
  /** Where per-attempt worktrees are created, absolute. */
  worktreesDir: string;
  /** Ticket ids to run; empty means every ticket in the tracker. */
  tickets: string[];
  agent: AgentConfig;
  gates: Gate[];
  /** Runs on the base branch after every merge (e.g. restart the service); see {@link DeployConfig}. */
  deploy?: DeployConfig;
  probes: Probe[];
  /**
   * Globs relative to the repository that no attempt may change: the tickets folder, `.ratchet/`, every file a
   * gate or probe declares, plus the batch file's `protectedPaths`. Complete after `loadBatch`.
   */
  protectedPaths: string[];
  /**
   * `stableRounds`: the same wrong answer this many rounds in a row ends verify-live early (default 5). `guard`: how
   * many earlier tickets' probes each deploy re-runs (workflows/guard.ts), or `all`; absent in configs from before it.
   */
  verify: { deadlineMs: number; intervalMs: number; stableRounds: number; guard?: number | 'all' };
  maxParallel: number;
  maxAttempts: number;
  /** Consecutive tickets ending human-gated that pause scheduling behind the batch's `resume`. */
  circuitBreaker: number;
  /**
   * The agent breaker (batch/agent-breaker.ts): agent runs failing with the same normalized reason on `sameFailure`
   * distinct tickets in a row stop the batch's agents until a person's `resume` and a canary run; absent: 3.
   */
  breaker?: { sameFailure: number };
  /**
   * The batch continues as new once its history has this many events (default 4,000), or earlier when Temporal
   * suggests it; Temporal warns at 10,240.
   */
  continueAsNewAtEvents: number;
  /** Activity heartbeat timeout for agent runs and gates, ms; a dead worker is noticed after this long. */
  heartbeatTimeoutMs: number;
  /**
   * A remote (a name of the repository's, such as `origin`, or a URL) each attempt's branch is pushed to once
   * committed, so that a worker on another host can take the attempt over (it fetches the commit from there).
   * Absent: not pushed (workers that share the repository's disk need no push).
   */
  origin?: string;
  /**
   * How long an attempt's next step (implement, validate, merge) waits, ms, for the worker whose disk holds the
   * ticket's worktree to take it from its worker-specific task queue before any worker takes it over (its
   * schedule-to-start timeout; default 30 000).
   */
  hostWaitMs: number;
  /**
   * Runaway guard on work agents discover: beyond these counts the next discovered ticket waits at a batch human
   * gate.
   */
  discovery: DiscoveryLimits;
  /**
   * How long a ticket's human gate waits for an answer before the ticket is recorded human-gated ("no answer in
   * ..."): `timeoutMs` for every gate except those in `keepWaiting`; no `timeoutMs` (the default) waits forever.
   */
  humanGates: { timeoutMs?: number; keepWaiting: GateReason[] };
  /**
   * The harness's own steps and rules (see {@link HarnessSettings}).
   */
  harness: HarnessSteps;
  /** The self-heal agent and its budgets; absent: no self-heal (stops go to a person, as before). */
  heal?: HealConfig;
  /**
   * The merge queue's setting (issue 26): at most `batchSize` validated commits are tested as one candidate; absent in
   * configs from before the queue (then 4).
   */
  mergeQueue?: { batchSize: number };
  /** What a confirmed regression does to its culprit's merge; absent in configs from before it (then the defaults). */
  revert?: RevertConfig;
  /** The order the ready set starts in; absent: {@link DEFAULT_TICKET_ORDER} (workflows/graph.ts `inStartOrder`). */
  order?: TicketOrder;
  /** Epics (docs/epics.md): at most `maxTickets` sub-tickets per decomposition; absent: {@link DEFAULT_DECOMPOSE}. */
  decompose?: { maxTickets: number };
  /** The review before merge (workflows/review.ts); absent: no review. */
  review?: ReviewConfig;
  /**
   * Budgets in US dollars of what agents report they spent (workflows/cost.ts; unknown cost is not counted):
   * `ticketUsd` per ticket (then its `budget` gate), `batchUsd` for the batch (then it starts no ticket behind its
   * `budget` gate); absent: none.
   */
  budget?: { ticketUsd?: number; batchUsd?: number };
  /**
   * Agent profiles besides `default` (which is `agent`), by name, with their presets' commands filled in; absent: only
   * `agent` (configs from before profiles).
   */
  agents?: Record<string, AgentConfig>;
  /** Which profile runs each role (workflows/agent-routes.ts `profileFor`); a role without a route runs `default`. */
  routes?: Partial<Record<RouteRole, Route>>;
  /** Plans whose size is above `splitAbove` (and every `XL`) are split, not implemented; absent: only `XL`. */
  plan?: { splitAbove: PlanSize };
}

/**
 * The batch file's `revert` (issue 26): `auto` reverts a regression's culprit merge through the merge queue (after
 * `vetoMs` on a durable timer, during which a person's `reject` at the `revert` gate keeps it), `propose` waits at
 * the `revert` gate for a person, `off` records it only. At most `maxPerBatch` reverts; beyond, a person decides. A
 * revert is never itself reverted automatically.
 */
export interface RevertConfig {
  mode: 'auto' | 'propose' | 'off';
  maxPerBatch: number;
  vetoMs: number;
}

/**
 * The batch's deploy: a command run in the checkout of the base branch after every merge (e.g. restart the service).
 * `target` names what a deploy changes (e.g. `staging`): deploys to one target run one at a time across every worker
 * and batch (the deployment-wide lock); default the repository.
 */
export interface DeployConfig {
  command: string;
  timeoutMs: number;
  /** Names of worker environment variables the command gets (values never travel in payloads). */
  envFrom: string[];
  target?: string;
}

/**
 * The repository a batch works in, as its worktree-bound activities take it (DESIGN.md "Shapes that keep the code
 * small": activities take what they use, not the whole batch config): the batch id (it names the ticket branches,
 * worktrees and artifacts folders), the repository and its base branch, where worktrees and artifacts go (absolute),
 * and the `origin` attempts are pushed to, when set. Made by `repoRef` (workflows/repo-ref.ts); a worker with a
 * `worktreesRoot` of its own rewrites `worktreesDir` (activities/index.ts `workerWorktrees`).
 */
export interface RepoRef {
  batchId: string;
  repo: string;
  baseBranch: string;
  worktreesDir: string;
  artifactsDir: string;
  origin?: string;
}

/** A command the harness runs in every fresh worktree before the agent (e.g. `npm ci`), boxed like the agent. */
export interface SetupStep {
  command: string;
  /** Wall-clock limit, ms. */
  timeoutMs: number;
}

/** The batch file's `harness` section: per-worktree setup and the rules added to every prompt. */
export interface HarnessSteps {
  setup: SetupStep[];
  /** Lines every prompt carries under "Repository rules" (a repository's agent instructions). */
  promptRules: string[];
  /**
   * How long a ticket rides out an outage (its repository, worktrees or artifacts folder gone or unwritable during a
   * step), ms, waiting and trying the step again, before it asks a person at the `harness-fault` gate; an outage never
   * costs an attempt. Default {@link DEFAULT_OUTAGE_MS}; absent in batches started before 0.2.1.
   */
  outageMs?: number;
}

/** Default `harness.outageMs`: 5 minutes (a restore, a remount, a disk freed). */
export const DEFAULT_OUTAGE_MS = 5 * 60_000;

/**
 * The harness (DESIGN.md "harness"): how work gets done, which a heal may change. Everything else that decides
 * whether work is done is the {@link DefinitionOfDone}, which no heal may change.
 */
export interface HarnessSettings {
  setup: SetupStep[];
  promptRules: string[];
  /** Limit of one agent run, ms. */
  agentTimeoutMs: number;
  maxAttempts: number;
  heartbeatTimeoutMs: number;
  verify: BatchConfig['verify'];
}

/** The self-heal agent (any command, the agent protocol with role `heal`) and how often it may run. */
export interface HealConfig {
  command: string;
  timeoutMs: number;
  /** Heals per ticket and per batch. */
  maxPerTicket: number;
  maxPerBatch: number;
}

/**
 * The definition of done (DESIGN.md "frozen verifier"), as structured data the workflow compares: gates (commands,
 * the files they run, reports and tests), probes (the batch's and each ticket's), protected paths, each ticket's
 * allowed paths, the oracle's policy, and the sha256 of every protected file on the base at batch start.
 */
export interface DefinitionOfDone {
  gates: Gate[];
  probes: Probe[];
  ticketProbes: Record<string, Probe[]>;
  allowPaths: Record<string, string[]>;
  protectedPaths: string[];
  oracle: string;
  /** Protected files (outside the tickets folder) -> sha256 of their content; a file that vanished is `missing`. */
  files: Record<string, string>;
}

/** Caps on discovered tickets that agents file (a person's `discover` update is not capped). */
export interface DiscoveryLimits {
  maxPerBatch: number;
  maxPerTicket: number;
}

/** Earlier tickets whose probes each deploy re-runs when the batch file sets no `verify.guard`. */
export const DEFAULT_GUARD = 8;

/** The merge queue's candidate size when the batch file sets none (`mergeQueue.batchSize`); chosen by `npm run bench`. */
export const DEFAULT_QUEUE_BATCH = 4;

/** The batch file's `decompose` when it sets none. */
export const DEFAULT_DECOMPOSE = { maxTickets: 8 };

/** Defaults of {@link DiscoveryLimits}. */
export const DEFAULT_DISCOVERY: DiscoveryLimits = { maxPerBatch: 10, maxPerTicket: 3 };

/**
 * Work found mid-run (DESIGN.md "discovered work"): reported by an agent in its result file, or filed by a person
 * through the batch's `discover` update. The batch writes it to the tracker as a ticket, adds its edges and
 * schedules it; the oracle tracks it like any other ticket.
 */
export interface DiscoveredWork {
  /** Ticket id; when absent ratchet names it `<ticket that found it>-d<n>` (or `discovered-<n>`). */
  id?: string;
  title: string;
  body: string;
  acceptance: string[];
  kind: TicketKind;
  /** Tickets of the batch the new ticket waits for. */
  dependsOn: string[];
  /**
   * Tickets of the batch that wait for the new ticket: tickets not started yet, or (agents only, through
   * `blocksThisTicket`) the ticket whose attempt found it, which then waits, durably, until the new ticket is done.
   */
  blocks: string[];
  /** A person's probes for it (a watch's check): frozen into the batch's definition of done when it is filed. */
  probes?: Probe[];
}

/** What became of one piece of discovered work, in the batch's status and the run report. */
export interface DiscoveredRecord {
  /** The ticket id it was filed under (absent when refused before an id was given). */
  ticketId?: string;
  title: string;
  /** Who found it: a ticket's attempt (its agent), or a person through the `discover` update. */
  filedBy: { kind: 'agent'; ticketId: string; attempt: number; heal?: number } | { kind: 'person'; by: string };
  dependsOn: string[];
  blocks: string[];
  /**
   * `filed`: in the tracker and the batch; `held`: over the discovery cap, waiting for a person's `resume`;
   * `dropped`: a person's `resume` with `"discovered": "drop"` dropped it; `refused`: invalid (see `reason`).
   */
  status: 'filed' | 'held' | 'dropped' | 'refused';
  reason?: string;
  /**
   * For agents' filed work (from 0.2.2): what checks it executably (discovered-check.ts), or `approve`: nothing does,
   * and it waits for a person's approve before it starts (`reason` says why).
   */
  check?: 'finder-probes' | 'failing-test' | 'approve';
  /** Workflow time, ms since epoch. */
  at: number;
}

/** What a batch workflow returns after `loadBatch`: the config plus the tickets to run. */
export interface LoadedBatch {
  config: BatchConfig;
  /** The tickets to run, as graph nodes: a batch reads a whole ticket when it starts it. */
  tickets: TicketNode[];
  /** sha256 of `definitionOfDone` (before it existed: of gates, probes, protected paths, oracle policy). */
  doneFingerprint: string;
  /** The definition of done itself, frozen at batch start: what a heal's tripwire compares with. */
  definitionOfDone?: DefinitionOfDone;
  /** Identifies the tracker (a digest of the tickets folder's real path): the key of the batch's claim on it. */
  trackerKey: string;
}

/** A ticket's facts as the oracle sees them: read from the tracker, never from an agent. */
export interface TicketFact {
  id: string;
  state: TicketState;
}

/**
 * What ratchet itself recorded for a ticket in this batch (DESIGN.md "evidence"): the oracle counts a tracker state
 * only when evidence for it exists.
 * - `workflow`: the ticket's workflow in this batch ended with `outcome` (for done: merged and verified live);
 * - `preexisting`: the tracker already said `outcome` when the batch loaded;
 * - `blocked`: the batch recorded the ticket human-gated because a blocker was;
 * - `person`: a person's `resume` accepted a state the tracker gained without ratchet (named in `note`).
 */
export interface Evidence {
  outcome: 'done' | 'human-gated';
  source: 'workflow' | 'preexisting' | 'blocked' | 'person';
  /** One line: what was recorded (merge commit, the tracker's note at load, the blocker). */
  note: string;
  mergeCommit?: string;
  /** Workflow time, ms since epoch. */
  at: number;
}

/** A tracker state that changed without ratchet writing it (DESIGN.md "tracker tamper"). */
export interface TrackerTamper {
  ticketId: string;
  /** What ratchet last wrote (or read at load). */
  from: TicketState;
  /** What the tracker said instead (`missing`: the ticket vanished). */
  to: TicketState | 'missing';
  /** Workflow time it was seen, ms since epoch. */
  at: number;
  /** Which workflow saw it: the batch's re-read, or the ticket's own compare-and-set write. */
  seenBy: 'batch' | 'ticket';
  /** Set when a person's `resume` settled it. */
  resolved?: { by: string; at: number; action: string };
}

/** An attempt whose diff touched a protected path it was not allowed to: verifier tampering, caught. */
export interface TamperingCaught {
  ticketId: string;
  attempt: number;
  paths: string[];
}

/** A probe of an earlier ticket that failed after a later landing, twice on the same deployment. */
export interface Regression {
  /** The ticket whose probe fails now (it was done). */
  ticketId: string;
  probe: string;
  /** What the probe answered when it last passed, and what it answers now. */
  before: string;
  after: string;
  /** Tickets whose landings came after the probe last passed, in landing order; the first is the culprit. */
  suspects: string[];
  culprit: string;
  /** The culprit's landing (merge commit). */
  culpritCommit: string;
}

/** A guard probe that failed and passed when re-run on the same deployment: recorded, never reverted. */
export interface FlakyProbe {
  ticketId: string;
  probe: string;
  /** The failing answer. */
  detail: string;
  /** The ticket whose guard round saw it. */
  seenAfter: string;
}

/** A ticket's commit the merge queue landed: its merge commit, the candidate it was in, whether gates ran on it. */
export interface Landing {
  commit: string;
  candidate: number;
  /** False when the candidate was the attempt's own tree (cut from the tip), validated by the attempt itself. */
  validated: boolean;
}

/** One commit of main's first-parent line since the batch began, and how it was validated. */
export interface MainLineEntry {
  commit: string;
  subject: string;
  /** The ticket whose merge (or revert) it is, when it is this batch's. */
  ticketId?: string;
  /** `candidate #<n>` (the queue ran the gates on it), `its attempt` (its tree was the attempt's), `revert`, or `not this batch's`. */
  validation: string;
}

/** The oracle's evidence of main's health: the last landing, when the final guard round passed, which probes it ran. */
export interface MainHealth {
  commit: string;
  at: number;
  /** `<ticket>: <probe>` of every probe the round ran. */
  probes: string[];
}

/** A regression's culprit merge reverted through the merge queue (issue 26), with the evidence. */
export interface RevertRecord {
  ticketId: string;
  /** The merge that was undone, and the commit that undid it. */
  merge: string;
  revertCommit: string;
  regressions: Regression[];
  /** `auto`, or the person who approved it at the `revert` gate. */
  by: string;
  /** Whether the damaged tickets' probes passed again after the revert's deploy. */
  restored: boolean;
}

/**
 * A semantic conflict the merge queue caught (issue 26): attempt `attempt` passed its gates on its own base and
 * failed them merged onto `base` (the base tip then), in the queue's candidate `candidate`; nothing landed.
 */
export interface SemanticConflict {
  ticketId: string;
  attempt: number;
  candidate: number;
  base: string;
  /** The gates that failed on the merge, and the PASS_TO_PASS tests it broke. */
  gates: string[];
  tests: string[];
  /** Subjects of the commits that landed on the base since the attempt's base. */
  landedSince: string[];
}

/**
 * `decompose`: an epic's agent splits it into sub-tickets (docs/epics.md), which it then waits for in `blocked`.
 * `blocked`: the ticket waits for discovered tickets its attempt found it needs first; `self-heal`: the heal agent
 * judges a stop (and the tripwire its proposed harness change).
 */
export type PhaseName =
  | 'queued'
  | 'plan'
  | 'decompose'
  | 'implement'
  | 'blocked'
  | 'validate'
  | 'review'
  | 'merge'
  | 'deploy'
  | 'verify-live'
  | 'self-heal'
  | 'human-gate'
  | 'done'
  | 'human-gated';

/** One self-heal of a ticket, in the report (DESIGN.md "self-heal"). */
export interface HealRecord {
  ticketId: string;
  /** 1 for the ticket's first heal. */
  n: number;
  /** Why the ticket would have stopped (one line). */
  stop: string;
  /** What the heal agent said (`none`: no valid verdict). */
  verdict: 'harness-gap' | 'activation-gap' | 'external-wall' | 'work' | 'none';
  /**
   * `accepted`: the tripwire let the harness change through and the smoke check passed (a new round followed);
   * `rejected`: the tripwire found it would change the definition of done (`differences`), nothing was applied;
   * `smoke-failed`: accepted by the tripwire, but the setup failed in a fresh worktree, nothing was applied;
   * `churn`: the same failure followed the previous heal, so no heal ran; `activation-gap`: merged but not live
   * yet, the gap filed as discovered tickets blocking this one (then deploy and verify again); `handed-over`: a person decides
   * (an external wall, the ticket itself, no verdict).
   */
  outcome: 'accepted' | 'rejected' | 'smoke-failed' | 'churn' | 'handed-over' | 'activation-gap';
  reason: string;
  /** For `rejected`: what the heal would have changed in the definition of done. */
  differences?: string[];
  /** The proposed change as JSON, cut to 1 KB; the whole of it and the heal's file edits are in `dir`. */
  change?: string;
  /** The heal's artifacts folder (`change.json`, `heal.patch`: the reviewable patch offered back). */
  dir?: string;
  /** Workflow time, ms since epoch. */
  at: number;
}

/** A finished span of a phase; times are workflow time (ms since epoch). */
export interface PhaseSpan {
  phase: PhaseName;
  attempt?: number;
  startedAt: number;
  ms: number;
  /** One line: what happened. */
  note?: string;
}

/** Why a ticket waits at a human gate. */
/** `unchecked-discovery`: an agent filed the ticket and nothing executable checks it; a person approves it first. */
/** `decomposition`: an epic's checked sub-tickets wait for a person's approve (with an optional JSON patch) or reject. */
/** `split`: the plan's size is above the batch's `plan.splitAbove` (or `XL`); a person decides until epics split it. */
export const GATE_REASONS = ['plan', 'attempts-exhausted', 'protected-change', 'verify-live-failed', 'harness-fault', 'heal-rejected', 'unchecked-discovery', 'revert', 'split', 'decomposition', 'review', 'review-infra', 'budget'] as const;
export type GateReason = (typeof GATE_REASONS)[number];

/** A human action in a run (DESIGN.md "intervention"). */
export interface Intervention {
  /** `merge`: a person merged a ticket's pull request (`land: "human"`); `review`: a person asked for changes on it. */
  kind: 'approve' | 'reject' | 'resume' | 'merge' | 'review';
  /** Empty for batch-level interventions (`resume`). */
  ticketId: string;
  gate: GateReason | 'circuit-breaker' | 'agent-breaker' | 'tracker-tamper' | 'discovery-cap' | 'paused' | 'pull-request' | 'main-health';
  by: string;
  comment?: string;
  /** Workflow time, ms since epoch. */
  at: number;
}

/** Payload of the `approve` and `reject` updates and signals. */
export interface GateDecision {
  by: string;
  comment?: string;
  /**
   * Set when the answer was given in the tracker and changed the ticket's state there: removing GitHub's
   * `<prefix>:awaiting-human` label leaves no state label, which reads as `todo`. The ticket expects that state
   * instead of counting it as a tracker tamper.
   */
  trackerState?: TicketState;
  /**
   * At an epic's `decomposition` gate only, with `approve`: RFC 6902 operations applied to the proposed sub-ticket list
   * (paths such as `/1/title`) before it is checked again and filed (docs/epics.md).
   */
  patch?: unknown[];
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
  /**
   * Processes the gate left running when it exited (or still had besides its shell when it timed out), killed then
   * (activities/step-processes.ts); absent when none.
   */
  killed?: number;
}

export interface ValidateResult {
  passed: boolean;
  gates: GateResult[];
  /** Protected paths the attempt changed (relative to the repository); empty when none. */
  protectedTouched: string[];
  /** Of those, the ones the ticket's `allowPaths` do not cover: the attempt fails. */
  protectedDenied: string[];
  /** Regression guard: tests that passed on the base and no longer pass here (missing/skipped count as failing). */
  regressions: string[];
  /** Bug tickets: tests that fail on the base code and pass on the branch (fail-to-pass). */
  failToPass: string[];
  /** Tests that pass here and did not on the base: what now guards the ticket. */
  guardedBy: string[];
  /**
   * The worker-specific task queue of the worker that ran this step (workers/worker.ts): the ticket's worktree is on
   * its disk, so the ticket's next steps go there first. Absent from a worker that polls none.
   */
  hostTaskQueue?: string;
  /** Why the regression guard failed the attempt, as feedback for the next one. */
  guardFeedback?: string;
}

export interface ProbeResult {
  name: string;
  passed: boolean;
  detail: string;
  /** A command probe's processes still running when it ended, killed then; absent when none. */
  killed?: number;
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
  /**
   * Processes the agent and the harness's setup steps before it left running (or still had when stopped), killed
   * when each ended (activities/step-processes.ts); absent when none.
   */
  killed?: number;
  /**
   * What the run cost, US dollars, and the tokens it used, as the agent reported them (its result file's `costUsd`,
   * or a preset's output: activities/agents/presets.ts); absent: unknown, never zero.
   */
  costUsd?: number;
  tokens?: number;
}

export interface PlanResult {
  agent: AgentRun;
  /** The plan text, truncated to a few KB; the full plan is at `planPath`. */
  plan: string;
  planPath: string;
  /** The typed plan when the agent answered one that passed the schema, texts bounded (4 KB in all). */
  typed?: TypedPlan;
  /** The typed plan's size; `unknown` for a free-text plan. Absent in results from before typed plans. */
  size?: RouteSize;
  /** Why the agent's JSON plan was not taken (field and value), when it answered one that failed the schema. */
  problems?: string[];
  /**
   * The worker-specific task queue of the worker that ran this step (workers/worker.ts): the ticket's worktree is on
   * its disk, so the ticket's next steps go there first. Absent from a worker that polls none.
   */
  hostTaskQueue?: string;
}

export interface ImplementResult {
  agent: AgentRun;
  branch: string;
  worktree: string;
  /** The base commit the worktree was cut from. */
  baseCommit: string;
  /** Commit on the ticket branch holding the attempt's work; absent when the agent changed nothing. */
  commit?: string;
  /** Files changed relative to the base, for the timeline. */
  filesChanged: number;
  /** Set when a harness setup step failed, so the agent never ran: a harness gap, for the self-heal. */
  setupFailed?: { command: string; exitCode: number | null; timedOut: boolean; tail: string };
  /** Work the agent reported discovering (its result file's `discovered`), validated; absent when none. */
  discovered?: (DiscoveredWork & { blocksThisTicket: boolean })[];
  /** Why the agent's `discovered` list (or entries of it) was ignored, for its next prompt. */
  discoveredProblems?: string[];
  /**
   * The worker-specific task queue of the worker that ran this step (workers/worker.ts): the ticket's worktree is on
   * its disk, so the ticket's next steps go there first. Absent from a worker that polls none.
   */
  hostTaskQueue?: string;
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
  /** Attempts that touched protected paths without leave. */
  tamperings: TamperingCaught[];
  /** Tests that now guard this ticket (regression guard): fail-to-pass for bugs, newly passing otherwise. */
  guardedBy: string[];
  /** Self-heals of this ticket (absent in reports of ticket workflows from before self-heal). */
  heals?: HealRecord[];
  /** Outages the ticket rode out (what, and how long, ms); none cost an attempt. Absent when there were none. */
  outages?: { reason: string; ms: number }[];
  /** Processes its plan and implement agents, gates and probes left running, killed when their step ended; absent: none. */
  killed?: number;
  /** Attempts the merge queue sent back as semantic conflicts; absent: none. */
  semanticConflicts?: SemanticConflict[];
  /** Regressions the guard found after this ticket's deploys, its landings reverted, flaky guard probes; absent: none. */
  regressions?: Regression[];
  reverts?: RevertRecord[];
  flaky?: FlakyProbe[];
  /** Its merges the merge queue landed (one, or more when a landing was reverted); absent: none or before the queue. */
  landings?: Landing[];
  /** The reviews before merge and their findings (workflows/review.ts); absent when none ran. */
  reviews?: ReviewRecord[];
  /** Set when the ticket took nothing: its first write found this state, not the one it was started with (a tamper). */
  notTaken?: TicketState;
  /**
   * Failed attempts by cause (workflows/ticket/state.ts `failureCause`), the causes with none left out; `{}`: no attempt
   * failed. Absent in reports of ticket workflows from before it (then unknown).
   */
  failures?: FailureCounts;
  /** The ticket's kind and size as read from the tracker (absent in reports from before them). */
  kind?: TicketKind;
  size?: Ticket['size'];
  /**
   * What the ticket's agent runs cost, in US dollars, and the tokens they used, summed over the runs that reported
   * them (issue 28 item 5 adds them up); absent: unknown, never zero.
   */
  costUsd?: number;
  tokens?: number;
  /** Agent runs that reported no cost (so `costUsd` is a floor), and the spend by role and profile; absent: none. */
  costUnknownRuns?: number;
  costs?: CostEntry[];
  /** The plan's size (`unknown`: a free-text plan); absent: no plan ran, or a report from before typed plans. */
  planSize?: RouteSize;
  /** The profile that ran each role, with why it fell back when it did; absent: reports from before profiles. */
  profiles?: Partial<Record<RouteRole, RoleProfile>>;
  /** An epic's sub-tickets as filed (docs/epics.md); absent for other tickets. */
  subTickets?: string[];
}

/**
 * Why an attempt failed, from its signature (issue 28 item 7): `gates` (a gate or the regression guard), `semantic-conflict`
 * (its merge candidate failed on the base's tip), `conflict` (a merge conflict), `agent` (it exited non-zero, timed out
 * or changed nothing), `protected` (it touched protected paths), `harness` (a setup step or a harness error),
 * `checks` (a pull request's required checks), `review` (a review asked for changes), `other` (none of these).
 */
export const FAILURE_CAUSES = ['gates', 'semantic-conflict', 'conflict', 'agent', 'protected', 'harness', 'checks', 'review', 'other'] as const;
export type FailureCause = (typeof FAILURE_CAUSES)[number];
/** Failed attempts per cause; a cause with none is left out. */
export type FailureCounts = Partial<Record<FailureCause, number>>;

/**
 * A ticket's row in the batch's run report: outcome, attempts and merge commit, and the lists that are not empty. The
 * title, the time per phase and the timeline stay in the ticket workflow's own result (`temporal workflow result
 * --workflow-id ticket-<batch>-<ticket>`; `ratchet watch` joins them), so a report of 10,000 tickets stays well
 * within Temporal's 2 MB payload limit (~100 bytes a row). Rows of older batches carry every field of the report.
 */
export interface TicketRow {
  ticketId: string;
  outcome: TicketOutcome;
  attempts: number;
  mergeCommit?: string;
  reason?: string;
  /** Absent when empty, as are the lists below. */
  interventions?: Intervention[];
  tamperings?: TamperingCaught[];
  guardedBy?: string[];
  heals?: HealRecord[];
  semanticConflicts?: SemanticConflict[];
  regressions?: Regression[];
  reverts?: RevertRecord[];
  flaky?: FlakyProbe[];
  landings?: Landing[];
  /** The reviews before merge and their findings (workflows/review.ts); absent when none ran. */
  reviews?: ReviewRecord[];
  /** From the ticket workflow's result: joined by the client, or kept in rows of older batches. */
  title?: string;
  phaseMs?: Partial<Record<PhaseName, number>>;
  phases?: PhaseSpan[];
  /** Failed attempts by cause, when any failed (see {@link TicketReport.failures}). */
  failures?: FailureCounts;
  /** From the ticket workflow's result, joined by the client (`ratchet report`): see {@link TicketReport}. */
  kind?: TicketKind;
  size?: Ticket['size'];
  costUsd?: number;
  costUnknownRuns?: number;
  tokens?: number;
  planSize?: RouteSize;
  profiles?: Partial<Record<RouteRole, RoleProfile>>;
}

/** The batch workflow's result. */
export interface RunReport {
  batchId: string;
  oracle: { satisfied: boolean; done: string[]; humanGated: string[]; pending: string[] };
  tickets: TicketRow[];
  interventions: { total: number; byKind: Record<string, number>; list: Intervention[] };
  /** Tracker states that changed without ratchet writing them, and how each was settled. */
  trackerTampers: TrackerTamper[];
  /** Verifier tamperings caught: attempts that touched protected paths without leave, over all tickets. */
  tamperingsCaught: TamperingCaught[];
  /**
   * Attempts the merge queue sent back because they failed the gates merged onto the base (counted apart from gate
   * failures); absent in reports of batches from before the queue.
   */
  semanticConflicts?: SemanticConflict[];
  /**
   * Main's health when the batch finished (issue 26): the guard's final round passed every verified ticket's probes
   * after `commit` (the last landing) at `at` (ms since epoch). Absent for batches without a guard.
   */
  mainHealth?: MainHealth;
  /** Main's first-parent line since the batch's first landing, oldest first, each commit with its validation. */
  mainLine?: MainLineEntry[];
  /** Regressions the guard confirmed, the reverts with their evidence, and guard probes that were flaky (issue 26). */
  regressions?: Regression[];
  reverts?: RevertRecord[];
  flaky?: FlakyProbe[];
  /** Discovered work: what was filed (by whom, with which edges), held at the cap, dropped or refused. */
  discovered: DiscoveredRecord[];
  /** Every self-heal of every ticket: accepted, rejected by the tripwire, churn, handed over. */
  heals: HealRecord[];
  startedAt: number;
  ms: number;
  doneFingerprint: string;
}

/** Input of the ticket workflow (a child of the batch). `ticket.state` is what ratchet last wrote for it. */
export interface TicketInput {
  batchId: string;
  config: BatchConfig;
  ticket: Ticket;
  /** The batch's frozen definition of done, for the self-heal's tripwire (sent when `config.heal` is set). */
  definition?: DefinitionOfDone;
  /** Heals this ticket may run: `heal.maxPerTicket`, less when the batch's `heal.maxPerBatch` is nearly spent. */
  healBudget?: number;
  /**
   * Set by the batch, which starts a ticket from its graph node without reading it first (so a dependent starts as soon
   * as its blocker ends): `ticket`'s id, title, edges, state and its frozen probes and allowed paths are the batch's;
   * its body, acceptance, kind, gate, size and land are not read yet. The workflow's first tracker write reads them
   * (`setTicketState` with `whole`). A ticket with a parent reports its end to it by the `ticketEnded` signal (to the
   * batch's workflow id, so a batch that continued as new gets it).
   */
  readSelf?: boolean;
  /**
   * Set by the batch for an agent-filed discovered ticket that carries no executable check: why it waits at the
   * `unchecked-discovery` gate for a person's approve before its plan (discovered-check.ts).
   */
  approveFirst?: string;
  /**
   * Set by the batch when its final guard round finds that this ticket's landing broke a done ticket after this one
   * had ended done (batch/reopen.ts): the merge to revert, the regressions, the reverts the batch landed so far, and its
   * earlier run's report row (attempts, landings, reverts carry on). The ticket reverts its merge as
   * ticket/revert.ts does and goes back to work, or ends done again when the merge is kept.
   */
  reopen?: { merge: string; regressions: Regression[]; reverts: number; before: TicketRow };
  /**
   * Set by the batch when it starts this ticket as the agent breaker's canary (batch/agent-breaker.ts): its agent tap
   * starts closed, with the grant of one run.
   */
  agentTap?: 'canary';
}
