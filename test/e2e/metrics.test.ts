/**
 * A worker process started with RATCHET_METRICS_ADDRESS serves Prometheus metrics: the SDK's own and ratchet's
 * (tickets by phase, attempts, gate failures, merges, finished tickets, unblock latency, lock waits), the workflows'
 * at that address and its activities process's at the next port.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../../client/demo/demo-command';
import path from 'node:path';
import { batchWorkflow, watchRunWorkflow } from '../../workflows';
import { toWatchConfig } from '../../workflows/watch/input';
import { batchWorkflowId, TASK_QUEUE } from '../../workflows/messages';
import { makeRepo, type Fixture } from '../fixtures/repo';
import { createTestEnv, uniqueId } from '../helpers/temporal';
import { startWorkerProcess } from '../helpers/worker-process';
import { waitUntil } from '../helpers/wait';
import { nextPort } from '../../workers/main';

/**
 * A free port whose next port is free too: a split worker's activities process serves its metrics on the next port,
 * and one taken by another process there would stop it at start.
 */
async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await freePort();
    const nextFree = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port + 1, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (nextFree) return port;
  }
}

describe('worker metrics', function () {
  this.timeout(180_000);
  let env: TestWorkflowEnvironment;
  let worker: ChildProcess | undefined;
  let fx: Fixture | undefined;
  const log: string[] = [];

  before(async () => {
    env = await createTestEnv();
  });

  after(async () => {
    if (worker && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker?.once('exit', resolve));
    }
    await env?.teardown();
    await fx?.cleanup();
  });

  it('serves the SDK metrics and ratchet\'s own on /metrics once a batch ran', async () => {
    const address = `127.0.0.1:${await freePortPair()}`;
    worker = startWorkerProcess(env.address, log, { RATCHET_METRICS_ADDRESS: address });
    for (const a of [address, nextPort(address)]) {
      await waitUntil(`the worker to announce its metrics endpoint ${a}`, async () => log.join('').includes(`Prometheus metrics on http://${a}/metrics`), { timeoutMs: 60_000 }).catch(
        (err: Error) => {
          throw new Error(`${err.message}\nworker log:\n${log.join('')}`);
        },
      );
    }

    // b depends on a (unblock latency); a's first attempt fails its gate (a gate failure, two attempts).
    fx = await makeRepo([
      { id: 'a', attempts: [{ files: { 'a.txt': 'bad' } }, { files: { 'a.txt': 'good' } }] },
      { id: 'b', dependsOn: ['a'] },
    ]);
    const batchId = uniqueId('metrics');
    const report = await env.client.workflow.execute(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      args: [fx.batch(batchId, { gates: [{ name: 'own file', command: 'test "$(cat "$RATCHET_TICKET_ID.txt")" = good' }], probes: [{ name: 'README on main', command: 'test -f README.md' }] })],
    });
    assert.equal(report.oracle.satisfied, true);
    // A watch whose check fails, run three times: one signature, confirmed and filed once, two later sightings that
    // filed nothing more (duplicates suppressed).
    const watch = toWatchConfig({ watchId: uniqueId('mw'), repo: fx.repo, everyMs: 3_600_000, checks: [{ name: 'fails', command: 'echo "error: broken"; exit 1' }] }, path.resolve);
    for (const n of [1, 2, 3]) await env.client.workflow.execute(watchRunWorkflow, { taskQueue: TASK_QUEUE, workflowId: `watch-run-${watch.watchId}-${n}`, args: [watch] });

    // A split worker (the default): the workflows' metrics here, the activities process's on the next port.
    const text = (await Promise.all([address, nextPort(address)].map(async (a) => (await fetch(`http://${a}/metrics`)).text()))).join('\n');
    const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? NaN);
    assert.equal(value(/^ratchet_merges_total(?:\{[^}]*\})? (\d+)/m), 2, 'two merges');
    assert.equal(value(/^ratchet_attempts_total(?:\{[^}]*\})? (\d+)/m), 3, 'three attempts');
    assert.equal(value(/^ratchet_gate_failures_total\{[^}]*gate="own file"[^}]*\} (\d+)/m), 1, 'one gate failure');
    assert.equal(value(/^ratchet_tickets_finished_total\{[^}]*outcome="done"[^}]*\} (\d+)/m), 2);
    assert.equal(value(/^ratchet_ticket_phase_entered_total\{[^}]*phase="merge"[^}]*\} (\d+)/m), 2);
    assert.equal(value(/^ratchet_unblock_latency_ms_count(?:\{[^}]*\})? (\d+)/m), 1, 'b was unblocked once');
    assert.ok(value(/^ratchet_lock_wait_ms_count\{[^}]*activityType="landCandidate"[^}]*lock="repo"[^}]*\} (\d+)/m) >= 2, 'merges (the merge queue\'s landCandidate) waited for the repository lock');
    assert.equal(value(/^ratchet_watch_runs_total\{[^}]*outcome="failures"[^}]*\} (\d+)/m), 3, 'three watch runs with failures');
    assert.equal(value(/^ratchet_watch_tickets_filed_total\{[^}]*kind="bug"[^}]*\} (\d+)/m), 1, 'one ticket filed');
    assert.equal(value(/^ratchet_watch_signatures_total\{[^}]*state="filed"[^}]*\} (\d+)/m), 1);
    assert.ok(value(/^ratchet_watch_duplicates_suppressed_total(?:\{[^}]*\})? (\d+)/m) >= 1, 'a later sighting filed nothing');
    assert.match(text, /^temporal_workflow_completed/m, "the SDK's own metrics are there too");
  });
});
