import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchWorkflow } from '../../workflows';
import { batchWorkflowId, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import { makeRepo, mergesOf, type Fixture } from '../fixtures/repo';
import { createTestEnv, uniqueId } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

const root = path.resolve(__dirname, '../..');

/** A real worker process running workers/main.ts, pointed at the test server. */
function startWorkerProcess(address: string, log: string[]): ChildProcess {
  // One process (tsx as a loader, not its CLI, which would run the worker in a child the SIGKILL would miss).
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'workers/main.ts')], {
    cwd: root,
    env: { ...process.env, TEMPORAL_ADDRESS: address },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  return child;
}

describe('a worker killed with SIGKILL mid-implement', function () {
  this.timeout(300_000);
  let env: TestWorkflowEnvironment;
  let fx: Fixture | undefined;
  const workers: ChildProcess[] = [];

  before(async function () {
    env = await createTestEnv();
  });

  after(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    try {
      await env?.teardown();
    } finally {
      await fx?.cleanup();
    }
  });

  it('is replaced by a new worker and the ticket completes with exactly one merge', async () => {
    fx = await makeRepo([{ id: 'k', probes: [{ name: 'k.txt live', command: 'test "$(cat k.txt)" = good' }] }]);
    const marker = fx.marker('agent');
    await fx.script({ k: [{ holdOnce: marker, holdMs: 60_000, files: { 'k.txt': 'good' } }] });
    const batchId = uniqueId('crash');
    const log: string[] = [];
    const first = startWorkerProcess(env.address, log);
    workers.push(first);

    const handle = await env.client.workflow.start(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      args: [
        fx.batch(batchId, {
          gates: [{ name: 'k is good', command: 'test "$(cat k.txt)" = good' }],
          heartbeatTimeoutMs: 2_000,
          // Unboxed: this checks the pid-file clean-up of orphans, and the marker holds the agent's pid, which in
          // the sandbox's own pid namespace names nothing on the host (a boxed agent dies with its worker anyway:
          // bwrap runs with --die-with-parent).
          agent: { ...fx.batch(batchId).agent, sandbox: 'none' },
        }),
      ],
    });
    await waitUntil('the agent to hold inside implement', async () => existsSync(marker), { timeoutMs: 120_000 });
    const ticket = env.client.workflow.getHandle(ticketWorkflowId(batchId, 'k'));
    assert.equal((await ticket.query(statusQuery)).phase, 'implement');

    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const stalePid = Number((await readFile(marker, 'utf8')).trim());

    workers.push(startWorkerProcess(env.address, log));
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true, log.join(''));
    assert.equal(report.tickets[0].outcome, 'done');
    assert.equal(report.tickets[0].attempts, 1, 'a crashed worker is a retried activity, not a new attempt');
    assert.equal((await mergesOf(fx.repo, 'k')).length, 1, 'exactly one merge');
    assert.equal(isAlive(stalePid), false, 'the orphaned agent of the dead worker was stopped');
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
