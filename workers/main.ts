/**
 * Process entry point of a ratchet worker: connects to Temporal (TEMPORAL_ADDRESS, default 127.0.0.1:7233;
 * TEMPORAL_NAMESPACE, default `default`), waiting for it while it cannot be reached (workers/connect.ts), and runs
 * until SIGINT or SIGTERM. Then it stops at once every running agent,
 * gate and deploy (their process groups are killed and their activity attempts fail, so Temporal retries them on
 * another worker) and shuts down gracefully: the SDK stops polling and lets short activities (tracker writes, merges)
 * finish within the grace time.
 *
 * By default (`split`) a worker is two processes: this one runs the workflows, and a child process it starts runs
 * the activities (workers/activities-process.ts). Every git command, agent, gate and probe is a child process of the
 * activities, and starting one copies the page tables of the process that starts it: in a process of ~650 MB (what
 * one holding the workflows' V8 isolates and caches reaches) each start blocked the event loop for ~25 ms; in the
 * lean activities process it takes ~3 ms (measured with plain Node processes; docs/worker.md).
 */
import path from 'node:path';
import { formatAddress, parseAddress } from '../deploy/address';
import { temporalTarget } from '../deploy/connection';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { createSandboxProbe } from '../activities/box/sandbox';
import { BadInputError } from '../workflows/errors';
import { startActivitiesProcess, type ActivitiesProcess } from './activities-process';
import { buildWorkflowBundle } from './bundle';
import { connectTimeoutOf, untilReachable, type ReachOptions } from './connect';
import { createWorker, type RatchetWorker, type WorkerRole } from './worker';

export interface WorkerProcessOptions {
  address?: string;
  namespace?: string;
  /**
   * `host:port` for the Prometheus endpoint (`/metrics`); default RATCHET_METRICS_ADDRESS; unset: no endpoint. In
   * the `split` role the activities process serves its own on the next port (`host:port+1`).
   */
  metrics?: string;
  /**
   * `split` (default; RATCHET_WORKER_ROLE): workflows here, activities in a child process that ends with this one.
   * `all`: both in this process. `workflows` or `activities`: only that half (to scale them apart, e.g. activity
   * workers on the hosts with the repositories).
   */
  role?: WorkerProcessRole;
  /**
   * A folder of this worker's own for worktrees (default RATCHET_WORKTREES_DIR; unset: each batch's `worktreesDir`).
   * Workers on one host that share a repository each keep their attempts apart so; see `workerWorktrees`.
   */
  worktrees?: string;
  /**
   * This worker's id, naming its worker-specific task queue `ratchet@<id>` (default RATCHET_WORKER_ID, else
   * `defaultWorkerId`: the host name, plus a digest of `worktrees` when given). A worker restarted with the same id
   * gets back the steps waiting for it.
   */
  workerId?: string;
  /**
   * How long each half waits for Temporal at start, ms (default RATCHET_CONNECT_TIMEOUT_MS; unset: forever, retrying
   * 1 s, 2 s, 4 s ... up to every 30 s; 0: one try). After it, the worker exits with a TemporalUnreachableError.
   */
  connectTimeoutMs?: number;
}

/** See {@link WorkerProcessOptions.role}. */
export type WorkerProcessRole = WorkerRole | 'split';

const ROLES: readonly WorkerProcessRole[] = ['split', 'all', 'workflows', 'activities'];

/**
 * The worker role from `value` (a flag or RATCHET_WORKER_ROLE), default `split`.
 * @throws BadInputError naming the source, the value and the roles there are.
 */
export function workerRole(value: string | undefined, source: string): WorkerProcessRole {
  if (value === undefined || value === '') return 'split';
  if ((ROLES as string[]).includes(value)) return value as WorkerProcessRole;
  throw new BadInputError(source, [`"${value}" is not a worker role; fix: one of ${ROLES.join(', ')}`]);
}

/**
 * The worker id from `value` (a flag or RATCHET_WORKER_ID), or undefined when unset.
 * @throws BadInputError naming the source and the value when it is not 1 to 100 letters, digits, `.`, `_` or `-`.
 */
export function workerIdOf(value: string | undefined, source: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^[A-Za-z0-9._-]{1,100}$/.test(value)) return value;
  throw new BadInputError(source, [`"${value}" is not a worker id; fix: 1 to 100 letters, digits, ".", "_" or "-", e.g. build-host-2`]);
}

/**
 * The address after `address` (`host:port` -> `host:port+1`): where the activities process of a split worker serves its
 * metrics. @throws BadInputError when `address` is not host:port.
 */
export function nextPort(address: string): string {
  const { host, port } = parseAddress(address);
  return formatAddress({ host, port: port + 1 });
}

/**
 * The Prometheus bind address from `value` (`host:port`, e.g. `0.0.0.0:9464`), or undefined when unset.
 * @throws BadInputError naming the source and the fix when it is not host:port with a port in 1..65535.
 */
export function metricsAddress(value: string | undefined, source: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  parseAddress(value, { source, example: '0.0.0.0:9464 (all interfaces) or 127.0.0.1:9464' });
  return value;
}

/**
 * The start line of a worker that reaches Temporal without authentication (no TLS client certificate, no API key):
 * what that leaves open, since agents keep the network (issue 25). ratchet counts no message's body as evidence, but
 * who may send `approve`, `reject` and `resume` is the server's authorization, which only mTLS or API keys give.
 */
export function unauthenticatedWarning(who: string, address: string): string {
  return (
    `${who}: Temporal at ${address} is reached without authentication: anything that reaches it, an agent included ` +
    '(agents keep the network), can send your batches approve, reject and resume as a person would. Fine for a dev ' +
    'server on your machine; for a shared server turn on mTLS or API keys (TEMPORAL_TLS_*, TEMPORAL_API_KEY; docs/trust.md).'
  );
}

/**
 * Runs a worker in this process until SIGINT/SIGTERM. While Temporal cannot be reached it waits for it, printing one line
 * per retry; a signal during that wait ends it at once.
 * @returns after a graceful shutdown, or after a signal that came before the worker polled.
 * @throws TemporalUnreachableError when `connectTimeoutMs` passed without reaching Temporal; BadInputError for a bad
 *   option; what the SDK throws for any other failure to connect or to create the worker (e.g. a namespace not found).
 */
export async function runWorkerProcess(opts: WorkerProcessOptions = {}): Promise<void> {
  const role = opts.role ?? workerRole(process.env.RATCHET_WORKER_ROLE, 'RATCHET_WORKER_ROLE');
  // TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* or a temporal.toml profile, as the CLI reads them.
  const target = temporalTarget({ address: opts.address, namespace: opts.namespace });
  const { address, namespace } = target;
  // The SDK installs SIGINT/SIGTERM handlers that call worker.shutdown() (graceful) on every running worker; ours
  // stops the long runs at once, which would otherwise hold the process for the whole grace time and then some.
  const metrics = opts.metrics !== undefined ? metricsAddress(opts.metrics, '--metrics') : metricsAddress(process.env.RATCHET_METRICS_ADDRESS, 'RATCHET_METRICS_ADDRESS');
  const who = role === 'split' ? 'ratchet worker (workflows)' : role === 'all' ? 'ratchet worker' : `ratchet worker (${role})`;
  // The SDK's Prometheus exporter serves its own metrics and ratchet's (workflows/metrics.ts, activities' lock waits).
  Runtime.install({
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...(metrics ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metrics, countersTotalSuffix: true, unitSuffix: false } } } } : {}),
  });
  if (metrics) console.log(`${who}: Prometheus metrics on http://${metrics}/metrics`);
  const stopping = new AbortController();
  let activities: ActivitiesProcess | undefined;
  let polling = false;
  // `on`, not `once`: a second signal (Ctrl-C reaches both processes of a split worker, and the parent passes its
  // own on) must not find the process without a handler, which would kill it at once.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping.signal.aborted) return;
      if (role !== 'workflows' && polling) console.log(`${who}: ${sig}: stopping running agents, gates and deploys; their attempts go on on another worker`);
      stopping.abort(new Error(`the worker received ${sig}`));
      void activities?.stop(sig);
    });
  }
  // The activities half of a split worker ends with the process that started it, as one worker would.
  if (role === 'activities' && process.send) {
    // The channel only watches the parent: it must not keep this process alive once its worker has stopped.
    process.channel?.unref();
    process.once('disconnect', () => {
      console.error(`${who}: the worker process that started it is gone; exiting`);
      process.exit(1);
    });
  }
  const worktrees = opts.worktrees || process.env.RATCHET_WORKTREES_DIR || undefined;
  const workerId = opts.workerId !== undefined ? workerIdOf(opts.workerId, '--worker-id') : workerIdOf(process.env.RATCHET_WORKER_ID, 'RATCHET_WORKER_ID');
  const runsActivities = role !== 'split' && role !== 'workflows';
  const sandbox = createSandboxProbe();
  if (runsActivities) {
    const [bwrap, socat] = await Promise.all([sandbox.bwrap(), sandbox.socat()]);
    console.log(
      bwrap
        ? `${who}: agents, setup steps and gates run boxed by ${bwrap} (unless a batch sets agent.sandbox "none")` +
            (socat
              ? `; a box with network reaches only its allowed domains through the egress proxy (bridged by ${socat})`
              : '; socat is missing, so a box with network (agent.network, default the model APIs) fails with the fix: apt-get install socat')
        : `${who}: NO SANDBOX: bubblewrap (bwrap) is missing or does not work here, so agent steps and gates fail with the fix ` +
            'unless their batch sets agent.sandbox "none" (unboxed, with write access to everything this user can ' +
            'write). Install it: apt-get install bubblewrap socat (Debian/Ubuntu), and allow unprivileged user namespaces.',
    );
    if (!target.secure) console.log(unauthenticatedWarning(who, address));
  }
  const connectTimeoutMs = opts.connectTimeoutMs ?? connectTimeoutOf(process.env.RATCHET_CONNECT_TIMEOUT_MS, 'RATCHET_CONNECT_TIMEOUT_MS');
  const reach: ReachOptions = {
    address,
    signal: stopping.signal,
    log: (line) => console.log(`${who}: ${line}`),
    ...(connectTimeoutMs !== undefined ? { timeoutMs: connectTimeoutMs } : {}),
  };
  const stoppedEarly = (err: unknown): boolean => {
    if (!stopping.signal.aborted || err !== stopping.signal.reason) return false;
    console.log(`${who} stopped before it polled (${(err as Error).message})`);
    return true;
  };
  let connection: NativeConnection;
  try {
    connection = await untilReachable(() => NativeConnection.connect(target.connection), reach);
  } catch (err) {
    if (stoppedEarly(err)) return;
    throw err;
  }
  try {
    // Started once this half reached Temporal (the other then reaches it too, or says why not), and before the bundle
    // builds, so that it loads meanwhile.
    if (role === 'split') {
      const own = {
        ...(worktrees ? { RATCHET_WORKTREES_DIR: path.resolve(worktrees) } : {}),
        ...(workerId ? { RATCHET_WORKER_ID: workerId } : {}),
        ...(connectTimeoutMs !== undefined ? { RATCHET_CONNECT_TIMEOUT_MS: String(connectTimeoutMs) } : {}),
      };
      activities = startActivitiesProcess({ address: opts.address, namespace: opts.namespace, metrics: metrics && nextPort(metrics), env: own });
    }
    // Built once, outside the retries: creating the worker asks the server for its namespace, and the server may have
    // gone again since the connection (the SDK retries that call ~20 s, then fails).
    const workflowBundle = runsWorkflows(role) ? await buildWorkflowBundle() : undefined;
    let worker: RatchetWorker;
    try {
      worker = await untilReachable(
        () =>
          createWorker({
            connection,
            namespace,
            role: role === 'split' ? 'workflows' : role,
            ...(workflowBundle ? { workflowBundle } : {}),
            ...(workerId ? { workerId } : {}),
            activityDeps: { sandbox, stopping: stopping.signal, ...(worktrees ? { worktreesRoot: path.resolve(worktrees) } : {}) },
          }),
        reach,
      );
    } catch (err) {
      if (stoppedEarly(err)) return;
      throw err;
    }
    let failure: Error | undefined;
    void activities?.exited.then((code) => {
      if (stopping.signal.aborted) return;
      // Without its activities this worker would take workflow tasks whose activities nobody here runs.
      failure = new Error(`the activities process of this worker exited (${code}); stopping the worker`);
      console.error(`${who}: ${failure.message}`);
      worker.shutdown();
    });
    const queues = worker.hostTaskQueue ? `task queues "${worker.options.taskQueue}" and its own "${worker.hostTaskQueue}"` : `task queue "${worker.options.taskQueue}"`;
    if (runsActivities && worktrees) console.log(`${who}: worktrees in ${path.resolve(worktrees)}`);
    console.log(`${who} polling ${queues} on ${address}${target.secure ? ' (TLS)' : ''} (namespace ${namespace}); Ctrl-C stops it`);
    polling = true;
    await worker.run();
    if (failure) throw failure;
    console.log(`${who} stopped`);
  } finally {
    if (activities) {
      stopping.abort(new Error('the worker stopped'));
      await activities.stop();
    }
    await connection.close();
  }
}

/** Whether a worker of `role` runs workflows in this process (and so needs the workflow bundle). */
function runsWorkflows(role: WorkerProcessRole): boolean {
  return role !== 'activities';
}

if (require.main === module) {
  runWorkerProcess().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
