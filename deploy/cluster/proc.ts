/**
 * Process helpers for the cluster scripts: find a program, run one to its end with its output kept, check a pid.
 * Pure plumbing; what to run lives in binaries.ts, postgres.ts and cluster.ts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isExecutableFile } from '../temporal-cli';

export { isExecutableFile };

/** Options of {@link run}. */
export interface RunOptions {
  /** Environment of the child; default this process's. */
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed; default: stdin closed at once. */
  input?: string;
  /** Working directory; default this process's, or `/` when `asUser` is set (the user may not enter ours). */
  cwd?: string;
  /** Run as this OS user through `runuser -u <user> --` (only root may); default: as ourselves. */
  asUser?: string;
  /** Receives each non-blank output line as it comes (stdout and stderr); default: kept silently. */
  onLine?: (line: string) => void;
}

/** How a run ended: exit code (null when killed by a signal) and stdout + stderr, interleaved as they came. */
export interface RunResult {
  code: number | null;
  output: string;
}

/**
 * Runs `cmd args` to its end.
 * @returns the exit code and the combined output; a non-zero exit is not an error here.
 * @throws Error when the program cannot be started at all (e.g. ENOENT).
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, argv] = opts.asUser ? ['runuser', ['-u', opts.asUser, '--', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      env: opts.env ?? process.env,
      cwd: opts.cwd ?? (opts.asUser ? '/' : undefined),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let partial = '';
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      output += text;
      if (!opts.onLine) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) opts.onLine(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => reject(new Error(`could not run ${file}: ${err.message}`)));
    child.once('close', (code) => {
      if (opts.onLine && partial.trim()) opts.onLine(partial);
      resolve({ code, output });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** The last `n` non-blank lines of `text`, for error messages. */
export function tail(text: string, n = 15): string {
  return text.split('\n').filter((l) => l.trim()).slice(-n).join('\n');
}

/**
 * Runs `cmd args` and insists on exit 0.
 * @param what - what the command does, for the error message (e.g. "initdb").
 * @param fix - what a person should do when it fails; appended to the message.
 * @returns the combined output.
 * @throws Error naming `what`, the exit code, the last output lines and `fix`.
 */
export async function runOrThrow(cmd: string, args: string[], what: string, fix: string, opts: RunOptions = {}): Promise<string> {
  const { code, output } = await run(cmd, args, opts);
  if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${tail(output)}\nfix: ${fix}`);
  return output;
}

/**
 * The first executable `name` on PATH, then in `extraDirs`.
 * @returns an absolute path, or undefined when none is found.
 */
export function findProgram(name: string, extraDirs: string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), ...extraDirs]) {
    if (!dir) continue;
    const candidate = path.resolve(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** True when a process with this pid exists (signal 0; EPERM also means it exists). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid written in `file`, or undefined when the file is missing or holds no positive integer. */
export function readPid(file: string): number | undefined {
  const pid = Number((fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** True when `pid` runs a program whose command line contains `needle` (Linux /proc; elsewhere: alive). */
export function runs(pid: number, needle: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
  } catch {
    return process.platform !== 'linux';
  }
}

/** A background process kept by a pid file: the program's name (checked against /proc) and its files. */
export interface Daemon {
  /** A word of its command line, e.g. `temporal-server`: a recycled pid running something else does not count. */
  name: string;
  pidFile: string;
  logFile: string;
}

/** The daemon's pid when it runs, else undefined. */
export function daemonPid(d: Daemon): number | undefined {
  const pid = readPid(d.pidFile);
  return pid !== undefined && runs(pid, d.name) ? pid : undefined;
}

/**
 * Starts `bin args` detached (its own process group, so it outlives us and stops as a group), appending its output to
 * `d.logFile` after a header line, and writes its pid to `d.pidFile`.
 * @returns the pid.
 * @throws Error when the process cannot be spawned.
 */
export function startDaemon(d: Daemon, bin: string, args: string[], cwd: string): number {
  const fd = fs.openSync(d.logFile, 'a');
  let pid: number | undefined;
  try {
    fs.writeSync(fd, `\n# ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
    const child = spawn(bin, args, { cwd, detached: true, stdio: ['ignore', fd, fd] });
    child.on('error', () => undefined); // a failed spawn shows as no pid below
    child.unref();
    pid = child.pid;
  } finally {
    fs.closeSync(fd);
  }
  if (pid === undefined) throw new Error(`could not start ${bin}; see ${d.logFile}`);
  fs.writeFileSync(d.pidFile, `${pid}\n`);
  return pid;
}

/** Sends `sig` to the process group a daemon leads; ignores one already gone. */
export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}

/**
 * Stops a daemon: SIGTERM to its group, SIGKILL after `graceMs`; removes its pid file.
 * @returns a line saying what happened, e.g. `stopped (pid 123)` or `not running`.
 */
export async function stopDaemon(d: Daemon, graceMs: number): Promise<string> {
  const pid = daemonPid(d);
  fs.rmSync(d.pidFile, { force: true });
  if (pid === undefined) return 'not running';
  signalGroup(pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  if (!isAlive(pid)) return `stopped (pid ${pid})`;
  signalGroup(pid, 'SIGKILL');
  return `stopped (pid ${pid}, SIGKILL after ${graceMs / 1000} s)`;
}
