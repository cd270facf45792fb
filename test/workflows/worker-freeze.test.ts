/**
 * A worker frozen (SIGSTOP: a VM pause, a laptop lid, a long GC) while it holds a ticket's workflow task, taken over by
 * another worker, and resumed after the ticket is done: the frozen worker's stale tracker write must land nowhere.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createTestEnv } from '../helpers/temporal';
import { frozenTakeover, signalAll } from '../helpers/worker-process';

describe('a worker frozen with SIGSTOP while it holds a ticket, and resumed after another worker finished it', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  const workers: ChildProcess[] = [];
  const frozen: number[] = [];

  before(async () => {
    env = await createTestEnv();
  });

  after(async () => {
    signalAll(frozen, 'SIGCONT');
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await env?.teardown();
  });

  it('writes nothing stale (the ticket stays done, the batch sees no tamper, one merge), and is taken over after one workflow task time-out', async () => {
    const t = await frozenTakeover(env, workers, frozen);
    try {
      console.log(`      takeover after a SIGSTOP: ${(t.takeoverMs / 1000).toFixed(1)} s (workflow task timeout 10 s)`);
      assert.match(t.recordAfter, /state: done/, 'the tracker still says done after the frozen worker woke up');
      assert.match(t.log.join(''), /stale write refused \(merged/, 'the frozen worker said its write was refused');
      assert.equal(t.report.oracle.satisfied, true, `the batch ended with the oracle satisfied: ${JSON.stringify(t.report.oracle)}`);
      assert.deepEqual(t.report.interventions.list, [], 'no tamper paused the batch for a person');
      assert.equal(t.merges.length, 1, 'one merge on main');
      // Not a speed check: one workflow task time-out (10 s) passes before another worker may take over; each further
      // one (20 s, 30 s) means the server handed the retry to a poll the frozen worker had left open.
      assert.ok(t.takeoverMs < 20_000, `takeover took ${t.takeoverMs} ms: more than one workflow task time-out`);
    } finally {
      await t.fixture.cleanup();
    }
  });
});
