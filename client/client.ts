/**
 * Typed client library over @temporalio/client: everything the `ratchet` CLI does, callable from code.
 * It speaks only the public contract in workflows/messages.ts, so anything here can also be done with the
 * Temporal CLI or Web UI (see {@link equivalentTemporalCommand}).
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {
  ApplicationFailure,
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import {
  approveUpdate,
  batchStatusQuery,
  batchWorkflowId,
  rejectUpdate,
  resumeUpdate,
  statusQuery,
  TASK_QUEUE,
  ticketWorkflowId,
  type BatchStatus,
  type BatchStatusRequest,
  type GateAnswer,
  type TicketStatus,
} from '../workflows/messages';
import type { GateDecision, RunReport, TicketReport } from '../workflows/types';
import { BadInputError, batchFileSchema, ID_PATTERN, parseOrThrow, type BatchFile } from '../workflows/input';
import {
  BatchFailedError,
  GateRejectedError,
  isUnreachable,
  rootMessage,
  TemporalUnreachableError,
  WatchInterruptedError,
} from './errors';

export { formatReport } from './format';
export * from './errors';

import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE, temporalTarget } from '../deploy/connection';
export { DEFAULT_ADDRESS, DEFAULT_NAMESPACE } from '../deploy/connection';
/** How long `connect` waits for the server to answer, ms. */
const CONNECT_TIMEOUT_MS = 5_000;
/** Deadline of one status query while watching, ms: a batch without a worker must not stall the watch. */
const QUERY_TIMEOUT_MS = 5_000;

/** The address used when none is given: `$TEMPORAL_ADDRESS` or a temporal.toml profile's, else 127.0.0.1:7233. */
export function defaultAddress(): string {
  return temporalTarget().address;
}

/** The namespace used when none is given: `$TEMPORAL_NAMESPACE` or a temporal.toml profile's, else `default`. */
export function defaultNamespace(): string {
  return temporalTarget().namespace;
}

/**
 * Fails fast on an address where nothing listens: the SDK would retry until its deadline.
 * @returns why the TCP connection was refused, or undefined when it was accepted (or the check was inconclusive).
 */
function tcpRefused(address: string): Promise<string | undefined> {
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port)) return Promise.resolve(undefined); // let the SDK report the format
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (why: string | undefined): void => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => done(undefined));
    socket.once('connect', () => done(undefined));
    socket.once('error', (e: NodeJS.ErrnoException) =>
      done(e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' ? `unknown host ${host}` : undefined),
    );
  });
}

/**
 * Connects to Temporal and checks that it answers.
 * @param address - host:port; default `$TEMPORAL_ADDRESS` or 127.0.0.1:7233.
 * @param namespace - default `$TEMPORAL_NAMESPACE` or `default`.
 * @returns a Client; close it with `client.connection.close()`.
 * @throws TemporalUnreachableError when nothing answers within 5 s (the message says how to fix it).
 */
export async function connect(address?: string, namespace?: string): Promise<Client> {
  const t = temporalTarget({ address, namespace });
  const target = t.address;
  const refused = await tcpRefused(target);
  if (refused) throw new TemporalUnreachableError(target, refused);
  try {
    const connection = await Connection.connect({ ...t.connection, connectTimeout: CONNECT_TIMEOUT_MS });
    return new Client({ connection, namespace: t.namespace });
  } catch (err) {
    throw new TemporalUnreachableError(target, rootMessage(err));
  }
}

/**
 * A batch file ready to start: the JSON as written (so the worker re-validates exactly what a person wrote), with
 * `repo` made absolute and `batchId` always set.
 */
export type StartableBatch = BatchFile & { batchId: string; repo: string };

/** 1-based line and column of a character offset in `text`. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

/** Reads and parses JSON; a syntax error becomes a BadInputError naming the file, line and column. */
async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder' : rootMessage(err);
    throw new BadInputError(file, [`${why}; fix: pass the path of a batch JSON file`]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const lineCol = /\(line (\d+) column (\d+)\)/.exec(message);
    const position = /at position (\d+)/.exec(message);
    let where = '';
    if (lineCol) where = ` at line ${lineCol[1]}, column ${lineCol[2]}`;
    else if (position) {
      const { line, column } = lineColumn(text, Number(position[1]));
      where = ` at line ${line}, column ${column}`;
    } else if (/end of JSON input/i.test(message)) {
      const { line, column } = lineColumn(text, text.length);
      where = ` at line ${line}, column ${column} (end of file)`;
    }
    throw new BadInputError(file, [
      `not valid JSON${where}: ${message}; fix: correct the JSON syntax (quotes, commas, brackets)`,
    ]);
  }
}

/** Checks that `repo` (absolute) is a folder with `.git` (a folder, or a file in a linked worktree). */
async function checkRepo(file: string, written: string, repo: string): Promise<void> {
  const shown = written === repo ? `"${repo}"` : `"${written}" (resolved to ${repo})`;
  const stat = await fs.stat(repo).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw new BadInputError(file, [
      `field "repo" is ${shown}: no such folder; fix: point "repo" at a git repository (relative paths are ` +
        'resolved against the batch file\'s folder)',
    ]);
  }
  if (!(await fs.stat(path.join(repo, '.git')).catch(() => undefined))) {
    throw new BadInputError(file, [
      `field "repo" is ${shown}: not a git repository (no .git); fix: run \`git init\` there and commit, ` +
        'or point "repo" at an existing git repository',
    ]);
  }
}

/**
 * Loads a batch file and rejects bad input before anything starts.
 *
 * Validates with `batchFileSchema`, resolves a relative `repo` against the batch file's folder, checks the repo is a
 * git repository, and sets `batchId` (from the file, else the file name without extension).
 * @param file - path of the batch JSON file.
 * @returns the batch as written, with `repo` absolute and `batchId` set.
 * @throws BadInputError naming the file, the field, the value and the fix (JSON syntax errors give line/column).
 */
export async function loadBatchFile(file: string): Promise<StartableBatch> {
  const json = await readJson(file);
  const parsed = parseOrThrow(batchFileSchema, json, file);
  const raw = json as BatchFile;
  const repo = path.resolve(path.dirname(path.resolve(file)), parsed.repo);
  await checkRepo(file, parsed.repo, repo);
  const batchId = parsed.batchId ?? path.basename(file, path.extname(file));
  if (!ID_PATTERN.test(batchId)) {
    throw new BadInputError(file, [
      `batch id "${batchId}" (taken from the file name) must match [A-Za-z0-9._-]{1,64}; fix: add a "batchId" ` +
        'field such as "release-1" to the file, or rename the file to use only letters, digits, ".", "_" and "-"',
    ]);
  }
  return { ...raw, repo, batchId };
}

/**
 * Starts a batch workflow (`batchWorkflow` on task queue `ratchet`, id `batch-<batchId>`), after refusing bad input
 * with nothing started: a worker runs the same validation as the batch's own `loadBatch` (`checkBatchWorkflow`, on
 * the host that holds the repository: ticket files, probes, `tickets` ids, repo, base branch, `envFrom`), and the
 * tracker must not be held by another running batch.
 * @param batch - from {@link loadBatchFile}.
 * @returns the workflow id and the first run id.
 * @throws BadInputError for bad input, a tracker another batch holds, a batch with that id already running, or no
 *   worker polling the task queue (the message says what to do).
 */
export async function startBatch(client: Client, batch: StartableBatch): Promise<{ workflowId: string; runId: string }> {
  const workflowId = batchWorkflowId(batch.batchId);
  const check = await checkBatch(client, batch, workflowId);
  const holder = await claimHolder(client, check.claim);
  if (holder) {
    throw new BadInputError(`batch ${batch.batchId}`, [
      `the tracker ${holder.ticketsDir} is held by running batch ${holder.batchId} (claim workflow ${check.claim}); ` +
        `fix: let it finish (\`ratchet watch ${holder.batchId}\`) or cancel it, then start this one: two batches over one ` +
        'tracker would merge tickets twice',
    ]);
  }
  try {
    const handle = await client.workflow.start('batchWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [batch],
      staticSummary: `ratchet batch ${batch.batchId}`,
    });
    return { workflowId, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new BadInputError(`batch ${batch.batchId}`, [
        `workflow ${workflowId} is already running; fix: watch it with \`ratchet watch ${batch.batchId}\`, ` +
          'or set a different "batchId" in the batch file',
      ]);
    }
    throw err;
  }
}

/** How long `ratchet start` waits for a worker to check a batch, ms. */
const CHECK_TIMEOUT_MS = 120_000;

/** Runs `checkBatchWorkflow` on a worker; its bad-input failure becomes a BadInputError with the same message. */
async function checkBatch(client: Client, batch: StartableBatch, workflowId: string): Promise<{ batchId: string; tickets: number; claim: string }> {
  if (!(await workerPolls(client))) {
    throw new BadInputError(`batch ${batch.batchId}`, [
      `no ratchet worker polls task queue "${TASK_QUEUE}", and a worker checks the batch where the repository is; ` +
        'fix: start one (`ratchet worker`) and run this again',
    ]);
  }
  try {
    return await client.workflow.execute('checkBatchWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: `check-${workflowId}-${Date.now().toString(36)}`,
      args: [batch, workflowId],
      workflowExecutionTimeout: CHECK_TIMEOUT_MS,
      staticSummary: `ratchet start: check batch ${batch.batchId} before starting it`,
    });
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.nonRetryable) throw new BadInputError(`batch ${batch.batchId}`, [cause.message]);
    throw err;
  }
}

/** How long `ratchet start` waits for a worker to show up on the task queue (one just started polls within it), ms. */
const WORKER_WAIT_MS = 10_000;

/** Whether a worker polls task queue `ratchet` now or within {@link WORKER_WAIT_MS}. */
async function workerPolls(client: Client): Promise<boolean> {
  const deadline = Date.now() + WORKER_WAIT_MS;
  for (;;) {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: TASK_QUEUE },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
    });
    if (pollers?.length) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The running batch that holds the claim `claimId`, or undefined when no such claim runs. */
async function claimHolder(client: Client, claimId: string): Promise<{ batchId: string; ticketsDir: string } | undefined> {
  try {
    const handle = client.workflow.getHandle(claimId);
    if ((await handle.describe()).status.name !== 'RUNNING') return undefined;
    return await handle.query<{ batchId: string; ticketsDir: string }>('holder');
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Turns "no such workflow" (or "already finished") into a BadInputError naming the id a person typed. */
function notFound(err: unknown, what: string, workflowId: string): never {
  if (err instanceof WorkflowNotFoundError && /already completed/i.test(err.message)) {
    throw new BadInputError(what, [
      `workflow ${workflowId} has already finished, so it takes no more answers; fix: see its outcome with ` +
        '`ratchet status <batchId>` or in the Web UI',
    ]);
  }
  if (err instanceof WorkflowNotFoundError) {
    throw new BadInputError(what, [
      `no workflow ${workflowId} in this namespace; fix: check the id (\`temporal workflow list\` or the Web UI)`,
    ]);
  }
  throw err;
}

/**
 * Queries a batch's `status`.
 * @returns BatchStatus (state, tickets with their tracker state and gate, oracle verdict, report when done).
 * @throws BadInputError when no such batch exists.
 */
export async function batchStatus(client: Client, batchId: string): Promise<BatchStatus> {
  const workflowId = batchWorkflowId(batchId);
  return client.workflow.getHandle(workflowId).query(batchStatusQuery).catch((err: unknown) => notFound(err, `batch ${batchId}`, workflowId));
}

/**
 * Queries a ticket's `status`.
 * @returns TicketStatus (phase, attempt, gate it waits at, timeline, interventions).
 * @throws BadInputError when the ticket workflow does not exist (not started yet, or a wrong id).
 */
export async function ticketStatus(client: Client, batchId: string, ticketId: string): Promise<TicketStatus> {
  const workflowId = ticketWorkflowId(batchId, ticketId);
  return client.workflow.getHandle(workflowId).query(statusQuery).catch((err: unknown) => notFound(err, `ticket ${ticketId}`, workflowId));
}

async function answerGate(
  kind: 'approve' | 'reject',
  client: Client,
  batchId: string,
  ticketId: string,
  decision: GateDecision,
): Promise<GateAnswer> {
  const workflowId = ticketWorkflowId(batchId, ticketId);
  try {
    return await client.workflow
      .getHandle(workflowId)
      .executeUpdate(kind === 'approve' ? approveUpdate : rejectUpdate, { args: [decision] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new GateRejectedError(rootMessage(err));
    return notFound(err, `ticket ${ticketId}`, workflowId);
  }
}

/**
 * Approves the human gate a ticket waits at, through the validated `approve` update on `ticket-<batchId>-<ticketId>`.
 * @param decision - `{ by, comment? }`, recorded as an intervention.
 * @returns the workflow's answer (which gate was answered).
 * @throws GateRejectedError with the validator's message verbatim (e.g. the ticket is not waiting);
 *   BadInputError when the ticket workflow does not exist.
 */
export function approve(client: Client, batchId: string, ticketId: string, decision: GateDecision): Promise<GateAnswer> {
  return answerGate('approve', client, batchId, ticketId, decision);
}

/**
 * Rejects the human gate a ticket waits at (the ticket ends human-gated), through the validated `reject` update.
 * @throws as {@link approve}.
 */
export function reject(client: Client, batchId: string, ticketId: string, decision: GateDecision): Promise<GateAnswer> {
  return answerGate('reject', client, batchId, ticketId, decision);
}

/**
 * Resumes a paused batch (circuit breaker, or no ticket could start) through the validated `resume` update on
 * `batch-<batchId>`.
 * @throws GateRejectedError with the validator's message verbatim (e.g. the batch is not paused);
 *   BadInputError when no such batch exists.
 */
export async function resume(client: Client, batchId: string, by: string, comment?: string): Promise<void> {
  const workflowId = batchWorkflowId(batchId);
  try {
    await client.workflow.getHandle(workflowId).executeUpdate(resumeUpdate, { args: [comment === undefined ? { by } : { by, comment }] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new GateRejectedError(rootMessage(err));
    notFound(err, `batch ${batchId}`, workflowId);
  }
}

/** Quotes a word for a POSIX shell when it needs it. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9._\-:/@=]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The Temporal CLI command that does the same as `ratchet approve|reject`: proof that the CLI is not the only door.
 * @param opts - address/namespace, added as flags only when they differ from the defaults.
 * @returns e.g. `temporal workflow update execute --workflow-id ticket-b-t --name approve --input '{"by":"ana"}'`.
 */
export function equivalentTemporalCommand(
  kind: 'approve' | 'reject',
  batchId: string,
  ticketId: string,
  decision: GateDecision,
  opts: { address?: string; namespace?: string } = {},
): string {
  const words = ['temporal', 'workflow', 'update', 'execute'];
  if (opts.address && opts.address !== DEFAULT_ADDRESS) words.push('--address', opts.address);
  if (opts.namespace && opts.namespace !== DEFAULT_NAMESPACE) words.push('--namespace', opts.namespace);
  words.push('--workflow-id', ticketWorkflowId(batchId, ticketId), '--name', kind);
  const payload = decision.comment === undefined ? { by: decision.by } : { by: decision.by, comment: decision.comment };
  return `${words.map(shellQuote).join(' ')} --input ${shellQuote(JSON.stringify(payload))}`;
}

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
