/**
 * Real worker processes for fault tests and the takeover benchmark: `workers/main.ts` run as its own process (so a
 * SIGKILL kills a whole worker, as a dead host would), and the mid-merge takeover scenario both use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
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
