/**
 * A watch's failures into work (issue 27 items 3 and 4), on the real dev server, real git and real check processes:
 * a confirmed new failure is bisected (the ticket names its first bad commit, or says why the bisect failed), joins
 * the watch's long-running intake batch through its `discover` update, a scripted agent fixes it, it lands, and the
 * check goes green; the fix caps hand at most `maxFixesPerRun` tickets of one run to the batch and the rest wait,
 * visibly, until a later run.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { demoAgentCommand } from '../../activities/agents/demo-agent-command';
import { signatureOf } from '../../activities/watch';
import { controlWatch, formatWatchStatus, startWatchAndIntake, watchStatus } from '../../client/watch-schedule';
import { watchRunWorkflow } from '../../workflows';
import { batchStatusQuery, batchWorkflowId, TASK_QUEUE } from '../../workflows/messages';
import { toWatchConfig, type WatchConfig } from '../../workflows/watch/input';
import { detectedTicketId, runPassedSignal, signatureStatusQuery, signatureWorkflowId, type SignatureStatus } from '../../workflows/watch/messages';
import { makeRepo, type Fixture } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

/** The check: value.txt must say 2; its first error line is the same on every commit where it says 1. */
const VALUE_CHECK = { name: 'value', command: 'v="$(cat value.txt 2>/dev/null)"; [ "$v" = 2 ] || { echo "error: value is ${v:-missing}, want 2"; exit 1; }' };

describe('a watch into work: bisect, the intake batch and the fix caps', function () {
  this.timeout(600_000);
  const server = useServerAndWorker();
  const client = () => server.env().client;

  /** A repository whose value.txt says 2 for `good` commits, then 1 from the next on (`bad` commits). */
  async function history(good: number, bad: number): Promise<{ fx: Fixture; commits: string[] }> {
    const fx = server.track(await makeRepo([]));
    const git = simpleGit(fx.repo);
    const commits: string[] = [];
    for (let i = 0; i < good + bad; i++) {
      await writeFile(path.join(fx.repo, 'value.txt'), i < good ? '2\n' : '1\n');
      await writeFile(path.join(fx.repo, `work-${i}.txt`), `${i}\n`);
      await git.add('.').commit(i === good ? 'the change that breaks value.txt' : `work ${i}`);
      commits.push((await git.revparse(['HEAD'])).trim());
    }
    return { fx, commits };
  }

  const run = (watch: WatchConfig, x: string) => client().workflow.execute(watchRunWorkflow, { taskQueue: TASK_QUEUE, workflowId: `watch-run-${watch.watchId}-${x}`, args: [watch] });

  async function signatureWhen(watch: WatchConfig, signature: string, what: string, ok: (s: SignatureStatus) => boolean, timeoutMs = 120_000): Promise<SignatureStatus> {
    return waitUntil(what, async () => {
      const s = await client().workflow.getHandle(signatureWorkflowId(watch.watchId, signature)).query(signatureStatusQuery).catch(() => undefined);
      return s && ok(s) ? s : undefined;
    }, { timeoutMs });
  }

  const valueSignature = (v: string) => signatureOf({ check: 'value', kind: 'command', id: 'value', message: `error: value is ${v}, want 2`, location: '', tail: '' });

  it('bisects a confirmed new failure: the filed ticket names the commit that broke the check, and the last good one', async () => {
    const { fx, commits } = await history(4, 3);
    const watch = toWatchConfig({ watchId: uniqueId('bisect'), repo: fx.repo, everyMs: 3_600_000, checks: [VALUE_CHECK] }, path.resolve);
    for (const x of ['a', 'b']) await run(watch, x);
    const s = await signatureWhen(watch, valueSignature('1'), 'filed after the bisect', (g) => g.state === 'filed');
    assert.equal(s.bisect?.firstBad, commits[4], `first bad: ${JSON.stringify(s.bisect)}`);
    assert.equal(s.bisect?.lastGood, commits[3]);
    const text = await readFile(path.join(watch.ticketsDir, `${s.ticketId}.yaml`), 'utf8');
    assert.match(text, new RegExp(`first bad commit: \`${commits[4]}\` \\("the change that breaks value.txt"\\)`));
    assert.match(text, new RegExp(`last good commit: \`${commits[3]}\``));
  });

  it('bisects from the last good commit a run told it, without galloping back', async () => {
    const { fx, commits } = await history(4, 3);
    const watch = toWatchConfig({ watchId: uniqueId('lastgood'), repo: fx.repo, everyMs: 3_600_000, checks: [VALUE_CHECK] }, path.resolve);
    const signature = valueSignature('1');
    await run(watch, 'a');
    // A run on a good commit that checked "value" and did not see the failure (as a run after a revert would).
    await client().workflow.getHandle(signatureWorkflowId(watch.watchId, signature)).signal(runPassedSignal, { runId: 'green-1', commit: commits[3], startedAt: Date.now(), at: Date.now(), checks: ['value'] });
    await run(watch, 'b');
    const s = await signatureWhen(watch, signature, 'filed after the bisect', (g) => g.state === 'filed');
    assert.equal(s.lastGood, commits[3]);
    assert.deepEqual([s.bisect?.firstBad, s.bisect?.lastGood], [commits[4], commits[3]]);
    assert.deepEqual(s.bisect?.tested.map((t) => t.commit), [commits[5], commits[4]], 'only the commits between the last good and the bad one');
  });

  it('files the ticket anyway when the bisect fails, saying why', async () => {
    const { fx } = await history(1, 2);
    // A watch config as a plain Temporal client could send it: a bisect bound the activity refuses.
    const watch: WatchConfig = { ...toWatchConfig({ watchId: uniqueId('nobisect'), repo: fx.repo, everyMs: 3_600_000, checks: [VALUE_CHECK] }, path.resolve), bisect: { maxRuns: 0 } };
    for (const x of ['a', 'b']) await run(watch, x);
    const s = await signatureWhen(watch, valueSignature('1'), 'filed without a bisect', (g) => g.state === 'filed');
    assert.match(s.bisectFailed ?? '', /maxRuns: 0 is not a positive integer/);
    const text = await readFile(path.join(watch.ticketsDir, `${s.ticketId}.yaml`), 'utf8');
    assert.match(text, /first bad commit: unknown: the bisect failed \(.*maxRuns: 0 is not a positive integer/);
  });

  it('hands a confirmed failure to the intake batch within seconds: an agent fixes it, it lands, and the check goes green', async () => {
    const { fx, commits } = await history(1, 1);
    const watchId = uniqueId('intake');
    const signature = valueSignature('1');
    const ticketId = detectedTicketId(signature);
    await fx.script({ [ticketId]: [{ files: { 'value.txt': '2\n' } }] });
    const watch = toWatchConfig(
      {
        watchId,
        repo: fx.repo,
        everyMs: 3_600_000,
        checks: [VALUE_CHECK],
        batch: { agent: { command: demoAgentCommand(fx.scriptPath), timeoutMs: 60_000 }, verify: { deadlineMs: 10_000, intervalMs: 500 }, heartbeatTimeoutMs: 5_000, maxParallel: 2 },
      },
      path.resolve,
    );
    const started = await startWatchAndIntake(client(), watch);
    assert.deepEqual(started.intake, { workflowId: batchWorkflowId(`intake-${watchId}`), started: true });
    const again = await startWatchAndIntake(client(), { ...watch }).catch((err: Error) => err);
    assert.match(String(again), /a Schedule watch-.* exists already/, 'a second start is refused by its Schedule');
    const batch = client().workflow.getHandle(batchWorkflowId(`intake-${watchId}`));
    assert.equal((await batch.query(batchStatusQuery)).state, 'running', 'an intake batch with no ticket stays open');

    for (const x of ['a', 'b']) await run(watch, x);
    const handed = await signatureWhen(watch, signature, 'handed to the intake batch', (g) => g.intake !== undefined);
    assert.equal(handed.ticketId, ticketId);
    assert.equal(handed.bisect?.firstBad, commits[1]);
    const tickets = (await readdir(watch.ticketsDir)).filter((f) => f.endsWith('.yaml'));
    assert.deepEqual(tickets, [`${ticketId}.yaml`], 'filed once, by the batch');
    const text = await readFile(path.join(watch.ticketsDir, `${ticketId}.yaml`), 'utf8');
    assert.match(text, /first bad commit: /);

    // The batch takes it, its agent writes the fix, it lands and is verified by the check itself.
    await waitUntil('the fix landed and the ticket is done', async () => {
      const b = await batch.query(batchStatusQuery);
      return b.tickets.find((t) => t.id === ticketId)?.state === 'done' ? b : undefined;
    }, { timeoutMs: 240_000 });
    assert.equal((await simpleGit(fx.repo).show(['main:value.txt'])).trim(), '2', 'the fix is on main');
    assert.equal((await batch.query(batchStatusQuery)).state, 'running', 'satisfied is idle for an intake batch, not done');

    const green = await run(watch, 'c');
    assert.deepEqual(green.checks.map((c) => [c.name, c.passed]), [['value', true]], 'the check is green on the base');
    const fixed = await signatureWhen(watch, signature, 'a green run after the fix', (g) => g.state === 'fixed' && g.greenRuns === 1);
    assert.equal(fixed.ticketId, ticketId);

    const status = formatWatchStatus(await watchStatus(client(), watchId));
    assert.match(status, new RegExp(`Intake batch intake-${watchId}: running, 1 tickets`));
    const { cancelled } = await controlWatch(client(), watchId, 'stop', 'test');
    assert.ok(cancelled.includes(batchWorkflowId(`intake-${watchId}`)), `stop cancels the intake batch: ${cancelled.join(', ')}`);
    await waitUntil('the intake batch cancelled', async () => ((await batch.describe()).status.name === 'CANCELLED' ? true : undefined), { timeoutMs: 30_000 });
  });

  it('hands at most maxFixesPerRun tickets of one run to the batch; the rest wait, visibly, for a later run', async () => {
    const fx = server.track(await makeRepo([]));
    const failing = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => `<testcase name="${n}" classname="caps"><failure message="expected ${n}"/></testcase>`).join('');
    const passing = ['g', 'h', 'i', 'j', 'k', 'l', 'm'].map((n) => `<testcase name="${n}" classname="caps"/>`).join('');
    const watchId = uniqueId('caps');
    const watch = toWatchConfig(
      {
        watchId,
        repo: fx.repo,
        everyMs: 3_600_000,
        confirmAfterRuns: 1,
        breaker: { maxNewPerRun: 10, failingShare: 0.9 },
        bisect: { maxRuns: 1 },
        checks: [{ name: 'suite', command: `echo '<testsuites><testsuite name="s">${failing}${passing}</testsuite></testsuites>' > r.xml; exit 1`, junit: 'r.xml' }],
        // Its agent knows none of these tickets (the demo agent exits 3): the caps are under test, not the fixes.
        // Continuing as new early: the intake batch carries its tickets and keeps taking discoveries.
        batch: { agent: { command: demoAgentCommand(fx.scriptPath), timeoutMs: 30_000 }, maxAttempts: 1, maxParallel: 1, heartbeatTimeoutMs: 5_000, continueAsNewAtEvents: 50 },
      },
      path.resolve,
    );
    await startWatchAndIntake(client(), watch);
    const batch = client().workflow.getHandle(batchWorkflowId(`intake-${watchId}`));
    const firstRun = (await batch.describe()).runId;
    const first = await run(watch, 'one');
    assert.equal(first.failures.length, 6);
    const sigs = first.failures.map((f) => f.signature);
    const settled = async () =>
      Promise.all(sigs.map((g) => client().workflow.getHandle(signatureWorkflowId(watchId, g)).query(signatureStatusQuery).catch(() => undefined)));
    const after1 = await waitUntil('five handed over, one waiting', async () => {
      const list = await settled();
      const handed = list.filter((s) => s?.intake);
      const waiting = list.filter((s) => s?.waiting);
      return handed.length === 5 && waiting.length === 1 ? { handed, waiting } : undefined;
    }, { timeoutMs: 180_000 });
    assert.match(after1.waiting[0]?.waiting ?? '', /^fix cap/);
    assert.equal(after1.waiting[0]?.state, 'confirmed');
    assert.equal((await batch.query(batchStatusQuery)).tickets.length, 5, 'five tickets in the intake batch');
    const status = await watchStatus(client(), watchId);
    assert.equal(status.caps?.waiting.length, 1);
    assert.match(status.caps?.waiting[0].why ?? '', /maxFixesPerRun 5/);
    const text = formatWatchStatus(status);
    assert.match(text, /1 waiting: fix cap/);
    assert.match(text, /waiting: fix cap/);
    const files = (await readdir(watch.ticketsDir)).filter((f) => f.endsWith('.yaml'));
    assert.equal(files.length, 5, 'the waiting one is not in the tracker yet');

    // A later run sees it again: its run has room, and it is handed over.
    await run(watch, 'two');
    await waitUntil('the sixth handed over', async () => {
      const list = await settled();
      return list.every((s) => s?.intake && !s.waiting) ? list : undefined;
    }, { timeoutMs: 120_000 });
    assert.equal((await batch.query(batchStatusQuery)).tickets.length, 6);
    // Its current run is another than the first: it continued as new (asked of the server, not of visibility, which
    // lists a new run a moment late).
    await waitUntil('the intake batch continued as new', async () => ((await batch.describe()).runId !== firstRun ? true : undefined), { timeoutMs: 60_000 });
    await controlWatch(client(), watchId, 'stop', 'test');
  });
});
