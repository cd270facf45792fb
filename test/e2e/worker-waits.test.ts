/**
 * A worker waits for its server (issue 29 part 8): a real worker process (`npm run worker`'s workers/main.ts, split in
 * its two halves) started while nothing answers at its Temporal address retries with backoff, saying so, and polls
 * once a real dev server comes up there; a signal during the wait ends it cleanly.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../client/demo/demo-command';
import { ensureDevServer, type DevServer } from '../../deploy/dev-server';
import { batchWorkflow } from '../../workflows';
import { batchWorkflowId, TASK_QUEUE } from '../../workflows/messages';
import { goodFileGate, goodFileProbe, makeRepo, mergesOf, type Fixture } from '../fixtures/repo';
import { uniqueId } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';
import { startWorkerProcess } from '../helpers/worker-process';

/** Resolves with the exit code (or signal) once `child` has exited. */
function exitOf(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode ?? 'unknown');
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
}

describe('a worker started while its Temporal server is down', function () {
  this.timeout(300_000);
  const workers: ChildProcess[] = [];
  let server: DevServer | undefined;
  let client: Client | undefined;
  let fx: Fixture | undefined;

  after(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await client?.connection.close();
    await server?.stop();
    await fx?.cleanup();
  });

  it('retries with backoff, saying so, then polls once the server comes up and runs a batch without having exited', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const log: string[] = [];
    const worker = startWorkerProcess(address, log);
    workers.push(worker);
    const seen = (what: string, pattern: RegExp, timeoutMs = 60_000): Promise<true> =>
      waitUntil(what, async () => pattern.test(log.join('')), { timeoutMs }).catch((err: Error) => {
        throw new Error(`${err.message}\nworker log:\n${log.join('')}`);
      });
    // The fourth attempt failed ~7 s after the start: the server comes up while the worker waits 8 s for its fifth.
    await seen('the worker to wait 8 s before its next try', /retrying in 8s/);
    assert.equal(worker.exitCode, null, 'the worker is still running');

    server = await ensureDevServer({ address, inMemory: true, headless: true, attached: true, log: () => undefined });
    await seen('both halves to poll', /ratchet worker \(workflows\) polling[\s\S]*ratchet worker \(activities\) polling|ratchet worker \(activities\) polling[\s\S]*ratchet worker \(workflows\) polling/, 120_000);

    const lines = log.join('').split('\n');
    const waits = lines.filter((l) => l.startsWith('ratchet worker (workflows): cannot reach Temporal'));
    assert.deepEqual(
      waits.slice(0, 4),
      [1, 2, 4, 8].map((s) => `ratchet worker (workflows): cannot reach Temporal at ${address}: connection refused; retrying in ${s}s`),
    );

    client = new Client({ connection: await Connection.connect({ address }) });
    fx = await makeRepo([{ id: 'w', probes: [goodFileProbe('w.txt')] }]);
    const batchId = uniqueId('waits');
    const report = await client.workflow.execute(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      args: [fx.batch(batchId, { gates: [goodFileGate('w.txt')] })],
    });
    assert.equal(report.oracle.satisfied, true, log.join(''));
    assert.equal((await mergesOf(fx.repo, 'w')).length, 1);
    assert.equal(worker.exitCode, null, `the worker never exited:\n${log.join('')}`);

    worker.kill('SIGTERM');
    assert.equal(await exitOf(worker), 0, log.join(''));
  });

  it('exits cleanly (code 0) on SIGTERM while it waits', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const log: string[] = [];
    const worker = startWorkerProcess(address, log);
    workers.push(worker);
    await waitUntil('the worker to say it retries', async () => log.join('').includes(`cannot reach Temporal at ${address}: connection refused; retrying in 1s`), { timeoutMs: 60_000 });
    const sent = Date.now();
    worker.kill('SIGTERM');
    assert.equal(await exitOf(worker), 0, log.join(''));
    assert.ok(Date.now() - sent < 5_000, `the worker exited ${Date.now() - sent} ms after SIGTERM`);
    assert.match(log.join(''), /ratchet worker \(workflows\) stopped before it polled \(the worker received SIGTERM\)/);
  });
});
