/**
 * The merge queue (workflows/merge-queue.ts, issue 26) on the real dev server, real git and real gate processes: what
 * lands is what was validated. Two honest tickets that each pass on their own base and break main together (a rename
 * and a new caller of the old name) never leave a red commit on main's first-parent line: the second is sent back as
 * a semantic conflict and lands on its next attempt; a candidate of three with one culprit is split until the culprit
 * is found (halves in turn, or its prefixes at once with maxParallel 2), and the other two land.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { batchWorkflow, mergeQueueWorkflow } from '../../workflows';
import { mergeQueueKey, mergeQueueWorkflowId, queueStatusQuery, type QueueEntry } from '../../workflows/merge-queue/messages';
import { batchWorkflowId, TASK_QUEUE } from '../../workflows/messages';
import { makeRepo, mergesOf } from '../fixtures/repo';
import { callsResolve, redOnMain, withProduct } from '../fixtures/semantic-conflict';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

/** A commit cut from `base` with `files` written: what an attempt would have made. */
async function commitOn(repo: string, base: string, files: Record<string, string>, message: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ratchet-attempt-'));
  const wt = path.join(dir, 'wt');
  const git = simpleGit(repo);
  await git.raw(['worktree', 'add', '--detach', wt, base]);
  try {
    for (const [f, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(wt, f)), { recursive: true });
      await writeFile(path.join(wt, f), text);
    }
    const w = simpleGit(wt);
    await w.add('.').commit(message);
    return (await w.revparse(['HEAD'])).trim();
  } finally {
    await git.raw(['worktree', 'remove', '--force', wt]);
    await rm(dir, { recursive: true, force: true });
  }
}

describe('the merge queue', function () {
  this.timeout(300_000);
  const server = useServerAndWorker();
  const client = () => server.env().client;

  it('sends back a semantic conflict before it lands: the second ticket retries on the new base, and main is never red', async () => {
    const fx = server.track(
      await makeRepo([
        { id: 'rename', title: 'rename get_name to name', probes: [{ name: 'renamed', command: 'grep -qx name names.txt' }] },
        { id: 'describe', title: 'add a describe caller', probes: [{ name: 'described', command: 'test -e uses/describe' }] },
      ]),
    );
    await withProduct(fx);
    const go = fx.marker('rename-landed');
    await fx.script({
      rename: [{ files: { 'names.txt': 'name\n', 'uses/main': 'name\n' } }],
      // Cut from the base before the rename lands, and validated there: it passes on its own base.
      describe: [{ run: `until [ -e "${go}" ]; do sleep 0.1; done`, files: { 'uses/describe': 'get_name\n' } }, { files: { 'uses/describe': 'name\n' } }],
    });
    const batchId = uniqueId('mq');
    const input = fx.batch(batchId, { gates: [callsResolve], maxParallel: 2 });
    const handle = await client().workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    await waitUntil('rename landed', async () => (await mergesOf(fx.repo, 'rename')).length === 1, { timeoutMs: 120_000 });
    await writeFile(go, 'go');
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true, JSON.stringify(report.oracle));
    assert.deepEqual(report.oracle.done.sort(), ['describe', 'rename']);
    const describe = report.tickets.find((t) => t.ticketId === 'describe');
    assert.equal(describe?.attempts, 2);
    // Counted apart from gate failures, with what failed and what had landed since its base.
    assert.equal(report.semanticConflicts?.length, 1);
    const [conflict] = report.semanticConflicts ?? [];
    assert.deepEqual({ ticketId: conflict.ticketId, attempt: conflict.attempt, gates: conflict.gates }, { ticketId: 'describe', attempt: 1, gates: ['calls resolve'] });
    assert.ok(conflict.landedSince.some((l) => l.startsWith('ratchet: merge rename ')), conflict.landedSince.join('\n'));
    // The next attempt's prompt names the failing gate, its output on the merge and what landed.
    const prompt = await readFile(path.join(fx.repo, '.ratchet/artifacts', batchId, 'describe', 'attempt-2', 'prompt.md'), 'utf8');
    assert.match(prompt, /semantic conflict/);
    assert.match(prompt, /uses\/describe calls get_name, which names\.txt does not define/);
    assert.match(prompt, /ratchet: merge rename/);
    assert.equal((await mergesOf(fx.repo, 'describe')).length, 1);
    assert.deepEqual(await redOnMain(fx.repo), [], 'every commit on main passes the gate');
  });

  /** Puts a (a rename), b (a caller of the old name: the culprit) and c (unrelated) in line as one candidate of three. */
  async function threeInLine(parallel?: number) {
    const fx = server.track(await makeRepo([]));
    await withProduct(fx);
    const base = (await simpleGit(fx.repo).revparse(['main'])).trim();
    const a = await commitOn(fx.repo, base, { 'names.txt': 'name\n', 'uses/main': 'name\n' }, 'a: rename');
    const b = await commitOn(fx.repo, base, { 'uses/describe': 'get_name\n' }, 'b: a caller of the old name');
    const c = await commitOn(fx.repo, base, { 'notes.txt': 'c\n' }, 'c: notes');
    const batchId = uniqueId('mq3');
    const key = mergeQueueKey(fx.repo, 'main');
    const checks: QueueEntry['checks'] = {
      ref: { batchId, repo: fx.repo, baseBranch: 'main', worktreesDir: path.join(fx.repo, '.ratchet/worktrees'), artifactsDir: path.join(fx.repo, '.ratchet/artifacts') },
      gates: [{ ...callsResolve, timeoutMs: 60_000, files: [], tests: [], envFrom: [] }],
      setup: [],
      agentEnv: { env: {}, envFrom: [] },
      secrets: [],
      timeoutMs: 120_000,
      heartbeatMs: 10_000,
      ...(parallel ? { parallel } : {}),
    };
    // Requesters that do not exist: the verdicts stay in the queue's recent list, which its status shows.
    const entry = (ticketId: string, commit: string): QueueEntry => ({
      requester: `gone-${batchId}-${ticketId}`,
      requestId: `${batchId}-${ticketId}`,
      ticketId,
      title: ticketId,
      commit,
      baseCommit: base,
      attempt: 1,
      checks,
      batchSize: 3,
    });
    const queue = await client().workflow.start(mergeQueueWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: mergeQueueWorkflowId(key),
      args: [{ key, line: [entry('a', a), entry('b', b), entry('c', c)] }],
    });
    const status = await waitUntil('three verdicts', async () => {
      const s = await queue.query(queueStatusQuery);
      return s.recent.length === 3 ? s : undefined;
    }, { timeoutMs: 120_000 });
    const outcome = Object.fromEntries(status.recent.map((v) => [v.ticketId, v.outcome]));
    assert.deepEqual(outcome, { a: 'merged', b: 'semantic-conflict', c: 'merged' });
    assert.equal(status.semanticConflicts, 1);
    assert.equal((await mergesOf(fx.repo, 'a')).length, 1);
    assert.equal((await mergesOf(fx.repo, 'c')).length, 1);
    assert.equal((await mergesOf(fx.repo, 'b')).length, 0);
    assert.deepEqual(await redOnMain(fx.repo), [], 'every commit on main passes the gate');
    await queue.terminate();
    const landed = (await simpleGit(fx.repo).raw(['log', '--first-parent', '--reverse', '--format=%s', 'main'])).split('\n').filter((l) => l.startsWith('ratchet: merge'));
    // The candidates whose gates ran: each has its log folder.
    const ran = (await readdir(path.join(checks.ref.artifactsDir, batchId, '_queue'))).sort();
    return { status, landed: landed.map((l) => l.split(' ')[2]), ran };
  }

  it('splits a red candidate of three until the culprit is found, lands the other two, and sends the culprit back', async () => {
    const { status, landed, ran } = await threeInLine();
    // a+b+c red, a+b red, a (its own tree: no gate run), b red (the culprit), c: four gate runs in five steps.
    assert.equal(status.candidates, 5);
    assert.deepEqual(ran, ['candidate-1', 'candidate-2', 'candidate-4', 'candidate-5']);
    assert.deepEqual(landed, ['a', 'c']);
  });

  it("tests a red candidate's prefixes at once where maxParallel allows: the same culprit in line order, in fewer steps", async () => {
    const { status, landed, ran } = await threeInLine(2);
    // a+b+c red; then a (its own tree: no gate run) beside a+b (red: b is the culprit); a lands on the validation it
    // had (#4, no gate run), b goes back, c is tested on the new base: three gate runs in three steps.
    assert.equal(status.candidates, 5);
    assert.deepEqual(ran, ['candidate-1', 'candidate-3', 'candidate-5']);
    assert.deepEqual(landed, ['a', 'c']);
  });
});
