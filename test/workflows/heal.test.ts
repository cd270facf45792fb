/**
 * The self-heal on the real dev server: a heal that adds a missing setup step is accepted and the ticket goes on to
 * done; a heal that weakens a gate or writes a protected file is rejected by the tripwire, nothing of it applied, and
 * the ticket waits at a heal-rejected gate; a heal followed by the same failure is churn, not healed again.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { batchWorkflow } from '../../workflows';
import { approveUpdate, batchStatusQuery, batchWorkflowId, rejectUpdate, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import type { BatchFile } from '../../workflows/input';
import type { TicketReport } from '../../workflows/types';
import { makeRepo, mergesOf, type FixtureTicket } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

/** The gate needs what a setup step makes (build/ok) besides the ticket's own file. */
const builtGate = { name: 'built and good', command: 'test -f build/ok && test "$(cat "$RATCHET_TICKET_ID.txt")" = good', files: ['build.sh'] };
const good = (id: string) => ({ files: { [`${id}.txt`]: 'good' } });
/** A heal agent that answers `result` (JSON) and first runs `run` in its worktree. */
const healAgent = (result: object, run = 'true') => `${run}; printf '%s' '${JSON.stringify(result)}' > "$RATCHET_RESULT_FILE"`;

describe('the self-heal on the real dev server', function () {
  this.timeout(240_000);
  const server = useServerAndWorker();

  async function start(tickets: FixtureTicket[], overrides: Partial<BatchFile>, ignore?: string) {
    const fx = await makeRepo(tickets);
    server.track(fx);
    if (ignore) {
      await writeFile(path.join(fx.repo, '.gitignore'), `${ignore}\n`);
      await simpleGit(fx.repo).add('.gitignore').commit('ignore build output');
    }
    const batchId = uniqueId('heal');
    const input = fx.batch(batchId, { gates: [builtGate], probes: [{ name: 'README on main', command: 'test -f README.md' }], maxAttempts: 1, ...overrides });
    const handle = await server.env().client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    return { fx, handle, batchId };
  }

  it('accepts a heal that adds the missing setup step: smoke-checked, a new round, and the ticket is done', async () => {
    const change = { harness: { setup: [{ command: 'mkdir -p build && touch build/ok' }] } };
    const { fx, handle } = await start([{ id: 'x', attempts: [good('x')] }], {
      heal: { command: healAgent({ verdict: 'harness-gap', reason: 'the gate needs build/ok, which no setup step makes', change }) },
    });
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done, ['x']);
    assert.equal((await mergesOf(fx.repo, 'x')).length, 1);
    assert.deepEqual(report.heals.map((h) => [h.ticketId, h.n, h.verdict, h.outcome]), [['x', 1, 'harness-gap', 'accepted']]);
    assert.match(report.heals[0].stop, /^attempts exhausted: 1 attempts failed; last: Attempt 1: gate "built and good" \(exit 1\) failed/);
    assert.ok(report.heals[0].dir && existsSync(path.join(report.heals[0].dir, 'change.json')), 'the change is offered back as a file');
    assert.equal(report.tickets[0].attempts, 2);
    assert.deepEqual(report.interventions.total, 0, 'no person was needed');
  });

  it("runs an accepted heal's setup steps boxed wherever they run: one that deletes main's files by absolute path changes nothing", async () => {
    const fx = server.track(await makeRepo([{ id: 'x', attempts: [good('x')] }]));
    const readme = path.join(fx.repo, 'README.md');
    assert.ok(existsSync(readme));
    // A no-op in the agent's box (the write fails there), it would delete main's README where the guard's base run
    // happened unboxed before.
    const change = { harness: { setup: [{ command: `mkdir -p build && touch build/ok; rm -f '${readme}' 2>/dev/null; true` }] } };
    const gate = { ...builtGate, command: `printf '<testsuite><testcase name="built"/></testsuite>' > junit.xml; ${builtGate.command}`, junit: 'junit.xml' };
    const batchId = uniqueId('heal');
    const input = fx.batch(batchId, {
      gates: [gate],
      probes: [{ name: 'README on main', command: 'test -f README.md' }],
      maxAttempts: 1,
      heal: { command: healAgent({ verdict: 'harness-gap', reason: 'the gate needs build/ok', change }) },
    });
    const handle = await server.env().client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.heals.map((h) => h.outcome), ['accepted']);
    assert.ok(existsSync(readme), "main's README is still there");
    assert.equal(await simpleGit(fx.repo).raw(['status', '--porcelain', '--', 'README.md']), '');
  });

  it('rejects a heal that weakens a gate and writes a protected file: nothing applied, the ticket waits at a heal-rejected gate', async () => {
    const change = { gates: [{ ...builtGate, command: 'true', timeoutMs: 600_000, tests: [], envFrom: [] }] };
    const { fx, handle, batchId } = await start([{ id: 'x', attempts: [good('x')] }], {
      heal: { command: healAgent({ verdict: 'harness-gap', reason: 'the gate is too strict', change }, 'echo "exit 0" > build.sh') },
    });
    const ticket = server.env().client.workflow.getHandle(ticketWorkflowId(batchId, 'x'));
    const status = await waitUntil('x at the heal-rejected gate', async () => {
      const s = await ticket.query(statusQuery);
      return s.waitingFor === 'heal-rejected' ? s : undefined;
    });
    assert.match(status.waitingReason ?? '', /heal 1 was rejected and nothing of it applied: it changes gate "built and good"; adds protected file build\.sh/);
    // The batch's status shows the heal while the ticket waits.
    const batch = await waitUntil('the batch status to show the rejected heal', async () => {
      const s = await handle.query(batchStatusQuery);
      return s.heals.length ? s : undefined;
    });
    assert.deepEqual(batch.heals.map((h) => [h.ticketId, h.outcome]), [['x', 'rejected']]);
    await ticket.executeUpdate(rejectUpdate, { args: [{ by: 'ana', comment: 'no weakening' }] });

    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.humanGated, ['x']);
    assert.equal((await mergesOf(fx.repo, 'x')).length, 0);
    assert.deepEqual(report.heals.map((h) => [h.outcome, h.differences]), [['rejected', ['changes gate "built and good"', 'adds protected file build.sh']]]);
    assert.ok(!existsSync(path.join(fx.repo, 'build.sh')), "the heal's file edit never reached the base");
  });

  it('files an activation gap as a discovered ticket blocking the merged one; once it is done, the first ticket re-verifies and is done', async () => {
    const gap = { title: 'Turn the flag on', body: 'x is merged but flag.txt still says off', acceptance: ['flag.txt says on'] };
    const { fx, handle } = await start(
      [
        { id: 'x', attempts: [{ files: { 'x.txt': 'good', 'flag.txt': 'off' } }], probes: [{ name: 'flag on', command: 'test "$(cat flag.txt)" = on' }] },
      ],
      {
        gates: [],
        // Ten seconds of deadline, but the same wrong answer three rounds in a row is an answer already.
        verify: { deadlineMs: 60_000, intervalMs: 300, stableRounds: 3 },
        heal: { command: healAgent({ verdict: 'activation-gap', reason: 'the flag is off on main', discovered: [gap] }) },
      },
    );
    await fx.script({ 'x-d1': [{ files: { 'flag.txt': 'on' } }] });
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ['x', 'x-d1']);
    assert.deepEqual(report.heals.map((h) => [h.ticketId, h.verdict, h.outcome]), [['x', 'activation-gap', 'activation-gap']]);
    assert.match(report.heals[0].stop, /the same answer 3 rounds in a row/);
    assert.deepEqual(report.discovered.map((d) => [d.ticketId, d.status, d.filedBy, d.blocks]), [['x-d1', 'filed', { kind: 'agent', ticketId: 'x', attempt: -1, heal: 1 }, ['x']]]);
    const { phases } = (await server.env().client.workflow.getHandle(ticketWorkflowId(report.batchId, 'x')).result()) as TicketReport;
    assert.equal(phases.filter((s) => s.phase === 'verify-live').length, 2, 'x verified live again after its gap was done');
    assert.equal(report.interventions.total, 0);
    // The Web UI's details of the batch say the same.
    const details = (await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails ?? '';
    assert.match(details, /^interventions: 0$/m);
    assert.match(details, /^- \*\*heal\*\* x #1: activation-gap \(activation-gap\)$/m);
    assert.match(details, /^- \*\*discovered\*\* "Turn the flag on" by x heal 1: filed as x-d1, blocks x$/m);
  });

  it('never runs more heals than the batch budget, even for tickets failing at once: the one without a share goes to a person', async () => {
    const change = { harness: { setup: [{ command: 'mkdir -p build && touch build/ok' }] } };
    const { handle, batchId } = await start([{ id: 'x', attempts: [good('x')] }, { id: 'y', attempts: [good('y')] }], {
      maxParallel: 2,
      heal: { command: healAgent({ verdict: 'harness-gap', reason: 'the gate needs build/ok', change }), maxPerTicket: 1, maxPerBatch: 1 },
    });
    // x started first and holds the batch's one heal; y, running beside it, got none.
    const y = server.env().client.workflow.getHandle(ticketWorkflowId(batchId, 'y'));
    const status = await waitUntil('y at the attempts-exhausted gate', async () => {
      const s = await y.query(statusQuery);
      return s.waitingFor === 'attempts-exhausted' ? s : undefined;
    });
    assert.ok(!status.timeline.some((span) => span.phase === 'self-heal'), 'y ran no heal');
    await y.executeUpdate(rejectUpdate, { args: [{ by: 'ana' }] });
    const report = await handle.result();
    assert.deepEqual(report.heals.map((h) => [h.ticketId, h.outcome]), [['x', 'accepted']]);
    assert.deepEqual([report.oracle.done, report.oracle.humanGated], [['x'], ['y']]);
  });

  it("gives an accepted heal's harness to a ticket already running: it validates with the healed setup, no heal of its own", async () => {
    const change = { harness: { setup: [{ command: 'mkdir -p build && touch build/ok' }] } };
    const { handle, batchId } = await start([{ id: 'x', attempts: [good('x')] }, { id: 'y', gate: 'plan', attempts: [good('y')] }], {
      maxParallel: 2,
      heal: { command: healAgent({ verdict: 'harness-gap', reason: 'the gate needs build/ok', change }), maxPerTicket: 1, maxPerBatch: 1 },
    }, 'build/'); // build output is not committed: y's gate has build/ok only if y's own harness makes it
    const client = server.env().client;
    const y = client.workflow.getHandle(ticketWorkflowId(batchId, 'y'));
    // y was started before x's heal, and waits at its plan gate until x's healed round has landed.
    await waitUntil('y at its plan gate', async () => (await y.query(statusQuery)).waitingFor === 'plan' || undefined);
    const x = await client.workflow.getHandle(ticketWorkflowId(batchId, 'x')).result();
    assert.equal(x.outcome, 'done');
    await y.executeUpdate(approveUpdate, { args: [{ by: 'ana' }] });
    // With the old harness y's one attempt would fail its gate and, the batch's one heal spent, wait for a person.
    const stopped = await waitUntil('y to end or stop at a gate', async () => {
      const s = await y.query(statusQuery);
      return s.waitingFor ?? ((await y.describe()).status.name === 'COMPLETED' ? 'ended' : undefined);
    });
    assert.equal(stopped, 'ended');
    const report = await handle.result();
    assert.deepEqual([report.oracle.satisfied, report.oracle.done.sort()], [true, ['x', 'y']]);
    assert.deepEqual(report.heals.map((h) => [h.ticketId, h.outcome]), [['x', 'accepted']]);
    assert.equal(report.tickets.find((t) => t.ticketId === 'y')?.attempts, 1);
  });

  it('does not heal again when the same failure follows an accepted heal (churn): a person decides', async () => {
    const change = { harness: { promptRules: ['build/ok comes from setup'] } };
    const { handle, batchId } = await start([{ id: 'x', attempts: [good('x')] }], {
      heal: { command: healAgent({ verdict: 'harness-gap', reason: 'a clearer prompt', change }), maxPerTicket: 3 },
    });
    const ticket = server.env().client.workflow.getHandle(ticketWorkflowId(batchId, 'x'));
    const status = await waitUntil('x at the attempts-exhausted gate after the churn', async () => {
      const s = await ticket.query(statusQuery);
      return s.waitingFor === 'attempts-exhausted' ? s : undefined;
    });
    assert.match(status.waitingReason ?? '', /the same failure followed heal 1 \(gates: built and good; tests: \): churn, not progress/);
    await ticket.executeUpdate(rejectUpdate, { args: [{ by: 'ana' }] });
    const report = await handle.result();
    assert.deepEqual(report.heals.map((h) => h.outcome), ['accepted', 'churn']);
    assert.equal(report.tickets[0].attempts, 2);
  });
});
