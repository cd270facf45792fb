/**
 * Failing checks file their own tickets (issue 27, first step) on the real dev server's Schedules, real git and real
 * check processes: a watch's Schedule runs its checks on the base's tip; each failure reaches the workflow of its
 * signature, which files one `bug` ticket once the failure is confirmed, however many runs see it, and however they
 * race.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { controlWatch, startWatch, watchStatus } from '../../client/watch-schedule';
import { watchRunWorkflow } from '../../workflows';
import { TASK_QUEUE } from '../../workflows/messages';
import { toWatchConfig, type WatchConfig } from '../../workflows/watch/input';
import { signatureStatusQuery, signatureWorkflowId, watchScheduleId } from '../../workflows/watch/messages';
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
