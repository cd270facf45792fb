/**
 * Wiring: config -> clients -> createActivities -> Worker.create. A worker polls task queue `ratchet` for workflow
 * tasks, activity tasks or both (`role`); `ratchet worker` runs the two in two processes (workers/main.ts).
 *
 * A worker that runs activities also polls its own worker-specific task queue, `ratchet@<worker id>` (Temporal's
 * samples-typescript `worker-specific-task-queues`): the steps of an attempt that need the ticket's worktree are sent
 * there, to the worker whose disk holds it (workflows/ticket.ts, `onHost`).
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, createLocalActivities, type Activities, type ActivityDeps } from '../activities';
import { TASK_QUEUE } from '../workflows/messages';
import { buildWorkflowBundle } from './bundle';

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /**
   * A pre-built workflow bundle (tests build it once per run); otherwise `workflows/index.ts` is bundled in a child
   * process (workers/bundle.ts), so that webpack's memory is not left in this one.
   */
  workflowBundle?: WorkerOptions['workflowBundle'];
  activityDeps?: ActivityDeps;
  /** How long a shutdown waits for running activities before cancelling them, ms (default 10 000). */
  shutdownGraceTimeMs?: number;
  /**
   * What this worker polls for: `all` (default) workflow and activity tasks; `workflows` only workflow tasks (no
   * activity runs here); `activities` only activity tasks (no workflow bundle is built or loaded).
   */
  role?: WorkerRole;
  /**
   * This worker's id: its worker-specific task queue is `<taskQueue>@<id>`. Default {@link defaultWorkerId}. Two
   * workers may share an id only when they share the disk their worktrees are on.
   */
  workerId?: string;
  /**
   * Activities that replace ratchet's own of the same name in this worker's activity workers (not the local
   * activities of a `workflows` worker). For benchmarks and tests only: bench/merge-queue.ts lands without the merge
   * queue's gates to measure what validating candidates costs. No configuration sets it: a worker runs the activities
   * its workflows were written against.
   */
  activityOverrides?: Partial<Activities>;
}

/** What a worker polls for; see {@link CreateWorkerOptions.role}. */
export type WorkerRole = 'all' | 'workflows' | 'activities';

/**
 * The default worker id: the host's name, and when the worker keeps its worktrees in a folder of its own
 * (`worktreesRoot`), the first 8 hex digits of that folder's sha-256 (`host-1a2b3c4d`): workers on one host with one
 * folder each are then told apart, and a worker restarted with the same folder gets its queue (and its worktrees) back.
 */
export function defaultWorkerId(worktreesRoot?: string): string {
  const host = os.hostname().replace(/[^A-Za-z0-9._-]/g, '-');
  if (!worktreesRoot) return host;
  return `${host}-${createHash('sha256').update(path.resolve(worktreesRoot)).digest('hex').slice(0, 8)}`;
}

/** The worker-specific task queue of the worker `workerId` polling `taskQueue`: `<taskQueue>@<workerId>`. */
export function hostTaskQueue(taskQueue: string, workerId: string): string {
  return `${taskQueue}@${workerId}`;
}

/**
 * A ratchet worker: one SDK worker on the shared task queue and, when it runs activities, one on its worker-specific
 * task queue, run and stopped together.
 */
export class RatchetWorker {
  constructor(
    /** The SDK workers: the shared queue's first. */
    readonly workers: Worker[],
    /** The worker-specific task queue, when this worker runs activities. */
    readonly hostTaskQueue: string | undefined,
  ) {}

  /** The shared task queue's worker options (its `taskQueue` is the shared queue). */
  get options(): Worker['options'] {
    return this.workers[0].options;
  }

  /** The shared queue's worker's state. */
  getState(): ReturnType<Worker['getState']> {
    return this.workers[0].getState();
  }

  /**
   * Runs every SDK worker until shut down. Resolves when all have stopped; rejects with the first failure, after
   * stopping the others (a worker polling one queue and not the other would take tasks it cannot finish).
   */
  async run(): Promise<void> {
    let failure: unknown;
    await Promise.all(
      this.workers.map((w) =>
        w.run().catch((err: unknown) => {
          failure ??= err;
          this.shutdown();
        }),
      ),
    );
    if (failure !== undefined) throw failure;
  }

  /** Runs the workers until `fnOrPromise` settles, then shuts them down; resolves or rejects as it did. */
  async runUntil<R>(fnOrPromise: Promise<R> | (() => Promise<R>)): Promise<R> {
    return this.workers.slice(1).reduce<Promise<R>>((inner, w) => w.runUntil(inner), this.workers[0].runUntil(fnOrPromise));
  }

  /** Starts a graceful shutdown of every SDK worker that is running; returns at once. */
  shutdown(): void {
    for (const w of this.workers) if (w.getState() === 'RUNNING') w.shutdown();
  }
}

/** Creates (does not run) a ratchet worker. Throws if the workflow bundle fails to build. */
export async function createWorker(opts: CreateWorkerOptions): Promise<RatchetWorker> {
  const role = opts.role ?? 'all';
  const taskQueue = opts.taskQueue ?? TASK_QUEUE;
  const common = { connection: opts.connection, namespace: opts.namespace ?? 'default', shutdownGraceTime: opts.shutdownGraceTimeMs ?? 10_000 };
  if (role === 'workflows') {
    // It runs the workflows' local activities (tracker reads and writes, lock requests), and polls for no activity task.
    const local = createLocalActivities(opts.activityDeps);
    return new RatchetWorker([await Worker.create({ ...common, taskQueue, workflowBundle: await bundleOf(opts), activities: local, enableNonLocalActivities: false })], undefined);
  }
  const host = hostTaskQueue(taskQueue, opts.workerId ?? defaultWorkerId(opts.activityDeps?.worktreesRoot));
  // The worker's own connection serves the steps that read the server (a ticket's end, read from its closed workflow).
  const client = opts.activityDeps?.client ?? new Client({ connection: opts.connection, namespace: common.namespace });
  const activities = { ...createActivities({ ...opts.activityDeps, client, hostTaskQueue: host }), ...opts.activityOverrides };
  const shared = await Worker.create({ ...common, taskQueue, ...(role === 'all' ? { workflowBundle: await bundleOf(opts) } : {}), activities });
  const pinned = await Worker.create({ ...common, taskQueue: host, activities });
  return new RatchetWorker([shared, pinned], host);
}

async function bundleOf(opts: CreateWorkerOptions): Promise<NonNullable<WorkerOptions['workflowBundle']>> {
  return opts.workflowBundle ?? buildWorkflowBundle();
}
