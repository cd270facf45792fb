import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { NativeConnection } from '@temporalio/worker';
import { connect } from '../../client/connection';
import { freePort } from '../../client/demo/demo-command';
import { EXIT, exitCodeFor } from '../../client/errors';
import { startBatch } from '../../client/start';
import { ensureDevServer, type DevServer } from '../../deploy/dev-server';
import { resolveTemporalCli } from '../../deploy/temporal-cli';
import { BadInputError } from '../../workflows/errors';
import { createWorker, type RatchetWorker } from '../../workers/worker';
import { makeRepo, mergesOf, type Fixture } from '../fixtures/repo';
import { uniqueId, workflowBundle } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

const run = promisify(execFile);

describe('the plain Temporal CLI drives a batch end to end', function () {
  this.timeout(300_000);
  let server: DevServer;
  let connection: NativeConnection;
  let worker: RatchetWorker;
  let running: Promise<void>;
  let fx: Fixture;
  let temporal: string;

  before(async function () {
    temporal = await resolveTemporalCli();
    const [port, uiPort] = [await freePort(), await freePort()];
    fx = await makeRepo([
      { id: 'base', probes: [{ name: 'base live', command: 'test "$(cat base.txt)" = good' }] },
      { id: 'gated', gate: 'plan', dependsOn: ['base'], probes: [{ name: 'gated live', command: 'test "$(cat gated.txt)" = good' }] },
      { id: 'last', dependsOn: ['gated'], probes: [{ name: 'last live', command: 'test "$(cat last.txt)" = good' }] },
    ]);
    server = await ensureDevServer({ address: `127.0.0.1:${port}`, uiPort, dbFile: path.join(fx.dir, 'temporal.sqlite'), log: () => undefined });
    connection = await NativeConnection.connect({ address: server.address });
    worker = await createWorker({ connection, workflowBundle: await workflowBundle(), shutdownGraceTimeMs: 1_000 });
    running = worker.run();
  });

  after(async () => {
    try {
      worker?.shutdown();
      await running;
    } finally {
      // Always, even when the worker failed: an orphaned dev server would outlive the test run.
      await connection?.close();
      await server?.stop();
      await fx?.cleanup();
    }
  });

  const cli = async (...args: string[]) => (await run(temporal, [...args, '--address', server.address], { maxBuffer: 16 * 1024 * 1024 })).stdout;

  it('starts with workflow start --input-file, files discovered work and answers the plan gate with update execute, and lists every ticket by RatchetBatch', async () => {
    const batchId = uniqueId('cli');
    const batchFile = path.join(fx.dir, 'batch.json');
    const gates = [{ name: 'own file', command: 'test "$(cat "$RATCHET_TICKET_ID.txt")" = good' }];
    // A batch-level probe: a discovered ticket is verified live by the batch's probes.
    await writeFile(batchFile, JSON.stringify(fx.batch(batchId, { gates, probes: [{ name: 'README on main', command: 'test -f README.md' }] }), null, 2));
    await fx.script({ 'discovered-1': [{ files: { 'discovered-1.txt': 'good' } }] });

    await cli('workflow', 'start', '--task-queue', 'ratchet', '--type', 'batchWorkflow', '--workflow-id', `batch-${batchId}`, '--input-file', batchFile);

    const gatedId = `ticket-${batchId}-gated`;
    await waitUntil('the plan gate to open', async () => {
      const out = JSON.parse(await cli('workflow', 'query', '--workflow-id', gatedId, '--name', 'status', '-o', 'json')) as { queryResult: [{ waitingFor?: string }] };
      return out.queryResult[0].waitingFor === 'plan' || undefined;
    });
    const discover = { by: 'e2e', title: 'Write the changelog', acceptance: ['CHANGELOG lists last'], blocks: ['last'] };
    const filed = await cli('workflow', 'update', 'execute', '--workflow-id', `batch-${batchId}`, '--name', 'discover', '--input', JSON.stringify(discover));
    assert.match(filed, /discovered-1/);
    const updated = await cli('workflow', 'update', 'execute', '--workflow-id', gatedId, '--name', 'approve', '--input', '{"by":"e2e","comment":"plan looks right"}');
    assert.match(updated, /approve/);

    const result = await cli('workflow', 'result', '--workflow-id', `batch-${batchId}`, '-o', 'json');
    const report = (JSON.parse(result) as { result: { oracle: { satisfied: boolean; done: string[] }; interventions: { byKind: Record<string, number> } } }).result;
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ['base', 'discovered-1', 'gated', 'last']);
    assert.deepEqual(report.interventions.byKind, { approve: 1 });
    for (const id of ['base', 'discovered-1', 'gated', 'last']) assert.equal((await mergesOf(fx.repo, id)).length, 1);

    const listed = await waitUntil('visibility to list the batch and its four tickets', async () => {
      const rows = (await cli('workflow', 'list', '--query', `RatchetBatch="${batchId}"`, '-o', 'jsonl'))
        .trim()
        .split('\n')
        .filter(Boolean);
      const ids = rows.map((r) => (JSON.parse(r) as { execution: { workflowId: string } }).execution.workflowId);
      return ids.length === 5 ? ids.sort() : undefined;
    });
    const tickets = ['base', 'discovered-1', 'gated', 'last'].map((id) => `ticket-${batchId}-${id}`);
    assert.deepEqual(listed, [`batch-${batchId}`, ...tickets].sort());
  });

  it('ratchet start reports a batch whose tickets form a cycle as bad input (exit 2), naming the cycle', async () => {
    const cyc = await makeRepo([
      { id: 'a', dependsOn: ['b'], probes: [{ command: 'true' }] },
      { id: 'b', dependsOn: ['a'], probes: [{ command: 'true' }] },
    ]);
    try {
      const batchFile = path.join(cyc.dir, 'batch.json');
      const batchId = uniqueId('cycle');
      await writeFile(batchFile, JSON.stringify(cyc.batch(batchId), null, 2));
      const ratchet = path.resolve(__dirname, '../../client/bin/ratchet.js');
      const result = await run(process.execPath, [ratchet, 'start', batchFile, '--address', server.address]).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(result.code, 2);
      assert.match(result.stderr, /dependency cycle a -> b -> a: remove one of these dependsOn edges/);
      const listed = await cli('workflow', 'list', '--query', `WorkflowType="batchWorkflow" AND WorkflowId="batch-${batchId}"`, '--output', 'json');
      assert.equal(listed.trim().replace(/^\[\s*\]$/, ''), '', 'no batch workflow was started');
    } finally {
      await cyc.cleanup();
    }
  });

  it('ratchet start refuses a second batch over a tracker a running batch holds (exit 2), naming that batch', async () => {
    const two = await makeRepo([{ id: 'g', gate: 'plan', probes: [{ command: 'true' }] }]);
    try {
      const first = uniqueId('holder');
      await cli('workflow', 'start', '--task-queue', 'ratchet', '--type', 'batchWorkflow', '--workflow-id', `batch-${first}`, '--input', JSON.stringify(two.batch(first)));
      // The first batch holds the tracker once its ticket runs: here, parked at its plan gate.
      await waitUntil('the first batch to reach g\'s plan gate', async () => {
        const out = await cli('workflow', 'query', '--workflow-id', `ticket-${first}-g`, '--name', 'status', '--output', 'json').catch(() => '');
        return out.includes('"waitingFor": "plan"');
      });
      const batchFile = path.join(two.dir, 'second.json');
      const second = uniqueId('second');
      await writeFile(batchFile, JSON.stringify(two.batch(second), null, 2));
      const ratchet = path.resolve(__dirname, '../../client/bin/ratchet.js');
      const result = await run(process.execPath, [ratchet, 'start', batchFile, '--address', server.address]).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`is held by running batch ${first} \\(claim workflow claim-`));
      await cli('workflow', 'terminate', '--workflow-id', `batch-${first}`, '--reason', 'test done');
    } finally {
      await two.cleanup();
    }
  });

  it('two ratchet start --no-watch at once over one tracker: one says Started and exits 0, the other exits 2 naming it', async () => {
    const one = await makeRepo([{ id: 'p', gate: 'plan', probes: [{ command: 'true' }] }]);
    try {
      const ids = [uniqueId('race-a'), uniqueId('race-b')];
      const files = ids.map((id) => path.join(one.dir, `${id}.json`));
      await Promise.all(ids.map((id, i) => writeFile(files[i], JSON.stringify(one.batch(id), null, 2))));
      const ratchet = path.resolve(__dirname, '../../client/bin/ratchet.js');
      const results = await Promise.all(
        files.map((file) =>
          run(process.execPath, [ratchet, 'start', file, '--no-watch', '--address', server.address]).then(
            ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
            (err: { code: number; stdout: string; stderr: string }) => err,
          ),
        ),
      );
      const shown = JSON.stringify(results, null, 2);
      const won = results.findIndex((r) => r.code === 0);
      assert.notEqual(won, -1, shown);
      const [winner, loser] = [won, 1 - won];
      assert.match(results[winner].stdout, new RegExp(`^Started batch ${ids[winner]}: workflow batch-${ids[winner]}$`, 'm'), shown);
      assert.equal(results[loser].code, 2, shown);
      assert.doesNotMatch(results[loser].stdout, /Started/, shown);
      assert.match(results[loser].stderr, new RegExp(`is held by running batch ${ids[winner]} \\(claim workflow claim-`), shown);
      // The winner holds the tracker for real: its ticket runs (parked at its plan gate).
      await waitUntil('the winner to reach p\'s plan gate', async () => {
        const out = await cli('workflow', 'query', '--workflow-id', `ticket-${ids[winner]}-p`, '--name', 'status', '--output', 'json').catch(() => '');
        return out.includes('"waitingFor": "plan"');
      });
      await cli('workflow', 'terminate', '--workflow-id', `batch-${ids[winner]}`, '--reason', 'test done');
    } finally {
      await one.cleanup();
    }
  });

  it('startBatch, when both batches passed the check before either claimed the tracker, resolves for the one holding the claim and refuses the other (exit 2), naming the holder', async () => {
    const one = await makeRepo([{ id: 'q', gate: 'plan', probes: [{ command: 'true' }] }]);
    const client = await connect(server.address);
    try {
      const ids = [uniqueId('both-a'), uniqueId('both-b')];
      // In one process, at the same instant: both checks run side by side on the worker and find no claim, so both
      // batches start, and one of them loses the claim while it loads (with two CLI processes, the later one is often
      // refused by the check already).
      const results = await Promise.allSettled(ids.map((id) => startBatch(client, one.batch(id))));
      const won = results.findIndex((r) => r.status === 'fulfilled');
      assert.notEqual(won, -1, JSON.stringify(results));
      const lost = results[1 - won];
      assert.equal(lost.status, 'rejected', 'exactly one batch is reported started');
      const err = (lost as PromiseRejectedResult).reason as Error;
      assert.ok(err instanceof BadInputError, String(err));
      assert.equal(exitCodeFor(err), EXIT.BAD_INPUT);
      assert.match(
        err.message,
        new RegExp(`is held by running batch ${ids[won]} \\(claim workflow claim-[0-9a-f]+\\), which claimed it while this one loaded: batch ${ids[1 - won]} stopped before starting any ticket`),
      );
      const loser = await client.workflow.getHandle(`batch-${ids[1 - won]}`).describe();
      assert.equal(loser.status.name, 'FAILED', 'the batch that lost the claim ended, having started no ticket');
      // The winner runs for real: wait for its ticket to park at the plan gate, so no plan activity is still writing
      // into the repository when the test removes it (terminating mid-activity raced the cleanup on CI).
      await waitUntil('the winner to reach q\'s plan gate', async () => {
        const status = await client.workflow.getHandle(`ticket-${ids[won]}-q`).query<{ waitingFor?: string }>('status').catch(() => undefined);
        return status?.waitingFor === 'plan' || undefined;
      });
      await client.workflow.getHandle(`batch-${ids[won]}`).terminate('test done');
    } finally {
      await client.connection.close();
      await one.cleanup();
    }
  });
});
