/**
 * batchWorkflow: runs a batch of tickets by their dependency graph and finishes only when the oracle holds.
 * Input: the batch file as JSON (what `temporal workflow start --input-file batch.json` sends), validated by the
 * `loadBatch` activity before any ticket starts. Scheduling is event-driven: every child completion re-reads the
 * tracker and recomputes the ready set; no polling.
 *
 * Trust (DESIGN.md "Trust boundaries"): the batch records its own evidence for every ticket (its workflow ended
 * done or human-gated, it was final when the batch loaded, or the batch gated it behind a blocker) and the oracle
 * counts a tracker state only with that evidence. A tracker state that changes without ratchet writing it is a
 * tracker tamper: recorded, shown in status, the Web UI and the report, and it pauses the batch until a person
 * sends `resume`. The batch never completes while a ticket workflow of its own still runs.
 */
import {
  ApplicationFailure,
  ActivityFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  patched,
  startChild,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { claimWorkflow, claimWorkflowId, releaseClaimSignal } from './claim';
import { blockedByHumanGate, readySet } from './graph';
import { decodeCarry, encodeCarry, rowOf, workflowNote, type BatchCarry, type CarryWire, type Discovery } from './carry';
import { definitionFor, withHarness } from './done';
import { discoveredId, discoverRequestToWork, discoveryProblem, overCap } from './discovery';
import {
  batchStatusQuery,
  STATUS_PAGE,
  blockerDoneSignal,
  discoveredSignal,
  discoverUpdate,
  discoveryFiledSignal,
  healSignal,
  resumeSignal,
  claimCheckSignal,
  resumeUpdate,
  ticketEndedSignal,
  ticketProgressSignal,
  ticketWaitingSignal,
  ticketWorkflowId,
  trackerTamperSignal,
  type BatchStatus,
  type BatchStatusRequest,
  type ResumeDecision,
  type TicketEnd,
} from './messages';
import { unblocked } from './metrics';
import { oracle, type OracleVerdict } from './oracle';
import { RatchetAttempt, RatchetBatch, RatchetPhase, RatchetTicket } from './search-attributes';
import { asStepFailure, LOCAL_PATCH, LOCAL_RETRY_THRESHOLD } from './local';
import { ticketWorkflow } from './ticket';
import {
  DEFAULT_DISCOVERY,
  type DiscoveredRecord,
  type Evidence,
  type GateReason,
  type HealRecord,
  type Intervention,
  type PhaseName,
  type LoadedBatch,
  type RunReport,
  type Ticket,
  type TicketFact,
  type TicketInput,
  type TicketNode,
  type TicketRow,
  type TicketState,
  type TrackerTamper,
} from './types';

/** Patch: tickets start abandoned and report their end by signal; the batch reads only what changed and continues as new. */
const SCALE_PATCH = 'batch-continue-as-new';

/**
 * Patch: the batch keeps graph nodes (`loadBatch` with `nodes`), reads a ticket whole from the tracker when it starts
 * it (`readTracker`), and carries its state in the wire form of carry.ts.
 */
const NODES_PATCH = 'batch-ticket-nodes';

/**
 * Patch: a ticket starts as soon as the batch knows it is ready, before the turn's tracker read. A ticket's
 * `ticketEnded` sets its state in the batch's view (the outcome its workflow wrote last; ticket workflows send no
 * progress signal for that write), so its dependents are ready in that same turn; they start from their graph nodes
 * and read themselves from the tracker with their first write (`TicketInput.readSelf`), whose compare-and-set
 * reports a tracker tamper of their state as the batch's read would have.
 */
const DIRECT_START_PATCH = 'start-before-read';

export type { BatchCarry } from './carry';

/** Up to this many tickets, the batch's Web UI details list every ticket; above it, only running ones. */
const DETAILS_ROWS = 100;

export async function batchWorkflow(raw: unknown, carriedWire?: CarryWire | BatchCarry): Promise<RunReport> {
  const info = workflowInfo();
  // Batches from before continue-as-new await their children and re-read every ticket on every completion.
  const scale = patched(SCALE_PATCH);
  // Batches from before nodes keep whole tickets from `loadBatch` and start them as loaded.
  const nodes = scale && patched(NODES_PATCH);
  // Batches from before take a ticket's last state from its progress signal, and read a ticket whole to start it.
  const direct = nodes && patched(DIRECT_START_PATCH);
  const carried = carriedWire && decodeCarry(carriedWire);
  const startedAt = carried?.startedAt ?? Date.now();
  const acts = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    // The activities heartbeat while they run: a dead worker's task is retried elsewhere within seconds.
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes: ['BadInput', 'RatchetError', 'ConfigError'] },
  });
  // The tracker's reads and writes of each turn: local activities (workflows/local.ts), or activity tasks in
  // batches from before. The last read of a large batch reads every ticket: its time-out leaves room for that.
  const tracker: Pick<Activities, 'readTracker' | 'setTicketState'> =
    direct && patched(LOCAL_PATCH)
      ? proxyLocalActivities<Activities>({
          startToCloseTimeout: '2 minutes',
          localRetryThreshold: LOCAL_RETRY_THRESHOLD,
          retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes: ['BadInput', 'RatchetError', 'ConfigError'] },
        })
      : acts;

  let state: BatchStatus['state'] = carried?.state ?? 'loading';
  let pausedReason: string | undefined = carried?.pausedReason;
  let pausedBy: Intervention['gate'] = carried?.pausedBy ?? 'paused';
  let tickets: TicketNode[] = [];
  /** The tracker's view, as last read. */
  const states = new Map<string, TicketState>(carried?.states);
  /** What ratchet last wrote (or read at load) for each ticket no workflow of ours owns right now. */
  const expected = new Map<string, TicketState>(carried?.expected);
  const evidence: Record<string, Evidence> = carried?.evidence ?? {};
  const tampers: TrackerTamper[] = carried?.tampers ?? [];
  /** Tampers a person settled with `resume`, still to act on in the loop. */
  let settle: { tamper: TrackerTamper; how: 'restore' | 'accept' }[] = [];
  const running = new Set<string>(carried?.running);
  const started = new Set<string>(carried?.started);
  const waiting = new Map<string, GateReason>(carried?.waiting);
  /** For running tickets: the phase of their last progress signal, and since when they wait at their gate. */
  const phases = new Map<string, PhaseName>(carried?.phases);
  const waitingSince = new Map<string, number>(carried?.waitingSince);
  /** Ended tickets' report rows (whole reports in batches from before continue-as-new). */
  const reports = new Map<string, TicketRow>(carried?.rows);
  const batchInterventions: Intervention[] = carried?.batchInterventions ?? [];
  /** Tickets whose tracker state the loop reads at its next turn (batches that continue as new read no more). */
  const toRead = new Set<string>();
  /** Ticket workflows being started in this turn of the loop. */
  let starting: Promise<void>[] = [];
  let verdict: OracleVerdict = oracle([], [], {});
  let report: RunReport | undefined = undefined;
  let dirty = true;
  let consecutiveFailures = carried?.consecutiveFailures ?? 0;
  let lastFailure: string | undefined = carried?.lastFailure;
  let loaded: LoadedBatch | undefined = carried?.loaded;
  const unresolved = (): TrackerTamper[] => tampers.filter((t) => !t.resolved);
  /** Discovered work to file at the next turn of the loop, and work held at the discovery cap for a person. */
  let discoveries: Discovery[] = [];
  let held: Discovery[] = carried?.held ?? [];
  /** What became of each discovered piece of work, by its key; in status and the report. */
  const discovered = new Map<string, DiscoveredRecord>(carried?.discovered);
  let discoverySeq = carried?.discoverySeq ?? 0;
  /** Every heal a ticket of this batch ran or declined as churn, as its ticket reported it (status; the budget). */
  const heals: HealRecord[] = carried?.heals ?? [];
  /** When each ticket's workflow ended in this run, workflow time (for the unblock latency metric). */
  const endedAt = new Map<string, number>();
  /** Per running or ended ticket, the interventions its progress signals reported (its report supersedes them). */
  const ticketInterventions = new Map<string, Intervention[]>(carried?.ticketInterventions);
  /** Every intervention so far, by the tickets' reports where they ended, else their progress, plus the batch's. */
  const interventionsSoFar = (): Intervention[] => [
    ...ids.flatMap((id) => reports.get(id)?.interventions ?? ticketInterventions.get(id) ?? []),
    ...batchInterventions,
  ];
  const countByKind = (list: Intervention[]): Record<string, number> => {
    const byKind: Record<string, number> = {};
    for (const i of list) byKind[i.kind] = (byKind[i.kind] ?? 0) + 1;
    return byKind;
  };
  /** How many interventions, in all and by kind: what the status and the Web UI details show. */
  const interventionCounts = (list: Intervention[]): BatchStatus['interventions'] => ({ total: list.length, byKind: countByKind(list) });
  /** The heal budget each started ticket was given (see `healing`). */
  const healBudgets = new Map<string, number>(carried?.healBudgets);
  /** Running tickets that wait for discovered blockers (ticket -> blockers not yet ended). */
  const parked = new Map<string, Set<string>>(carried?.parked.map(([id, blockers]) => [id, new Set(blockers)]));

  /** One ticket as the status query lists it. */
  const statusRow = (t: TicketNode): BatchStatus['tickets'][number] => ({
    id: t.id,
    title: t.title,
    dependsOn: t.dependsOn,
    state: states.get(t.id) ?? t.state,
    running: running.has(t.id),
    phase: running.has(t.id) ? phases.get(t.id) : undefined,
    waitingFor: waiting.get(t.id),
    waitingSince: waitingSince.get(t.id),
    evidence: evidence[t.id],
  });
  // A page of the tickets, or the active ones and what ended since the asker's cursor (BatchStatusRequest).
  setHandler(batchStatusQuery, (ask?: BatchStatusRequest) => {
    const counts: Partial<Record<TicketState, number>> = {};
    for (const t of tickets) {
      const s = states.get(t.id) ?? t.state;
      counts[s] = (counts[s] ?? 0) + 1;
    }
    const active = ask?.tickets === 'active';
    const from = Math.max(0, Math.floor(ask?.from ?? 0));
    const limit = Math.min(STATUS_PAGE, Math.max(0, Math.floor(ask?.limit ?? STATUS_PAGE)));
    const listed = active ? tickets.filter((t) => running.has(t.id) || waiting.has(t.id)) : tickets.slice(from, from + limit);
    return {
      batchId: loaded?.config.batchId ?? info.workflowId.replace(/^batch-/, ''),
      state,
      pausedReason,
      ticketCount: tickets.length,
      counts,
      endedCount: reports.size,
      // The ended list is built only when asked for: the default answer needs its length alone.
      ...(active ? { ended: [...reports].slice(Math.max(0, Math.floor(ask?.endedFrom ?? 0))).map(([id, r]) => ({ ticketId: id, outcome: r.outcome })) } : {}),
      tickets: listed.map(statusRow),
      oracle: scale ? known() : verdict,
      trackerTampers: tampers,
      discovered: [...discovered.values()],
      heals,
      interventions: interventionCounts(interventionsSoFar()),
      // The report (also the workflow's result, ~100 bytes a ticket) only with an answer that lists every ticket.
      ...(!active && from === 0 && tickets.length <= limit ? { report } : {}),
    };
  });
  setHandler(ticketEndedSignal, (end) => {
    // A ticket the batch does not count as running (a duplicate, or a ticket of a run before a resume restarted it).
    if (!running.has(end.ticketId)) return;
    if (end.refused !== undefined) notTaken(end.ticketId, end.refused);
    else ended(end);
  });
  // A claim checks now and then that its batch still runs (see claim.ts): nothing to do.
  setHandler(claimCheckSignal, () => undefined);
  setHandler(ticketWaitingSignal, ({ ticketId, gate }) => {
    if (gate) waiting.set(ticketId, gate);
    else waiting.delete(ticketId);
    // The ticket wrote its tracker state before signalling: re-read so status and the oracle's verdict show it.
    dirty = true;
  });
  setHandler(ticketProgressSignal, ({ ticketId, state: s, phase, gate, since, interventions }) => {
    if (!running.has(ticketId)) return; // a late signal from a ticket workflow that has ended
    if (interventions) ticketInterventions.set(ticketId, interventions);
    // What a running ticket writes is its own (no tamper check while it runs): shown as is.
    states.set(ticketId, s);
    phases.set(ticketId, phase);
    const was = waiting.get(ticketId);
    if (gate) waiting.set(ticketId, gate);
    else waiting.delete(ticketId);
    if (gate && since !== undefined) waitingSince.set(ticketId, since);
    else waitingSince.delete(ticketId);
    // A gate that opens or closes changes what the oracle's verdict should say: re-read then, not on every write.
    if ((was ?? null) !== gate) dirty = true;
  });
  setHandler(healSignal, ({ record, harness }) => {
    heals.push(record);
    // Tickets started from now on get the healed harness (the definition of done never changes).
    if (harness && loaded) loaded.config = withHarness(loaded.config, harness);
  });
  setHandler(trackerTamperSignal, (t) => {
    tampers.push({ ...t, seenBy: 'ticket' });
    dirty = true;
  });
  const checkResume = (d: ResumeDecision): void => {
    if (typeof d?.by !== 'string' || d.by.trim() === '') {
      throw new Error(`resume needs a payload {"by": "<who>", "comment"?: "<text>", "tamper"?: "restore" | "accept"}: field "by" is ${JSON.stringify(d?.by)}`);
    }
    if (d.discovered !== undefined && d.discovered !== 'file' && d.discovered !== 'drop') {
      throw new Error(`resume field "discovered" is ${JSON.stringify(d.discovered)}: use "file" (file the held discovered tickets) or "drop"`);
    }
    if (d.tamper !== undefined && d.tamper !== 'restore' && d.tamper !== 'accept') {
      throw new Error(`resume field "tamper" is ${JSON.stringify(d.tamper)}: use "restore" (write back what ratchet recorded) or "accept" (take the tracker's state as your decision)`);
    }
    if (state !== 'paused') throw new Error(`batch ${info.workflowId} is ${state}, not paused; resume is accepted only while the status query shows state "paused"`);
  };
  const doResume = ({ by, comment, tamper, discovered: how }: ResumeDecision): void => {
    batchInterventions.push({ kind: 'resume', ticketId: '', gate: pausedBy, by, comment, at: Date.now() });
    for (const t of unresolved()) {
      t.resolved = { by, at: Date.now(), action: tamper === 'accept' ? 'accepted' : 'restoring' };
      settle.push({ tamper: t, how: tamper ?? 'restore' });
      toRead.add(t.ticketId);
    }
    // Work held at the discovery cap: the person's answer files it (past the cap) or drops it.
    for (const d of held) {
      if (how === 'drop') {
        record(d, { status: 'dropped', reason: `dropped by ${by} at the discovery cap` });
      } else {
        discoveries.push({ ...d, capped: false });
      }
    }
    held = [];
    state = 'running';
    pausedReason = undefined;
    consecutiveFailures = 0;
    // Tickets that ended without reaching done or human-gated may be scheduled again.
    for (const id of [...started]) if (!running.has(id) && !evidence[id]) started.delete(id);
    dirty = true;
  };
  setHandler(
    resumeUpdate,
    (d) => {
      doResume(d);
      return { batchId: loaded?.config.batchId ?? info.workflowId, state: 'running' as const };
    },
    { validator: checkResume },
  );
  setHandler(resumeSignal, (d) => {
    try {
      checkResume(d);
      doResume(d);
    } catch (err) {
      log.warn(`resume signal ignored: ${(err as Error).message}`);
    }
  });

  setHandler(discoveredSignal, ({ ticketId, attempt, heal, work }) => {
    work.forEach(({ blocksThisTicket, ...w }, index) => {
      discoveries.push({
        key: `${ticketId}#${attempt}#${index}`,
        work: { ...w, id: undefined, dependsOn: [], blocks: blocksThisTicket ? [ticketId] : [] },
        filedBy: heal ? { kind: 'agent', ticketId, attempt, heal } : { kind: 'agent', ticketId, attempt },
        reply: { ticketId, attempt, index },
        capped: true,
      });
    });
    dirty = true;
  });
  setHandler(
    discoverUpdate,
    async (req) => {
      const key = `person#${discoverySeq++}`;
      discoveries.push({ key, work: discoverRequestToWork(req), filedBy: { kind: 'person', by: req.by }, capped: false });
      dirty = true;
      await condition(() => discovered.has(key));
      const r = discovered.get(key) as DiscoveredRecord;
      if (r.status !== 'filed' || r.ticketId === undefined) {
        throw ApplicationFailure.create({ type: 'BadInput', nonRetryable: true, message: `discover refused: ${r.reason ?? r.status}` });
      }
      return { ticketId: r.ticketId, dependsOn: r.dependsOn, blocks: r.blocks };
    },
    {
      validator: (req) => {
        if (!loaded || state === 'loading' || state === 'done' || state === 'failed') {
          throw new Error(`batch ${info.workflowId} is ${state}; discover is accepted only while the batch runs or is paused`);
        }
        const work = discoverRequestToWork(req);
        const none = noProbes();
        if (none) throw new Error(`discover: ${none}`);
        // Without an id, the id the loop would pick stands in (it only matters for uniqueness).
        let id = work.id;
        for (let n = 1; id === undefined || (work.id === undefined && ids.includes(id)); n++) id = discoveredId(undefined, n);
        const problem = discoveryProblem({ ...work, id }, tickets, started, { kind: 'person', by: req.by });
        if (problem) throw new Error(`discover: ${problem}`);
      },
    },
  );

  // ---- load, validate and claim the tracker: nothing starts before this succeeds ----------------------------
  // A batch that continued as new carries what it loaded and its claim.
  if (!loaded) {
    try {
      loaded = await loadOrRefuse(acts, raw, info.workflowId, nodes);
      await claim(loaded, scale);
    } catch (err) {
      state = 'failed';
      throw err;
    }
  }
  const { doneFingerprint } = loaded;
  const claimId = claimWorkflowId(loaded.trackerKey);
  /** The batch's config as loaded; an accepted heal replaces its harness part in `loaded.config`. */
  const config = loaded.config;
  const current = (): LoadedBatch['config'] => (loaded as LoadedBatch).config;
  // Discovered tickets join the batch while it runs: tickets, ids and byId grow.
  tickets = loaded.tickets.map((t) => ({ ...t, dependsOn: [...t.dependsOn] }));
  const ids = tickets.map((t) => t.id);
  const byId = new Map(tickets.map((t) => [t.id, t]));
  for (const t of carried ? [] : tickets) {
    states.set(t.id, t.state);
    expected.set(t.id, t.state);
    if (isFinal(t.state)) {
      const note = `the tracker said ${t.state}${t.stateNote ? ` (${t.stateNote})` : ''} when the batch loaded`;
      evidence[t.id] = { outcome: t.state as Evidence['outcome'], source: 'preexisting', note, at: startedAt };
    }
  }
  const writer = `batch ${config.batchId}`;
  if (!carried) {
    state = 'running';
    upsertSearchAttributes([
      { key: RatchetBatch, value: config.batchId },
      { key: RatchetPhase, value: 'running' },
    ]);
  }

  /** The oracle's verdict over the tracker's view as last read (what status shows between full reads). */
  function known(): OracleVerdict {
    return oracle(ids, [...states].map(([id, s]) => ({ id, state: s })), evidence);
  }

  /**
   * What the batch carries into its next run (see {@link BatchCarry}), in its wire form: the graph's nodes (a ticket
   * that starts later is read whole then), the tracker's view, evidence and report rows.
   */
  function carry(): CarryWire {
    return encodeCarry({
      loaded: { ...(loaded as LoadedBatch), tickets },
      startedAt,
      state,
      pausedReason,
      pausedBy,
      states: [...states],
      expected: [...expected],
      evidence,
      tampers,
      running: [...running],
      started: [...started],
      waiting: [...waiting],
      phases: [...phases],
      waitingSince: [...waitingSince],
      rows: [...reports],
      batchInterventions,
      held,
      discovered: [...discovered],
      discoverySeq,
      heals,
      ticketInterventions: [...ticketInterventions].filter(([id]) => running.has(id) && !reports.has(id)),
      healBudgets: [...healBudgets].filter(([id]) => running.has(id)),
      parked: [...parked].map(([id, blockers]) => [id, [...blockers]]),
      consecutiveFailures,
      lastFailure,
    });
  }

  function isFinal(s: TicketState | undefined): boolean {
    return s === 'done' || s === 'human-gated';
  }

  /** The tracker's view with every final state ratchet has no evidence for taken back: what scheduling may trust. */
  function trusted(): Map<string, TicketState> {
    const view = new Map<string, TicketState>();
    for (const id of ids) {
      const s = states.get(id) ?? 'todo';
      view.set(id, isFinal(s) && evidence[id]?.outcome !== s ? (expected.get(id) ?? 'todo') : s);
    }
    return view;
  }

  /**
   * Compares what the tracker says with what ratchet last wrote, for tickets no workflow of ours owns now and no
   * person's `resume` is settling right now. `readIds`: the tickets whose facts were read.
   */
  function noticeTampers(facts: TicketFact[], readIds: readonly string[]): void {
    const now = new Map(facts.map((f) => [f.id, f.state]));
    const settling = new Set(settle.map((x) => x.tamper.ticketId));
    for (const id of readIds) {
      const want = expected.get(id);
      if (running.has(id) || settling.has(id) || want === undefined) continue;
      const got = now.get(id) ?? 'missing';
      if (got === want || unresolved().some((t) => t.ticketId === id)) continue;
      tampers.push({ ticketId: id, from: want, to: got, at: Date.now(), seenBy: 'batch' });
    }
  }

  /** Sets a ticket's state as the batch and records a tamper when the state before was not what ratchet wrote. */
  async function write(id: string, to: TicketState, note: string, overwritingTamper = false): Promise<void> {
    const { previous } = await tracker
      .setTicketState({ ticketsDir: config.ticketsDir, tracker: config.tracker, ticketId: id, state: to, note, by: writer })
      .catch(asStepFailure('setTicketState'));
    const want = expected.get(id);
    if (!overwritingTamper && want !== undefined && previous !== want && previous !== to) {
      tampers.push({ ticketId: id, from: want, to: previous, at: Date.now(), seenBy: 'batch' });
    }
    expected.set(id, to);
    states.set(id, to);
  }

  /** Acts on the tampers a person settled with `resume`: restore what ratchet recorded, or accept the tracker. */
  async function settleTampers(): Promise<void> {
    const todo = settle;
    settle = [];
    for (const { tamper, how } of todo) {
      const id = tamper.ticketId;
      const resolved = tamper.resolved as NonNullable<TrackerTamper['resolved']>;
      const now = states.get(id);
      if (running.has(id)) {
        resolved.action = 'left to its running ticket workflow, which keeps writing its own states';
      } else if (how === 'accept' && now !== undefined) {
        expected.set(id, now);
        if (isFinal(now)) {
          evidence[id] = { outcome: now as Evidence['outcome'], source: 'person', note: `${resolved.by} accepted the tracker's ${now} after a tracker tamper`, at: Date.now() };
        }
        resolved.action = `accepted: ${now}, as ${resolved.by} decided`;
      } else {
        // What ratchet recorded last: the state before the tamper, or what the ticket's workflow wrote since.
        const want = expected.get(id) ?? tamper.from;
        if (now === want) {
          resolved.action = `the tracker says ${want}, as ratchet recorded`;
        } else {
          await write(id, want, `restored after a tracker tamper (resume by ${resolved.by})`, true);
          resolved.action = `restored to ${want}`;
        }
      }
    }
  }

  /** Why no discovered ticket can be filed: it would have no verify-live probe (they take the batch's). */
  function noProbes(): string | undefined {
    if (loaded && loaded.config.probes.length > 0) return undefined;
    return 'the batch has no batch-level probe, and a discovered ticket is verified live by those; add "probes" to the batch file';
  }

  /** Records what became of a piece of discovered work and answers the ticket that reported it, if it still runs. */
  function record(d: Discovery, outcome: Pick<DiscoveredRecord, 'status' | 'reason' | 'ticketId'>): DiscoveredRecord {
    const r: DiscoveredRecord = {
      ...outcome,
      title: d.work.title,
      filedBy: d.filedBy,
      dependsOn: d.work.dependsOn,
      blocks: d.work.blocks,
      at: Date.now(),
    };
    discovered.set(d.key, r);
    if (d.reply && running.has(d.reply.ticketId)) {
      const { ticketId, attempt, index } = d.reply;
      getExternalWorkflowHandle(ticketWorkflowId(config.batchId, ticketId))
        .signal(discoveryFiledSignal, { replies: [{ attempt, index, record: r }] })
        .catch((err: unknown) => log.warn(`could not tell ticket ${ticketId} about its discovered work: ${(err as Error).message}`));
    }
    return r;
  }

  /**
   * Files discovered work: checks it against the batch's graph (ids, edges, cycles), holds agents' work over the
   * discovery cap for a person, picks an id the tracker does not use yet, writes the ticket to the tracker and adds
   * it with its edges; a ticket it blocks that is running waits for it (parked).
   */
  async function fileDiscoveries(): Promise<void> {
    const todo = discoveries;
    discoveries = [];
    const limits = config.discovery ?? DEFAULT_DISCOVERY;
    for (const d of todo) {
      const finder = d.filedBy.kind === 'agent' ? d.filedBy.ticketId : undefined;
      if (d.capped && finder !== undefined) {
        const why = overCap([...discovered.values()], finder, limits);
        if (why) {
          held.push(d);
          record(d, { status: 'held', reason: `${why}; waiting for a person: resume files it, resume with "discovered": "drop" drops it` });
          continue;
        }
      }
      let ticketId: string | undefined;
      let problem: string | undefined;
      for (let n = 1; ticketId === undefined && problem === undefined; n++) {
        const id = d.work.id ?? discoveredId(finder, n);
        if (d.work.id === undefined && ids.includes(id)) continue;
        problem = noProbes() ?? discoveryProblem({ ...d.work, id }, tickets, started, d.filedBy);
        if (problem) break;
        const ticket: Ticket = { ...d.work, id, dependsOn: [...d.work.dependsOn], probes: [], allowPaths: [], state: 'todo' };
        const who = d.filedBy.kind === 'agent' ? `ticket ${d.filedBy.ticketId} attempt ${d.filedBy.attempt} (its agent)` : d.filedBy.by;
        const { status } = await acts.fileTicket({ ticketsDir: config.ticketsDir, tracker: config.tracker, blocks: d.work.blocks, ticket, by: `${who} in batch ${config.batchId}` });
        if (status === 'taken') {
          if (d.work.id !== undefined || n >= 100) problem = `ticket id "${id}" already names another ticket in the tracker; pick another id`;
          continue;
        }
        ticketId = id;
        tickets.push(ticket);
        ids.push(id);
        byId.set(id, ticket);
        states.set(id, 'todo');
        expected.set(id, 'todo');
        for (const b of d.work.blocks) {
          const blocked = byId.get(b) as Ticket;
          blocked.dependsOn = [...blocked.dependsOn, id];
          if (running.has(b)) parked.set(b, new Set([...(parked.get(b) ?? []), id]));
        }
      }
      record(d, ticketId === undefined ? { status: 'refused', reason: problem } : { status: 'filed', ticketId });
    }
  }

  /** Tells each parked ticket about its discovered blockers that have ended (done or human-gated). */
  async function wakeParked(): Promise<void> {
    for (const [dependent, blockers] of parked) {
      for (const b of [...blockers]) {
        const ev = evidence[b];
        if (!ev) continue;
        blockers.delete(b);
        await getExternalWorkflowHandle(ticketWorkflowId(config.batchId, dependent))
          .signal(blockerDoneSignal, { ticketId: b, outcome: ev.outcome })
          .catch((err: unknown) => log.warn(`could not tell ticket ${dependent} that ${b} ended: ${(err as Error).message}`));
      }
      if (blockers.size === 0) parked.delete(dependent);
    }
  }

  function render(): void {
    // A batch of thousands lists the tickets that run (and wait) and counts the rest: the details stay readable and
    // a turn of the loop costs the same at any size.
    const listed = tickets.length <= DETAILS_ROWS ? tickets : tickets.filter((t) => running.has(t.id)).slice(0, DETAILS_ROWS);
    const notListed = tickets.length - listed.length;
    const rows = listed.map((t) => {
      const s = states.get(t.id);
      const w = waiting.get(t.id);
      const ev = evidence[t.id];
      return `| ${t.id} | ${s}${running.has(t.id) ? ' (running)' : ''}${w ? `, waiting for a person: ${w}` : ''} | ${ev ? `${ev.outcome} (${ev.source})` : '-'} | ${t.dependsOn.join(', ')} |`;
    });
    const tamperRows = tampers.map(
      (t) => `- **tracker tamper**: ${t.ticketId} ${t.from} -> ${t.to} (seen by the ${t.seenBy})${t.resolved ? `, settled by ${t.resolved.by}: ${t.resolved.action}` : ', waiting for a person: `resume`'}`,
    );
    // What the loop did by itself, and what people did.
    const healRows = heals.map((h) => `- **heal** ${h.ticketId} #${h.n}: ${h.outcome} (${h.verdict})${h.differences?.length ? `: it ${h.differences.join('; ')}` : ''}`);
    const discoveredRows = [...discovered.values()].map((d) => {
      const by = d.filedBy.kind === 'person' ? d.filedBy.by : `${d.filedBy.ticketId}${d.filedBy.heal ? ` heal ${d.filedBy.heal}` : ` attempt ${d.filedBy.attempt}`}`;
      return `- **discovered** "${d.title}" by ${by}: ${d.status}${d.ticketId ? ` as ${d.ticketId}` : ''}${d.blocks.length ? `, blocks ${d.blocks.join(', ')}` : ''}`;
    });
    const people = interventionCounts(interventionsSoFar());
    const interventionRow = [`interventions: ${people.total}${people.total ? ` (${Object.entries(people.byKind).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`];
    setCurrentDetails(
      [
        `### batch ${config.batchId}: ${state}${pausedReason ? ` (${pausedReason})` : ''}`,
        `oracle: ${verdict.satisfied ? 'satisfied' : `${verdict.pending.length} pending`}, ${verdict.done.length} done, ${verdict.humanGated.length} human-gated`,
        ...interventionRow,
        ...tamperRows,
        ...healRows,
        ...discoveredRows,
        '',
        '| ticket | tracker | evidence | depends on |',
        '|---|---|---|---|',
        ...rows,
        ...(notListed ? ['', `${notListed} more tickets not running: \`ratchet status\` lists them all`] : []),
      ].join('\n'),
    );
  }

  /**
   * What the batch decides of a ticket it starts: its edges (discovered work adds some) and the probes and allowed
   * paths of the definition of done frozen at load, whatever the tracker says now (no agent moves the finish line by
   * editing a ticket file).
   */
  function batchPart(id: string): Pick<Ticket, 'dependsOn' | 'probes' | 'allowPaths'> {
    const frozen = (loaded as LoadedBatch).definitionOfDone;
    return { dependsOn: (byId.get(id) as TicketNode).dependsOn, probes: frozen?.ticketProbes[id] ?? [], allowPaths: frozen?.allowPaths[id] ?? [] };
  }

  /** The ticket to start, from its whole read: the tracker's title, body and acceptance, and the batch's part. */
  function wholeTicket(t: Ticket): Ticket {
    return { ...t, ...batchPart(t.id) };
  }

  /**
   * The ticket to start from its graph node alone (`direct`): the batch's title, state and part; body, acceptance,
   * kind, gate, size and land are the ticket workflow's to read.
   */
  function nodeTicket(id: string): Ticket {
    const node = byId.get(id) as TicketNode;
    return { id, title: node.title, body: '', acceptance: [], kind: 'feature', state: node.state, ...batchPart(id) };
  }

  /** Nothing asks the batch to stop starting tickets: no pause, no tamper or discovery to settle, no tripped breaker. */
  function mayStart(): boolean {
    return state === 'running' && !discoveries.length && !settle.length && !held.length && unresolved().length === 0 && consecutiveFailures < config.circuitBreaker;
  }

  function start(ticket: Ticket, readSelf = false): void {
    // Unblock latency: from the last of its blockers ending in this run to now (none when a blocker was done before).
    const blockersEnded = ticket.dependsOn.map((d) => endedAt.get(d));
    if (blockersEnded.length && blockersEnded.every((t) => t !== undefined)) unblocked(Date.now() - Math.max(...(blockersEnded as number[])));
    started.add(ticket.id);
    running.add(ticket.id);
    const options = {
      workflowId: ticketWorkflowId(config.batchId, ticket.id),
      args: [
        {
          batchId: config.batchId,
          config: current(),
          ticket: { ...ticket, state: expected.get(ticket.id) ?? ticket.state },
          ...healing(ticket.id),
          ...(scale ? { endSignal: true } : {}),
          ...(readSelf ? { readSelf } : {}),
        },
      ] as [TicketInput],
      staticSummary: ticket.title,
      staticDetails: `ticket ${ticket.id} of batch ${config.batchId}`,
      typedSearchAttributes: [
        { key: RatchetBatch, value: config.batchId },
        { key: RatchetTicket, value: ticket.id },
        { key: RatchetPhase, value: 'queued' },
        { key: RatchetAttempt, value: 0 },
      ],
    };
    if (scale) {
      // Abandoned, so it outlives this run when the batch continues as new; it tells the batch's workflow id its end.
      starting.push(
        startChild(ticketWorkflow, { ...options, parentClosePolicy: ParentClosePolicy.ABANDON }).then(
          () => undefined,
          (err: unknown) => {
            // Already running under this id: it is this batch's (the ids are deterministic) and will report its end.
            if (err instanceof WorkflowExecutionAlreadyStartedError) return;
            ended({ ticketId: ticket.id, failure: `could not start: ${(err as Error).message}` });
          },
        ),
      );
      return;
    }
    executeChild(ticketWorkflow, options).then(
      (r) => ended({ ticketId: ticket.id, report: r }),
      (err: unknown) => ended({ ticketId: ticket.id, failure: (err as Error).message }),
    );
  }

  /** Records a ticket workflow's end: its evidence and report row, or its failure; the loop takes it from there. */
  function ended({ ticketId, report: r, failure }: TicketEnd): void {
    if (r) {
      endedAt.set(ticketId, Date.now());
      reports.set(ticketId, rowOf(r));
      evidence[ticketId] = { outcome: r.outcome, source: 'workflow', note: workflowNote(r), mergeCommit: r.mergeCommit, at: Date.now() };
      expected.set(ticketId, r.outcome);
      // What the ticket wrote last, as its progress signals told the rest; the turn's read checks it.
      if (direct) states.set(ticketId, r.outcome);
      consecutiveFailures = r.outcome === 'done' ? 0 : consecutiveFailures + 1;
    } else {
      consecutiveFailures++;
      // What the failed workflow last wrote is unknown here: the next read is taken as ratchet's own.
      expected.delete(ticketId);
      log.error(`ticket ${ticketId} workflow failed: ${failure ?? '?'}`);
      lastFailure = `ticket ${ticketId} workflow failed: ${failure ?? '?'}`;
    }
    running.delete(ticketId);
    waiting.delete(ticketId);
    waitingSince.delete(ticketId);
    phases.delete(ticketId);
    toRead.add(ticketId);
    dirty = true;
  }

  /**
   * A ticket started from its graph node found `found` in the tracker, not the state it was started with, and took
   * nothing: it is not started, and the tracker tamper waits for a person's `resume`, as when the batch's read finds
   * one (no ticket starts meanwhile).
   */
  function notTaken(ticketId: string, found: TicketState): void {
    running.delete(ticketId);
    started.delete(ticketId);
    phases.delete(ticketId);
    states.set(ticketId, found);
    const want = expected.get(ticketId) ?? 'todo';
    if (!unresolved().some((t) => t.ticketId === ticketId)) tampers.push({ ticketId, from: want, to: found, at: Date.now(), seenBy: 'batch' });
    toRead.add(ticketId);
    dirty = true;
  }

  /**
   * What a ticket starting now needs for its self-heal: the frozen definition of done and its heal budget. The budget
   * is reserved: `heal.maxPerBatch` minus the heals run so far and minus what running tickets hold and have not used,
   * capped by `heal.maxPerTicket`. So tickets healing at once never run more than the batch's budget between them; a
   * ticket's unused reservation is free again when it ends.
   */
  function healing(ticketId: string): Pick<TicketInput, 'definition' | 'healBudget'> {
    const heal = current().heal;
    if (!heal || !loaded?.definitionOfDone) return {};
    const ran = (id?: string): number => heals.filter((h) => h.outcome !== 'churn' && (id === undefined || h.ticketId === id)).length;
    let held = 0;
    for (const id of running) if (id !== ticketId) held += Math.max(0, (healBudgets.get(id) ?? 0) - ran(id));
    const budget = Math.max(0, Math.min(heal.maxPerTicket, heal.maxPerBatch - ran() - held));
    healBudgets.set(ticketId, budget);
    return { definition: definitionFor(loaded.definitionOfDone, ticketId), healBudget: budget };
  }

  function pause(by: Intervention['gate'], reason: string): void {
    state = 'paused';
    pausedBy = by;
    pausedReason = reason;
  }

  try {
    // ---- the loop: exit only through the oracle, with no ticket workflow of ours still running ---------------
    for (;;) {
      await condition(() => dirty);
      dirty = false;
      // Batches that continue as new read only what changed (ended tickets, settled tampers, new tickets) and the
      // tickets about to start; every ticket once everything has ended, for the oracle. Older batches read all.
      let readIds: string[] = ids;
      let next: string[] = [];
      if (direct && mayStart()) {
        // Ready by what the batch knows (a blocker's end sets its state): start them first, the read comes after.
        const free = config.maxParallel - (running.size - parked.size);
        for (const id of free > 0 ? readySet(tickets, trusted(), started).slice(0, free) : []) start(nodeTicket(id), true);
      }
      if (scale) {
        const free = config.maxParallel - (running.size - parked.size);
        next = !direct && state === 'running' && free > 0 ? readySet(tickets, trusted(), started).slice(0, free) : [];
        const allEnded = running.size === 0 && ids.every((id) => evidence[id] !== undefined);
        readIds = allEnded ? ids : [...new Set([...toRead, ...next])];
      }
      toRead.clear();
      // Batches that keep nodes read the tickets about to start whole, in the same call as the facts.
      const ref = { ticketsDir: config.ticketsDir, tracker: config.tracker };
      const { facts, tickets: wholeRead } = !readIds.length
        ? { facts: [], tickets: [] }
        : nodes
          ? await tracker.readTracker({ ...ref, ids: readIds, whole: next }).catch(asStepFailure('readTracker'))
          : { facts: await acts.readFacts({ ...ref, ids: readIds }), tickets: [] };
      const whole = new Map(wholeRead.map((t) => [t.id, t]));
      const read = new Set(nodes ? next : readIds);
      for (const f of facts) states.set(f.id, f.state);
      if (scale) for (const id of readIds) if (!facts.some((f) => f.id === id)) states.delete(id);
      for (const id of ids) if (!expected.has(id) && !running.has(id)) expected.set(id, states.get(id) ?? 'todo');
      noticeTampers(facts, readIds);
      if (settle.length) await settleTampers();
      if (discoveries.length) {
        await fileDiscoveries();
        dirty = true; // read the new tickets' facts before judging
        continue;
      }
      if (parked.size) await wakeParked();
      const fullRead = readIds === ids;
      verdict = fullRead ? oracle(ids, facts, evidence) : known();
      const finished = verdict.satisfied && running.size === 0 && unresolved().length === 0 && held.length === 0;
      if (finished && fullRead) break;
      // The oracle judges a full read of the tracker, never the view as last read.
      if (finished) dirty = true;

      // A person's reject of a blocker is final for its dependents too: record them, naming the blocker.
      const view = trusted();
      const blocked = [...blockedByHumanGate(tickets, view)].filter(([id]) => !running.has(id));
      for (const [id, blocker] of blocked) {
        await write(id, 'human-gated', `blocked by human-gated ticket ${blocker}`);
        evidence[id] = { outcome: 'human-gated', source: 'blocked', note: `blocked by human-gated ticket ${blocker}`, at: Date.now() };
        started.add(id);
        reports.set(id, blockedRow(id, blocker));
      }
      if (blocked.length) {
        dirty = true;
        continue;
      }

      const open = unresolved();
      if (open.length) {
        pause(
          'tracker-tamper',
          `tracker tamper: ${open.map((t) => `${t.ticketId} went ${t.from} -> ${t.to} without ratchet writing it`).join('; ')}; ` +
            'nothing counts it; send the batch "resume" to restore what ratchet recorded (or with "tamper": "accept" to take the tracker\'s state as your decision)',
        );
      } else if (held.length) {
        pause(
          'discovery-cap',
          `discovery cap: ${held.length} discovered ticket(s) held (${held.map((d) => `"${d.work.title}"`).join(', ')}): ${discovered.get(held[0].key)?.reason ?? ''}`,
        );
      } else if (state === 'running' && consecutiveFailures >= config.circuitBreaker) {
        pause('circuit-breaker', `circuit breaker: ${consecutiveFailures} tickets in a row ended without done${lastFailure ? ` (last: ${lastFailure})` : ''}; send the batch "resume" (update or signal) to go on`);
      }
      if (state === 'running') {
        for (const id of readySet(tickets, view, started)) {
          // A ticket parked on its discovered blockers holds no slot: its blockers must be able to run.
          if (running.size - parked.size >= config.maxParallel) break;
          if (direct) {
            start(nodeTicket(id), true);
            continue;
          }
          if (scale && !read.has(id)) {
            // Not read this turn (one read before it turned out not to be ready): read it first.
            toRead.add(id);
            dirty = true;
            continue;
          }
          if (!nodes) {
            start(byId.get(id) as Ticket);
            continue;
          }
          // Read whole just now. Gone from the tracker: not started; the read noticed a tracker tamper and pauses.
          const t = whole.get(id);
          if (t) {
            start(wholeTicket(t));
          } else {
            toRead.add(id);
            dirty = true;
          }
        }
        if (running.size === 0 && toRead.size === 0) {
          pause('paused', `no ticket can start: ${verdict.pending.map((p) => `${p.id} is ${p.state}${p.why ? ` (${p.why})` : ''}`).join(', ')}; fix the tracker or the tickets, then send "resume"`);
        }
      }
      // Every child started this turn (also one started before the read, when the batch paused since) is running.
      if (starting.length) {
        await Promise.all(starting);
        starting = [];
      }
      upsertSearchAttributes([{ key: RatchetPhase, value: state }]);
      render();
      const now = workflowInfo();
      const due = now.continueAsNewSuggested || now.historyLength >= (config.continueAsNewAtEvents ?? 4_000);
      if (scale && due && discoveries.length === 0 && settle.length === 0 && allHandlersFinished()) {
        // Ticket workflows run on (abandoned) and report their end to the batch's workflow id: the next run gets it.
        await continueAsNew<typeof batchWorkflow>(raw, carry());
      }
    }

    state = 'done';
    pausedReason = undefined;
    upsertSearchAttributes([{ key: RatchetPhase, value: 'done' }]);
    const ticketReports = ids.map((id) => reports.get(id) ?? alreadyFinalRow(id, evidence[id]));
    const all = [...ticketReports.flatMap((r) => r.interventions ?? []), ...batchInterventions];
    const byKind = countByKind(all);
    const final: RunReport = {
      batchId: config.batchId,
      oracle: { satisfied: verdict.satisfied, done: verdict.done, humanGated: verdict.humanGated, pending: verdict.pending.map((p) => p.id) },
      tickets: ticketReports,
      interventions: { total: all.length, byKind, list: all },
      trackerTampers: tampers,
      tamperingsCaught: ticketReports.flatMap((r) => r.tamperings ?? []),
      discovered: [...discovered.values()],
      heals: ticketReports.flatMap((r) => r.heals ?? []),
      startedAt,
      ms: Date.now() - startedAt,
      doneFingerprint,
    };
    report = final;
    render();
    await condition(allHandlersFinished);
  } catch (err) {
    // A batch that ends failed or cancelled frees its tracker at once (not by its claim's check); one that continues
    // as new keeps it.
    if (scale && !(err instanceof ContinueAsNew)) await CancellationScope.nonCancellable(() => releaseClaim(claimId));
    throw err;
  }
  if (scale) await releaseClaim(claimId);
  return report as RunReport;
}

/**
 * Runs `loadBatch` (its tickets as graph nodes with `nodes`); bad input becomes the workflow's own non-retryable
 * failure, naming the field and the fix.
 */
async function loadOrRefuse(acts: Activities, raw: unknown, workflowId: string, nodes = false): Promise<LoadedBatch> {
  try {
    return await acts.loadBatch(nodes ? { raw, workflowId, nodes } : { raw, workflowId });
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
      throw ApplicationFailure.create({ message: err.cause.message, type: err.cause.type ?? 'BadInput', nonRetryable: true });
    }
    throw err;
  }
}

/**
 * Claims the batch's tracker (see `claim.ts`): a second batch over the same tickets folder is refused as bad input,
 * before it writes anything, naming the claim and how to find its holder.
 */
async function claim(loaded: LoadedBatch, outlivesRun: boolean): Promise<void> {
  const workflowId = claimWorkflowId(loaded.trackerKey);
  const { batchId, ticketsDir } = loaded.config;
  try {
    await startChild(claimWorkflow, {
      workflowId,
      // A batch that continues as new keeps its claim across runs, and releases it when it finishes.
      args: [outlivesRun ? { batchId, ticketsDir, batchWorkflowId: workflowInfo().workflowId } : { batchId, ticketsDir }],
      parentClosePolicy: outlivesRun ? ParentClosePolicy.ABANDON : ParentClosePolicy.TERMINATE,
      staticSummary: `batch ${batchId} holds the tracker ${ticketsDir}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    throw ApplicationFailure.create({
      type: 'BadInput',
      nonRetryable: true,
      message:
        `the tracker ${ticketsDir} is held by another running batch (claim workflow ${workflowId}; ` +
        `\`temporal workflow query --workflow-id ${workflowId} --name holder\` names it); fix: let that batch finish ` +
        'or cancel it, then start this one: two batches over one tracker would merge tickets twice',
    });
  }
}

/** Frees the batch's tracker claim (see `claim.ts`); a claim already gone is fine. */
async function releaseClaim(claimId: string): Promise<void> {
  await getExternalWorkflowHandle(claimId)
    .signal(releaseClaimSignal)
    .catch((err: unknown) => log.warn(`could not release the claim ${claimId}: ${(err as Error).message}`));
}

/**
 * checkBatchWorkflow: what `ratchet start` runs before starting a batch, so bad input is refused with nothing
 * started. It runs the same `loadBatch` validation on a worker (where the repository is), and names the tracker's
 * claim so the caller can refuse a second batch over the same tickets.
 * @returns the batch id, the ticket count and the claim's workflow id.
 * @throws a non-retryable failure of type `BadInput` (or `ConfigError`) naming the field, the value and the fix.
 */
export async function checkBatchWorkflow(raw: unknown, batchWorkflowId: string): Promise<{ batchId: string; tickets: number; claim: string }> {
  const acts = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5, nonRetryableErrorTypes: ['BadInput', 'RatchetError', 'ConfigError'] },
  });
  const loaded = await loadOrRefuse(acts, raw, batchWorkflowId, true);
  return { batchId: loaded.config.batchId, tickets: loaded.tickets.length, claim: claimWorkflowId(loaded.trackerKey) };
}

/** The report row of a ticket the batch recorded human-gated because its blocker was. */
function blockedRow(ticketId: string, blocker: string): TicketRow {
  return { ticketId, outcome: 'human-gated', attempts: 0, reason: `blocked by human-gated ticket ${blocker}` };
}

/** The report row of a ticket the batch did not run: its evidence says why it counts. */
function alreadyFinalRow(ticketId: string, ev: Evidence | undefined): TicketRow {
  return { ticketId, outcome: ev?.outcome ?? 'human-gated', attempts: 0, reason: ev?.note ?? 'no evidence' };
}
