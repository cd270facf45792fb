import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { batchWorkflow } from '../../workflows';
import { batchWorkflowId, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import { makeRepo, mergesOf, type Fixture } from '../fixtures/repo';
import { createTestEnv, uniqueId } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';
import { midMergeTakeover, startWorkerProcess } from '../helpers/worker-process';

describe('a worker killed with SIGKILL mid-implement, or stopped with SIGTERM', function () {
  this.timeout(300_000);
  let env: TestWorkflowEnvironment;
  let fx: Fixture | undefined;
  const others: Fixture[] = [];
  const workers: ChildProcess[] = [];

  before(async function () {
    env = await createTestEnv();
  });

  /** Ends the workers earlier tests left running: a replacement worker would take the next test's tasks. */
  async function stopWorkers(): Promise<void> {
    for (const w of workers.splice(0)) {
      if (w.exitCode !== null || w.signalCode !== null) continue;
      w.kill('SIGKILL');
      await new Promise((resolve) => w.once('exit', resolve));
    }
  }

  after(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    try {
      await env?.teardown();
    } finally {
      await fx?.cleanup();
      await Promise.all(others.map((o) => o.cleanup()));
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

  it('is replaced mid-gate: the retry stops the orphaned gate first, and the ticket merges once', async () => {
    await stopWorkers();
    const f = await makeRepo([{ id: 'q', probes: [{ name: 'q.txt live', command: 'test "$(cat q.txt)" = good' }] }]);
    others.push(f);
    await f.script({ q: [{ files: { 'q.txt': 'good' } }] });
    const marker = path.join(f.dir, 'gate.pid');
    const batchId = uniqueId('gate');
    const log: string[] = [];
    const first = startWorkerProcess(env.address, log);
    workers.push(first);
    // The first run of the gate records its pid and hangs; the retry finds the marker and checks for real.
    const gate = { name: 'q is good', command: `if [ ! -e '${marker}' ]; then echo $$ > '${marker}'; sleep 60; fi; test "$(cat q.txt)" = good` };
    const handle = await env.client.workflow.start(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      // Unboxed: this checks the pid-file clean-up of an orphaned gate on the host (a boxed gate dies with its worker:
      // bwrap runs with --die-with-parent), and its marker is written outside the gate's export.
      args: [f.batch(batchId, { gates: [gate], heartbeatTimeoutMs: 2_000, agent: { ...f.batch(batchId).agent, sandbox: 'none' } })],
    });
    await waitUntil('the gate to hang', async () => existsSync(marker), { timeoutMs: 120_000 });
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const gatePid = Number((await readFile(marker, 'utf8')).trim());
    assert.equal(isAlive(gatePid), true, 'the gate outlived its worker');

    workers.push(startWorkerProcess(env.address, log));
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true, log.join(''));
    assert.equal(report.tickets[0].attempts, 1, 'a crashed worker mid-gate is a retried activity, not a new attempt');
    assert.equal((await mergesOf(f.repo, 'q')).length, 1, 'exactly one merge');
    assert.equal(isAlive(gatePid), false, 'the orphaned gate was stopped before the retry ran it again');
  });

  it('is replaced while the merge queue validates a candidate: the queue goes on and each ticket lands once', async () => {
    await stopWorkers();
    const f = await makeRepo(['p', 'r'].map((id) => ({ id, probes: [{ name: `${id}.txt live`, command: `test "$(cat ${id}.txt)" = good` }] })));
    others.push(f);
    const marker = path.join(f.dir, 'candidate.pid');
    const batchId = uniqueId('mqk');
    const log: string[] = [];
    const first = startWorkerProcess(env.address, log);
    workers.push(first);
    // Only a candidate's run (in its export, `_candidate-<batch>`) hangs, once: the tickets' own validate runs do not.
    const gate = { name: 'files good', command: `case "$PWD" in *_candidate-*) if [ ! -e '${marker}' ]; then echo $$ > '${marker}'; sleep 60; fi;; esac; for x in *.txt; do test "$(cat "$x")" = good; done` };
    const handle = await env.client.workflow.start(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      // Unboxed, as mid-gate: the marker is written outside the export.
      args: [f.batch(batchId, { gates: [gate], maxParallel: 2, heartbeatTimeoutMs: 2_000, agent: { ...f.batch(batchId).agent, sandbox: 'none' } })],
    });
    await waitUntil('a candidate\'s gate to hang', async () => existsSync(marker), { timeoutMs: 120_000 });
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    workers.push(startWorkerProcess(env.address, log));
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true, log.join(''));
    for (const id of ['p', 'r']) assert.equal((await mergesOf(f.repo, id)).length, 1, `exactly one merge of ${id}`);
    assert.deepEqual(report.tickets.map((t) => t.attempts), [1, 1], 'a candidate retried on another worker costs no attempt');
  });

  it('is taken over by a worker with worktrees of its own: validate waits hostWaitMs for the dead worker, then runs again there on an export of the pushed attempt', async () => {
    await stopWorkers();
    const f = await makeRepo([{ id: 'h', probes: [{ name: 'h.txt live', command: 'test "$(cat h.txt)" = good' }] }]);
    others.push(f);
    await f.script({ h: [{ files: { 'h.txt': 'good' } }] });
    const origin = path.join(f.dir, 'origin.git');
    spawnSync('git', ['clone', '--quiet', '--bare', f.repo, origin]);
    const marker = path.join(f.dir, 'gate.pid');
    // Where each setup step ran (the batch runs unboxed, below).
    const setupRan = f.marker('setup');
    const batchId = uniqueId('host');
    const log: string[] = [];
    const own = (id: string): NodeJS.ProcessEnv => ({ RATCHET_WORKER_ID: id, RATCHET_WORKTREES_DIR: path.join(f.dir, `worktrees-${id}`) });
    const first = startWorkerProcess(env.address, log, own('one'));
    workers.push(first);
    // The first run of the gate records its pid and hangs; the run on the other worker checks for real.
    const gate = { name: 'h is good', command: `if [ ! -e '${marker}' ]; then echo $$ > '${marker}'; sleep 60; fi; test "$(cat h.txt)" = good` };
    const handle = await env.client.workflow.start(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      args: [
        f.batch(batchId, {
          gates: [gate],
          heartbeatTimeoutMs: 2_000,
          hostWaitMs: 2_000,
          origin,
          // Unboxed, as above: the orphaned gate's pid and the setup steps' record are the host's.
          agent: { ...f.batch(batchId).agent, sandbox: 'none' },
          // Lists where the setup steps ran: the plan's and the attempt's worktrees, then the gate's export on each worker.
          harness: { setup: [{ command: `echo "$PWD" >> '${setupRan}'`, timeoutMs: 10_000 }], promptRules: [] },
        }),
      ],
    });
    await waitUntil('the gate to hang on the first worker', async () => existsSync(marker), { timeoutMs: 120_000 });
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const gatePid = Number((await readFile(marker, 'utf8')).trim());
    workers.push(startWorkerProcess(env.address, log, own('two')));
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true, log.join(''));
    assert.equal(report.tickets[0].attempts, 1, 'a taken-over step is not a new attempt');
    const merges = await mergesOf(f.repo, 'h');
    assert.equal(merges.length, 1, 'exactly one merge');
    assert.equal(isAlive(gatePid), false, 'the orphaned gate was stopped before the gate ran again');

    const events = (await env.client.workflow.getHandle(ticketWorkflowId(batchId, 'h')).fetchHistory()).events ?? [];
    const queueOf = (type: string): string[] =>
      events.flatMap((e) => {
        const a = e.activityTaskScheduledEventAttributes;
        return a?.activityType?.name === type ? [a.taskQueue?.name ?? ''] : [];
      });
    assert.deepEqual(queueOf('validate'), [`${TASK_QUEUE}@one`, TASK_QUEUE], 'validate went to the first worker, then to any');
    assert.deepEqual(queueOf('releaseTicket'), [`${TASK_QUEUE}@two`], 'the landed worktree was released on the worker that holds it now');
    const prepared = (await readFile(setupRan, 'utf8')).trim().split('\n');
    const where = prepared.map((p) => path.relative(f.dir, p).split(path.sep)[0]);
    assert.deepEqual(where, ['worktrees-one', 'worktrees-one', 'worktrees-one', 'worktrees-two'], prepared.join('\n'));
    assert.match(prepared[3], /_gate-/, 'the gate ran on an export of the pushed commit');
    // Every attempt's branch is pushed to the batch's origin once committed: the merged commit is there.
    const pushed = spawnSync('git', ['rev-parse', `refs/heads/ratchet/${batchId}/h`], { cwd: origin, encoding: 'utf8' }).stdout.trim();
    const mergedSecondParent = spawnSync('git', ['rev-parse', `${merges[0]}^2`], { cwd: f.repo, encoding: 'utf8' }).stdout.trim();
    assert.equal(pushed, mergedSecondParent);
  });

  it('is replaced mid-merge within its heartbeat timeout, and the merge lands once', async () => {
    await stopWorkers();
    const t = await midMergeTakeover(env, workers);
    others.push(t.fixture);
    assert.equal(t.report.oracle.satisfied, true, t.log.join(''));
    assert.equal(t.report.tickets[0].attempts, 1, 'a crashed worker mid-merge is a retried activity, not a new attempt');
    assert.equal(t.merges.length, 1, 'exactly one merge');
    // The merge's heartbeat timeout is 10 s; without heartbeats the retry would wait for its 2-minute start-to-close.
    assert.ok(t.takeoverMs < 60_000, `the merge was retried ${t.takeoverMs} ms after its worker died`);
  });

  it('stops its boxed agent at once on SIGTERM, exits well within its grace time, and the attempt goes on on the next worker', async () => {
    await stopWorkers();
    const f = await makeRepo([{ id: 'm', probes: [{ name: 'm.txt live', command: 'test "$(cat m.txt)" = good' }] }]);
    others.push(f);
    const marker = f.marker('agent');
    await f.script({ m: [{ holdOnce: marker, holdMs: 60_000, files: { 'm.txt': 'good' } }] });
    const batchId = uniqueId('stop');
    const log: string[] = [];
    const first = startWorkerProcess(env.address, log);
    workers.push(first);
    const handle = await env.client.workflow.start(batchWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: batchWorkflowId(batchId),
      args: [f.batch(batchId, { gates: [{ name: 'm is good', command: 'test "$(cat m.txt)" = good' }], heartbeatTimeoutMs: 2_000 })],
    });
    await waitUntil('the agent to hold inside implement', async () => existsSync(marker), { timeoutMs: 120_000 });

    const sent = Date.now();
    first.kill('SIGTERM');
    await new Promise((resolve) => first.once('exit', resolve));
    const exitedMs = Date.now() - sent;
    assert.match(log.join(''), /SIGTERM: stopping running agents, gates and deploys/);
    // The worker's grace time is 10 s; an agent left running would hold it that long.
    assert.ok(exitedMs < 9_000, `the worker exited ${exitedMs} ms after SIGTERM`);
    assert.equal(agentsRunning(f.scriptPath), 0, 'no agent of the stopped worker is left running');

    workers.push(startWorkerProcess(env.address, log));
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true, log.join(''));
    assert.equal(report.tickets[0].attempts, 1, 'a stopped worker is a retried activity, not a failed attempt');
    assert.equal((await mergesOf(f.repo, 'm')).length, 1);
  });
});

/** Processes whose command line names `scriptPath` (a fixture's agent script, unique per test). */
function agentsRunning(scriptPath: string): number {
  const r = spawnSync('pgrep', ['-f', '-c', scriptPath], { encoding: 'utf8' });
  return Number(r.stdout.trim() || '0');
}

/**
 * True while `pid` runs. A killed process nobody has reaped yet (a zombie: an orphan waits for init to reap it) is not
 * alive, though it still answers signal 0.
 */
function isAlive(pid: number): boolean {
  const stat = readProcStat(pid);
  if (stat !== undefined) return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  if (existsSync('/proc/self/stat')) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** /proc/<pid>/stat, or undefined where there is none (not Linux, or the process is gone). */
function readProcStat(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}
