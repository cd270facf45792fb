/**
 * One command an activity runs as a step of its own (a gate, a harness setup step, a deploy, a command probe): the
 * sequence each of them needs, in one place. A retried activity must not share its folder with the run a dead
 * worker left, a secret must not reach the log, and a run cut short by a cancellation must not count as a result.
 */
import { throwIfStopped, type Liveness } from './context';
import { runCommand, stopStaleRun, type RunCommandOptions, type RunCommandResult } from './process';
import type { Redactor } from './redact';

/** A step's command: as {@link runCommand} takes it, with an exact environment and its secrets to redact. */
export interface StepOptions extends Omit<RunCommandOptions, 'env' | 'exactEnv' | 'redact' | 'pidFile' | 'signal' | 'onTick' | 'tickMs'> {
  /** The command's whole environment (build it with `commandEnv`, env.ts): nothing of the worker's is added. */
  env: Record<string, string>;
  /** Secrets replaced in the log, the stdout file and the tail. */
  redact: Redactor;
  /**
   * The activity's liveness (`liveness()`, context.ts): its signal stops the run and its heartbeat ticks while the
   * command runs. Without it, neither.
   */
  live?: Liveness;
  /** The details of those heartbeats, e.g. `gate lint`. */
  heartbeat?: string;
  /** Names the run in the error thrown when it was stopped, e.g. `the deploy after T-1`. */
  what: string;
}

/**
 * A line for a step's tail (the feedback an agent reads) saying what was killed when the step ended, or '' when
 * nothing was: e.g. `[ratchet] the gate left 2 processes running (a server, a watcher?); killed when it ended: ...`.
 * @param what the step, e.g. `the gate`.
 */
export function killedNote(r: Pick<RunCommandResult, 'killed' | 'timedOut' | 'aborted'>, what: string): string {
  if (r.killed === 0) return '';
  const n = `${r.killed} process${r.killed === 1 ? '' : 'es'}`;
  return r.timedOut || r.aborted
    ? `[ratchet] ${n} ${what} started ${r.killed === 1 ? 'was' : 'were'} still running when it was stopped; killed with it`
    : `[ratchet] ${what} left ${n} running (a server, a watcher?); killed when it ended: nothing a step starts outlives it`;
}

/** The pid file of the step logged at `logPath`: beside it, `.log` replaced by `.pid`. */
export const pidFileOf = (logPath: string): string => logPath.replace(/\.log$/, '') + '.pid';

/**
 * Runs one step: stops the process group a dead worker's run of the same step left (recorded in its pid file,
 * {@link pidFileOf}), runs the command with its output redacted into `opts.logPath` while recording its own group
 * there, heartbeating, then throws when the run was stopped.
 * @returns the command's result; a non-zero exit or a time-out is a result, not an error.
 * @throws when `opts.live.signal` was aborted (the activity was cancelled or the worker stops), naming `opts.what`;
 *   as {@link runCommand} when the command cannot be started.
 */
export async function runStep(opts: StepOptions): Promise<RunCommandResult> {
  const { live, heartbeat, what, ...command } = opts;
  const pidFile = pidFileOf(opts.logPath);
  await stopStaleRun(pidFile);
  const r = await runCommand({
    ...command,
    exactEnv: true,
    pidFile,
    ...(live ? { signal: live.signal, tickMs: live.tickMs, onTick: () => live.heartbeat(heartbeat) } : {}),
  });
  throwIfStopped(live?.signal, what);
  return r;
}
