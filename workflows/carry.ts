/**
 * What a batch carries into its next run when it continues as new (DESIGN.md "Scale-out"), and its wire form. Pure
 * functions, no I/O: the batch workflow calls them, and tests measure them without a server.
 *
 * Temporal refuses a payload over 2 MB, and a batch's carry grows with its tickets. On the wire the graph travels as
 * columns (ids once; titles, edges as indexes, states), evidence and report rows as short tuples that refer to a
 * ticket by its index and leave out what can be told again (an ended ticket's merge commit is in its evidence, not
 * again in its row; a workflow's evidence note is written again from its row). At 10,000 tickets with 30-character
 * titles, nearly all ended, that is ~1.4 MB (test/unit/carry.test.ts measures it; ~140 bytes an ended ticket, 42 of
 * them its merge commit), against ~4.5 MB for the same carry as plain objects.
 */
import type {
  DiscoveredRecord,
  DiscoveredWork,
  Evidence,
  GateReason,
  HealRecord,
  Intervention,
  LoadedBatch,
  PhaseName,
  TicketNode,
  TicketReport,
  TicketRow,
  TicketState,
  TrackerTamper,
} from './types';
import type { BatchStatus } from './messages';
import type { AgentBreakerCarry } from './batch/agent-breaker';
import { TICKET_KINDS } from './types';

/** Discovered work waiting for the loop to file it; `key` finds it again (a person's update waits on it). */
export interface Discovery {
  key: string;
  work: DiscoveredWork;
  filedBy: DiscoveredRecord['filedBy'];
  /** For an agent's report: which entry of which attempt's list, to answer the ticket. */
  reply?: { ticketId: string; attempt: number; index: number };
  /** Agents' work counts against the discovery cap; a person's, or work a person let through with `resume`, not. */
  capped: boolean;
}

/**
 * What a batch carries into its next run, as the workflow uses it: the graph, the tracker's view, evidence, what runs
 * and waits, rows of ended tickets, and counts. Maps as entry lists.
 */
export interface BatchCarry {
  loaded: LoadedBatch;
  startedAt: number;
  state: BatchStatus['state'];
  pausedReason?: string;
  pausedBy: Intervention['gate'];
  states: [string, TicketState][];
  expected: [string, TicketState][];
  evidence: Record<string, Evidence>;
  tampers: TrackerTamper[];
  running: string[];
  started: string[];
  waiting: [string, GateReason][];
  phases: [string, PhaseName][];
  waitingSince: [string, number][];
  rows: [string, TicketRow][];
  batchInterventions: Intervention[];
  held: Discovery[];
  discovered: [string, DiscoveredRecord][];
  discoverySeq: number;
  heals: HealRecord[];
  ticketInterventions: [string, Intervention[]][];
  healBudgets: [string, number][];
  parked: [string, string[]][];
  consecutiveFailures: number;
  lastFailure?: string;
  /** Tracker writes this batch's chain has made: the next write's fence number (absent in carries before 0.2.1). */
  trackerWrites?: number;
  /** Tickets whose `ticketEnded` said "look" and whose end is not read yet (absent: none, or a carry before 0.2.1). */
  endsToCheck?: string[];
  /** Landings reopened for a regression (`<ticket>@<merge>`), absent when none. */
  reopened?: string[];
  /** Resumes at the batch's `budget` gate (each grants another `budget.batchUsd`), absent when none. */
  budgetGrants?: number;
  /** The agent breaker's state (batch/agent-breaker.ts), absent while it has counted nothing. */
  agents?: AgentBreakerCarry;
}

/** A ticket on the wire: its index in `ids`, or its id when it is not a node of the graph. */
type Ref = number | string;

/** Evidence on the wire: `[ticket, outcome, source, at - startedAt (ms), merge commit or 0, note]`; no note: told again. */
type EvidenceWire = [Ref, Evidence['outcome'], Evidence['source'], number, string | 0, string?];

/** A row on the wire: `[ticket, attempts, the rest]`; outcome and merge commit as in its evidence unless the rest says. */
type RowWire = [Ref, number, Partial<Record<keyof TicketRow, unknown>>?];

/** The wire form of {@link BatchCarry} (version 2; a carry without `v` is a plain BatchCarry from an older run). */
export interface CarryWire extends Omit<BatchCarry, 'loaded' | 'states' | 'expected' | 'evidence' | 'rows' | 'started'> {
  v: 2;
  loaded: Omit<LoadedBatch, 'tickets'>;
  ids: string[];
  titles: string[];
  /** Each ticket's blockers, as indexes (or ids outside the graph). */
  deps: Ref[][];
  /** The tracker's view per ticket; 0: not read. */
  states: (TicketState | 0)[];
  /** What ratchet last wrote per ticket; 1: the same as `states`, 0: nothing recorded. */
  expected: (TicketState | 0 | 1)[];
  /** The state and note each ticket had when the batch loaded (`TicketNode.state`), for those not `todo`. */
  loadedStates: [number, TicketState, string?][];
  /**
   * Each ticket's kind (`TicketNode.kind`) as its index in `TICKET_KINDS` (which only grows at its end), -1 for none;
   * absent when no node has one (and in carries from before kinds were kept).
   */
  kinds?: number[];
  evidence: EvidenceWire[];
  rows: RowWire[];
  started: Ref[];
  /** States and expected states of ids that are not nodes of the graph (none in practice; kept, not dropped). */
  outside?: { states: [string, TicketState][]; expected: [string, TicketState][] };
}

/** The carry of a batch that has just loaded (`startedAt`: workflow time, ms): nothing started, read or ended yet. */
export function loadedCarry(loaded: LoadedBatch, startedAt: number): BatchCarry {
  return {
    loaded,
    startedAt,
    state: 'running',
    pausedBy: 'paused',
    states: [],
    expected: [],
    evidence: {},
    tampers: [],
    running: [],
    started: [],
    waiting: [],
    phases: [],
    waitingSince: [],
    rows: [],
    batchInterventions: [],
    held: [],
    discovered: [],
    discoverySeq: 0,
    heals: [],
    ticketInterventions: [],
    healBudgets: [],
    parked: [],
    consecutiveFailures: 0,
  };
}

/**
 * Marks ticket `id` of `carry` ended done by its workflow: tracker state, expected state, evidence with `mergeCommit`
 * at `at` (workflow time, ms), its report row. What a carry holds for each such ticket; used to measure carries.
 */
export function endDone(carry: BatchCarry, id: string, mergeCommit: string, at: number): void {
  const row: TicketRow = { ticketId: id, outcome: 'done', attempts: 1, mergeCommit };
  carry.states.push([id, 'done']);
  carry.expected.push([id, 'done']);
  carry.evidence[id] = { outcome: 'done', source: 'workflow', note: workflowNote(row), mergeCommit, at };
  carry.rows.push([id, row]);
  carry.started.push(id);
}

/** Evidence note of a ticket whose workflow ended with `row`. */
export function workflowNote(row: Pick<TicketRow, 'outcome' | 'mergeCommit' | 'reason'>): string {
  return row.outcome === 'done' ? `its workflow ended done: merge ${row.mergeCommit ?? '?'}, verified live` : `its workflow ended human-gated: ${row.reason ?? ''}`;
}

/**
 * The batch's row of a ticket's report: without the title, time per phase and timeline (in the ticket workflow's
 * result) and without empty lists. See {@link TicketRow}.
 */
export function rowOf(report: TicketRow | TicketReport): TicketRow {
  const row: TicketRow = { ticketId: report.ticketId, outcome: report.outcome, attempts: report.attempts };
  if (report.mergeCommit !== undefined) row.mergeCommit = report.mergeCommit;
  if (report.reason !== undefined) row.reason = report.reason;
  if (report.interventions?.length) row.interventions = report.interventions;
  if (report.tamperings?.length) row.tamperings = report.tamperings;
  if (report.guardedBy?.length) row.guardedBy = report.guardedBy;
  if (report.heals?.length) row.heals = report.heals;
  if (report.semanticConflicts?.length) row.semanticConflicts = report.semanticConflicts;
  if (report.regressions?.length) row.regressions = report.regressions;
  if (report.reverts?.length) row.reverts = report.reverts;
  if (report.flaky?.length) row.flaky = report.flaky;
  if (report.landings?.length) row.landings = report.landings;
  if (report.reviews?.length) row.reviews = report.reviews;
  if (report.costUsd !== undefined) row.costUsd = report.costUsd;
  if (report.costUnknownRuns) row.costUnknownRuns = report.costUnknownRuns;
  if (report.failures && Object.keys(report.failures).length) row.failures = report.failures;
  return row;
}

/** `carry` in its wire form. */
export function encodeCarry(carry: BatchCarry): CarryWire {
  const { loaded, states, expected, evidence, rows, started, ...rest } = carry;
  const { tickets, ...loadedRest } = loaded;
  const ids = tickets.map((t) => t.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const ref = (id: string): Ref => index.get(id) ?? id;
  const stateOf = new Map(states);
  const expectedOf = new Map(expected);
  const evidenceWire: EvidenceWire[] = [];
  const rowOfId = new Map(rows);
  for (const [id, ev] of Object.entries(evidence)) {
    const row = rowOfId.get(id);
    const told = ev.source === 'workflow' && row !== undefined && workflowNote(row) === ev.note;
    const wire: EvidenceWire = [ref(id), ev.outcome, ev.source, ev.at - carry.startedAt, ev.mergeCommit ?? 0];
    if (!told) wire.push(ev.note);
    evidenceWire.push(wire);
  }
  const rowsWire: RowWire[] = rows.map(([id, row]) => {
    const ev = evidence[id];
    const { ticketId: _id, attempts, ...others } = row;
    const restOf: Partial<Record<keyof TicketRow, unknown>> = { ...others };
    if (ev && restOf.outcome === ev.outcome) delete restOf.outcome;
    if (ev && restOf.mergeCommit === ev.mergeCommit) delete restOf.mergeCommit;
    else if (ev?.mergeCommit !== undefined && restOf.mergeCommit === undefined) restOf.mergeCommit = null;
    return Object.keys(restOf).length ? [ref(id), attempts, restOf] : [ref(id), attempts];
  });
  const outside = { states: states.filter(([id]) => !index.has(id)), expected: expected.filter(([id]) => !index.has(id)) };
  const loadedStates = tickets.flatMap((t, i): [number, TicketState, string?][] =>
    t.state === 'todo' && t.stateNote === undefined ? [] : [t.stateNote === undefined ? [i, t.state] : [i, t.state, t.stateNote]],
  );
  const kinds = tickets.some((t) => t.kind !== undefined) ? { kinds: tickets.map((t) => (t.kind === undefined ? -1 : TICKET_KINDS.indexOf(t.kind))) } : {};
  return {
    v: 2,
    ...rest,
    loaded: loadedRest,
    ids,
    titles: tickets.map((t) => t.title),
    ...kinds,
    deps: tickets.map((t) => t.dependsOn.map(ref)),
    states: ids.map((id) => stateOf.get(id) ?? 0),
    expected: ids.map((id) => {
      const e = expectedOf.get(id);
      return e === undefined ? 0 : e === stateOf.get(id) ? 1 : e;
    }),
    loadedStates,
    evidence: evidenceWire,
    rows: rowsWire,
    started: started.map(ref),
    ...(outside.states.length || outside.expected.length ? { outside } : {}),
  };
}

/** The carry a run was started with, from its wire form (or as it is, from a run before the wire form). */
export function decodeCarry(wire: CarryWire | BatchCarry): BatchCarry {
  if (!('v' in wire)) return wire;
  const { v: _v, loaded, ids, titles, deps, states, expected, loadedStates, evidence, rows, started, outside, kinds, ...rest } = wire;
  const id = (r: Ref): string => (typeof r === 'number' ? ids[r] : r);
  const tickets: TicketNode[] = ids.map((tid, i) => {
    const kind = TICKET_KINDS[kinds?.[i] ?? -1];
    return { id: tid, title: titles[i], dependsOn: deps[i].map(id), state: 'todo', ...(kind !== undefined ? { kind } : {}) };
  });
  for (const [i, state, note] of loadedStates) {
    tickets[i].state = state;
    if (note !== undefined) tickets[i].stateNote = note;
  }
  const stateList: [string, TicketState][] = [];
  const expectedList: [string, TicketState][] = [];
  ids.forEach((tid, i) => {
    const s = states[i];
    if (s !== 0) stateList.push([tid, s]);
    const e = expected[i];
    if (e === 1 && s !== 0) expectedList.push([tid, s]);
    else if (e !== 0 && e !== 1) expectedList.push([tid, e]);
  });
  stateList.push(...(outside?.states ?? []));
  expectedList.push(...(outside?.expected ?? []));
  const evidenceOf: Record<string, Evidence> = {};
  for (const [r, outcome, source, at, mergeCommit] of evidence) {
    evidenceOf[id(r)] = { outcome, source, note: '', ...(mergeCommit !== 0 ? { mergeCommit } : {}), at: at + wire.startedAt };
  }
  const rowList: [string, TicketRow][] = rows.map(([r, attempts, others]) => {
    const tid = id(r);
    const ev = evidenceOf[tid];
    const row = { ticketId: tid, outcome: ev?.outcome, attempts, ...(ev?.mergeCommit !== undefined ? { mergeCommit: ev.mergeCommit } : {}), ...others } as TicketRow;
    if ((row.mergeCommit as unknown) === null) delete row.mergeCommit;
    return [tid, row];
  });
  const rowById = new Map(rowList);
  for (const [r, , source, , , note] of evidence) {
    const tid = id(r);
    const row = rowById.get(tid);
    evidenceOf[tid].note = note ?? (source === 'workflow' && row ? workflowNote(row) : '');
  }
  return {
    ...rest,
    loaded: { ...loaded, tickets },
    states: stateList,
    expected: expectedList,
    evidence: evidenceOf,
    rows: rowList,
    started: started.map(id),
  };
}
