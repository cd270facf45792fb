/**
 * Failing checks file their own tickets (issue 27) on the real dev server's Schedules, real git and real check
 * processes: a watch's Schedule runs its checks on the base's tip; each failure reaches the workflow of its signature,
 * which files one `bug` ticket once the failure is confirmed, however many runs see it, and however they race; the
 * signature follows its ticket in the tracker, closes after green runs once the tracker says the ticket is done,
 * reopens it when the failure comes back before that, files a linked ticket when it comes back after, and files
 * nothing while a person says won't fix.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { LocalTracker } from '../../activities/tracker/local';
import { controlWatch, startWatch, watchStatus, wontFix } from '../../client/watch-schedule';
import { GateRejectedError } from '../../workflows/errors';
import { watchRunWorkflow } from '../../workflows';
import { TASK_QUEUE } from '../../workflows/messages';
import { toWatchConfig, type WatchConfig } from '../../workflows/watch/input';
import { failureSeenSignal, runPassedSignal, signatureStatusQuery, signatureWorkflowId, watchScheduleId, type SignatureStatus } from '../../workflows/watch/messages';
import { makeRepo, type Fixture } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

/** A JUnit report with one failing test (its message holds a volatile address) and one passing. */
const REPORT = `<testsuites><testsuite name="math"><testcase name="adds" classname="calc"><failure message="expected 3 but got 4 at 0x$RANDOM">trace</failure></testcase><testcase name="ok" classname="calc"/></testsuite></testsuites>`;

describe('a watch: scheduled checks that file their own tickets', function () {
  this.timeout(300_000);
  const server = useServerAndWorker();
  const client = () => server.env().client;

  async function product(): Promise<Fixture> {
    const fx = server.track(await makeRepo([]));
    await writeFile(path.join(fx.repo, 'value.txt'), '1\n');
    await simpleGit(fx.repo).add('.').commit('the product: value.txt should say 2');
    return fx;
  }

  function watchOf(fx: Fixture, watchId: string): WatchConfig {
    return toWatchConfig(
      {
        watchId,
        repo: fx.repo,
        everyMs: 3_600_000,
        checks: [
          { name: 'value', command: 'v="$(cat value.txt)"; [ "$v" = 2 ] || { echo "error: value is $v at $(date +%s), want 2"; exit 1; }' },
          { name: 'unit', command: `echo '${REPORT}' > report.xml; exit 1`, junit: 'report.xml' },
        ],
      },
      path.resolve,
    );
  }

  const bugTickets = async (fx: Fixture): Promise<string[]> => (await readdir(path.join(fx.repo, '.ratchet/tickets')).catch(() => [])).filter((f) => f.startsWith('bug-') && f.endsWith('.yaml'));

  it('files exactly one ticket per failure over three scheduled runs, with what failed and how to reproduce it', async () => {
    const fx = await product();
    const watch = watchOf(fx, uniqueId('w'));
    const id = await startWatch(client(), watch);
    const schedule = client().schedule.getHandle(id);
    for (let n = 1; n <= 3; n++) {
      await schedule.trigger();
      const d = await waitUntil(`run ${n} started`, async () => {
        const info = await schedule.describe();
        return info.info.numActionsTaken === n ? info : undefined;
      }, { timeoutMs: 60_000 });
      const started = d.info.recentActions.at(-1)?.action;
      assert.ok(started);
      const run = await client().workflow.getHandle(started.workflow.workflowId, started.workflow.firstExecutionRunId).result();
      assert.deepEqual(run.checks.map((c: { name: string; passed: boolean }) => [c.name, c.passed]), [['value', false], ['unit', false]]);
      assert.equal(run.failures.length, 2, 'the failing test, and the value check as a whole; the passing test is no failure');
    }
    const status = await waitUntil('both signatures filed after three runs', async () => {
      const s = await watchStatus(client(), watch.watchId);
      return s.signatures.length === 2 && s.signatures.every((g) => g.runs === 3 && g.state === 'filed') ? s : undefined;
    }, { timeoutMs: 60_000 });
    const tickets = await bugTickets(fx);
    assert.equal(tickets.length, 2, `one ticket per failure: ${tickets.join(', ')}`);
    const test = status.signatures.find((g) => g.failure.kind === 'test');
    assert.equal(test?.failure.id, 'math > calc > adds');
    const text = await readFile(path.join(fx.repo, '.ratchet/tickets', `${test?.ticketId}.yaml`), 'utf8');
    assert.match(text, /kind: bug/);
    assert.match(text, /failing test: `math > calc > adds`/);
    assert.match(text, /expected 3 but got 4/);
    assert.match(text, /reproduce: check out `main` and run/);
    // The Schedule is Temporal's own: pause and resume are the plain schedule commands' too.
    await controlWatch(client(), watch.watchId, 'pause', 'test');
    assert.equal((await schedule.describe()).state.paused, true);
    await controlWatch(client(), watch.watchId, 'stop', 'test');
  });

  it('files one ticket when two runs race on one failure: the signature\'s workflow id, not a read-then-create', async () => {
    const fx = await product();
    const watch = watchOf(fx, uniqueId('race'));
    const runs = await Promise.all(
      ['a', 'b'].map((x) => client().workflow.start(watchRunWorkflow, { taskQueue: TASK_QUEUE, workflowId: `watch-run-${watch.watchId}-${x}`, args: [watch] })),
    );
    const [first] = await Promise.all(runs.map((r) => r.result()));
    for (const f of first.failures) {
      const s = await waitUntil(`signature ${f.signature} filed`, async () => {
        const st = await client().workflow.getHandle(signatureWorkflowId(watch.watchId, f.signature)).query(signatureStatusQuery);
        return st?.state === 'filed' && st.runs === 2 ? st : undefined;
      }, { timeoutMs: 60_000 });
      assert.deepEqual(s.commits.length, 1, 'two runs on one commit confirm it');
    }
    assert.equal((await bugTickets(fx)).length, 2);
    assert.equal(watchScheduleId(watch.watchId), `watch-${watch.watchId}`);
  });

  it('tells a flaky test apart by running it again on the same commit: filed for a person as flaky, never for an agent', async () => {
    const fx = await product();
    const marker = path.join(fx.dir, 'flaky-once');
    // Fails, then passes when run again: unboxed (on purpose) so the two runs can share a marker on the host.
    const watch = toWatchConfig(
      { watchId: uniqueId('flaky'), repo: fx.repo, everyMs: 3_600_000, sandbox: 'none', checks: [{ name: 'net', command: `if [ ! -e '${marker}' ]; then touch '${marker}'; echo 'error: connection reset'; exit 1; fi; rm '${marker}'` }] },
      path.resolve,
    );
    for (const x of ['a', 'b']) {
      const run = await client().workflow.execute(watchRunWorkflow, { taskQueue: TASK_QUEUE, workflowId: `watch-run-${watch.watchId}-${x}`, args: [watch] });
      assert.deepEqual(run.failures.map((f) => [f.check, f.flaky]), [['net', true]]);
    }
    const [sig] = (await watchStatusOf(watch.watchId)).map((s) => s);
    assert.equal(sig.state, 'filed');
    const tickets = await bugTickets(fx);
    assert.equal(tickets.length, 1, 'one ticket for two flaky runs');
    const text = await readFile(path.join(fx.repo, '.ratchet/tickets', tickets[0]), 'utf8');
    assert.match(text, /kind: flaky/);
    assert.match(text, /no agent is sent to fix it/);
  });

  it('files one systemic ticket for a person when 60% of a suite fails at once, and no ticket per test', async () => {
    const fx = await product();
    const cases = ['a', 'b', 'c'].map((n) => `<testcase name="${n}"><failure message="ECONNREFUSED db"/></testcase>`).join('') + '<testcase name="d"/><testcase name="e"/>';
    const watch = toWatchConfig(
      { watchId: uniqueId('sys'), repo: fx.repo, everyMs: 3_600_000, checks: [{ name: 'suite', command: `echo '<testsuites><testsuite name="db">${cases}</testsuite></testsuites>' > r.xml; exit 1`, junit: 'r.xml' }] },
      path.resolve,
    );
    const run = await client().workflow.execute(watchRunWorkflow, { taskQueue: TASK_QUEUE, workflowId: `watch-run-${watch.watchId}`, args: [watch] });
    assert.equal(run.systemic, true);
    assert.equal(run.failures.length, 3, 'the run still reports what failed');
    await watchStatusOf(watch.watchId);
    const tickets = await bugTickets(fx);
    assert.equal(tickets.length, 1, `one ticket, not three: ${tickets.join(', ')}`);
    const text = await readFile(path.join(fx.repo, '.ratchet/tickets', tickets[0]), 'utf8');
    assert.match(text, /kind: systemic/);
    assert.match(text, /3 of 5 tests of suite failed/);
  });

  /** The value check alone: fails while value.txt is not 2, its message naming the value (numbers are masked). */
  function valueWatch(fx: Fixture, watchId: string): WatchConfig {
    return toWatchConfig({ watchId, repo: fx.repo, everyMs: 3_600_000, checks: [watchOf(fx, watchId).checks[0]] }, path.resolve);
  }

  /** Commits value.txt with `value` on the base, as a landed change would. */
  async function land(fx: Fixture, value: string): Promise<void> {
    await writeFile(path.join(fx.repo, 'value.txt'), `${value}\n`);
    await simpleGit(fx.repo).add('value.txt').commit(`value.txt says ${value}`);
  }

  /** One run of the watch, started as its Schedule starts it, to its end. */
  let runs = 0;
  const runWatch = (watch: WatchConfig) => client().workflow.execute(watchRunWorkflow, { taskQueue: TASK_QUEUE, workflowId: `watch-run-${watch.watchId}-${++runs}`, args: [watch] });

  /** The signature's status once `ok` holds for it. */
  const signatureWhen = (watch: WatchConfig, signature: string, what: string, ok: (s: SignatureStatus) => boolean) =>
    waitUntil(what, async () => {
      const s = await client().workflow.getHandle(signatureWorkflowId(watch.watchId, signature)).query(signatureStatusQuery);
      return s && ok(s) ? s : undefined;
    }, { timeoutMs: 60_000 });

  const ticketText = (watch: WatchConfig, id: string) => readFile(path.join(watch.ticketsDir, `${id}.yaml`), 'utf8');

  it('closes a fixed signature only after three green runs once the tracker says its ticket is done, and files a linked ticket when it comes back', async () => {
    const fx = await product();
    const watch = valueWatch(fx, uniqueId('life'));
    const id = await startWatch(client(), watch);
    const schedule = client().schedule.getHandle(id);
    const trigger = async (n: number) => {
      await schedule.trigger();
      const d = await waitUntil(`run ${n} started`, async () => {
        const info = await schedule.describe();
        return info.info.numActionsTaken === n ? info : undefined;
      }, { timeoutMs: 60_000 });
      const started = d.info.recentActions.at(-1)?.action;
      assert.ok(started);
      return client().workflow.getHandle(started.workflow.workflowId, started.workflow.firstExecutionRunId).result();
    };
    let signature = '';
    for (let n = 1; n <= 3; n++) signature = (await trigger(n)).failures[0].signature;
    const filed = await signatureWhen(watch, signature, 'filed after three runs', (s) => s.state === 'filed' && s.runs === 3);
    assert.equal((await bugTickets(fx)).length, 1, 'three failing runs, one ticket');
    const ticketId = filed.ticketId as string;
    const tracker = new LocalTracker(watch.ticketsDir);

    // A batch takes the ticket: the signature follows the tracker at the next run that sees the failure.
    await tracker.setState(ticketId, 'in-progress', { by: 'batch fix' });
    await trigger(4);
    await signatureWhen(watch, signature, 'fixing while a batch has it', (s) => s.state === 'fixing' && s.trackerState === 'in-progress');

    // The fix lands and the batch records the ticket done: the tracker is the oracle, not an agent.
    await land(fx, '2');
    await tracker.setState(ticketId, 'done', { by: 'batch fix' });
    for (let n = 5; n <= 6; n++) {
      const run = await trigger(n);
      assert.deepEqual(run.failures, [], 'the fixed check passes');
      await signatureWhen(watch, signature, `green run ${n - 4} counted`, (s) => s.state === 'fixed' && s.greenRuns === n - 4);
    }
    await trigger(7);
    const closed = await signatureWhen(watch, signature, 'closed after three green runs', (s) => s.state === 'closed');
    assert.equal(closed.greenRuns, 3);
    assert.equal(closed.ticketId, ticketId);
    const listed = (await watchStatus(client(), watch.watchId)).signatures.find((g) => g.signature === signature);
    assert.equal(listed?.state, 'closed', 'ratchet watch status shows it closed');

    // It comes back after closing: a new ticket, linked to the closed one.
    await land(fx, '7');
    const back = await runWatch(watch);
    assert.equal(back.failures[0].signature, signature, 'the same failure (the value is masked)');
    const again = await signatureWhen(watch, signature, 'a recurrence filed', (s) => s.state === 'filed' && s.tickets.length === 2);
    assert.equal(again.ticketId, `${ticketId}-2`);
    assert.equal((await bugTickets(fx)).length, 2);
    const text = await ticketText(watch, `${ticketId}-2`);
    assert.match(text, new RegExp(`previous ticket: \`${ticketId}\``));
    assert.match(text, /fails on main again/);
    await controlWatch(client(), watch.watchId, 'stop', 'test');
  });

  it('reopens the same ticket with the new evidence when the failure comes back before the signature closed', async () => {
    const fx = await product();
    const watch = valueWatch(fx, uniqueId('reopen'));
    const [first] = (await runWatch(watch)).failures;
    await runWatch(watch);
    const { ticketId } = await signatureWhen(watch, first.signature, 'filed', (s) => s.state === 'filed');
    const tracker = new LocalTracker(watch.ticketsDir);
    await land(fx, '2');
    await tracker.setState(ticketId as string, 'done', { by: 'batch fix' });
    await runWatch(watch);
    const green = await signatureWhen(watch, first.signature, 'one green run', (s) => s.greenRuns === 1);
    // A run that started before the ticket was done checked a base without the fix: its failure counts, reopens nothing.
    const handle = client().workflow.getHandle(signatureWorkflowId(watch.watchId, first.signature));
    await handle.signal(failureSeenSignal, { runId: 'started-before-the-fix', commit: 'f'.repeat(40), startedAt: (green.doneSince as number) - 1_000, at: Date.now(), failure: first });
    const late = await signatureWhen(watch, first.signature, 'the late sighting counted', (s) => s.occurrences === green.occurrences + 1);
    assert.deepEqual([late.state, late.reopened, late.greenRuns], ['fixed', 0, 1]);

    await land(fx, '5');
    const red = await runWatch(watch);
    const commit = red.commit;
    const s = await signatureWhen(watch, first.signature, 'reopened', (x) => x.reopened === 1);
    assert.deepEqual([s.state, s.ticketId, s.greenRuns, s.tickets.length], ['filed', ticketId, 0, 1], 'the same ticket, the green count reset');
    assert.deepEqual(await tracker.facts([ticketId as string]), [{ id: ticketId, state: 'todo' }], 'back to todo in the tracker');
    assert.equal((await bugTickets(fx)).length, 1, 'no second ticket');
    const text = await ticketText(watch, ticketId as string);
    assert.match(text, /Failed again in run `/);
    assert.match(text, new RegExp(`commit: ${commit}`));
    assert.match(text, /error: value is 5 at \d+, want 2/, 'the new message and tail');
  });

  it("files nothing more for a signature a person said won't fix, and files again when its message changes", async () => {
    const fx = await product();
    const watch = valueWatch(fx, uniqueId('wontfix'));
    const [first] = (await runWatch(watch)).failures;
    await runWatch(watch);
    const { ticketId } = await signatureWhen(watch, first.signature, 'filed', (s) => s.state === 'filed');
    const answer = await wontFix(client(), watch.watchId, first.signature, { by: 'alice', reason: 'the value check is legacy' });
    assert.deepEqual([answer.ticketId, answer.normalized], [ticketId, 'error: value is <n> at <n>, want <n>']);
    await assert.rejects(wontFix(client(), watch.watchId, first.signature, { by: 'bob', reason: 'again' }), (err: unknown) => err instanceof GateRejectedError && /won't fix already \(alice/.test(err.message));
    await assert.rejects(wontFix(client(), watch.watchId, first.signature, { by: 'bob', reason: ' ' }), (err: unknown) => err instanceof GateRejectedError && /field "reason"/.test(err.message));
    await signatureWhen(watch, first.signature, "won't fix, its ticket human-gated", (s) => s.state === 'wont-fix' && s.trackerState === 'human-gated');

    await runWatch(watch);
    const s = await signatureWhen(watch, first.signature, 'a repeat suppressed', (x) => x.suppressed === 1);
    assert.deepEqual([s.state, s.wontFix?.by, s.wontFix?.reason, s.tickets.length], ['wont-fix', 'alice', 'the value check is legacy', 1]);
    assert.equal((await bugTickets(fx)).length, 1, 'nothing filed for the repeat');

    // Another reason (a word, not a number) is another failure: filed once confirmed.
    await land(fx, 'two');
    const changed = (await runWatch(watch)).failures[0];
    assert.notEqual(changed.signature, first.signature);
    await runWatch(watch);
    await signatureWhen(watch, changed.signature, 'the changed failure filed', (x) => x.state === 'filed');
    assert.equal((await bugTickets(fx)).length, 2);
    assert.equal((await signatureWhen(watch, first.signature, 'still won\'t fix', (x) => x.state === 'wont-fix')).suppressed, 1);
  });

  it('carries its state, the messages not yet taken and the runs counted through continue-as-new', async () => {
    const fx = await product();
    const watch = valueWatch(fx, uniqueId('can'));
    // A failure as a run reports it, sent by hand so that the messages come in bursts.
    const signature = '0123456789abcdef';
    const workflowId = signatureWorkflowId(watch.watchId, signature);
    const f = { check: 'value', kind: 'command' as const, id: 'value', message: 'error: value is 1, want 2', location: '', tail: 'error: value is 1, want 2', signature };
    const start = (runId: string, startedAt = Date.now()) =>
      client().workflow.signalWithStart('signatureWorkflow', {
        workflowId,
        taskQueue: TASK_QUEUE,
        args: [{ watch, signature, continueAsNewAtEvents: 20 }],
        signal: failureSeenSignal,
        signalArgs: [{ runId, commit: `${runId}`.padEnd(40, '0'), startedAt, at: Date.now(), failure: f }],
      });
    const handle = await start('r1');
    await start('r2');
    await start('r2'); // a retried report: one run
    const { ticketId } = await signatureWhen(watch, signature, 'filed', (s) => s.state === 'filed' && s.runs === 2);
    const tracker = new LocalTracker(watch.ticketsDir);
    await tracker.setState(ticketId as string, 'done', { by: 'batch fix' });
    const pass = (runId: string) => handle.signal(runPassedSignal, { runId, commit: 'c'.repeat(40), startedAt: Date.now(), at: Date.now(), checks: ['value'] });
    await pass('g1');
    await signatureWhen(watch, signature, 'one green run', (s) => s.greenRuns === 1);
    await start('r3');
    await signatureWhen(watch, signature, 'reopened', (s) => s.reopened === 1);
    await tracker.setState(ticketId as string, 'done', { by: 'batch fix' });
    // A burst: some wait in the inbox when the workflow continues as new.
    await Promise.all(['g2', 'g3', 'g4', 'g4'].map(pass));
    const closed = await signatureWhen(watch, signature, 'closed', (s) => s.state === 'closed');
    assert.deepEqual([closed.runs, closed.occurrences, closed.reopened, closed.greenRuns, closed.tickets], [3, 3, 1, 3, [ticketId]]);
    const runsOfIt = [];
    for await (const wf of client().workflow.list({ query: `WorkflowId = '${workflowId}'` })) runsOfIt.push(wf.runId);
    assert.ok(runsOfIt.length > 1, `continued as new (${runsOfIt.length} runs)`);
  });

  /** The signatures of a watch once every one has its ticket. */
  async function watchStatusOf(watchId: string) {
    return waitUntil('the signatures filed', async () => {
      const list = [];
      for await (const wf of client().workflow.list({ query: `WorkflowType = 'signatureWorkflow'` })) {
        if (!wf.workflowId.startsWith(`signature-${watchId}-`)) continue;
        const s = await client().workflow.getHandle(wf.workflowId).query(signatureStatusQuery);
        if (s) list.push(s);
      }
      return list.length && list.every((s) => s.state === 'filed') ? list : undefined;
    }, { timeoutMs: 60_000 });
  }
});
