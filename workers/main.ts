/**
 * Process entry point of a ratchet worker: connects to Temporal (TEMPORAL_ADDRESS, default 127.0.0.1:7233;
 * TEMPORAL_NAMESPACE, default `default`) and runs until SIGINT or SIGTERM, then shuts down gracefully (the SDK
 * stops polling and lets running activities finish within the grace time).
 */
import { NativeConnection, Runtime } from '@temporalio/worker';
import { createWorker } from './worker';

export interface WorkerProcessOptions {
  address?: string;
  namespace?: string;
}

/** Runs a worker in this process until SIGINT/SIGTERM. Resolves after a graceful shutdown; rejects if it cannot connect. */
export async function runWorkerProcess(opts: WorkerProcessOptions = {}): Promise<void> {
  const address = opts.address ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const namespace = opts.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default';
  // The SDK installs SIGINT/SIGTERM handlers that call worker.shutdown() (graceful) on every running worker.
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await createWorker({ connection, namespace });
    console.log(`ratchet worker polling task queue "${worker.options.taskQueue}" on ${address} (namespace ${namespace}); Ctrl-C stops it`);
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
