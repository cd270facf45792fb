/**
 * Faults the world throws at a worker (issue "The worker survives what the world throws at it"): a filesystem fault
 * in one ticket's activity fails that activity, never the worker process, and the other tickets finish; a
 * repository that disappears mid-run parks its ticket at a named gate instead of being re-created.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorker, type RatchetWorker } from '../../workers/worker';
import { batchWorkflow } from '../../workflows';
import { batchStatusQuery, batchWorkflowId, rejectUpdate, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import { makeRepo, mergesOf, type Fixture, type FixtureTicket } from '../fixtures/repo';
import { createTestEnv, uniqueId, workflowBundle } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

const ticket = (id: string, extra: Partial<FixtureTicket> = {}): FixtureTicket => ({
  id,
  probes: [{ name: `${id}.txt live`, command: `test "$(cat ${id}.txt)" = good` }],
  ...extra,
});

describe('faults in the world', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;
  let worker: RatchetWorker;
  let running: Promise<void>;
  const fixtures: Fixture[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

  before(async function () {
    this.timeout(300_000);
    process.on('unhandledRejection', onUnhandled);
    env = await createTestEnv();
    worker = await createWorker({ connection: env.nativeConnection, workflowBundle: await workflowBundle(), shutdownGraceTimeMs: 1_000 });
    running = worker.run();
  });

  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    try {
      worker?.shutdown();
      await running;
    } finally {
      await env?.teardown();
      await Promise.all(fixtures.map((f) => f.cleanup()));
    }
  });

  const ticketHandle = (batchId: string, id: string) => env.client.workflow.getHandle(ticketWorkflowId(batchId, id));

  it('fails only the activity a filesystem fault hits: the worker stays up and the other ticket finishes', async () => {
    const fx = await makeRepo([ticket('x'), ticket('y')]);
    fixtures.push(fx);
    const batchId = uniqueId('fs');
    // Where x's first attempt keeps its pid file and transcript is a file, not a folder: every write there fails.
    const attemptDir = path.join(fx.repo, '.ratchet/artifacts', batchId, 'x', 'attempt-1');
    await mkdir(path.dirname(attemptDir), { recursive: true });
    await writeFile(attemptDir, 'not a folder');
    const handle = await env.client.workflow.start(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      args: [fx.batch(batchId, { gates: [{ name: 'own file', command: 'test "$(cat "$RATCHET_TICKET_ID.txt")" = good' }], maxAttempts: 1 })],
    });

    const x = await waitUntil('x to park at its gate', async () => {
      const s = await ticketHandle(batchId, 'x').query(statusQuery);
      return s.waitingFor ? s : undefined;
    });
    assert.equal(x.waitingFor, 'attempts-exhausted');
    assert.match(x.lastFeedback ?? '', /harness error in implement: .*(ENOTDIR|EEXIST|not a directory)/i);
    const st = await waitUntil('y to be done', async () => {
      const s = await handle.query(batchStatusQuery);
      return s.oracle.done.includes('y') ? s : undefined;
    });
    assert.deepEqual(st.oracle.done, ['y']);

    await ticketHandle(batchId, 'x').executeUpdate(rejectUpdate, { args: [{ by: 'ops' }] });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.equal((await mergesOf(fx.repo, 'y')).length, 1);
    assert.deepEqual(unhandled, [], 'no unhandled rejection anywhere in the worker');
  });

  it('waits harness.outageMs for a repository that vanished, then parks the ticket at a harness-fault gate naming it, no attempt spent, the repository never re-created', async () => {
    const fx = await makeRepo([ticket('p', { gate: 'plan' })]);
    fixtures.push(fx);
    const batchId = uniqueId('gone');
    const handle = await env.client.workflow.start(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      args: [fx.batch(batchId, { harness: { outageMs: 3_000 } })],
    });
    await waitUntil('p at its plan gate', async () => (await ticketHandle(batchId, 'p').query(statusQuery)).waitingFor === 'plan');
    const moved = `${fx.repo}-moved`;
    await rename(fx.repo, moved);
    await ticketHandle(batchId, 'p').executeUpdate('approve', { args: [{ by: 'ann' }] });

    const s = await waitUntil('p to park at a harness-fault gate', async () => {
      const t = await ticketHandle(batchId, 'p').query(statusQuery);
      return t.waitingFor === 'harness-fault' || t.waitingFor === 'attempts-exhausted' ? t : undefined;
    });
    assert.equal(s.waitingFor, 'harness-fault');
    assert.match(s.waitingReason ?? '', /attempt 1: outage: .* is gone .*harness\.outageMs \(3\.0s\)/);
    assert.equal(s.lastFeedback, undefined, 'no attempt failed: nothing to feed back');
    assert.equal(existsSync(fx.repo), false, 'the missing repository was not re-created');
    await rename(moved, fx.repo);
    // The gate's awaiting-human write failed while the tickets folder was gone; it lands once the folder is back.
    await waitUntil('the tracker to record the gate once the repository is back', async () =>
      /state: awaiting-human/.test(await readFile(path.join(fx.repo, '.ratchet', 'tickets', 'p.state'), 'utf8').catch(() => '')),
    );
    await ticketHandle(batchId, 'p').executeUpdate('approve', { args: [{ by: 'ann' }] });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true, 'approved once the repository is back, the ticket finishes');
    assert.equal(report.tickets[0].attempts, 1, 'the outage cost no attempt');
    assert.equal((await mergesOf(fx.repo, 'p')).length, 1);
  });

  it('rides out a repository moved away for a while: every ticket done, no attempt spent, the outage in the report', async () => {
    const fx = await makeRepo([ticket('m', { gate: 'plan' })]);
    fixtures.push(fx);
    const batchId = uniqueId('away');
    const handle = await env.client.workflow.start(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      args: [fx.batch(batchId)],
    });
    await waitUntil('m at its plan gate', async () => (await ticketHandle(batchId, 'm').query(statusQuery)).waitingFor === 'plan');
    const moved = `${fx.repo}-away`;
    await rename(fx.repo, moved);
    await ticketHandle(batchId, 'm').executeUpdate('approve', { args: [{ by: 'ann' }] });
    const s = await waitUntil('m to ride out the outage', async () => {
      const t = await ticketHandle(batchId, 'm').query(statusQuery);
      return t.outage ? t : undefined;
    });
    assert.match(s.outage?.reason ?? '', /is gone/);
    assert.equal(s.waitingFor, undefined, 'no person is asked while the outage is shorter than harness.outageMs');
    await rename(moved, fx.repo);
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.equal(report.tickets[0].attempts, 1, 'the outage cost no attempt');
    assert.equal((await mergesOf(fx.repo, 'm')).length, 1);
    const done = await ticketHandle(batchId, 'm').result();
    assert.equal(done.outages?.length, 1, 'the report lists the outage');
    assert.match(done.outages?.[0].reason ?? '', /is gone/);
  });

  it('gives no slot to a ticket waiting for a person: at maxParallel 1 the other ticket runs and finishes meanwhile', async () => {
    const fx = await makeRepo([ticket('g', { gate: 'plan' }), ticket('h')]);
    fixtures.push(fx);
    const batchId = uniqueId('slots');
    const handle = await env.client.workflow.start(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      args: [fx.batch(batchId, { maxParallel: 1 })],
    });
    await waitUntil('g at its plan gate', async () => (await ticketHandle(batchId, 'g').query(statusQuery)).waitingFor === 'plan');
    const st = await waitUntil('h to be done while g waits', async () => {
      const s = await handle.query(batchStatusQuery);
      return s.oracle.done.includes('h') ? s : undefined;
    });
    assert.deepEqual(st.oracle.done, ['h']);
    assert.equal((await ticketHandle(batchId, 'g').query(statusQuery)).waitingFor, 'plan', 'g still waits for its person');
    await ticketHandle(batchId, 'g').executeUpdate('approve', { args: [{ by: 'ann' }] });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
  });

  it('counts in the ticket report the processes its gate left running, killed when the gate ended', async () => {
    const fx = await makeRepo([ticket('k')]);
    fixtures.push(fx);
    const batchId = uniqueId('killed');
    // The gate passes and leaves a setsid child and a background daemon behind.
    const gate = { name: 'leaves two', command: 'setsid sleep 300 >/dev/null 2>&1 & nohup sleep 301 >/dev/null 2>&1 & test "$(cat k.txt)" = good' };
    const handle = await env.client.workflow.start(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      args: [fx.batch(batchId, { gates: [gate] })],
    });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    const k = await ticketHandle(batchId, 'k').result();
    assert.equal(k.killed, 2, 'the setsid child and the daemon, killed when the gate ended');
  });

  it('rides out a repository made read-only for a while: the worker stays up, retries wait, nothing is lost or doubled', async function () {
    const fx = await makeRepo([ticket('w', { gate: 'plan' })]);
    fixtures.push(fx);
    // A read-only bind mount over the repository (root and CAP_SYS_ADMIN, as on these machines).
    const mounted = spawnSync('mount', ['--bind', fx.repo, fx.repo]).status === 0;
    if (!mounted) this.skip();
    const readOnly = spawnSync('mount', ['-o', 'remount,ro,bind', fx.repo]).status === 0;
    try {
      if (!readOnly) this.skip();
      spawnSync('mount', ['-o', 'remount,rw,bind', fx.repo]);
      const batchId = uniqueId('ro');
      const handle = await env.client.workflow.start(batchWorkflow, {
        taskQueue: TASK_QUEUE,
        workflowId: batchWorkflowId(batchId),
        args: [fx.batch(batchId, { gates: [{ name: 'own file', command: 'test "$(cat "$RATCHET_TICKET_ID.txt")" = good' }] })],
      });
      await waitUntil('w at its plan gate', async () => (await ticketHandle(batchId, 'w').query(statusQuery)).waitingFor === 'plan');
      assert.equal(spawnSync('mount', ['-o', 'remount,ro,bind', fx.repo]).status, 0);
      await ticketHandle(batchId, 'w').executeUpdate('approve', { args: [{ by: 'ann' }] });
      // The tracker write is a local activity: once its retries back off past the threshold, the history records
      // the failure in a marker and the next retry waits on a timer.
      const failing = await waitUntil(
        'a tracker write to fail on the read-only repository and be retried',
        async () => {
          const events = (await ticketHandle(batchId, 'w').fetchHistory()).events ?? [];
          const failed = events.find((e) => e.markerRecordedEventAttributes?.failure);
          const retried = failed && events.some((e) => e.timerStartedEventAttributes && Number(e.eventId) > Number(failed.eventId));
          const f = failed?.markerRecordedEventAttributes?.failure;
          return retried ? `${f?.message ?? ''} ${f?.cause?.message ?? ''}` : undefined;
        },
      );
      assert.match(failing, /EROFS|read-only file system/i);
      assert.equal(spawnSync('mount', ['-o', 'remount,rw,bind', fx.repo]).status, 0);

      const report = await handle.result();
      assert.equal(report.oracle.satisfied, true);
      assert.equal(report.tickets[0].attempts, 1, 'the fault cost retries, not an attempt');
      assert.equal((await mergesOf(fx.repo, 'w')).length, 1);
      assert.deepEqual(unhandled, []);
    } finally {
      spawnSync('umount', [fx.repo]);
    }
  });
});
