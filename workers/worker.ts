/**
 * Wiring: config -> clients -> createActivities -> Worker.create. A worker polls task queue `ratchet` for workflow
 * tasks, activity tasks or both (`role`); `ratchet worker` runs the two in two processes (workers/main.ts).
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
  /**
   * What this worker polls for: `all` (default) workflow and activity tasks; `workflows` only workflow tasks (no
   * activity runs here); `activities` only activity tasks (no workflow bundle is built or loaded).
   */
  role?: WorkerRole;
}

/** What a worker polls for; see {@link CreateWorkerOptions.role}. */
export type WorkerRole = 'all' | 'workflows' | 'activities';

/** Creates (does not run) a ratchet worker. Throws if the workflow bundle fails to build. */
export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  const role = opts.role ?? 'all';
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    ...(role === 'activities' ? {} : opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows/index') }),
    ...(role === 'workflows' ? {} : { activities: createActivities(opts.activityDeps) }),
    shutdownGraceTime: opts.shutdownGraceTimeMs ?? 10_000,
  });
}
