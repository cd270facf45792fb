/**
 * ticketWorkflow: one ticket from plan to done (DESIGN.md "Ticket lifecycle").
 * plan -> [plan gate] -> implement -> validate (attempts capped, feedback carried) -> merge -> deploy -> verify-live
 * (durable retries until a deadline) -> tracker `done`. Exhausted attempts, a failed verify-live or an unresolvable
 * conflict park the ticket at a human gate answered by the `approve` / `reject` update or signal.
 * Deterministic: no I/O here, only activities, timers and conditions.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  approveSignal,
  approveUpdate,
  blockerDoneSignal,
  discoveredSignal,
  healSignal,
  discoveryFiledSignal,
  rejectSignal,
  rejectUpdate,
  pullRequestSignal,
  statusQuery,
  ticketEndedSignal,
  ticketProgressSignal,
  ticketWaitingSignal,
  trackerTamperSignal,
  type GateAnswer,
  type TicketEnd,
  type TicketStatus,
} from './messages';
import { harnessOf, tripwire } from './done';
import { asStepFailure, LOCAL_PATCH, LOCAL_RETRY_THRESHOLD } from './local';
import { lockGrantedSignal, lockReleaseSignal, lockWorkflowId } from './lock';
import { formatMs } from './duration';
import * as metrics from './metrics';
import { RatchetAttempt, RatchetPhase } from './search-attributes';
import type {
  DiscoveredRecord,
  DiscoveredWork,
  ForgeConfig,
  GateCursor,
  GateDecision,
  GateReason,
  HealRecord,
  ImplementResult,
  Intervention,
  PhaseName,
  PhaseSpan,
  TamperingCaught,
  Ticket,
  TicketInput,
  TicketOutcome,
  TicketReport,
  TicketState,
  ValidateResult,
} from './types';

/** Feedback kept for the next attempt: the latest entries, each cut to a few KB, so payloads stay small. */
const FEEDBACK_ENTRIES = 3;
const FEEDBACK_CHARS = 3000;

/** Heartbeat timeout of the short activities (tracker, merge, probes): how soon a dead worker's task moves on. */
const QUICK_HEARTBEAT = '10 seconds';

/** Patch id: ticket workflows send `ticketProgress` (tracker state, phase, gate) where older ones sent `ticketWaiting`. */
const PROGRESS_PATCH = 'ticket-progress-signal';

/** Patch id: verify-live stops at a stable wrong answer instead of waiting out its deadline. */
const STABLE_PATCH = 'verify-stable-answer';
/** Patch: a harness fault that survived its retries gets a self-heal before its human gate. */
const FAULT_HEAL_PATCH = 'heal-at-harness-fault';
/** Patch: merges and deploys hold the deployment-wide lock (workflows/lock.ts) instead of a worker's in-process mutex. */
const LOCK_PATCH = 'deployment-lock';
/** Patch: a lock's release is sent also when the ticket is cancelled while it waits for or holds the lock. */
const LOCK_CANCEL_PATCH = 'lock-release-on-cancel';
/** How long a merge may hold its lock before the lock is released for it, ms (its activity's retries fit in it). */
const MERGE_HOLD_MS = 30 * 60_000;
/** Patch: a pull request's nudges (webhook signals) are counted from before its read, so one that lands during it is not lost. */
const NUDGE_PATCH = 'pr-nudge-before-read';
/**
 * Patch: an attempt's implement, validate and merge go first to the worker that holds the ticket's worktree (its
 * worker-specific task queue), and to any worker after the batch's `hostWaitMs`.
 */
const HOST_PATCH = 'host-task-queues';
/**
 * Patch: progress signals to the batch and lock releases are sent off the ticket's critical path (each awaited one
 * cost a round trip through the server, ~100 ms), and the last state reaches the batch with `ticketEnded` alone.
 */
const OFF_PATH_PATCH = 'signals-off-path';
/** How long a step waits for the worker holding the worktree, ms, when the batch file does not say. */
const HOST_WAIT_MS = 30_000;
/** Rounds of the same wrong answer that end verify-live early, when the batch file does not say. */
const STABLE_ROUNDS = 5;

/** Activities whose failures are never retried: bad input a person must fix. */
const NON_RETRYABLE = ['BadInput', 'RatchetError', 'ConfigError'];

/**
 * ticketWorkflow: one ticket from plan to done or human-gated (DESIGN.md "Ticket lifecycle"); a child of its batch.
 * A batch that starts its tickets abandoned (`input.endSignal`) hears of the end by the `ticketEnded` signal, sent to
 * the batch's workflow id (so a batch that continued as new gets it), with the report minus its timeline; a ticket
 * workflow that fails sends the failure's message; one started from its graph node (`readSelf`) whose first write
 * finds its ticket moved by someone else takes nothing and sends `refused` (see NotTaken). The returned report is
 * the whole one.
 */
export async function ticketWorkflow(input: TicketInput): Promise<TicketReport> {
  const parent = workflowInfo().parent;
  const tell = async (end: TicketEnd): Promise<void> => {
    if (!input.endSignal || !parent) return;
    await getExternalWorkflowHandle(parent.workflowId)
      .signal(ticketEndedSignal, end)
      .catch((err: unknown) => log.warn(`ticket ${input.ticket.id} could not tell its batch that it ended: ${(err as Error).message}`));
  };
  let report: TicketReport;
  try {
    const ran = await runTicket(input);
    if (ran instanceof NotTaken) {
      await tell({ ticketId: input.ticket.id, refused: ran.found });
      return ran.report(input.ticket);
    }
    report = ran;
  } catch (err) {
    // Cancellation is the batch's (or a person's) own doing: nothing to tell.
    if (!isCancellation(err)) await tell({ ticketId: input.ticket.id, failure: (err as Error).message });
    throw err;
  }
  const { phases: _timeline, ...row } = report;
  await tell({ ticketId: report.ticketId, report: row });
  return report;
}

/**
 * A ticket started from its graph node that found another state in the tracker than the one it was started with
 * (someone moved it since the batch's last read): it wrote nothing and ran nothing; the batch records the tracker
 * tamper and waits for a person, as when its own read finds one.
 */
class NotTaken {
  constructor(
    readonly found: TicketState,
    readonly expected: TicketState,
  ) {}

  /** The workflow's result: human-gated, no attempt, the reason naming both states. */
  report(ticket: Ticket): TicketReport {
    const reason = `not taken: the tracker says ${this.found}, not ${this.expected}, without ratchet writing it (a tracker tamper); the batch waits for a person's resume`;
    return { ticketId: ticket.id, title: ticket.title, outcome: 'human-gated', attempts: 0, phases: [], phaseMs: {}, interventions: [], reason, tamperings: [], guardedBy: [] };
  }
}

async function runTicket(input: TicketInput): Promise<TicketReport | NotTaken> {
  /** The ticket: as the batch passed it, or (`input.readSelf`) completed from the tracker by its first write. */
  let ticket = input.ticket;
  /** The batch's config; an accepted self-heal replaces its harness part (never the definition of done). */
  let config = input.config;
  const quick = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    // Every activity heartbeats while it runs: a dead worker's task is retried elsewhere within seconds.
    heartbeatTimeout: QUICK_HEARTBEAT,
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  const local = proxyLocalActivities<Activities>({
    startToCloseTimeout: '1 minute',
    localRetryThreshold: LOCAL_RETRY_THRESHOLD,
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  /** Where tracker writes and lock requests run: local activities, or activity tasks in histories from before. */
  const tracker = (): Pick<Activities, 'setTicketState' | 'requestLock'> => (patched(LOCAL_PATCH) ? local : quick);
  // Options that follow the harness (agent time limit, setup, heartbeat): set again after an accepted heal.
  let longOptions: ActivityOptions = {};
  let gateOptions: ActivityOptions = {};
  let deployOptions: ActivityOptions = {};
  const setOptions = (): void => {
    const setupMs = (config.harness?.setup ?? []).reduce((sum, s) => sum + s.timeoutMs, 0);
    longOptions = {
      startToCloseTimeout: config.agent.timeoutMs + setupMs + 60_000,
      heartbeatTimeout: config.heartbeatTimeoutMs,
      retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
    };
    gateOptions = { ...longOptions, startToCloseTimeout: config.gates.reduce((sum, g) => sum + g.timeoutMs, 0) + 60_000 };
    deployOptions = {
      startToCloseTimeout: (config.deploy?.timeoutMs ?? 60_000) + 30_000,
      heartbeatTimeout: config.heartbeatTimeoutMs,
      retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
    };
  };
  setOptions();
  const long = proxyActivities<Activities>(longOptions);
  const verifyOptions: ActivityOptions = {
    startToCloseTimeout: Math.max(...[...config.probes, ...ticket.probes].map((p) => p.timeoutMs), 1_000) * (config.probes.length + ticket.probes.length + 1),
    heartbeatTimeout: QUICK_HEARTBEAT,
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
  };

  // ---- state -------------------------------------------------------------------------------------------------
  let phase: PhaseName = 'queued';
  let phaseStartedAt = Date.now();
  let attempt = 0;
  let waiting: { gate: GateReason; reason: string; since: number } | undefined;
  /** Set when a human gate's timeout expired with no answer: the reason the ticket is recorded human-gated. */
  let expired: string | undefined;
  let decision: { kind: 'approve' | 'reject'; by: string; comment?: string; trackerState?: TicketState } | undefined;
  let mergeCommit: string | undefined;
  /** The ticket's pull request (GitHub forge), once opened. */
  let pullRequest: { number: number; url: string } | undefined;
  /** Reviews already turned into feedback. */
  const seenReviews: number[] = [];
  /** `pullRequest` signals received: each one reads the pull request again at once. */
  let prNudges = 0;
  /** Why the last attempt ended in a person's reject, when that was not a protected change. */
  let rejectedWhy: string | undefined;
  let lastFeedback: string | undefined;
  /** Attempts allowed so far: `maxAttempts` per round, rounds granted by a person's approve or an accepted heal. */
  let attemptCap = config.maxAttempts;
  const timeline: PhaseSpan[] = [];
  const interventions: Intervention[] = [];
  const feedback: string[] = [];
  const tamperings: TamperingCaught[] = [];
  let guardedBy: string[] = [];
  /** The batch's answers about discovered work this ticket's attempts reported (attempt -> entry index -> record). */
  const discoveryReplies = new Map<number, Map<number, DiscoveredRecord>>();
  /** Discovered blockers of this ticket that have ended, as the batch reported. */
  const blockerOutcomes = new Map<string, TicketOutcome>();
  /** Set when a discovered blocker ended human-gated: this ticket cannot be done either. */
  let blockedBy: string | undefined;
  /**
   * The failure signature of the last failed attempt (which gates, tests, step or probes failed): a heal followed by
   * the same signature is churn, not progress.
   */
  let signature = '';
  /** The signature the last accepted heal addressed. */
  let healedAgainst: string | undefined;
  const heals: HealRecord[] = [];
  /** What ratchet last wrote for this ticket: each write compares the tracker's state with it. */
  let lastWritten: TicketState = ticket.state;
  /** The worker-specific task queue of the worker whose disk holds the ticket's worktree, once a step said so. */
  let host: string | undefined;

  // ---- handlers ----------------------------------------------------------------------------------------------
  const status = (): TicketStatus => ({
    ticketId: ticket.id,
    title: ticket.title,
    phase,
    attempt,
    maxAttempts: attemptCap,
    waitingFor: waiting?.gate,
    waitingReason: waiting?.reason,
    timeline,
    interventions,
    lastFeedback,
    mergeCommit,
    ...(pullRequest ? { pullRequest } : {}),
  });
  setHandler(statusQuery, status);
  setHandler(pullRequestSignal, () => {
    prNudges++;
  });
  /**
   * Signals sent off the ticket's critical path (progress, lock releases): the ticket goes on while they are
   * delivered, and waits for them all before it ends. Progress signals are chained, so they arrive in the order sent.
   */
  const inFlight: Promise<void>[] = [];
  let progressChain: Promise<void> = Promise.resolve();
  /** Whether signals to the batch and the lock go off the critical path (histories from before awaited each one). */
  const offPath = (): boolean => patched(OFF_PATH_PATCH);
  const settleInFlight = async (): Promise<void> => {
    while (inFlight.length) await Promise.all(inFlight.splice(0));
  };

  /** Request ids of the deployment-wide locks granted to this workflow and not yet released. */
  const granted = new Set<string>();
  setHandler(lockGrantedSignal, ({ requestId }) => {
    granted.add(requestId);
  });

  /**
   * Runs `fn` holding the deployment-wide lock `key` (workflows/lock.ts): waits durably for its turn (the lock's Web UI
   * page shows the line), and releases it when `fn` ends, however it ends. `holdMs` bounds how long the lock is kept
   * if this workflow dies holding it. Histories from before the lock run `fn` at once, as they did.
   */
  async function withLock<T>(key: string, what: string, holdMs: number, fn: () => Promise<T>): Promise<T> {
    if (!patched(LOCK_PATCH)) return fn();
    const requestId = uuid4();
    const asked = Date.now();
    const ask = [{ key, taskQueue: workflowInfo().taskQueue, request: { requester: workflowInfo().workflowId, requestId, holdMs, what: `${what} ${ticket.id}` } }] as const;
    const retry = { maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE };
    if (patched(LOCAL_PATCH)) await local.requestLock.executeWithOptions({ startToCloseTimeout: '1 minute', retry, summary: `ask for the lock ${key}` }, [...ask]).catch(asStepFailure('requestLock'));
    else await quick.requestLock.executeWithOptions({ startToCloseTimeout: '1 minute', heartbeatTimeout: QUICK_HEARTBEAT, retry, summary: `ask for the lock ${key}` }, [...ask]);
    const release = (): Promise<void> =>
      getExternalWorkflowHandle(lockWorkflowId(key))
        .signal(lockReleaseSignal, { requestId })
        // A lock that released it by time-out and then ended idle is not there to tell: nothing to release.
        .catch((err: unknown) => log.warn(`could not release the lock ${key} (${(err as Error).message}); a lock that has ended holds nothing`));
    if (!patched(LOCK_CANCEL_PATCH)) {
      await condition(() => granted.has(requestId));
      metrics.deploymentLockWaited(what, Date.now() - asked);
      try {
        return await fn();
      } finally {
        granted.delete(requestId);
        await getExternalWorkflowHandle(lockWorkflowId(key)).signal(lockReleaseSignal, { requestId });
      }
    }
    // Released (or the place in line given up) also when this workflow is cancelled while it waits or holds:
    // otherwise the lock would wait out holdMs, or grant it to a workflow that no longer wants it.
    let held = false;
    try {
      await condition(() => granted.has(requestId));
      metrics.deploymentLockWaited(what, Date.now() - asked);
      const result = await fn();
      held = true;
      return result;
    } finally {
      granted.delete(requestId);
      const released = CancellationScope.nonCancellable(release);
      // After a step that ended well the ticket goes on while the release travels. A cancelled or failed workflow
      // waits for it: the server drops a signal whose sender has closed.
      if (held && offPath()) inFlight.push(released);
      else await released;
    }
  }
  /** Notes where a step left the ticket's worktree (its result's `hostTaskQueue`); returns the result. */
  const heldOn = <R extends { hostTaskQueue?: string }>(result: R): R => {
    if (result.hostTaskQueue !== undefined) host = result.hostTaskQueue;
    return result;
  };

  /**
   * Runs a step of an attempt that needs the ticket's worktree (samples-typescript `worker-specific-task-queues`):
   * first on the task queue of the worker that holds it, with a schedule-to-start timeout of the batch's
   * `hostWaitMs`; when no worker takes it from there in that time (that worker died, or stayed busy), on the shared
   * queue, where any worker takes it over (validate makes the worktree again from the attempt's commit; implement
   * and merge need nothing of it). Histories from before run every step on the shared queue.
   */
  async function onHost<T>(what: string, options: ActivityOptions, step: (options: ActivityOptions) => Promise<T>): Promise<T> {
    const on = host;
    if (on === undefined || !patched(HOST_PATCH)) return step(options);
    const waitMs = config.hostWaitMs ?? HOST_WAIT_MS;
    try {
      return await step({ ...options, taskQueue: on, scheduleToStartTimeout: waitMs });
    } catch (err) {
      if (!(err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START')) throw err;
      log.warn(`ticket ${ticket.id}: no worker took ${what} from ${on} in ${formatMs(waitMs)}; any worker takes it over`);
      if (host === on) host = undefined;
      return step(options);
    }
  }

  /** The lock of merges into the base: one per repository and base branch, whichever worker or batch merges. */
  const mergeLockKey = (): string => `merge:${config.repo}@${config.baseBranch}`;
  /** The lock of deploys: one per deploy target (`deploy.target`, default the repository). */
  const deployLockKey = (): string => `deploy:${config.deploy?.target ?? config.repo}`;

  const checkDecision = (kind: 'approve' | 'reject', d: GateDecision): void => {
    if (typeof d?.by !== 'string' || d.by.trim() === '') {
      throw new Error(`${kind} needs a payload {"by": "<who>", "comment"?: "<text>"}: field "by" is ${JSON.stringify(d?.by)}`);
    }
    if (!waiting || decision) {
      throw new Error(
        `ticket ${ticket.id} is not waiting at a human gate: it is in phase ${phase}` +
          (attempt ? ` (attempt ${attempt}, cap ${config.maxAttempts} per round)` : '') +
          `; ${kind} is accepted only while the status query shows waitingFor`,
      );
    }
  };
  const decide = (kind: 'approve' | 'reject', d: GateDecision): GateAnswer => {
    const gate = (waiting as { gate: GateReason }).gate;
    decision = { kind, by: d.by, comment: d.comment, ...(d.trackerState ? { trackerState: d.trackerState } : {}) };
    return { ticketId: ticket.id, gate, decision: kind };
  };
  setHandler(discoveryFiledSignal, ({ replies }) => {
    for (const { attempt: a, index, record } of replies) {
      const forAttempt = discoveryReplies.get(a) ?? new Map<number, DiscoveredRecord>();
      forAttempt.set(index, record);
      discoveryReplies.set(a, forAttempt);
    }
  });
  setHandler(blockerDoneSignal, ({ ticketId, outcome }) => void blockerOutcomes.set(ticketId, outcome));
  setHandler(approveUpdate, (d) => decide('approve', d), { validator: (d) => checkDecision('approve', d) });
  setHandler(rejectUpdate, (d) => decide('reject', d), { validator: (d) => checkDecision('reject', d) });
  for (const [signal, kind] of [
    [approveSignal, 'approve'],
    [rejectSignal, 'reject'],
  ] as const) {
    setHandler(signal, (d) => {
      try {
        checkDecision(kind, d);
        decide(kind, d);
      } catch (err) {
        log.warn(`${kind} signal ignored: ${(err as Error).message}`);
      }
    });
  }

  // ---- helpers -----------------------------------------------------------------------------------------------
  const renderDetails = (): string => {
    const rows = timeline.map(
      (s) => `- ${s.phase}${s.attempt ? ` #${s.attempt}` : ''}: ${Math.round(s.ms / 100) / 10}s${s.note ? ` (${s.note})` : ''}`,
    );
    const now = `**${phase}**${attempt ? ` attempt ${attempt}/${attemptCap}` : ''}${waiting ? ` (waiting for a person: ${waiting.gate})` : ''}`;
    const pr = pullRequest ? [`Pull request: [#${pullRequest.number}](${pullRequest.url})`] : [];
    return [`### ${ticket.id}: ${ticket.title}`, `Now: ${now}`, ...pr, ...rows].join('\n');
  };

  /** First line of the feedback recorded during the current phase: the note of its span when no other is given. */
  let failureNote: string | undefined;
  /** The attempt the current phase belongs to, taken when it starts (the counter moves on before the next span). */
  let phaseAttempt: number | undefined;
  const enter = (next: PhaseName, note?: string): void => {
    const now = Date.now();
    if (phase !== 'queued') {
      timeline.push({ phase, attempt: phaseAttempt, startedAt: phaseStartedAt, ms: now - phaseStartedAt, note: note ?? failureNote });
    }
    failureNote = undefined;
    metrics.phaseChanged(phase === 'queued' ? undefined : phase, next);
    phase = next;
    phaseAttempt = attemptOf(next);
    phaseStartedAt = now;
    upsertSearchAttributes([
      { key: RatchetPhase, value: next },
      { key: RatchetAttempt, value: attempt },
    ]);
    setCurrentDetails(renderDetails());
  };
  const attemptOf = (p: PhaseName): number | undefined => (p === 'implement' || p === 'validate' || p === 'merge' ? attempt : undefined);

  /** Tells the batch the ticket's tracker state, phase and gate, so its status is fresh. */
  const notifyBatch = async (gate: GateReason | null): Promise<void> => {
    const parent = workflowInfo().parent;
    if (!parent) return;
    const batch = getExternalWorkflowHandle(parent.workflowId);
    if (!patched(PROGRESS_PATCH)) {
      await batch.signal(ticketWaitingSignal, { ticketId: ticket.id, gate });
      return;
    }
    const since = gate && waiting ? { since: waiting.since } : {};
    const progress = { ticketId: ticket.id, state: lastWritten, phase, attempt, gate, ...since, interventions: [...interventions] };
    if (!offPath()) {
      await batch.signal(ticketProgressSignal, progress);
      return;
    }
    // A batch that is gone hears nothing more from this ticket anyway; the ticket goes on (its tracker is written).
    progressChain = progressChain.then(() =>
      batch.signal(ticketProgressSignal, progress).catch((err: unknown) => log.warn(`ticket ${ticket.id} could not tell its batch its progress: ${(err as Error).message}`)),
    );
    inFlight.push(progressChain);
  };

  /**
   * Sets the ticket's tracker state, compare-and-set: a state before the write that is neither what this workflow
   * last wrote nor the state being written (a retried write) is a tracker tamper, reported to the batch. `announce`
   * sends the batch a progress signal after it. With `take` (the first write of a ticket started from its graph
   * node) it also reads the ticket whole, and writes only over the state the ticket was started with.
   * @returns `refused`: the state found instead, when `take` wrote nothing; else `read`: the ticket read with `take`.
   * @throws ActivityFailure when the write failed after its retries.
   */
  const writeState = async (
    to: TicketState,
    note?: string,
    { announce = true, take = false }: { announce?: boolean; take?: boolean } = {},
  ): Promise<{ refused?: TicketState; read?: Ticket }> => {
    const { previous, refused, ticket: read } = await tracker()
      .setTicketState({
        ticketsDir: config.ticketsDir,
        tracker: config.tracker,
        ticketId: ticket.id,
        state: to,
        note,
        by: `ticket workflow of batch ${input.batchId}`,
        // Taking a ticket started from its graph node: read it whole, and write only over the state it was started with.
        ...(take ? { whole: true, expect: lastWritten } : {}),
      })
      .catch(asStepFailure('setTicketState'));
    if (refused) return { refused: previous };
    if (previous !== lastWritten && previous !== to) {
      const parent = workflowInfo().parent;
      const tamper = { ticketId: ticket.id, from: lastWritten, to: previous, at: Date.now(), seenBy: 'ticket' as const };
      log.warn(`tracker tamper on ${ticket.id}: ${tamper.from} -> ${tamper.to} without ratchet writing it`);
      if (parent) await getExternalWorkflowHandle(parent.workflowId).signal(trackerTamperSignal, tamper);
    }
    lastWritten = to;
    if (announce && patched(PROGRESS_PATCH)) await notifyBatch(waiting?.gate ?? null);
    return { read };
  };

  /**
   * Parks the ticket at a human gate until `approve` or `reject` arrives, and records the intervention. With a gate
   * timeout (`humanGates.timeoutMs`, unless the gate is in `keepWaiting`) an unanswered gate ends as a reject with
   * the reason "no answer in <duration>" (kept in `expired`), which is not an intervention.
   */
  const humanGate = async (gate: GateReason, reason: string): Promise<'approve' | 'reject'> => {
    decision = undefined;
    enter('human-gate');
    // The tracker records the gate first; only then do the status query and the batch announce it. A tracker that
    // cannot be written must not keep a person from answering: the gate still opens, and says so in the log.
    try {
      await writeState('awaiting-human', `${gate}: ${reason}`, { announce: false });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      log.warn(`ticket ${ticket.id}: the tracker could not record the ${gate} gate: ${err.cause?.message ?? err.message}`);
    }
    waiting = { gate, reason, since: Date.now() };
    setCurrentDetails(renderDetails());
    await notifyBatch(gate);
    const limit = config.humanGates?.keepWaiting.includes(gate) ? undefined : config.humanGates?.timeoutMs;
    if (!(await awaitDecision(gate, limit))) {
      expired = `no answer in ${formatMs(limit ?? 0)} at the ${gate} gate (${reason})`;
      waiting = undefined;
      await notifyBatch(null);
      return 'reject';
    }
    const d = decision as unknown as { kind: 'approve' | 'reject'; by: string; comment?: string; trackerState?: TicketState };
    interventions.push({ kind: d.kind, ticketId: ticket.id, gate, by: d.by, comment: d.comment, at: Date.now() });
    waiting = undefined;
    // An answer given in the tracker moved the state there itself (a removed awaiting-human label): not a tamper.
    if (d.trackerState && lastWritten === 'awaiting-human') lastWritten = d.trackerState;
    if (d.kind === 'approve') {
      const back = mergeCommit === undefined ? 'in-progress' : 'merged';
      try {
        await writeState(back, `${gate} approved by ${d.by}`, { announce: false });
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        log.warn(`ticket ${ticket.id}: the tracker could not record the approve: ${err.cause?.message ?? err.message}`);
      }
    }
    await notifyBatch(null);
    return d.kind;
  };

  /**
   * Waits for `decision` (the `approve`/`reject` update or signal) at most `limitMs` (no limit when undefined).
   * With a GitHub tracker that polls (`tracker.pollMs`, absent in batches started before it), the issue is also read
   * for a person's answer by label, from `pollMs` doubling up to ten times that (an answer given between the gate's label
   * and the first read counts). A read that fails is logged and tried at the next poll.
   * @returns false when `limitMs` passed unanswered.
   */
  const awaitDecision = async (gate: GateReason, limitMs: number | undefined): Promise<boolean> => {
    const answered = (): boolean => decision !== undefined;
    const tracker = config.tracker;
    if (tracker?.kind !== 'github' || tracker.pollMs === undefined) {
      if (limitMs !== undefined) return condition(answered, limitMs);
      await condition(answered);
      return true;
    }
    const end = limitMs === undefined ? Infinity : Date.now() + limitMs;
    let cursor: GateCursor | undefined;
    let waitMs = tracker.pollMs;
    for (;;) {
      try {
        const r = await quick.readGateAnswer.executeWithOptions(
          { startToCloseTimeout: '1 minute', heartbeatTimeout: QUICK_HEARTBEAT, retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE }, summary: `read ${ticket.id}'s labels for an answer at the ${gate} gate` },
          [{ ticketsDir: config.ticketsDir, tracker, ticketId: ticket.id, ...(cursor ? { after: cursor } : {}) }],
        );
        cursor = r.cursor ?? cursor;
        if (r.answer && !answered()) decision = r.answer;
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        log.warn(`ticket ${ticket.id}: reading the issue's labels at the ${gate} gate failed: ${err.cause?.message ?? err.message}`);
      }
      if (answered()) return true;
      const left = end - Date.now();
      if (left <= 0) return false;
      if (await condition(answered, Math.min(waitMs, left))) return true;
      waitMs = Math.min(waitMs * 2, tracker.pollMs * 10);
    }
  };

  const addFeedback = (text: string): void => {
    const cut = text.length > FEEDBACK_CHARS ? `${text.slice(0, 400)}\n...\n${text.slice(-(FEEDBACK_CHARS - 400))}` : text;
    feedback.push(cut);
    while (feedback.length > FEEDBACK_ENTRIES) feedback.shift();
    lastFeedback = cut;
    failureNote = cut.split('\n')[0];
  };

  /**
   * Runs one harness step. A fault that survives its activity retries (a read-only repository, a tracker that cannot
   * be written, a git error) first gets a self-heal (an accepted harness change runs the step again); otherwise it
   * parks the ticket at a `harness-fault` gate with the reason, never failing the workflow: `approve` runs the step
   * again, `reject` gives up (the caller records human-gated).
   */
  async function guarded<T>(what: string, step: () => Promise<T>): Promise<T | 'rejected'> {
    for (;;) {
      try {
        return await step();
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        const fault = `${what} failed after its retries: ${err.cause?.message ?? err.message}`;
        let gate: { gate?: GateReason; reason?: string } = {};
        if (patched(FAULT_HEAL_PATCH)) {
          signature = `harness fault: ${what}`;
          const healed = await selfHeal(`a harness fault: ${fault}`, 'fault');
          if (healed === true) continue;
          if (healed !== 'blocked') gate = healed;
        }
        const verdict = await humanGate(gate.gate ?? 'harness-fault', gate.reason ?? fault);
        if (verdict === 'reject') return 'rejected';
      }
    }
  }

  const finish = async (outcome: 'done' | 'human-gated', why?: string): Promise<TicketReport> => {
    const reason = expired ?? why;
    enter(outcome, reason);
    metrics.ticketFinished(outcome);
    // The batch learns the ticket's last state from its ticketEnded signal (the report's outcome): no progress signal.
    const announce = !offPath();
    await guarded(`recording ${outcome} in the tracker`, () => writeState(outcome, reason, { announce }));
    await settleInFlight();
    await condition(allHandlersFinished);
    const phaseMs: TicketReport['phaseMs'] = {};
    for (const s of timeline) phaseMs[s.phase] = (phaseMs[s.phase] ?? 0) + s.ms;
    return {
      ticketId: ticket.id,
      title: ticket.title,
      outcome,
      attempts: attempt,
      mergeCommit,
      phases: timeline,
      phaseMs,
      interventions,
      reason,
      tamperings,
      guardedBy,
      ...(heals.length ? { heals } : {}),
    };
  };

  // ---- the lifecycle -----------------------------------------------------------------------------------------
  setCurrentDetails(renderDetails());
  const first = await guarded('recording in-progress in the tracker', () => writeState('in-progress', undefined, { take: input.readSelf === true }));
  if (first === 'rejected') return finish('human-gated', 'rejected after a harness fault');
  // Someone else moved the ticket since the batch last read it: a tracker tamper, which the batch settles with a person.
  if (first.refused !== undefined) return new NotTaken(first.refused, lastWritten);
  if (first.read) {
    // The tracker's own fields as they are now; the batch's edges, state and frozen finish line (probes, allowed
    // paths) stay, whatever the ticket file says (DESIGN.md "Trust boundaries").
    const { id, dependsOn, probes, allowPaths, state } = ticket;
    ticket = { ...first.read, id, dependsOn, probes, allowPaths, state };
    setCurrentDetails(renderDetails());
  }

  enter('plan');
  const planned = await guarded('plan', async () => heldOn(await long.plan.executeWithOptions({ ...longOptions, summary: `plan ${ticket.id}` }, [{ config, ticket }])));
  if (planned === 'rejected') return finish('human-gated', 'rejected after a harness fault in plan');
  let approvedPlan: string | undefined = planned.plan;
  if (ticket.gate === 'plan') {
    const verdict = await humanGate('plan', `plan ready for review: ${planned.planPath}`);
    if (verdict === 'reject') return finish('human-gated', 'plan rejected');
  } else if (planned.agent.exitCode !== 0) {
    approvedPlan = undefined;
  }

  // Rounds of attempts; a person's approve at the gate grants another round.
  let budget = config.maxAttempts;
  for (;;) {
    const landed = await attemptUntilMerged();
    if (landed === 'rejected') return finish('human-gated', rejectedWhy ?? `protected change rejected at attempt ${attempt}`);
    if (landed === 'blocked') return finish('human-gated', `blocked by discovered ticket ${blockedBy ?? '?'}, which ended human-gated`);
    if (!landed) {
      const stop = `${attempt} attempts failed; last: ${(lastFeedback ?? '').split('\n')[0]}`;
      const healed = await selfHeal(`attempts exhausted: ${stop}`, 'attempts');
      if (healed === 'blocked') return finish('human-gated', `blocked by discovered ticket ${blockedBy ?? '?'}, which ended human-gated`);
      if (healed === true) {
        budget = config.maxAttempts;
        attemptCap = attempt + budget;
        continue;
      }
      const verdict = await humanGate(healed.gate ?? 'attempts-exhausted', healed.reason ?? stop);
      if (verdict === 'reject') return finish('human-gated', `rejected after ${attempt} attempts`);
      budget = config.maxAttempts;
      attemptCap = attempt + budget;
      continue;
    }
    break;
  }

  if ((await guarded('recording merged in the tracker', () => writeState('merged', `merge ${mergeCommit ?? ''}`.trim()))) === 'rejected') {
    return finish('human-gated', 'rejected after a harness fault');
  }
  for (;;) {
    const live = await guarded('deploy and verify-live', deployAndVerify);
    if (live === 'rejected') return finish('human-gated', 'rejected after a harness fault in deploy or verify-live');
    if (live === true) return finish('done');
    failureNote = `verify-live failed: ${live.split('\n')[0]}`;
    signature = `probes: ${live.replace(/^(after \d+ rounds over \d+ ms|the same answer \d+ rounds in a row \(round \d+\)): /, '')}`;
    const healed = await selfHeal(`verify-live failed after a clean merge: ${live}`, 'verify');
    if (healed === 'blocked') return finish('human-gated', `blocked by discovered ticket ${blockedBy ?? '?'}, which ended human-gated`);
    if (healed === true) continue;
    const verdict = await humanGate(healed.gate ?? 'verify-live-failed', healed.reason ?? live);
    if (verdict === 'reject') return finish('human-gated', `verify-live failed: ${live}`);
  }

  /**
   * Runs attempts until one merges or the round's budget is spent; returns whether it merged. An activity that
   * fails after its retries (a harness fault, not the agent's) costs the attempt, so the ticket ends at a human
   * gate with the reason rather than the workflow failing and dropping the ticket.
   */
  async function attemptUntilMerged(): Promise<boolean | 'rejected' | 'blocked'> {
    while (budget > 0) {
      budget--;
      attempt++;
      metrics.attemptStarted();
      try {
        const r = await oneAttempt();
        if (r !== false) return r;
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        signature = `harness error in ${phase}`;
        addFeedback(`Attempt ${attempt}: harness error in ${phase}: ${err.cause?.message ?? err.message}`);
      }
    }
    return false;
  }

  /**
   * One implement -> validate -> [protected-change gate] -> merge cycle; true when merged, false when the attempt
   * failed with feedback, 'rejected' when a person rejected its protected change.
   */
  async function oneAttempt(): Promise<boolean | 'rejected' | 'blocked'> {
    enter('implement');
    const impl: ImplementResult = heldOn(
      await onHost(`implement attempt ${attempt}`, longOptions, (options) =>
        long.implement.executeWithOptions({ ...options, summary: `implement ${ticket.id} attempt ${attempt}` }, [
          { config, ticket, attempt, feedback: [...feedback], plan: approvedPlan },
        ]),
      ),
    );
    if (impl.discoveredProblems?.length) {
      feedback.push(`Attempt ${attempt}: entries of your result file's "discovered" list were ignored: ${impl.discoveredProblems.join('; ')}`);
    }
    if (impl.discovered?.length) {
      const stopped = await reportDiscovered(impl.discovered);
      if (stopped !== undefined) return stopped;
    }
    if (impl.agent.exitCode !== 0 || impl.agent.timedOut) {
      signature = impl.setupFailed ? `setup: ${impl.setupFailed.command}` : impl.agent.timedOut ? 'agent timed out' : 'agent exited non-zero';
      addFeedback(
        impl.setupFailed
          ? `Attempt ${attempt}: the harness's setup step \`${impl.setupFailed.command}\` ${impl.setupFailed.timedOut ? 'timed out' : `exited ${impl.setupFailed.exitCode}`}, so the agent did not run (a harness gap, not the code).\n${impl.setupFailed.tail}`
          : `Attempt ${attempt}: the agent ${impl.agent.timedOut ? `timed out after ${config.agent.timeoutMs} ms` : `exited with code ${impl.agent.exitCode}`}.\n${impl.agent.summary}`,
      );
      return false;
    }
    if (impl.commit === undefined || impl.filesChanged === 0) {
      signature = 'agent changed nothing';
      addFeedback(`Attempt ${attempt}: the agent exited 0 but changed no files. Output tail:\n${impl.agent.summary}`);
      return false;
    }
    const commit = impl.commit;
    enter('validate', `${impl.filesChanged} files changed`);
    const checked: ValidateResult = heldOn(
      await onHost(`validate attempt ${attempt}`, gateOptions, (options) =>
        long.validate.executeWithOptions({ ...options, summary: `validate ${ticket.id} attempt ${attempt}` }, [
          { config, ticket, attempt, worktree: impl.worktree, baseCommit: impl.baseCommit, commit },
        ]),
      ),
    );
    if (checked.protectedDenied.length) {
      metrics.gateFailed('protected-paths');
      signature = `protected: ${checked.protectedDenied.join(', ')}`;
      tamperings.push({ ticketId: ticket.id, attempt, paths: checked.protectedDenied });
      addFeedback(
        `Attempt ${attempt}: changed protected paths ${checked.protectedDenied.join(', ')}. These files decide whether work is done ` +
          '(tickets, gate and probe files, .ratchet/); an attempt may not change them. Revert them and fix the code instead.',
      );
      return false;
    }
    if (!checked.passed) {
      const failed = checked.gates.filter((g) => !g.passed);
      for (const g of failed) metrics.gateFailed(g.name);
      if (checked.regressions.length || checked.guardFeedback) metrics.gateFailed('regression-guard');
      signature = `gates: ${failed.map((g) => g.name).sort().join(', ')}; tests: ${[...checked.regressions].sort().join(', ')}`;
      addFeedback(
        [
          failed.length ? `Attempt ${attempt}: gate${failed.length > 1 ? 's' : ''} ${failed.map((g) => `"${g.name}" (exit ${g.exitCode})`).join(', ')} failed.` : '',
          ...failed.map((g) => `--- ${g.name} output (tail) ---\n${g.tail}`),
          checked.guardFeedback ? `Attempt ${attempt}: regression guard: ${checked.guardFeedback}` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
      return false;
    }
    guardedBy = [...new Set([...checked.failToPass, ...checked.guardedBy])].sort();
    if (checked.protectedTouched.length) {
      const verdict = await humanGate('protected-change', `attempt ${attempt} changes protected paths its ticket allows: ${checked.protectedTouched.join(', ')}; approve to merge`);
      if (verdict === 'reject') return 'rejected';
      enter('validate', 'protected change approved');
    }
    enter('merge', 'gates passed');
    if (config.forge?.kind === 'github') return landOnGitHub(commit, config.forge);
    // On the worker holding the worktree, which the merge removes; any worker can merge (it needs no checkout).
    const mergeOptions: ActivityOptions = { startToCloseTimeout: '2 minutes', heartbeatTimeout: QUICK_HEARTBEAT, retry: { maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE } };
    const merged = await withLock(mergeLockKey(), 'merge', MERGE_HOLD_MS, () =>
      onHost('merge', mergeOptions, (options) => quick.merge.executeWithOptions({ ...options, summary: `merge ${ticket.id}` }, [{ config, ticketId: ticket.id, title: ticket.title, commit }])),
    );
    if (merged.conflict) {
      signature = `conflict: ${merged.conflict.join(', ')}`;
      addFeedback(`Attempt ${attempt}: merging into ${config.baseBranch} conflicted in ${merged.conflict.join(', ')}. The next attempt starts from the new ${config.baseBranch}.`);
      return false;
    }
    mergeCommit = merged.commit;
    metrics.merged();
    return true;
  }

  /**
   * Lands the validated `commit` through the ticket's one pull request (`forge.kind: "github"`): pushes it, opens or
   * finds the pull request, then reads it until it merges: at once when the `pullRequest` signal says it changed (a
   * webhook), else on a durable timer from `pollMs` doubling up to ten times that. A review asking for changes, a
   * failed required check or a conflict fails the attempt with that as feedback (the next attempt is pushed to the
   * same pull request); a pull request closed unmerged is a person's reject. The ticket's `land` overrides the
   * batch's.
   */
  async function landOnGitHub(commit: string, batchForge: Extract<ForgeConfig, { kind: 'github' }>): Promise<boolean | 'rejected'> {
    // A ticket may ask for a person's merge (or allow ratchet's) whatever the batch says.
    const forge = { ...batchForge, land: ticket.land ?? batchForge.land };
    const batch = { batchId: config.batchId, repo: config.repo, baseBranch: config.baseBranch, forge };
    const answered = seenReviews.length ? ` It answers review${seenReviews.length > 1 ? 's' : ''} ${seenReviews.map((r) => `#${r}`).join(', ')}.` : '';
    const notes = `**ratchet**: attempt ${attempt} of ticket ${ticket.id}, commit \`${commit.slice(0, 10)}\`, passed the gates (${config.gates.map((g) => g.name).join(', ') || 'none'}).${answered}`;
    const pr = await quick.openPullRequest({ config: batch, ticketId: ticket.id, title: ticket.title, body: ticket.body, tracker: { ticketsDir: config.ticketsDir, tracker: config.tracker }, commit, attempt, notes });
    pullRequest = { number: pr.number, url: pr.url };
    setCurrentDetails(renderDetails());
    let waitMs = forge.pollMs;
    let awaiting = false;
    const early = patched(NUDGE_PATCH);
    for (;;) {
      const before = prNudges;
      const r = await quick.landPullRequest({ config: batch, ticketId: ticket.id, title: ticket.title, number: pr.number, commit, seenReviews: [...seenReviews] });
      switch (r.status) {
        case 'merged':
          if (forge.land === 'human') interventions.push({ kind: 'merge', ticketId: ticket.id, gate: 'pull-request', by: r.by ?? 'a person on GitHub', comment: `merged #${pr.number}`, at: Date.now() });
          mergeCommit = r.commit;
          metrics.merged();
          return true;
        case 'closed':
          interventions.push({ kind: 'reject', ticketId: ticket.id, gate: 'pull-request', by: 'a person on GitHub', comment: `closed #${pr.number} unmerged`, at: Date.now() });
          rejectedWhy = `pull request #${pr.number} was closed unmerged`;
          return 'rejected';
        case 'changes-requested': {
          seenReviews.push(r.review.id);
          interventions.push({ kind: 'review', ticketId: ticket.id, gate: 'pull-request', by: r.review.by, comment: r.review.body.slice(0, 200), at: Date.now() });
          signature = `review ${r.review.id}`;
          const inline = r.review.comments.map((c) => `- ${c.path}${c.line ? `:${c.line}` : ''}: ${c.body}`);
          addFeedback([`Attempt ${attempt}: ${r.review.by} asked for changes on pull request #${pr.number}:`, r.review.body, ...inline].filter(Boolean).join('\n'));
          return false;
        }
        case 'checks-failed':
          signature = `checks: ${r.failed.join(', ')}`;
          addFeedback(`Attempt ${attempt}: required checks failed on pull request #${pr.number}: ${r.failed.join(', ')}.`);
          return false;
        case 'conflict':
          signature = 'conflict: pull request';
          addFeedback(`Attempt ${attempt}: ${r.message}. The next attempt starts from the new ${config.baseBranch}.`);
          return false;
        case 'waiting': {
          if (forge.land === 'human' && !awaiting) {
            awaiting = true;
            await writeState('awaiting-human', `pull request #${pr.number}: a person merges it`);
          }
          // A webhook's nudge that arrived while the pull request was read (or the label written) still wakes it.
          const seen = early ? before : prNudges;
          const nudged = await condition(() => prNudges > seen, waitMs);
          waitMs = nudged ? forge.pollMs : Math.min(waitMs * 2, forge.pollMs * 10);
        }
      }
    }
  }

  /**
   * The self-heal (DESIGN.md "self-heal"), run where the ticket would stop. A fresh heal agent judges the stop; a
   * `harness-gap` verdict's change goes through the tripwire (the definition of done, recomputed with the change and
   * the heal's file edits, must equal the frozen one, and only the harness may move), then a smoke check of the setup
   * in a fresh worktree; only then does it hold, for this ticket and (through the batch) the tickets started later.
   * Bounded: `healBudget` heals per ticket, and a heal followed by the same failure signature is churn: no new heal.
   * @returns true when a healed harness is in place (the caller grants a new round), else what the person's gate
   *   should say (a rejected heal opens a `heal-rejected` gate naming what it tried to change).
   */
  async function selfHeal(stop: string, at: 'attempts' | 'verify' | 'fault'): Promise<true | 'blocked' | { gate?: GateReason; reason?: string }> {
    const definition = input.definition;
    if (!config.heal || !definition) return {};
    const n = heals.length + 1;
    const note = (r: Omit<HealRecord, 'ticketId' | 'n' | 'stop' | 'at'>): HealRecord => {
      const rec: HealRecord = { ticketId: ticket.id, n, stop: stop.split('\n')[0].slice(0, 300), at: Date.now(), ...r };
      heals.push(rec);
      metrics.healed(rec.outcome);
      return rec;
    };
    const tell = async (rec: HealRecord, harness?: ReturnType<typeof harnessOf>): Promise<void> => {
      const parent = workflowInfo().parent;
      if (parent) await getExternalWorkflowHandle(parent.workflowId).signal(healSignal, { ticketId: ticket.id, record: rec, ...(harness ? { harness } : {}) });
    };
    if (healedAgainst !== undefined && healedAgainst === signature) {
      const rec = note({ verdict: 'none', outcome: 'churn', reason: `the same failure followed heal ${n - 1} (${signature}): churn, not progress; no new heal` });
      return { reason: `${stop}; ${rec.reason}` };
    }
    if (heals.filter((h) => h.outcome !== 'churn').length >= (input.healBudget ?? config.heal.maxPerTicket)) return {};
    enter('self-heal');
    let h: Awaited<ReturnType<Activities['selfHeal']>>;
    try {
      h = await long.selfHeal.executeWithOptions(
        { ...longOptions, startToCloseTimeout: config.heal.timeoutMs + 120_000, summary: `self-heal ${ticket.id} #${n}` },
        [{ config, ticket, n, stop, feedback: [...feedback], definition, harness: harnessOf(config) }],
      );
    } catch (err) {
      // The heal itself could not run (its worktree, its agent): a person decides, as without a heal.
      if (!(err instanceof ActivityFailure)) throw err;
      const rec = note({ verdict: 'none', outcome: 'handed-over', reason: `the heal could not run: ${err.cause?.message ?? err.message}` });
      await tell(rec);
      return { reason: `${stop}; heal ${n}: ${rec.reason}` };
    }
    const change = h.change === undefined ? undefined : JSON.stringify(h.change).slice(0, 1_000);
    const judged = tripwire(config, definition, h.verdict === 'harness-gap' ? h.change : {}, h.protectedChanged);
    if (judged.differences.length) {
      const rec = note({ verdict: h.verdict, outcome: 'rejected', reason: h.reason, differences: judged.differences, change, dir: h.dir });
      await tell(rec);
      failureNote = `heal ${n} rejected by the tripwire`;
      return { gate: 'heal-rejected', reason: `heal ${n} was rejected and nothing of it applied: it ${judged.differences.join('; ')} (the definition of done is frozen); it said: ${h.reason}` };
    }
    if (h.verdict === 'activation-gap' && at === 'verify' && h.discovered?.length) {
      // Merged, but no real effect yet: the gap becomes tickets that block this one; then deploy and verify again.
      const rec = note({ verdict: h.verdict, outcome: 'activation-gap', reason: h.reason, dir: h.dir });
      await tell(rec);
      const waited = await fileAndWait(
        h.discovered.map((w) => ({ ...w, blocksThisTicket: true })),
        -n,
        n,
      );
      if (waited?.filed.length) {
        if (blockedBy) return 'blocked';
        healedAgainst = signature;
        return true;
      }
      const why = (waited?.records ?? []).map((r) => `"${r.title}" ${r.status}${r.reason ? `: ${r.reason}` : ''}`).join('; ');
      return { reason: `${stop}; heal ${n} found an activation gap (${h.reason}) but no ticket for it was filed${why ? ` (${why})` : ''}` };
    }
    if (h.verdict !== 'harness-gap' || !('config' in judged) || h.change === undefined) {
      const what =
        h.verdict === 'external-wall'
          ? `an external wall: ${h.reason}${h.evidence ? `; evidence: ${h.evidence}` : ''}${h.action ? `; a person must: ${h.action}` : ''}`
          : h.verdict === 'work'
            ? `the ticket itself is the problem: ${h.reason}`
            : h.reason;
      const rec = note({ verdict: h.verdict, outcome: 'handed-over', reason: what, change, dir: h.dir });
      await tell(rec);
      return { reason: `${stop}; heal ${n}: ${what}` };
    }
    const next = judged.config;
    const smoke = await long.smokeCheck
      .executeWithOptions({ ...longOptions, summary: `smoke check of heal ${n} of ${ticket.id}` }, [{ config: next, ticket, n }])
      .catch((err: unknown) => {
        if (!(err instanceof ActivityFailure)) throw err;
        return { ok: false, detail: `the smoke check could not run: ${err.cause?.message ?? err.message}` };
      });
    if (!smoke.ok) {
      const rec = note({ verdict: h.verdict, outcome: 'smoke-failed', reason: `${h.reason}; smoke check failed: ${smoke.detail.split('\n')[0]}`, change, dir: h.dir });
      await tell(rec);
      return { reason: `${stop}; heal ${n}'s harness change failed its smoke check (${smoke.detail.split('\n')[0]}); nothing applied` };
    }
    config = next;
    setOptions();
    healedAgainst = signature;
    const rec = note({ verdict: h.verdict, outcome: 'accepted', reason: `${h.reason}; ${smoke.detail}`, change, dir: h.dir });
    await tell(rec, harnessOf(config));
    failureNote = `heal ${n} accepted: ${h.reason.split('\n')[0]}`;
    addFeedback(`The harness was repaired (heal ${n}: ${h.reason.split('\n')[0]}). Earlier failures may have come from it.`);
    return true;
  }

  /**
   * Sends the work an attempt's agent discovered to the batch, which files it. When the agent said an entry blocks
   * this ticket, the attempt ends here (its changes are not validated): the ticket waits, durably, until the batch
   * reports each filed blocker ended, then goes on with a new attempt from the new base (that attempt is not held
   * against the ticket's cap). Returns undefined when nothing blocks the attempt, false when it ended so, 'blocked'
   * when a blocker ended human-gated.
   */
  async function reportDiscovered(work: (DiscoveredWork & { blocksThisTicket: boolean })[]): Promise<false | 'blocked' | undefined> {
    const reportedIn = attempt;
    const waited = await fileAndWait(work, reportedIn);
    if (waited === undefined) return undefined;
    const { records, filed } = waited;
    if (filed.length) {
      if (blockedBy) return 'blocked';
      budget++; // waiting for a blocker is not a failed attempt
      attemptCap++;
    }
    addFeedback(
      [
        `Attempt ${reportedIn} stopped: it reported work that has to come first.`,
        ...records.map((r) =>
          r.status === 'filed'
            ? `Discovered ticket ${r.ticketId} ("${r.title}") is done and merged into ${config.baseBranch}; this attempt starts from there.`
            : `"${r.title}" was not filed (${r.status}: ${r.reason ?? ''}); do this ticket without it.`,
        ),
      ].join('\n'),
    );
    return false;
  }

  /**
   * Sends discovered work to the batch (`key`: the attempt that found it, or minus the heal's number) and, when
   * entries block this ticket, waits in phase `blocked` until the batch answers for each and every filed blocker has
   * ended; sets `blockedBy` when one ended human-gated. Returns undefined when nothing blocks this ticket.
   */
  async function fileAndWait(
    work: (DiscoveredWork & { blocksThisTicket: boolean })[],
    key: number,
    heal?: number,
  ): Promise<{ records: DiscoveredRecord[]; filed: string[] } | undefined> {
    const parent = workflowInfo().parent;
    if (!parent) return undefined;
    await getExternalWorkflowHandle(parent.workflowId).signal(discoveredSignal, { ticketId: ticket.id, attempt: key, work, ...(heal ? { heal } : {}) });
    const blocking = work.flatMap((w, i) => (w.blocksThisTicket ? [i] : []));
    if (blocking.length === 0) return undefined;
    enter('blocked', `found ${blocking.length} blocker(s)`);
    // Held entries (over the discovery cap) wait for a person's resume, which files or drops them.
    const answer = (i: number): DiscoveredRecord | undefined => discoveryReplies.get(key)?.get(i);
    await condition(() => blocking.every((i) => answer(i) !== undefined && answer(i)?.status !== 'held'));
    const records = blocking.map((i) => answer(i) as DiscoveredRecord);
    const filed = records.filter((r) => r.status === 'filed' && r.ticketId !== undefined).map((r) => r.ticketId as string);
    if (filed.length) {
      try {
        await writeState(lastWritten, `waiting for discovered ${filed.join(', ')}`);
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        log.warn(`ticket ${ticket.id}: the tracker could not record the wait: ${err.cause?.message ?? err.message}`);
      }
      await condition(() => filed.every((id) => blockerOutcomes.has(id)));
      blockedBy = filed.find((id) => blockerOutcomes.get(id) === 'human-gated');
    }
    return { records, filed };
  }

  /** Deploys the merged base, then probes on durable timers until every probe passes or the deadline passes. */
  async function deployAndVerify(): Promise<true | string> {
    if (config.deploy) {
      enter('deploy', `merged ${mergeCommit?.slice(0, 10) ?? ''}`);
      // Its activity may run 3 times (deployOptions' retries), each up to the deploy's time-out and 30 s more.
      const holdMs = 3 * ((config.deploy.timeoutMs ?? 60_000) + 30_000) + 60_000;
      const dep = await withLock(deployLockKey(), 'deploy', holdMs, () =>
        long.deploy.executeWithOptions({ ...deployOptions, summary: `deploy after ${ticket.id}` }, [{ config, ticketId: ticket.id }]),
      );
      if (!dep.ok) return `deploy exited ${dep.exitCode}: ${dep.tail.trim().split('\n').slice(-3).join(' | ')}`;
    }
    enter('verify-live');
    const probes = [...config.probes, ...ticket.probes];
    const deadline = Date.now() + config.verify.deadlineMs;
    let rounds = 0;
    let same = 0;
    let previous = '';
    for (;;) {
      rounds++;
      const r = await quick.verifyLive.executeWithOptions({ ...verifyOptions, summary: `verify-live ${ticket.id} round ${rounds}` }, [
        { config, ticketId: ticket.id, probes },
      ]);
      if (r.passed) {
        setCurrentDetails(renderDetails());
        return true;
      }
      const failing = r.probes.filter((p) => !p.passed).map((p) => `${p.name}: ${p.detail}`).join('; ');
      if (Date.now() + config.verify.intervalMs > deadline) return `after ${rounds} rounds over ${config.verify.deadlineMs} ms: ${failing}`;
      // The same wrong answer round after round is an answer: stop burning the deadline (a heal may diagnose it).
      same = failing === previous ? same + 1 : 1;
      previous = failing;
      const stable = config.verify.stableRounds ?? STABLE_ROUNDS;
      if (same >= stable && patched(STABLE_PATCH)) return `the same answer ${same} rounds in a row (round ${rounds}): ${failing}`;
      await sleep(config.verify.intervalMs);
    }
  }
}
