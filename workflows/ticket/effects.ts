/**
 * The ticket workflow's effects on the world besides its phase activities: the message handlers, signals to its
 * batch (one `signalParent()`), the Web UI and search attributes, tracker writes with their tamper check, the
 * deployment-wide lock, host routing of worktree-bound steps, and human gates (update, signal, or a tracker label).
 * Workflow code: deterministic, no I/O of its own.
 */
import {
  ActivityFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
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
  type SignalDefinition,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { withHarness } from '../done';
import { formatMs } from '../duration';
import { onUpdateOrSignal } from '../handlers';
import { asStepFailure } from '../local';
import { lockGrantedSignal, lockReleaseSignal, lockWorkflowId } from '../lock';
import {
  agentTapSignal,
  approveSignal,
  approveUpdate,
  blockerDoneSignal,
  discoveryFiledSignal,
  harnessSignal,
  pullRequestSignal,
  rejectSignal,
  rejectUpdate,
  statusQuery,
  ticketProgressSignal,
  trackerTamperSignal,
} from '../messages';
import * as metrics from '../metrics';
import { OPTIONS, optionsFor, type HarnessOptions } from '../options';
import { RatchetAttempt, RatchetPhase } from '../search-attributes';
import type { BatchConfig, GateCursor, GateReason, PhaseName, Ticket, TicketInput, TicketState } from '../types';
import { AgentTap } from './agent-tap';
import { TicketRunState } from './state';

/** The activities of a ticket: activity tasks (options per call) and the tracker's and lock's local activities. */
export const acts = proxyActivities<Activities>(OPTIONS.quick);
const local = proxyLocalActivities<Activities>(OPTIONS.tracker);

/** A ticket workflow's run: its input, ticket, config and state, and the effects that act on them. */
export class TicketEffects {
  /** The ticket: as the batch passed it, or (`input.readSelf`) completed from the tracker by its first write. */
  ticket: Ticket;
  /** The batch's config; an accepted self-heal replaces its harness part (never the definition of done). */
  config: BatchConfig;
  /** Options of the harness-bound steps, for `config`. */
  options: HarnessOptions;
  readonly state: TicketRunState;
  /** The batch's agent tap as this ticket sees it: waited at before each agent run (ticket/agent-tap.ts). */
  readonly tap: AgentTap;
  /** Signals sent off the ticket's critical path; the ticket waits for them all before it ends. */
  private readonly inFlight: Promise<void>[] = [];
  /** Progress signals are chained, so they arrive in the order sent. */
  private progressChain: Promise<void> = Promise.resolve();
  /** Request ids of the deployment-wide locks granted to this workflow and not yet released. */
  private readonly granted = new Set<string>();
  /** Whether the loop of {@link writeLater} runs. */
  private writingLater = false;

  constructor(readonly input: TicketInput) {
    this.ticket = input.ticket;
    this.config = input.config;
    this.options = optionsFor(this.config);
    this.state = new TicketRunState(input.config.maxAttempts, input.ticket.state, Date.now());
    this.tap = new AgentTap(input.agentTap === 'canary');
    if (input.reopen) this.state.carryOn(input.reopen.before);
  }

  /** Installs the ticket's query, signal and update handlers (the public contract's `status`, `approve`, `reject`). */
  listen(): void {
    const s = this.state;
    setHandler(statusQuery, () => s.status(this.ticket));
    setHandler(pullRequestSignal, () => void s.prNudges++);
    setHandler(lockGrantedSignal, ({ requestId }) => void this.granted.add(requestId));
    setHandler(discoveryFiledSignal, ({ replies }) => s.addDiscoveryReplies(replies));
    setHandler(blockerDoneSignal, ({ ticketId, outcome }) => void s.blockerOutcomes.set(ticketId, outcome));
    setHandler(agentTapSignal, (m) => this.tap.onTap(m));
    setHandler(harnessSignal, ({ healedBy, harness }) => {
      this.setConfig(withHarness(this.config, harness));
      log.info(`ticket ${this.ticket.id} takes the harness healed by ticket ${healedBy}`);
    });
    for (const [update, signal, kind] of [
      [approveUpdate, approveSignal, 'approve'],
      [rejectUpdate, rejectSignal, 'reject'],
    ] as const) {
      onUpdateOrSignal(
        update,
        signal,
        (d) => s.checkDecision(this.ticket.id, kind, d),
        (d) => s.decide(this.ticket.id, kind, d),
      );
    }
  }

  /** Replaces the config (an accepted heal's harness) and the options that follow it. */
  setConfig(config: BatchConfig): void {
    this.config = config;
    this.options = optionsFor(config);
  }

  /** Shows the state in the Web UI's current details. */
  show(): void {
    setCurrentDetails(this.state.details(this.ticket));
  }

  /** Enters phase `next`: the timeline, the metric, the search attributes and the Web UI. */
  enter(next: PhaseName, note?: string): void {
    const from = this.state.enter(next, Date.now(), note);
    metrics.phaseChanged(from === 'queued' ? undefined : from, next);
    upsertSearchAttributes([
      { key: RatchetPhase, value: next },
      { key: RatchetAttempt, value: this.state.attempt },
    ]);
    this.show();
  }

  /**
   * Sends `signal` to the batch (by workflow id, so a batch that continued as new gets it). `offPath`: the ticket goes
   * on while it travels (after earlier off-path ones) and waits for it before it ends. A batch that is gone hears
   * nothing more: the failure is logged, unless `mustArrive`, where it is thrown.
   */
  async signalParent<T extends unknown[]>(signal: SignalDefinition<T>, args: T, { offPath = false, mustArrive = false } = {}): Promise<void> {
    const parent = workflowInfo().parent;
    if (!parent) return;
    const send = (): Promise<void> => getExternalWorkflowHandle(parent.workflowId).signal(signal, ...args);
    if (mustArrive) return send();
    const sent = (): Promise<void> => send().catch((err: unknown) => log.warn(`ticket ${this.ticket.id} could not send ${signal.name} to its batch: ${(err as Error).message}`));
    if (!offPath) return sent();
    this.progressChain = this.progressChain.then(sent);
    this.inFlight.push(this.progressChain);
  }

  /** Whether the ticket runs under a batch (a ticket started alone has no one to tell). */
  hasParent(): boolean {
    return workflowInfo().parent !== undefined;
  }

  /** Waits for every signal sent off the critical path. */
  async settle(): Promise<void> {
    while (this.inFlight.length) await Promise.all(this.inFlight.splice(0));
  }

  /** Tells the batch the ticket's tracker state, phase and gate, so its status is fresh (off the critical path). */
  notifyBatch(gate: GateReason | null): Promise<void> {
    const s = this.state;
    const since = gate && s.waiting ? { since: s.waiting.since } : {};
    const progress = { ticketId: this.ticket.id, state: s.lastWritten, phase: s.phase, attempt: s.attempt, gate, ...since, interventions: [...s.interventions] };
    return this.signalParent(ticketProgressSignal, [progress], { offPath: true });
  }

  /**
   * Sets the ticket's tracker state, compare-and-set: a state before the write that is neither what this workflow
   * last wrote nor the state being written (a retried write) is a tracker tamper, reported to the batch. `announce`
   * sends the batch a progress signal after it. With `take` (the first write of a ticket started from its graph
   * node) it also reads the ticket whole, and writes only over the state the ticket was started with. Every write is
   * fenced with this workflow's chain and write number: the tracker refuses it, and nothing changes here, when it
   * already holds a later write of this workflow (this task lost its lease to another worker while frozen).
   * @returns `refused`: the state found instead, when `take` wrote nothing; else `read`: the ticket read with `take`.
   * @throws ActivityFailure when the write failed after its retries.
   */
  async writeState(to: TicketState, note?: string, { announce = true, take = false } = {}): Promise<{ refused?: TicketState; read?: Ticket }> {
    const s = this.state;
    const fence = { run: workflowInfo().firstExecutionRunId, seq: s.trackerWrites++ };
    const { previous, refused, ticket: read } = await local
      .setTicketState({
        ticketsDir: this.config.ticketsDir,
        tracker: this.config.tracker,
        ticketId: this.ticket.id,
        state: to,
        note,
        by: `ticket workflow of batch ${this.input.batchId}`,
        fence,
        ...(take ? { whole: true, expect: s.lastWritten } : {}),
      })
      .catch(asStepFailure('setTicketState'));
    if (refused === 'stale') {
      log.warn(`ticket ${this.ticket.id}: the tracker holds a later write of this workflow; ${to} is stale and was not written`);
      return {};
    }
    if (refused) return { refused: previous };
    if (previous !== s.lastWritten && previous !== to) {
      const tamper = { ticketId: this.ticket.id, from: s.lastWritten, to: previous, at: Date.now(), seenBy: 'ticket' as const };
      log.warn(`tracker tamper on ${this.ticket.id}: ${tamper.from} -> ${tamper.to} without ratchet writing it`);
      await this.signalParent(trackerTamperSignal, [tamper]);
    }
    s.lastWritten = to;
    s.pendingWrite = undefined; // this write supersedes a pending one
    if (announce) await this.notifyBatch(s.waiting?.gate ?? null);
    return { read };
  }

  /**
   * {@link writeState} where a tracker that cannot be written must not stop the ticket: the failure is logged, and
   * the write is tried again in the background (5 s doubling to 1 minute) until it lands or a later write of the
   * ticket supersedes it, so the tracker says what the ticket does once it is back.
   */
  async tryWriteState(to: TicketState, note: string, what: string, announce = false): Promise<void> {
    try {
      await this.writeState(to, note, { announce });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      log.warn(`ticket ${this.ticket.id}: the tracker could not record ${what}: ${err.cause?.message ?? err.message}; trying again`);
      // patched: before 0.2.1 a failed write was only logged.
      if (patched('retry-failed-tracker-writes')) this.writeLater(to, note);
    }
  }

  /** Keeps trying the pending write (see {@link tryWriteState}); one loop a ticket, whatever the write it holds. */
  private writeLater(to: TicketState, note: string): void {
    const s = this.state;
    const pending = { to, note };
    s.pendingWrite = pending;
    if (this.writingLater) return;
    this.writingLater = true;
    void (async () => {
      let waitMs = 5_000;
      while (s.pendingWrite) {
        await sleep(waitMs);
        waitMs = Math.min(waitMs * 2, 60_000);
        const p = s.pendingWrite;
        if (!p) break;
        try {
          await this.writeState(p.to, p.note, { announce: false });
          log.info(`ticket ${this.ticket.id}: the tracker is back and records ${p.to}`);
        } catch (err) {
          if (!(err instanceof ActivityFailure)) throw err;
        }
      }
      this.writingLater = false;
    })();
  }

  /**
   * Parks the ticket at a human gate until `approve` or `reject` arrives, and records the intervention. With a gate
   * timeout (`humanGates.timeoutMs`, unless the gate is in `keepWaiting`) an unanswered gate ends as a reject with
   * the reason "no answer in <duration>" (kept in `state.expired`), which is not an intervention. A `window` (a veto
   * window: the revert gate's `revert.vetoMs`) waits `limitMs` instead and then answers `unanswered`.
   */
  async humanGate(gate: GateReason, reason: string, window?: { limitMs: number; unanswered: 'approve' }): Promise<'approve' | 'reject'> {
    const s = this.state;
    s.decision = undefined;
    this.enter('human-gate');
    // The tracker records the gate first; only then do the status query and the batch announce it. A tracker that
    // cannot be written must not keep a person from answering: the gate still opens, and says so in the log.
    await this.tryWriteState('awaiting-human', `${gate}: ${reason}`, `the ${gate} gate`);
    s.openGate(gate, reason, Date.now());
    this.show();
    await this.notifyBatch(gate);
    const limit = window?.limitMs ?? (this.config.humanGates.keepWaiting.includes(gate) ? undefined : this.config.humanGates.timeoutMs);
    if (!(await this.awaitDecision(gate, limit))) {
      if (window) {
        // A veto window that passed unanswered: what was proposed goes ahead.
        s.waiting = undefined;
        await this.notifyBatch(null);
        return window.unanswered;
      }
      s.expired = `no answer in ${formatMs(limit ?? 0)} at the ${gate} gate (${reason})`;
      s.waiting = undefined;
      await this.notifyBatch(null);
      return 'reject';
    }
    const d = s.closeGate(this.ticket.id, Date.now());
    if (d.kind === 'approve') await this.tryWriteState(s.mergeCommit === undefined ? 'in-progress' : 'merged', `${gate} approved by ${d.by}`, 'the approve');
    await this.notifyBatch(null);
    return d.kind;
  }

  /**
   * Waits for the decision (the `approve`/`reject` update or signal) at most `limitMs` (no limit when undefined).
   * With a GitHub tracker that polls (`tracker.pollMs`), the issue is also read for a person's answer by label, from
   * `pollMs` doubling up to ten times that (an answer given between the gate's label and the first read counts). A
   * read that fails is logged and tried at the next poll.
   * @returns false when `limitMs` passed unanswered.
   */
  private async awaitDecision(gate: GateReason, limitMs: number | undefined): Promise<boolean> {
    const s = this.state;
    const answered = (): boolean => s.decision !== undefined;
    const tracker = this.config.tracker;
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
        const r = await acts.readGateAnswer.executeWithOptions({ ...OPTIONS.gateRead, summary: `read ${this.ticket.id}'s labels for an answer at the ${gate} gate` }, [
          { ticketsDir: this.config.ticketsDir, tracker, ticketId: this.ticket.id, ...(cursor ? { after: cursor } : {}) },
        ]);
        cursor = r.cursor ?? cursor;
        if (r.answer && !answered()) s.decision = r.answer;
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        log.warn(`ticket ${this.ticket.id}: reading the issue's labels at the ${gate} gate failed: ${err.cause?.message ?? err.message}`);
      }
      if (answered()) return true;
      const left = end - Date.now();
      if (left <= 0) return false;
      if (await condition(answered, Math.min(waitMs, left))) return true;
      waitMs = Math.min(waitMs * 2, tracker.pollMs * 10);
    }
  }

  /**
   * Runs `fn` holding the deployment-wide lock `key` (workflows/lock.ts): waits durably for its turn (the lock's Web UI
   * page shows the line), and releases it when `fn` ends, however it ends, also when this workflow is cancelled
   * while it waits or holds (otherwise the lock would wait out `holdMs`, or grant it to a workflow that no longer
   * wants it). `holdMs` bounds how long the lock is kept if this workflow dies holding it.
   */
  async withLock<T>(key: string, what: string, holdMs: number, fn: () => Promise<T>): Promise<T> {
    const requestId = uuid4();
    const asked = Date.now();
    const request = { requester: workflowInfo().workflowId, requestId, holdMs, what: `${what} ${this.ticket.id}` };
    await local.requestLock
      .executeWithOptions({ ...OPTIONS.lock, summary: `ask for the lock ${key}` }, [{ key, taskQueue: workflowInfo().taskQueue, request }])
      .catch(asStepFailure('requestLock'));
    const release = (): Promise<void> =>
      getExternalWorkflowHandle(lockWorkflowId(key))
        .signal(lockReleaseSignal, { requestId })
        // A lock that released it by time-out and then ended idle is not there to tell: nothing to release.
        .catch((err: unknown) => log.warn(`could not release the lock ${key} (${(err as Error).message}); a lock that has ended holds nothing`));
    let held = false;
    try {
      await condition(() => this.granted.has(requestId));
      metrics.deploymentLockWaited(what, Date.now() - asked);
      const result = await fn();
      held = true;
      return result;
    } finally {
      this.granted.delete(requestId);
      const released = CancellationScope.nonCancellable(release);
      // After a step that ended well the ticket goes on while the release travels. A cancelled or failed workflow
      // waits for it: the server drops a signal whose sender has closed.
      if (held) this.inFlight.push(released);
      else await released;
    }
  }

  /**
   * Runs a step of an attempt that needs the ticket's worktree (samples-typescript `worker-specific-task-queues`):
   * first on the task queue of the worker that holds it, with a schedule-to-start timeout of the batch's
   * `hostWaitMs`; when no worker takes it from there in that time (that worker died, or stayed busy), on the shared
   * queue, where any worker takes it over (validate makes the worktree again from the attempt's commit; implement
   * and merge need nothing of it).
   */
  async onHost<T>(what: string, options: ActivityOptions, step: (options: ActivityOptions) => Promise<T>): Promise<T> {
    const on = this.state.host;
    if (on === undefined) return step(options);
    const waitMs = this.config.hostWaitMs;
    try {
      return await step({ ...options, taskQueue: on, scheduleToStartTimeout: waitMs });
    } catch (err) {
      if (!(err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START')) throw err;
      log.warn(`ticket ${this.ticket.id}: no worker took ${what} from ${on} in ${formatMs(waitMs)}; any worker takes it over`);
      if (this.state.host === on) this.state.host = undefined;
      return step(options);
    }
  }

  /** Notes where a step left the ticket's worktree (its result's `hostTaskQueue`). @returns the result. */
  heldOn<R extends { hostTaskQueue?: string }>(result: R): R {
    if (result.hostTaskQueue !== undefined) this.state.host = result.hostTaskQueue;
    return result;
  }
}
