/**
 * Process entry point of a ratchet worker: connects to Temporal (TEMPORAL_ADDRESS, default 127.0.0.1:7233;
 * TEMPORAL_NAMESPACE, default `default`) and runs until SIGINT or SIGTERM. Then it stops at once every running agent,
 * gate and deploy (their process groups are killed and their activity attempts fail, so Temporal retries them on
 * another worker) and shuts down gracefully: the SDK stops polling and lets short activities (tracker writes, merges)
 * finish within the grace time.
 */
import { temporalTarget } from '../deploy/connection';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { createSandboxProbe } from '../activities/sandbox';
import { BadInputError } from '../workflows/input';
import { createWorker } from './worker';

export interface WorkerProcessOptions {
  address?: string;
  namespace?: string;
  /** `host:port` for the Prometheus endpoint (`/metrics`); default RATCHET_METRICS_ADDRESS; unset: no endpoint. */
  metrics?: string;
}

/**
 * The Prometheus bind address from `value` (`host:port`, e.g. `0.0.0.0:9464`), or undefined when unset.
 * @throws BadInputError naming the source and the fix when it is not host:port with a port in 1..65535.
 */
export function metricsAddress(value: string | undefined, source: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65_535) {
    throw new BadInputError(source, [`"${value}" is not host:port; fix: e.g. 0.0.0.0:9464 (all interfaces) or 127.0.0.1:9464`]);
  }
  return value;
}

/** Runs a worker in this process until SIGINT/SIGTERM. Resolves after a graceful shutdown; rejects if it cannot connect. */
export async function runWorkerProcess(opts: WorkerProcessOptions = {}): Promise<void> {
  // TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* or a temporal.toml profile, as the CLI reads them.
  const target = temporalTarget({ address: opts.address, namespace: opts.namespace });
  const { address, namespace } = target;
  // The SDK installs SIGINT/SIGTERM handlers that call worker.shutdown() (graceful) on every running worker; ours
  // stops the long runs at once, which would otherwise hold the process for the whole grace time and then some.
  const metrics = opts.metrics !== undefined ? metricsAddress(opts.metrics, '--metrics') : metricsAddress(process.env.RATCHET_METRICS_ADDRESS, 'RATCHET_METRICS_ADDRESS');
  // The SDK's Prometheus exporter serves its own metrics and ratchet's (workflows/metrics.ts, activities' lock waits).
  Runtime.install({
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...(metrics ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metrics, countersTotalSuffix: true, unitSuffix: false } } } } : {}),
  });
  if (metrics) console.log(`ratchet worker: Prometheus metrics on http://${metrics}/metrics`);
  const stopping = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.log(`ratchet worker: ${sig}: stopping running agents, gates and deploys; their attempts go on on another worker`);
      stopping.abort(new Error(`the worker received ${sig}`));
    });
  }
  const sandbox = createSandboxProbe();
  const bwrap = await sandbox.bwrap();
  console.log(
    bwrap
      ? `ratchet worker: agents run boxed by ${bwrap} (unless a batch sets agent.sandbox "none")`
      : 'ratchet worker: NO SANDBOX: bubblewrap (bwrap) is missing or does not work here, so agents run unboxed with ' +
          'write access to everything this user can write (batches that set agent.sandbox "bwrap" fail instead). ' +
          'Install it: apt-get install bubblewrap (Debian/Ubuntu), and allow unprivileged user namespaces.',
  );
  const connection = await NativeConnection.connect(target.connection);
  try {
    const worker = await createWorker({ connection, namespace, activityDeps: { sandbox, stopping: stopping.signal } });
    console.log(`ratchet worker polling task queue "${worker.options.taskQueue}" on ${address}${target.secure ? ' (TLS)' : ''} (namespace ${namespace}); Ctrl-C stops it`);
    await worker.run();
    console.log('ratchet worker stopped');
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  runWorkerProcess().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
