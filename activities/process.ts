/**
 * Runs one shell command the way every phase needs it (agents, gates, deploy, command probes): in its own process
 * group, logged to a file, with a bounded tail in memory, a wall-clock limit, cancellation and a heartbeat tick; and
 * when it ends, nothing it started keeps running (step-processes.ts).
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { RedactingStream, redactingStream, type Redactor } from './redact';
import { BOX_REPORT_FD, endStepProcesses, findStepProcesses, newStepMark, STEP_MARK_VAR, stepMarkValue, type Killed } from './step-processes';

/** How long pipes may stay open after the shell exits (a background child may hold them), ms. */
const PIPE_GRACE_MS = 1000;

export interface RunCommandOptions {
  /** Run through `/bin/sh -c`. */
  command: string;
  /** Working directory; must exist. */
  cwd: string;
  /** Added to (and overriding) `process.env`; with `exactEnv`, the whole environment. */
  env?: Record<string, string>;
  /**
   * When true the child's environment is exactly `env` (empty when `env` is unset) and nothing of `process.env` but
   * the run's mark (`RATCHET_STEP_RUN`): build it with `commandEnv` (env.ts) so worker secrets reach a command only
   * when named.
   */
  exactEnv?: boolean;
  /**
   * argv run in front of `/bin/sh -c <command>`, e.g. a sandbox from `bwrapPrefix` (sandbox.ts): `prefix[0]` is
   * spawned with `[...prefix.slice(1), '/bin/sh', '-c', command]`, still as the leader of a new process group. It also
   * gets fd 3 (`BOX_REPORT_FD`), a pipe on which a box reports how many processes the command left in it (one
   * decimal number; step-processes.ts `BOX_COUNTER`).
   */
  prefix?: string[];
  /**
   * Leave what the command started running after its shell exits, e.g. the service a deploy starts for the probes
   * to reach. A time-out or an abort still kills everything. Default false: nothing outlives the command.
   */
  keepRunning?: boolean;
  /** Secrets to replace by `[redacted:NAME]` in everything written to `logPath` and `stdoutPath` and in `tail`. */
  redact?: Redactor;
  /** Wall-clock limit, ms; on expiry everything the command started is killed, its shell included. */
  timeoutMs: number;
  /** Combined stdout+stderr is appended here after a header line; its folder is created. */
  logPath: string;
  /** Optional: stdout alone is also appended here (no header), e.g. an agent's answer. */
  stdoutPath?: string;
  /** Aborting kills everything the command started, its shell included. */
  signal?: AbortSignal;
  /** Bytes of combined output kept in memory as `tail`; default 4096. */
  tailBytes?: number;
  /** Called every `tickMs` while the command runs (activities heartbeat from it). */
  onTick?: () => void;
  /** Default 5000 ms. */
  tickMs?: number;
  /**
   * Records `<process group id> <mark>` here while the command runs (see {@link stopStaleRun}); removed once it
   * ended and everything it started is gone.
   */
  pidFile?: string;
}

export interface RunCommandResult {
  /** Exit code of the shell; null when it was ended by a signal. */
  exitCode: number | null;
  timedOut: boolean;
  aborted: boolean;
  /** Wall-clock duration, ms. */
  ms: number;
  /**
   * Processes the command started that were still running when it ended and were killed then: what it left behind
   * when it exited, or, on a time-out or abort, everything but its own shell. Counted in the box by the box itself
   * (a command there may forge its count, never keep a process alive); 0 with `keepRunning` after a normal exit.
   */
  killed: number;
  /**
   * Last `tailBytes` of combined output (UTF-8; a character cut at the start is dropped), redacted when `redact` was
   * given: a secret cut by the start of the tail is replaced whole, and a marker may make the tail a little longer.
   */
  tail: string;
}

/**
 * Runs `opts.command` through `/bin/sh -c` (behind `opts.prefix`, when given) in `opts.cwd` as the leader of a new
 * process group and session, with a mark of this run in its environment (`RATCHET_STEP_RUN`, step-processes.ts).
 *
 * Resolves when the shell exits and every process it started is gone: those still running then (background children,
 * `setsid` children, daemons) get SIGTERM, then SIGKILL after 3 s, and are counted in `killed`; in a box
 * (`bwrapPrefix`) they end with the box's pid namespace. With `keepRunning` they are left running, and pipes they
 * hold open get {@link PIPE_GRACE_MS}, after which their output still goes to the log but no longer to `tail` and no
 * longer keeps the caller waiting. A time-out or an abort kills everything the same way, shell included.
 *
 * Never throws for a non-zero exit, a time-out or an abort.
 *
 * @throws Error when `cwd` is missing or not a folder, the log cannot be written, or the shell (or `prefix[0]`)
 *   cannot be spawned.
 */
export async function runCommand(opts: RunCommandOptions): Promise<RunCommandResult> {
  const { command, cwd, timeoutMs, logPath, signal, prefix } = opts;
  const tailBytes = opts.tailBytes ?? 4096;
  const redactor = opts.redact?.active === true ? opts.redact : undefined;
  const clean = (text: string): string => redactor?.redact(text) ?? text;
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);

  const cwdStat = await fsp.stat(cwd).catch(() => undefined);
  if (!cwdStat?.isDirectory()) {
    throw new Error(`runCommand: working directory does not exist or is not a folder: ${cwd} (command: ${clean(command)})`);
  }
  await fsp.mkdir(path.dirname(logPath), { recursive: true });
  const sandbox = prefix === undefined || prefix.length === 0 ? '' : ` sandboxed by ${prefix[0]}\n=== sandbox: ${prefix.join(' ')}`;
  await fsp.appendFile(logPath, clean(`=== ${new Date().toISOString()} cwd=${cwd}${sandbox}\n=== $ ${command}\n`));
  if (opts.stdoutPath !== undefined) await fsp.mkdir(path.dirname(opts.stdoutPath), { recursive: true });

  if (signal?.aborted) {
    await fsp.appendFile(logPath, '=== aborted before start\n');
    return { exitCode: null, timedOut: false, aborted: true, ms: elapsed(), killed: 0, tail: '' };
  }

  const logFile = createWriteStream(logPath, { flags: 'a' });
  const outFile = opts.stdoutPath === undefined ? undefined : createWriteStream(opts.stdoutPath, { flags: 'a' });
  // A log write failure must not crash the worker; the command's result is still worth reporting.
  logFile.on('error', () => undefined);
  outFile?.on('error', () => undefined);
  const log: Writable = redactor === undefined ? logFile : redactingStream(redactor, logFile);
  const out: Writable | undefined = redactor === undefined || outFile === undefined ? outFile : redactingStream(redactor, outFile);
  log.on('error', () => undefined);
  out?.on('error', () => undefined);

  // With secrets, keep enough bytes before the tail to redact a secret its start cuts (+3: a cut UTF-8 character).
  const tail = new Tail(tailBytes, redactor === undefined ? 0 : redactor.maxBytes + 3);
  const argv = [...(prefix ?? []), '/bin/sh', '-c', command];
  const prefixed = prefix !== undefined && prefix.length > 0;
  const mark = newStepMark();
  const child = spawn(argv[0], argv.slice(1), {
    cwd,
    env: { ...(opts.exactEnv === true ? opts.env : { ...process.env, ...opts.env }), [STEP_MARK_VAR]: stepMarkValue(mark) },
    detached: true,
    stdio: prefixed ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
  });
  const step = child.pid === undefined ? undefined : { mark, leader: child.pid };

  // Not awaited here: nothing may come between spawn and the listeners below, or a fast command's exit is missed.
  const pidFile = opts.pidFile;
  const pidWrite = pidFile !== undefined && step !== undefined ? fsp.writeFile(pidFile, `${step.leader} ${step.mark}\n`) : undefined;
  const report = prefixed ? boxReport(child.stdio[BOX_REPORT_FD] as Readable) : undefined;

  return new Promise<RunCommandResult>((resolve, reject) => {
    let timedOut = false;
    let aborted = false;
    let termination: Promise<Killed> | undefined;
    let exited = false;
    /** Set when the pid file could not be written: the run is stopped and fails with it (never an unhandled rejection). */
    let pidError: Error | undefined;
    // Handled at once: a rejection left until the exit would be unhandled, and would end the worker process.
    const pidWritten = pidWrite?.then(
      () => undefined,
      (err: unknown) => {
        pidError = new Error(`runCommand: could not write the pid file ${pidFile}: ${(err as Error).message}`);
        terminate();
      },
    );

    const terminate = (): void => {
      if (termination !== undefined || step === undefined || exited) return;
      termination = endStepProcesses(step);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      terminate();
    }, timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const ticker = opts.onTick === undefined ? undefined : setInterval(() => {
      try {
        opts.onTick?.();
      } catch (err) {
        log.write(`=== onTick failed: ${String(err)}\n`);
      }
    }, opts.tickMs ?? 5000);
    const cleanup = (): void => {
      clearTimeout(timer);
      if (ticker !== undefined) clearInterval(ticker);
      signal?.removeEventListener('abort', onAbort);
    };

    // Both are pipes (spawn's stdio above); its type cannot say so with a fourth entry that depends on the prefix.
    const pipes = [child.stdout, child.stderr] as Readable[];
    let capturing = true;
    for (const pipe of pipes) {
      pipe.on('data', (chunk: Buffer) => {
        log.write(chunk);
        if (pipe === child.stdout) out?.write(chunk);
        if (capturing) tail.push(chunk);
      });
      pipe.on('error', () => undefined);
    }
    const pipesClosed = Promise.all(pipes.map((p) => new Promise<void>((r) => {
      if (p.closed) r();
      else p.once('close', () => r());
    })));

    child.once('error', (err) => {
      if (exited) return;
      cleanup();
      log.end();
      out?.end();
      reject(new Error(`runCommand: could not start ${argv[0]} in ${cwd}: ${err.message} (command: ${clean(command)})`));
    });

    child.once('exit', (code, sig) => {
      exited = true;
      const ms = elapsed();
      cleanup();
      (async () => {
        const stopped = await termination;
        // Before the pipes are awaited: what still holds them open is usually what is killed here.
        const after = opts.keepRunning === true || step === undefined ? undefined : await endStepProcesses(step);
        const counted = await report?.count();
        const killed =
          stopped !== undefined ? total(stopped) + total(after) : (after?.outside ?? 0) + (counted ?? after?.boxed ?? 0);
        const closed = await within(pipesClosed, PIPE_GRACE_MS);
        capturing = false;
        const how = timedOut ? `timed out after ${timeoutMs} ms` : aborted ? 'aborted' : sig !== null ? `killed by ${sig}` : `exit ${code}`;
        const reaped = killed === 0 ? '' : `; killed ${killed} process${killed === 1 ? '' : 'es'} it ${stopped ? 'started' : 'left running'}`;
        const footer = `\n=== ${how} in ${ms} ms${reaped}\n`;
        if (closed) {
          await Promise.all([endStream(log, footer), endStream(out)]);
        } else {
          // Pipes still open belong to a background child: keep draining them into the log (so its writes do not
          // fail with EPIPE) but stop capturing, and do not let them keep this process alive.
          for (const p of pipes) (p as Readable & { unref?: () => void }).unref?.();
          if (log instanceof RedactingStream) {
            // The footer ends what the shell wrote: show it now rather than hold its end back for the redaction.
            // Same tick as the write, so no output of the background child can come in between.
            log.write(footer);
            await log.release();
          } else {
            await new Promise<void>((r) => log.write(footer, () => r()));
          }
          void pipesClosed.then(() => {
            log.end();
            out?.end();
          });
        }
        if (pidWritten !== undefined) {
          await pidWritten;
          if (pidError === undefined) await fsp.rm(pidFile as string, { force: true });
        }
        if (pidError !== undefined) throw pidError;
        resolve({ exitCode: code, timedOut, aborted, ms, killed, tail: tail.text(redactor) });
      })().catch(reject);
    });
  });
}

/**
 * Keeps the last `limit` bytes pushed, plus `context` bytes before them for redaction, holding at most that many
 * bytes plus one chunk.
 */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly limit: number,
    private readonly context = 0,
  ) {}

  push(chunk: Buffer): void {
    if (this.limit <= 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0].length >= this.limit + this.context) {
      this.size -= this.chunks[0].length;
      this.chunks.shift();
    }
  }

  text(redactor?: Redactor): string {
    const all = Buffer.concat(this.chunks);
    if (redactor === undefined) {
      const cut = all.length > this.limit;
      const text = all.subarray(all.length - Math.min(all.length, this.limit)).toString('utf8');
      // A multi-byte character split by the cut decodes as U+FFFD at the start.
      return cut ? text.replace(/^\uFFFD+/, '') : text;
    }
    const window = all.subarray(Math.max(0, all.length - this.limit - this.context));
    let cut = Math.max(0, window.length - this.limit);
    while (cut < window.length && (window[cut] & 0xc0) === 0x80) cut++; // to the start of a UTF-8 character
    const before = window.subarray(0, cut).toString('utf8');
    return redactor.redactFrom(before + window.subarray(cut).toString('utf8'), before.length);
  }
}

/**
 * Kills what an earlier `runCommand` that recorded `pidFile` left running: the orphans of a worker that died (e.g.
 * SIGKILL) mid-run, found by the process group and the run's mark written there (step-processes.ts; a pid file
 * without a mark, from an older worker, names the group only). Call it before re-preparing that run's folder, so a
 * retried run never shares a worktree with a stale one. Single host: the pid file lives on the host that ran the
 * command.
 * @returns the group id it stopped when anything of that run was still alive, else undefined. Never throws.
 */
export async function stopStaleRun(pidFile: string): Promise<number | undefined> {
  const [first, mark] = (await fsp.readFile(pidFile, 'utf8').catch(() => '')).trim().split(/\s+/);
  const pgid = Number(first);
  if (!Number.isInteger(pgid) || pgid <= 1) return undefined;
  const step = { leader: pgid, mark: mark ?? '' };
  // Listed, not signalled with 0: a group of zombies (killed processes nobody reaped) answers a signal too.
  if ((await findStepProcesses(step)).length === 0) return undefined;
  await endStepProcesses(step);
  await fsp.rm(pidFile, { force: true });
  return pgid;
}

/** The number of processes in `killed`, 0 for none. */
function total(killed: Killed | undefined): number {
  return killed === undefined ? 0 : killed.outside + killed.boxed;
}

/**
 * Reads a box's report on its fd 3 (`BOX_COUNTER`, step-processes.ts): `count()` waits up to {@link PIPE_GRACE_MS}
 * for the pipe to close, then answers the number written there, or undefined when none was (no box, or the counter
 * was killed). At most 32 bytes are kept.
 */
function boxReport(pipe: Readable | null | undefined): { count: () => Promise<number | undefined> } {
  let text = '';
  pipe?.on('data', (chunk: Buffer) => {
    if (text.length < 32) text += chunk.toString('latin1');
  });
  pipe?.on('error', () => undefined);
  const closed = new Promise<void>((r) => {
    if (pipe == null || pipe.closed) r();
    else pipe.once('close', () => r());
  });
  return {
    count: async () => {
      await within(closed, PIPE_GRACE_MS);
      // A process that kept the pipe (a prefix that is no box) must not keep the worker waiting or alive.
      pipe?.destroy();
      const m = /^\s*(\d{1,9})\s*$/.exec(text);
      return m === null ? undefined : Number(m[1]);
    },
  };
}

/** True when `p` settles within `ms`, false otherwise; the timer does not outlive the answer. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Ends `stream` after writing `last`, resolving once everything is flushed (or the stream failed). */
function endStream(stream: NodeJS.WritableStream | undefined, last?: string): Promise<void> {
  if (stream === undefined) return Promise.resolve();
  return new Promise((r) => {
    stream.once('error', () => r());
    if (last === undefined) stream.end(() => r());
    else stream.end(last, () => r());
  });
}
