/**
 * Runs one shell command the way every phase needs it (agents, gates, deploy, command probes): in its own process
 * group, logged to a file, with a bounded tail in memory, a wall-clock limit, cancellation and a heartbeat tick.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { RedactingStream, redactingStream, type Redactor } from './redact';

/** How long pipes may stay open after the shell exits (a background child may hold them), ms. */
const PIPE_GRACE_MS = 1000;
/** Time between SIGTERM and SIGKILL to the process group, ms. */
const KILL_GRACE_MS = 3000;
/** Poll interval while waiting for a terminated process group to disappear, ms. */
const GROUP_POLL_MS = 50;

export interface RunCommandOptions {
  /** Run through `/bin/sh -c`. */
  command: string;
  /** Working directory; must exist. */
  cwd: string;
  /** Added to (and overriding) `process.env`; with `exactEnv`, the whole environment. */
  env?: Record<string, string>;
  /**
   * When true the child's environment is exactly `env` (empty when `env` is unset) and nothing of `process.env`:
   * build it with `commandEnv` (env.ts) so worker secrets reach a command only when named.
   */
  exactEnv?: boolean;
  /**
   * argv run in front of `/bin/sh -c <command>`, e.g. a sandbox from `bwrapPrefix` (sandbox.ts): `prefix[0]` is
   * spawned with `[...prefix.slice(1), '/bin/sh', '-c', command]`, still as the leader of a new process group.
   */
  prefix?: string[];
  /** Secrets to replace by `[redacted:NAME]` in everything written to `logPath` and `stdoutPath` and in `tail`. */
  redact?: Redactor;
  /** Wall-clock limit, ms; on expiry the whole process group is killed. */
  timeoutMs: number;
  /** Combined stdout+stderr is appended here after a header line; its folder is created. */
  logPath: string;
  /** Optional: stdout alone is also appended here (no header), e.g. an agent's answer. */
  stdoutPath?: string;
  /** Aborting kills the whole process group. */
  signal?: AbortSignal;
  /** Bytes of combined output kept in memory as `tail`; default 4096. */
  tailBytes?: number;
  /** Called every `tickMs` while the command runs (activities heartbeat from it). */
  onTick?: () => void;
  /** Default 5000 ms. */
  tickMs?: number;
  /** Records the process group id here while the command runs (see {@link stopStaleRun}); removed on exit. */
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
   * Last `tailBytes` of combined output (UTF-8; a character cut at the start is dropped), redacted when `redact` was
   * given: a secret cut by the start of the tail is replaced whole, and a marker may make the tail a little longer.
   */
  tail: string;
}

/**
 * Runs `opts.command` through `/bin/sh -c` (behind `opts.prefix`, when given) in `opts.cwd` as the leader of a new
 * process group.
 *
 * Resolves when the shell exits; pipes still held open by a background child (e.g. a service a deploy script
 * started) get {@link PIPE_GRACE_MS}, after which that child's output still goes to the log but no longer to `tail`
 * and no longer keeps the caller waiting. The child is left running: only a time-out or an abort kills the group
 * (SIGTERM, then SIGKILL after 3 s if anything in it is still alive).
 *
 * Never throws for a non-zero exit, a time-out or an abort.
 * A sandboxed command (bwrap's `--unshare-pid`) differs in one way: its background children end with the shell.
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
    return { exitCode: null, timedOut: false, aborted: true, ms: elapsed(), tail: '' };
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
  const child = spawn(argv[0], argv.slice(1), {
    cwd,
    env: opts.exactEnv === true ? { ...opts.env } : { ...process.env, ...opts.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  // Not awaited here: nothing may come between spawn and the listeners below, or a fast command's exit is missed.
  const pidFile = opts.pidFile;
  const pidWrite = pidFile !== undefined && child.pid !== undefined ? fsp.writeFile(pidFile, `${child.pid}\n`) : undefined;

  return new Promise<RunCommandResult>((resolve, reject) => {
    let timedOut = false;
    let aborted = false;
    let termination: Promise<void> | undefined;
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
      if (termination !== undefined || child.pid === undefined || exited) return;
      termination = killGroup(child.pid);
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

    const pipes: Readable[] = [child.stdout, child.stderr];
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
        await termination;
        const closed = await within(pipesClosed, PIPE_GRACE_MS);
        capturing = false;
        const how = timedOut ? `timed out after ${timeoutMs} ms` : aborted ? 'aborted' : sig !== null ? `killed by ${sig}` : `exit ${code}`;
        const footer = `\n=== ${how} in ${ms} ms\n`;
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
        resolve({ exitCode: code, timedOut, aborted, ms, tail: tail.text(redactor) });
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
 * SIGTERM to the group, then SIGKILL once {@link KILL_GRACE_MS} has passed with anything still alive in it.
 * Resolves when the group is gone or SIGKILL was sent.
 */
/**
 * Kills the process group recorded in `pidFile` by an earlier `runCommand` if it is still alive: the orphaned
 * children of a worker that died (e.g. SIGKILL) mid-run. Call it before re-preparing that run's folder, so a retried
 * run never shares a worktree with a stale one. Returns the group id it stopped, if any. Single host: the pid file
 * lives on the host that ran the command.
 */
export async function stopStaleRun(pidFile: string): Promise<number | undefined> {
  const pgid = Number((await fsp.readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pgid) || pgid <= 1 || !signalGroup(pgid, 0)) return undefined;
  await killGroup(pgid);
  await fsp.rm(pidFile, { force: true });
  return pgid;
}

async function killGroup(pgid: number): Promise<void> {
  if (!signalGroup(pgid, 'SIGTERM')) return;
  const deadline = performance.now() + KILL_GRACE_MS;
  while (performance.now() < deadline) {
    await delay(GROUP_POLL_MS);
    if (!signalGroup(pgid, 0)) return;
  }
  signalGroup(pgid, 'SIGKILL');
}

/** Sends `sig` to every process in group `pgid`; false when the group no longer exists. */
function signalGroup(pgid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    // ESRCH: the group is gone. EPERM cannot happen for our own children; treat it as gone rather than throw.
    return false;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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
