/**
 * Wiring: config -> clients -> createActivities -> Worker.create. One worker polls task queue `ratchet` and runs
 * both workflow types and every activity.
 */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { TASK_QUEUE } from '../workflows/messages';

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** A pre-built workflow bundle (tests build it once per run); otherwise the worker bundles `workflows/index.ts`. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  activityDeps?: ActivityDeps;
  /** How long a shutdown waits for running activities before cancelling them, ms (default 10 000). */
  shutdownGraceTimeMs?: number;
}

/** Creates (does not run) a ratchet worker. Throws if the workflow bundle fails to build. */
export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows/index') }),
    activities: createActivities(opts.activityDeps),
    shutdownGraceTime: opts.shutdownGraceTimeMs ?? 10_000,
  });
}
