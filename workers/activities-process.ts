/**
 * The activities half of a split worker (workers/main.ts, role `split`): `workers/main.ts` run again as a child
 * process with RATCHET_WORKER_ROLE=activities, connected to its parent by an IPC channel so that it ends with it.
 *
 * Why a process of its own: every git command, agent, gate and probe an activity runs is a child process, and Node
 * starts one by copying the page tables of the whole process, blocking its event loop meanwhile. The cost grows with
 * the process's memory (measured here: ~1 ms at 40 MB, ~25 ms at 650 MB), and the workflows' V8 isolates and caches
 * are most of a worker's memory. Apart, the activities process stays small.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface ActivitiesProcessOptions {
  /** Temporal address and namespace the parent was given explicitly; unset: the child reads the same environment. */
  address?: string;
  namespace?: string;
  /** Prometheus `host:port` of the child; unset: none. */
  metrics?: string;
  /** Extra environment for the child (the parent's environment is passed on). */
  env?: NodeJS.ProcessEnv;
  /** `inherit` (default): the child writes to this process's stdout and stderr; `pipe`: read them from `child`. */
  stdio?: 'inherit' | 'pipe';
}

export interface ActivitiesProcess {
  child: ChildProcess;
  /** Resolves with the exit code (or the signal's name) when the child has exited, for whatever reason. */
  exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM) unless the child has exited; resolves when it has. */
  stop: (signal?: NodeJS.Signals) => Promise<number | string>;
}

/**
 * Starts the activities process: `node --require tsx/cjs workers/main.ts` with RATCHET_WORKER_ROLE=activities. It exits
 * when this process exits or dies (its IPC channel closes), as if both were one worker. Does not wait for it to poll.
 * @returns the child, a promise of its exit, and `stop`.
 */
export function startActivitiesProcess(opts: ActivitiesProcessOptions = {}): ActivitiesProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, RATCHET_WORKER_ROLE: 'activities' };
  if (opts.address) env.TEMPORAL_ADDRESS = opts.address;
  if (opts.namespace) env.TEMPORAL_NAMESPACE = opts.namespace;
  if (opts.metrics) env.RATCHET_METRICS_ADDRESS = opts.metrics;
  else delete env.RATCHET_METRICS_ADDRESS;
  // tsx's CommonJS hook by absolute path (whichever folder the worker was started from, and however: tsx's CLI, npx
  // ratchet), as `npx ratchet` runs: in the main thread. `--import tsx` also starts the ESM loader's own thread and
  // isolate, ~25 MB more of this process's resident memory (measured: an empty process 47 MB against 72 MB).
  // V8's young generation at 2 MB a semi-space, as client/bin/ratchet.js starts the workflows process (why: there).
  const child = spawn(process.execPath, ['--max-semi-space-size=2', '--require', require.resolve('tsx/cjs'), path.join(__dirname, 'main.ts')], {
    env,
    stdio: opts.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return { child, exited, stop };
}
