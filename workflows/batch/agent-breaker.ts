/**
 * The batch's fleet-wide breaker for agents (issue 27 item 6): when agent runs fail the same way across tickets (the
 * agent command missing, authentication refused, a quota or rate limit, or the same first error line), every ticket
 * is spending an agent on a cause no ticket can fix. After `breaker.sameFailure` (default 3) such runs in a row on
 * distinct tickets the batch closes its agent tap: it starts no ticket, and running tickets wait before their next
 * agent run. A person's `resume` lets one canary run go ahead; the tap reopens for all only when the canary's run does
 * not fail with that reason, else it closes again with the count.
 *
 * Protocol (ticket/agent-tap.ts is the ticket's side):
 * - ticket -> batch `agentRun` ({@link AgentRunReport}): after each agent run its outcome (`ok`, or `failed` with the
 *   normalized reason), and `waiting` when it finds the tap closed before one. `ack: true` asks for an answer.
 * - batch -> ticket `agentTap` ({@link TapMessage}): the tap as that ticket should see it (open, or closed with the
 *   reason, or closed but granted the canary run), with the batch's tap version (`v`: newest wins, whatever order
 *   signals arrive in) and the report it answers (`ack`).
 *
 * Pure: no I/O, no SDK call; the batch's schedule holds one and sends what {@link AgentBreaker.outbox} collects
 * (test/unit/agent-breaker.test.ts).
 */
import { normalizeMessage } from '../watch/failure';

/** Runs failing the same way on distinct tickets, in a row, that close the tap when the batch file sets none. */
export const DEFAULT_SAME_FAILURE = 3;

/** The patch id of the agent breaker's signals and waits (0.2.3, issue 27 item 6). */
export const AGENT_BREAKER_PATCH = 'agent-breaker';

/** Why an agent run failed, normalized: `key` tells one failure from another; `text` is what a person reads. */
export interface AgentFailure {
  /** `not-found`, `auth`, `quota`, `timed-out`, or `line:<the first error line normalized>`. */
  key: string;
  /** E.g. `authentication refused ("Error: 401 invalid x-api-key")`; at most ~200 characters. */
  text: string;
}

/** Ticket -> batch (`agentRun` signal): one agent run's outcome, or that the ticket waits at the closed tap. */
export interface AgentRunReport {
  ticketId: string;
  /** The ticket's count of reports, 1, 2, ...: the batch's answer names it in `ack`. */
  seq: number;
  /** `ok`: the run did not fail; `failed`: it did (`failure`); `waiting`: the ticket waits before its next run. */
  outcome: 'ok' | 'failed' | 'waiting';
  failure?: AgentFailure;
  /** The ticket's attempt the run belongs to (0: its plan). */
  attempt: number;
  /** The ticket waits for the batch's answer before its next agent run. */
  ack?: boolean;
}

/** Batch -> ticket (`agentTap` signal): the tap as ticket `to` sees it. */
export interface TapMessage {
  to: string;
  /** The batch's tap version: a ticket keeps the newest it got. */
  v: number;
  open: boolean;
  /** Closed, but this ticket's next agent run may go ahead: the canary. */
  canary?: boolean;
  /** Why it is closed. */
  reason?: string;
  /** The report (`seq`) this message answers. */
  ack?: number;
}

/** The tap's state: `open`; `tripped` (closed, waiting for a person's resume); `canary` (one run goes ahead first). */
export type TapState = 'open' | 'tripped' | 'canary';

/** What the breaker knows, as the status query shows it and continue-as-new carries it. */
export interface AgentBreakerCarry {
  state: TapState;
  v: number;
  /** The run of failures in a row with one reason: the reason, the distinct tickets, the failed runs counted. */
  streak?: { failure: AgentFailure; tickets: string[]; runs: number };
  /** The ticket granted the canary run, once one is. */
  canary?: string;
  /** Running tickets that wait at the closed tap, in the order they came (the canary not among them). */
  waiting: string[];
  /** How many times the tap closed. */
  trips: number;
  /** Messages not sent yet. */
  outbox: TapMessage[];
}

/** A line as quoted in a reason. */
const clip = (line: string): string => line.slice(0, 160);

/** Lines of a tail that look like an error (ratchet's own `[ratchet]` notes left out). */
const ERRORISH = /error|fatal|exception|fail|denied|refused|unauthori[sz]ed|forbidden|invalid|not found|no such file|enoent|rate.?limit|quota|credit|too many requests|\b4\d\d\b|\b5\d\d\b/i;
const NOT_FOUND = /command not found|: not found|\benoent\b|no such file or directory/i;
const AUTH = /\b40[13]\b|unauthori[sz]ed|authenticat|invalid[ _-]*(?:x-)?api[ _-]*key|api[ _-]*key.*(?:invalid|missing|expired)|forbidden|not logged in|please (?:run )?\/?login|login required|invalid.*token|token.*(?:invalid|expired)/i;
const QUOTA = /\b429\b|rate[ _-]?limit|quota|credit balance|too many requests|usage limit|insufficient[ _-]credits?|overloaded/i;

/**
 * Why an agent run failed, normalized, or undefined when it did not fail (exit 0 within its time). Applies to the agent
 * process itself (a non-zero exit, a time-out, a process that could not start), never to a gate failing on its work.
 * Classes first: exit 127 or "not found" (the command is missing), authentication refused, a quota or rate limit,
 * looked for in the tail's error lines; else the tail's first error line (else its last line), with the ticket's id
 * and absolute paths masked and then numbers, hex, ids, temp paths, ports and timestamps as the watch's signatures
 * mask them (watch/failure.ts `normalizeMessage`).
 * @param run the run's exit code (null: killed or never started), whether it timed out, and its output tail.
 * @param ticketId masked out of the line, so one cause on two tickets reads the same.
 */
export function agentFailure(run: { exitCode: number | null; timedOut: boolean; summary: string }, ticketId = ''): AgentFailure | undefined {
  if (run.exitCode === 0 && !run.timedOut) return undefined;
  const lines = run.summary
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('[ratchet]') && !l.startsWith('==='));
  const errorish = lines.filter((l) => ERRORISH.test(l));
  const found = (re: RegExp): string | undefined => errorish.find((l) => re.test(l));
  const quoted = (l: string | undefined): string => (l === undefined ? '' : ` ("${clip(l)}")`);
  if (run.timedOut) return { key: 'timed-out', text: 'the agent timed out' };
  const missing = found(NOT_FOUND);
  if (run.exitCode === 127 || missing !== undefined) return { key: 'not-found', text: `the agent command was not found${quoted(missing ?? errorish[0])}` };
  const auth = found(AUTH);
  if (auth !== undefined) return { key: 'auth', text: `authentication refused${quoted(auth)}` };
  const quota = found(QUOTA);
  if (quota !== undefined) return { key: 'quota', text: `a quota or rate limit${quoted(quota)}` };
  const line = errorish[0] ?? lines[lines.length - 1];
  if (line === undefined) return { key: `exit:${run.exitCode ?? 'none'}`, text: `exit ${run.exitCode ?? '(none)'} with no output` };
  return { key: `line:${maskLine(line, ticketId)}`, text: `"${clip(line)}"` };
}

/** A line with the ticket's id and absolute paths masked, then normalized as the watch's signatures are. */
export function maskLine(line: string, ticketId = ''): string {
  // The id as a word of its own (ticket "a" must not mask every letter a).
  const escaped = ticketId.replace(/[.*+?^$()|[\]{}\\]/g, '\\$&');
  const id = ticketId && new RegExp(`(?<![A-Za-z0-9])${escaped}(?![A-Za-z0-9])`, 'g');
  let masked = id ? line.replace(id, '<ticket>') : line;
  masked = masked.replace(/(?<![\w.<>-])(?:~|\.{1,2})?\/[^\s:'"(),]+/g, '<path>');
  return normalizeMessage(masked);
}

/** The breaker of a batch that has not seen an agent run yet. */
export function freshBreaker(): AgentBreakerCarry {
  return { state: 'open', v: 0, waiting: [], trips: 0, outbox: [] };
}

/**
 * The breaker's rules over its state (see the file comment). Methods return nothing; the messages to send collect in
 * `outbox` (at most one per ticket: the newest); the tap's version `c.v` moves whenever it closes or opens.
 */
export class AgentBreaker {
  readonly c: AgentBreakerCarry;

  /**
   * @param carry what the previous run carried (or {@link freshBreaker}); kept and changed in place.
   * @param sameFailure `breaker.sameFailure`: distinct tickets failing the same way in a row that close the tap.
   */
  constructor(
    carry: AgentBreakerCarry | undefined,
    readonly sameFailure: number = DEFAULT_SAME_FAILURE,
  ) {
    this.c = carry ?? freshBreaker();
  }

  get state(): TapState {
    return this.c.state;
  }

  /** Whether the tap is closed and waits for a person's `resume`. */
  get tripped(): boolean {
    return this.c.state === 'tripped';
  }

  /** Why the tap is closed, as the batch's paused reason: `agents stopped: 3 runs failed with <reason> on ...`. */
  reason(): string {
    const st = this.c.streak;
    if (!st) return 'agents stopped';
    return (
      `agents stopped: ${st.runs} runs failed with ${st.failure.text} on tickets ${st.tickets.join(', ')}; fix the cause, then send the batch "resume": ` +
      'one canary ticket runs its agent first, and the tap reopens for all once it gets past that failure'
    );
  }

  /**
   * How many tickets the batch may start now: any (open), none (tripped, or a canary is granted or someone waits to
   * be one), or one, to be the canary.
   */
  startable(): number {
    if (this.c.state === 'open') return Infinity;
    return this.c.state === 'canary' && this.c.canary === undefined && this.c.waiting.length === 0 ? 1 : 0;
  }

  /**
   * The batch starts ticket `id`. @returns true when it starts as the canary (its input says so: it starts with the
   * tap closed and the grant of one run).
   */
  starting(id: string): boolean {
    if (this.c.state !== 'canary' || this.c.canary !== undefined) return false;
    this.c.canary = id;
    return true;
  }

  /** A report from running ticket `r.ticketId` (`agentRun`): counts it, and answers it when asked. */
  report(r: AgentRunReport, running: ReadonlySet<string>): void {
    const c = this.c;
    const id = r.ticketId;
    if (r.outcome === 'waiting') {
      if (c.state === 'canary' && c.canary === undefined) c.canary = id;
      else if (!c.waiting.includes(id) && c.canary !== id) c.waiting.push(id);
    } else {
      c.waiting = c.waiting.filter((w) => w !== id);
      if (r.outcome === 'ok') this.passed(id, running);
      else this.failed(id, r.failure ?? { key: 'unknown', text: 'an unknown failure' }, running);
    }
    // A waiting ticket hears only what lets it run (a tap already open again, or its canary grant).
    const runs = c.state === 'open' || c.canary === id;
    if (r.ack || (r.outcome === 'waiting' && runs)) this.send(id, r.seq);
  }

  /** A person's `resume` of the batch the tap paused: one canary goes ahead (the first ticket waiting, if any). */
  resume(): void {
    const c = this.c;
    if (c.state !== 'tripped') return;
    c.state = 'canary';
    c.canary = c.waiting.shift();
    c.v++;
    if (c.canary !== undefined) this.send(c.canary);
  }

  /** Ticket `id` ended: it waits no more; a canary that ended before its run hands the grant to the next waiting one. */
  ended(id: string): void {
    const c = this.c;
    c.waiting = c.waiting.filter((w) => w !== id);
    c.outbox = c.outbox.filter((m) => m.to !== id);
    if (c.canary !== id) return;
    c.canary = c.state === 'canary' ? c.waiting.shift() : undefined;
    if (c.canary !== undefined) this.send(c.canary);
  }

  /** The messages to send now, taken out of the outbox. */
  take(): TapMessage[] {
    const out = this.c.outbox;
    this.c.outbox = [];
    return out;
  }

  /** Whether there is anything to carry: a streak, a closed tap, messages, or a tap that ever changed. */
  counted(): boolean {
    const c = this.c;
    return c.v > 0 || c.streak !== undefined || c.outbox.length > 0 || c.waiting.length > 0;
  }

  /** The status query's part: nothing while the tap never closed. */
  status(): { agents?: { state: TapState; line?: string; canary?: string; waiting: string[]; trips: number } } {
    const c = this.c;
    if (c.trips === 0) return {};
    const line = this.line();
    return { agents: { state: c.state, ...(line ? { line } : {}), ...(c.canary ? { canary: c.canary } : {}), waiting: [...c.waiting], trips: c.trips } };
  }

  /** What people see: one line, or none while the tap is open with no failure counted. */
  line(): string | undefined {
    const c = this.c;
    const waiting = c.waiting.length ? `; waiting at the tap: ${c.waiting.join(', ')}` : '';
    if (c.state === 'tripped') return `${this.reason()}${waiting}`;
    if (c.state === 'canary') {
      const who = c.canary === undefined ? 'the next ticket to run an agent' : `ticket ${c.canary}`;
      return `agents: canary: ${who} runs its agent first; the tap reopens once it gets past ${c.streak?.failure.text ?? 'the failure'}${waiting}`;
    }
    return undefined;
  }

  private passed(id: string, running: ReadonlySet<string>): void {
    const c = this.c;
    if (c.state === 'open') c.streak = undefined;
    else if (c.state === 'canary' && c.canary === id) this.reopen(running);
  }

  private failed(id: string, failure: AgentFailure, running: ReadonlySet<string>): void {
    const c = this.c;
    const same = c.streak?.failure.key === failure.key;
    if (c.state === 'open') {
      if (same && c.streak) {
        c.streak.runs++;
        if (!c.streak.tickets.includes(id)) c.streak.tickets.push(id);
      } else {
        c.streak = { failure, tickets: [id], runs: 1 };
      }
      if (c.streak.tickets.length >= this.sameFailure) this.trip(running);
      return;
    }
    if (same && c.streak) {
      c.streak.runs++;
      if (!c.streak.tickets.includes(id)) c.streak.tickets.push(id);
    }
    if (c.state !== 'canary' || c.canary !== id) return;
    // The canary's own run: the same reason closes the tap again; another one is past that failure.
    if (same) this.trip(running);
    else {
      this.reopen(running);
      c.streak = { failure, tickets: [id], runs: 1 };
    }
  }

  private trip(running: ReadonlySet<string>): void {
    const c = this.c;
    c.state = 'tripped';
    c.canary = undefined;
    c.trips++;
    c.v++;
    for (const id of running) this.send(id);
  }

  private reopen(running: ReadonlySet<string>): void {
    const c = this.c;
    c.state = 'open';
    c.canary = undefined;
    c.streak = undefined;
    c.waiting = [];
    c.v++;
    for (const id of running) this.send(id);
  }

  /** Queues the tap as ticket `to` sees it now (replacing an earlier message to it), answering report `ack`. */
  private send(to: string, ack?: number): void {
    const c = this.c;
    const earlier = c.outbox.find((m) => m.to === to);
    const acked = Math.max(ack ?? 0, earlier?.ack ?? 0);
    const m: TapMessage = { to, v: c.v, open: c.state === 'open', ...(acked ? { ack: acked } : {}) };
    if (c.state !== 'open') m.reason = this.reason();
    if (c.state === 'canary' && c.canary === to) m.canary = true;
    c.outbox = [...c.outbox.filter((x) => x.to !== to), m];
  }
}
