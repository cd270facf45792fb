/**
 * Real worker processes for fault tests and the takeover benchmark: `workers/main.ts` run as its own process (so a
 * SIGKILL kills a whole worker, as a dead host would), and the takeover scenarios both use: a worker killed mid-merge,
 * and a worker frozen while it holds a tracker write.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchWorkflow } from '../../workflows';
import { batchWorkflowId, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import type { RunReport } from '../../workflows/types';
import { makeRepo, mergesOf, type Fixture } from '../fixtures/repo';
import { uniqueId } from './temporal';
import { waitUntil } from './wait';

const root = path.resolve(__dirname, '../..');

/** A real worker process running workers/main.ts against `address` (and `env`); its output is appended to `log`. */
export function startWorkerProcess(address: string, log: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  // One process, started as `npm run worker` starts it (tsx's CommonJS hook, not its CLI, which would run the worker in
  // a child the SIGKILL would miss).
  const child = spawn(process.execPath, ['--max-semi-space-size=2', '--require', 'tsx/cjs', path.join(root, 'workers/main.ts')], {
    cwd: root,
    env: { ...process.env, MALLOC_ARENA_MAX: '2', ...env, TEMPORAL_ADDRESS: address },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  return child;
}

/** What {@link midMergeTakeover} saw. */
export interface Takeover {
  fixture: Fixture;
  report: RunReport;
  /** From the SIGKILL to the retried merge's start on the other worker, ms. */
  takeoverMs: number;
  /** Merge commits of the ticket on main. */
  merges: string[];
  log: string[];
}

/**
 * Kills a worker process with SIGKILL in the middle of a merge and starts another: the repository's `post-merge`
 * hook (which `git merge --no-verify` still runs) holds the first merge after its commit landed. Returns when the
 * batch is done. The caller stops `workers` and cleans up `fixture`.
 */
export async function midMergeTakeover(env: TestWorkflowEnvironment, workers: ChildProcess[]): Promise<Takeover> {
  const fixture = await makeRepo([{ id: 'r', probes: [{ name: 'r.txt live', command: 'test "$(cat r.txt)" = good' }] }]);
  const marker = path.join(fixture.dir, 'merge.pid');
  await writeFile(
    path.join(fixture.repo, '.git', 'hooks', 'post-merge'),
    `#!/bin/sh\nif [ ! -e '${marker}' ]; then echo $$ > '${marker}'; sleep 60; fi\n`,
    { mode: 0o755 },
  );
  const batchId = uniqueId('merge');
  const log: string[] = [];
  const first = startWorkerProcess(env.address, log);
  workers.push(first);
  const handle = await env.client.workflow.start(batchWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: batchWorkflowId(batchId),
    args: [fixture.batch(batchId, { gates: [{ name: 'r is good', command: 'test "$(cat r.txt)" = good' }] })],
  });
  await waitUntil('the merge to hang in its post-merge hook', async () => existsSync(marker), { timeoutMs: 120_000 });
  first.kill('SIGKILL');
  await new Promise((resolve) => first.once('exit', resolve));
  const killedAt = Date.now();
  workers.push(startWorkerProcess(env.address, log));
  const report = await handle.result();

  const history = await env.client.workflow.getHandle(ticketWorkflowId(batchId, 'r')).fetchHistory();
  const events = history.events ?? [];
  const mergeScheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'merge');
  const started = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === mergeScheduled?.eventId?.toString());
  const startedAt = Number(started?.eventTime?.seconds ?? 0) * 1000 + Math.round((started?.eventTime?.nanos ?? 0) / 1e6);
  return { fixture, report, takeoverMs: startedAt - killedAt, merges: await mergesOf(fixture.repo, 'r'), log };
}

/** The pids of `pid` and every process below it (a worker and its activities process). */
export function processTree(pid: number): number[] {
  const out = [pid];
  let text: string;
  try {
    text = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return out; // ps exits 1 when there are none
  }
  for (const c of text.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0)) out.push(...processTree(c));
  return out;
}

/** Sends `signal` to each of `pids` that still exists. */
export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      // gone already
    }
  }
}

/** Milliseconds since the epoch of a history event's time. */
function eventMs(e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }): number {
  return Number(e.eventTime?.seconds ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6);
}

/** What {@link frozenTakeover} saw. */
export interface FrozenTakeover {
  fixture: Fixture;
  report: RunReport;
  /** From the SIGSTOP to the first workflow task of the ticket on the other worker, ms. */
  takeoverMs: number;
  /** The frozen worker's tracker record of the ticket once it woke up and ran the write it held. */
  recordAfter: string;
  merges: string[];
  /** The frozen worker's output. */
  log: string[];
}

/**
 * Freezes a worker (SIGSTOP to it and its activities process: a VM pause, a laptop lid, a long GC) while it holds a
 * ticket's workflow task whose tracker write of `merged` is under way, lets a second worker take the ticket over and
 * finish it (`done`), then resumes the frozen one and waits until it ran the write it held. The write waits because
 * the merge's `post-merge` hook takes the record's lock as a slow shared disk would (its holder never refreshes it, so
 * the second worker takes it over as stale after 10 s). A second ticket `s` keeps the batch running meanwhile, so the
 * batch reads the tracker after the frozen worker woke up. The caller stops `workers`, resumes `frozen` on failure
 * and cleans up `fixture`.
 */
export async function frozenTakeover(env: TestWorkflowEnvironment, workers: ChildProcess[], frozen: number[]): Promise<FrozenTakeover> {
  const fixture = await makeRepo([
    { id: 'r', probes: [{ name: 'r.txt live', command: 'test "$(cat r.txt)" = good' }] },
    { id: 's', dependsOn: ['r'], probes: [{ name: 'main builds', command: 'true' }] },
  ]);
  const record = path.join(fixture.repo, '.ratchet', 'tickets', 'r.state');
  const merged = path.join(fixture.dir, 'merged');
  await writeFile(path.join(fixture.repo, '.git', 'hooks', 'post-merge'), `#!/bin/sh\nmkdir '${record}.lock' 2>/dev/null; touch '${merged}'\n`, { mode: 0o755 });
  const batchId = uniqueId('freeze');
  const log: string[] = [];
  const a = startWorkerProcess(env.address, log);
  workers.push(a);
  const handle = await env.client.workflow.start(batchWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: batchWorkflowId(batchId),
    args: [fixture.batch(batchId, { gates: [{ name: 'r is good', command: 'test "$(cat r.txt)" = good' }] })],
  });
  const ticket = env.client.workflow.getHandle(ticketWorkflowId(batchId, 'r'));
  const isMerge = (events: temporal.api.history.v1.IHistoryEvent[], e: temporal.api.history.v1.IHistoryEvent): boolean => {
    const scheduled = events.find((s) => String(s.eventId) === String(e.activityTaskCompletedEventAttributes?.scheduledEventId));
    // The merge queue landed it; the ticket's last step of its merge is releasing its worktree on its host.
    return scheduled?.activityTaskScheduledEventAttributes?.activityType?.name === 'releaseTicket';
  };
  // The merge completed and worker A started the workflow task that acts on it: A's `merged` write is under way.
  await waitUntil('worker A to take the workflow task after the merge', async () => {
    if (!existsSync(merged)) return false;
    const events = (await ticket.fetchHistory()).events ?? [];
    const done = events.findIndex((e) => e.activityTaskCompletedEventAttributes && isMerge(events, e));
    return done >= 0 && events.slice(done).some((e) => e.workflowTaskStartedEventAttributes);
  }, { timeoutMs: 120_000 });
  frozen.push(...processTree(a.pid as number));
  signalAll(frozen, 'SIGSTOP');
  const frozenAt = Date.now();
  workers.push(startWorkerProcess(env.address, []));
  await ticket.result();
  const events = (await ticket.fetchHistory()).events ?? [];
  const takenOver = events.find((e) => eventMs(e) >= frozenAt && e.workflowTaskStartedEventAttributes && !e.workflowTaskStartedEventAttributes.identity?.startsWith(`${a.pid}@`));
  if (!takenOver) throw new Error('no other worker took the ticket over');

  signalAll(frozen.splice(0), 'SIGCONT');
  await waitUntil('worker A to run the write it held', async () => log.join('').includes('stale write refused') || /state: merged/.test(await readFile(record, 'utf8')), {
    timeoutMs: 60_000,
  });
  const recordAfter = await readFile(record, 'utf8');
  const report = await handle.result();
  return { fixture, report, takeoverMs: eventMs(takenOver) - frozenAt, recordAfter, merges: await mergesOf(fixture.repo, 'r'), log };
}
