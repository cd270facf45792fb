/**
 * Watching a batch: progress lines while it runs (client-side polling of the `status` queries), and its run report
 * joined with its tickets' results when it ends.
 */
import { ApplicationFailure, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  batchStatusQuery,
  batchWorkflowId,
  statusQuery,
  ticketWorkflowId,
  type BatchStatus,
  type BatchStatusRequest,
  type TicketStatus,
} from '../workflows/messages';
import type { RunReport, TicketReport } from '../workflows/types';
import { isUnreachable, rootMessage } from './errors';
import { BatchFailedError, WatchInterruptedError } from '../workflows/errors';
import { notFound } from './status';

/** Deadline of one status query while watching, ms: a batch without a worker must not stall the watch. */
const QUERY_TIMEOUT_MS = 5_000;

/** One change seen while watching: a ticket moved, or the batch changed state. */
export type WatchChange =
  | {
      kind: 'ticket';
      ticketId: string;
      title: string;
      /** Tracker state from the batch's status. */
      state: string;
      phase?: string;
      attempt?: number;
      maxAttempts?: number;
      /** Set while the ticket waits at a human gate. */
      waitingFor?: string;
      waitingReason?: string;
      /** Set while the ticket rides out an outage (its repository or a folder gone or unwritable). */
      outage?: string;
      /** First line of the feedback the previous attempt left (why it failed). */
      feedback?: string;
      /** When the line's phase started, ms since epoch; default: now. */
      at?: number;
    }
  | { kind: 'batch'; state: BatchStatus['state']; pausedReason?: string };

/** Options of {@link watchBatch}. */
export interface WatchOptions {
  /** Aborting stops watching (the batch keeps running) and rejects with WatchInterruptedError. */
  signal?: AbortSignal;
  /** Poll interval, ms; default 1000. */
  intervalMs?: number;
}

/** The phases that belong to one attempt (workflows/ticket.ts records the attempt on their spans only). */
const ATTEMPT_PHASES: string[] = ['implement', 'validate', 'merge'];

const clock = (at?: number): string => (at === undefined ? new Date() : new Date(at)).toTimeString().slice(0, 8);

/** What a progress line shows for a ticket: its phase while running, else its tracker state. */
function ticketColumns(change: Extract<WatchChange, { kind: 'ticket' }>): string[] {
  if (!change.phase || change.state === 'done' || change.state === 'human-gated') return [change.state];
  const parts = [change.phase.padEnd(11)];
  if (change.attempt) parts.push(`attempt ${change.attempt}${change.maxAttempts ? `/${change.maxAttempts}` : ''}`);
  const retry = change.phase === 'implement' && change.attempt !== undefined && change.attempt > 1;
  if ((retry || change.phase === 'self-heal' || change.phase === 'blocked') && change.feedback) parts.push(`after: ${change.feedback}`);
  if (change.waitingFor) {
    parts.push(`waiting for a person at the ${change.waitingFor} gate${change.waitingReason ? ` (${change.waitingReason})` : ''}`);
  } else if (change.outage) {
    parts.push(`riding out an outage, no attempt spent (${change.outage})`);
  }
  return parts;
}

/** The progress line for a change, e.g. `12:00:01 greet        implement   attempt 1/3`. */
export function formatChange(change: WatchChange): string {
  if (change.kind === 'batch') {
    const why = change.pausedReason ? `: ${change.pausedReason}` : '';
    return `${clock()} batch ${change.state}${why}`;
  }
  return `${clock(change.at)} ${[change.ticketId.padEnd(12), ...ticketColumns(change)].join(' ').trimEnd()}`;
}

function abortable(ms: number, signal: AbortSignal | undefined, done: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(finish, ms);
    function finish(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      resolve();
    }
    signal?.addEventListener('abort', finish, { once: true });
    done.then(finish, finish);
  });
}

/**
 * A batch's run report with each ticket's row joined with its ticket workflow's result: the title and the time per
 * phase, which the batch's rows leave to the ticket workflows (see `TicketRow`). Rows that have them, rows of tickets
 * the batch did not run (0 attempts) and tickets whose result cannot be read stay as they are. Reads 8 results at a
 * time.
 * @returns a new report; `report` is not changed.
 */
export async function joinTicketReports(client: Client, report: RunReport): Promise<RunReport> {
  const rows = [...report.tickets];
  const todo = rows.map((row, i) => [row, i] as const).filter(([row]) => row.phaseMs === undefined && row.attempts > 0);
  let cursor = 0;
  const readNext = async (): Promise<void> => {
    while (cursor < todo.length) {
      const [row, i] = todo[cursor++];
      try {
        const r = (await client.workflow.getHandle(ticketWorkflowId(report.batchId, row.ticketId)).result()) as TicketReport;
        rows[i] = { ...row, title: r.title, phaseMs: r.phaseMs };
      } catch {
        // Not readable (gone from the server's retention, or failed): the row as the batch recorded it.
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, readNext));
  return { ...report, tickets: rows };
}

/**
 * Watches a batch until it finishes: about once per `intervalMs` it queries the batch's `status` and the `status` of
 * each running ticket, and calls `onChange` with a line whenever a ticket's state, phase, attempt or gate changes.
 * A running ticket's phases come from its timeline, so a phase that began and ended between two polls still gets its
 * line (stamped with the time it started). Client-side only: stopping the watch never touches the batch.
 * @param onChange - receives the progress line and the structured change.
 * @returns the batch's RunReport (the workflow result), its rows joined with their tickets' results
 *   ({@link joinTicketReports}).
 * @throws BatchFailedError with the failure's message when the batch failed; WatchInterruptedError when
 *   `opts.signal` aborts; BadInputError when no such batch exists.
 */
export async function watchBatch(
  client: Client,
  batchId: string,
  onChange: (line: string, change: WatchChange) => void,
  opts: WatchOptions = {},
): Promise<RunReport> {
  const workflowId = batchWorkflowId(batchId);
  const handle = client.workflow.getHandle(workflowId);
  const result = handle.result() as Promise<RunReport>;
  result.catch(() => undefined); // handled below; avoids an unhandled rejection when the watch is aborted first
  let settled = false;
  void result.then(
    () => (settled = true),
    () => (settled = true),
  );
  const seen = new Map<string, { fingerprint: string; state: string }>();
  const emit = (key: string, change: WatchChange): void => {
    // A change is a change of what the line shows (minus free text): state, phase, attempt, gate.
    const fingerprint = change.kind === 'batch' ? change.state : ticketColumns({ ...change, waitingReason: undefined }).join(' ');
    if (seen.get(key)?.fingerprint === fingerprint) return;
    seen.set(key, { fingerprint, state: change.state });
    onChange(formatChange(change), change);
  };
  const lastTicket = new Map<string, TicketStatus>();
  /** Per ticket, how many spans of its timeline have been printed (the current phase is span `timeline.length`). */
  const printedSpans = new Map<string, number>();
  /**
   * Prints a running ticket's progress from its timeline: every span finished since the last poll first (a phase
   * shorter than the poll interval still gets its line, with its own start time), then the current phase.
   */
  const emitTicket = (t: BatchStatus['tickets'][number], ticket: TicketStatus | undefined): void => {
    const base = { kind: 'ticket' as const, ticketId: t.id, title: t.title, state: t.state };
    if (!ticket) {
      emit(`ticket:${t.id}`, { ...base, waitingFor: t.waitingFor });
      return;
    }
    const spans = ticket.timeline;
    // Feedback of a retry: the note of the span that failed before it, else (older histories) the last feedback.
    const after = (i: number): string | undefined => spans[i - 1]?.note ?? (i === spans.length ? ticket.lastFeedback?.split('\n')[0] : undefined);
    // Span `printed` was printed as the current phase at the last poll; nothing printed yet: start at the first.
    const printed = printedSpans.get(t.id);
    for (let i = printed === undefined ? 0 : printed + 1; i < spans.length; i++) {
      const span = spans[i];
      emit(`ticket:${t.id}`, { ...base, phase: span.phase, attempt: span.attempt, maxAttempts: ticket.maxAttempts, feedback: after(i), at: span.startedAt });
    }
    printedSpans.set(t.id, spans.length);
    emit(`ticket:${t.id}`, {
      ...base,
      phase: ticket.phase,
      // Like the spans: only the phases of an attempt carry its number.
      attempt: ATTEMPT_PHASES.includes(ticket.phase) ? ticket.attempt : undefined,
      maxAttempts: ticket.maxAttempts,
      waitingFor: ticket.waitingFor ?? t.waitingFor,
      waitingReason: ticket.waitingReason,
      ...(ticket.outage ? { outage: ticket.outage.reason } : {}),
      feedback: after(spans.length),
    });
  };
  /**
   * Where the list of ended tickets was read up to: the first poll reads the first page of every ticket, later ones
   * only the running and waiting tickets and what ended since (BatchStatusRequest "active"), so a poll costs what
   * changed, not the batch's size. Undefined until the first answer.
   */
  let endedFrom: number | undefined;
  const titles = new Map<string, string>();
  const poll = async (): Promise<void> => {
    const deadline = (): number => Date.now() + QUERY_TIMEOUT_MS;
    let status: BatchStatus;
    const ask: BatchStatusRequest | undefined = endedFrom === undefined ? undefined : { tickets: 'active', endedFrom };
    try {
      status = await client.withDeadline(deadline(), () => handle.query(batchStatusQuery, ask));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) notFound(err, `batch ${batchId}`, workflowId);
      if (isUnreachable(err)) throw err;
      return; // a query can fail while the workflow is between tasks; the next poll tries again
    }
    emit('batch', { kind: 'batch', state: status.state, pausedReason: status.pausedReason });
    // Batches from before pages answer every ticket whatever is asked, and no endedCount: read them whole each time.
    if (status.endedCount !== undefined) {
      for (const e of status.ended ?? []) {
        emit(`ticket:${e.ticketId}`, { kind: 'ticket', ticketId: e.ticketId, title: titles.get(e.ticketId) ?? '', state: e.outcome });
      }
      endedFrom = status.endedCount;
    }
    for (const t of status.tickets) {
      titles.set(t.id, t.title);
      let ticket: TicketStatus | undefined;
      if (t.running) {
        // A failed query (the child is between tasks or just finished) keeps the last answer: no flicker.
        ticket = await client
          .withDeadline(deadline(), () => client.workflow.getHandle(ticketWorkflowId(batchId, t.id)).query(statusQuery))
          .catch(() => lastTicket.get(t.id));
        if (ticket) lastTicket.set(t.id, ticket);
      }
      emitTicket(t, ticket);
    }
  };

  while (!settled) {
    if (opts.signal?.aborted) throw new WatchInterruptedError(batchId);
    await poll();
    await abortable(opts.intervalMs ?? 1_000, opts.signal, result);
  }
  if (opts.signal?.aborted) throw new WatchInterruptedError(batchId);
  try {
    const report = await joinTicketReports(client, await result);
    for (const t of report.tickets) {
      if (seen.get(`ticket:${t.ticketId}`)?.state === t.outcome) continue;
      emit(`ticket:${t.ticketId}`, { kind: 'ticket', ticketId: t.ticketId, title: t.title ?? '', state: t.outcome });
    }
    return report;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const type = err.cause instanceof ApplicationFailure ? err.cause.type : undefined;
      throw new BatchFailedError(batchId, rootMessage(err), type ?? undefined);
    }
    if (err instanceof WorkflowNotFoundError) notFound(err, `batch ${batchId}`, workflowId);
    throw err;
  }
}
