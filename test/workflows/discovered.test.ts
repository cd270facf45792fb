/**
 * Discovered work on the real dev server: an agent's blocker is filed and waited for, a person files work through
 * the `discover` update (bad requests refused, naming the problem), and the discovery cap holds.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { LocalTracker } from '../../activities/tracker/local';
import { batchWorkflow } from '../../workflows';
import {
  approveUpdate,
  batchStatusQuery,
  batchWorkflowId,
  discoverUpdate,
  resumeUpdate,
  statusQuery,
  TASK_QUEUE,
  ticketWorkflowId,
} from '../../workflows/messages';
import type { BatchFile } from '../../workflows/input';
import type { TicketReport } from '../../workflows/types';
import { makeRepo, mergesOf, type Fixture, type FixtureTicket } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

const ownFileGate = { name: 'own file', command: 'test "$(cat "$RATCHET_TICKET_ID.txt" 2>/dev/null)" = good' };
const good = (id: string) => ({ files: { [`${id}.txt`]: 'good' } });

describe('discovered work on the real dev server', function () {
  this.timeout(240_000);
  const server = useServerAndWorker();

  async function setup(tickets: FixtureTicket[]): Promise<Fixture> {
    const fx = await makeRepo(tickets);
    server.track(fx);
    return fx;
  }

  async function start(fx: Fixture, overrides: Partial<BatchFile> = {}) {
    const batchId = uniqueId('disc');
    // A batch-level probe: discovered tickets are verified live by the batch's probes.
    const input = fx.batch(batchId, { gates: [ownFileGate], probes: [{ name: 'main has a README', command: 'test -f README.md' }], ...overrides });
    const handle = await server.env().client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    return { handle, batchId };
  }

  const closeTime = async (batchId: string, ticketId: string): Promise<number> =>
    ((await server.env().client.workflow.getHandle(ticketWorkflowId(batchId, ticketId)).describe()).closeTime as Date).getTime();

  const ticketHandle = (batchId: string, id: string) => server.env().client.workflow.getHandle(ticketWorkflowId(batchId, id));
  /** Waits until `id` waits at the unchecked-discovery gate, then approves it as a person. */
  const approveUnchecked = async (batchId: string, id: string): Promise<void> => {
    await waitUntil(`${id} at the unchecked-discovery gate`, async () => (await ticketHandle(batchId, id).query(statusQuery).catch(() => undefined))?.waitingFor === 'unchecked-discovery');
    await ticketHandle(batchId, id).executeUpdate(approveUpdate, { args: [{ by: 'ana' }] });
  };

  it('keeps an agent\'s discovered ticket with no executable check from starting until a person approves it (issue 25 item 7)', async () => {
    // The cheating agent: it files work whose acceptance says there is nothing to do, then makes a token change to it.
    const nothing = { title: 'Tidy up', body: 'nothing to do', acceptance: ['nothing to do'] };
    const fx = await setup([{ id: 'x', attempts: [{ discovered: [nothing], ...good('x') }] }]);
    await fx.script({ 'x-d1': [good('x-d1')] });
    const { handle, batchId } = await start(fx);

    const waiting = await waitUntil('x-d1 waiting for a person', async () => {
      const st = await ticketHandle(batchId, 'x-d1').query(statusQuery).catch(() => undefined);
      return st?.waitingFor === 'unchecked-discovery' ? st : undefined;
    });
    assert.equal(waiting.attempt, 0, 'no attempt ran');
    assert.match(waiting.waitingReason ?? '', /an agent filed it and nothing executable checks it/);
    assert.equal(waiting.timeline.some((p) => p.phase === 'plan'), false, 'no agent planned it');
    const status = await waitUntil('x done, x-d1 still pending', async () => {
      const st = await handle.query(batchStatusQuery);
      return st.oracle.done.includes('x') ? st : undefined;
    });
    assert.equal(status.oracle.satisfied, false);
    assert.deepEqual(status.oracle.done, ['x']);
    assert.equal(status.tickets.find((t) => t.id === 'x-d1')?.waitingFor, 'unchecked-discovery');
    assert.deepEqual(status.discovered.map((d) => [d.ticketId, d.status, d.check]), [['x-d1', 'filed', 'approve']]);
    assert.match(status.discovered[0].reason ?? '', /^waits for a person's approve before it starts: an agent filed it and nothing executable checks it/);
    assert.equal((await new LocalTracker(path.join(fx.repo, '.ratchet/tickets')).get('x-d1'))?.state, 'awaiting-human');
    assert.equal((await mergesOf(fx.repo, 'x-d1')).length, 0);

    await ticketHandle(batchId, 'x-d1').executeUpdate(approveUpdate, { args: [{ by: 'ana', comment: 'worth doing' }] });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ['x', 'x-d1']);
    assert.equal((await mergesOf(fx.repo, 'x-d1')).length, 1, 'it ran once approved');
    assert.deepEqual(report.interventions.list.map((i) => [i.kind, i.ticketId, i.gate, i.by]), [['approve', 'x-d1', 'unchecked-discovery', 'ana']]);
  });

  it('files the blocker an agent reports; its ticket waits without holding a slot and goes on right after the blocker is done', async () => {
    const blocker = { title: 'Add the config flag', body: 'x reads FLAG from config.txt', acceptance: ['config.txt has FLAG'], blocksThisTicket: true };
    const fx = await setup([{ id: 'x', attempts: [{ discovered: [blocker], files: { 'x.txt': 'half done' } }, good('x')] }]);
    await fx.script({ 'x-d1': [good('x-d1')] });
    // One slot: x, parked on its blocker, must not keep the blocker from running.
    const { handle, batchId } = await start(fx, { maxParallel: 1 });
    // Nothing executable checks x-d1 (no probes of its own, not a bug ticket): a person approves it first.
    await approveUnchecked(batchId, 'x-d1');
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ['x', 'x-d1']);
    assert.deepEqual(report.discovered.map((d) => [d.ticketId, d.status, d.filedBy, d.blocks]), [
      ['x-d1', 'filed', { kind: 'agent', ticketId: 'x', attempt: 1 }, ['x']],
    ]);
    assert.equal((await mergesOf(fx.repo, 'x')).length, 1);
    assert.equal((await mergesOf(fx.repo, 'x-d1')).length, 1);
    // The tracker holds the discovered ticket like any other, final state recorded by ratchet.
    const filed = await new LocalTracker(path.join(fx.repo, '.ratchet/tickets')).get('x-d1');
    assert.equal(filed?.kind, 'discovered');
    assert.equal(filed?.state, 'done');
    assert.deepEqual(filed?.acceptance, ['config.txt has FLAG']);

    // x waited in phase blocked and started its next attempt after x-d1 ended; waiting cost no attempt.
    const x = report.tickets.find((t) => t.ticketId === 'x');
    assert.equal(x?.attempts, 2);
    const blocked = ((await server.env().client.workflow.getHandle(ticketWorkflowId(batchId, 'x')).result()) as TicketReport).phases.find((s) => s.phase === 'blocked');
    assert.ok(blocked, 'x has a blocked span');
    assert.ok(blocked.startedAt + blocked.ms >= (await closeTime(batchId, 'x-d1')) - 1_000, 'x resumed after its blocker ended');
    const prompt2 = await readFile(path.join(fx.repo, '.ratchet/artifacts', batchId, 'x', 'attempt-2', 'prompt.md'), 'utf8');
    assert.match(prompt2, /Discovered ticket x-d1 \("Add the config flag"\) is done and merged into main/);
  });

  it('files a person\'s discover update into the running batch, with its edges, and refuses a cycle or an unknown ticket by name', async () => {
    const fx = await setup([{ id: 'g', gate: 'plan', attempts: [good('g')] }, { id: 'a', dependsOn: ['g'], attempts: [good('a')] }, { id: 'b', dependsOn: ['a'], attempts: [good('b')] }]);
    await fx.script({ 'discovered-1': [good('discovered-1')] });
    const { handle, batchId } = await start(fx);
    await waitUntil('g at its plan gate', async () => (await server.env().client.workflow.getHandle(ticketWorkflowId(batchId, 'g')).query(statusQuery)).waitingFor === 'plan');

    await assert.rejects(
      handle.executeUpdate(discoverUpdate, { args: [{ by: 'ana', id: 'n', title: 'N', dependsOn: ['b'], blocks: ['a'] }] }),
      (err: unknown) => err instanceof WorkflowUpdateFailedError && /dependency cycle (a -> n -> b -> a|n -> b -> a -> n|b -> a -> n -> b)/.test(String(err.cause?.message)),
    );
    await assert.rejects(
      handle.executeUpdate(discoverUpdate, { args: [{ by: 'ana', title: 'N', dependsOn: ['nope'] }] }),
      (err: unknown) => err instanceof WorkflowUpdateFailedError && /field "dependsOn" names "nope", not in the batch/.test(String(err.cause?.message)),
    );
    await assert.rejects(
      handle.executeUpdate(discoverUpdate, { args: [{ by: 'ana', title: 'N', blocks: ['g'] }] }),
      (err: unknown) => err instanceof WorkflowUpdateFailedError && /"g", already started/.test(String(err.cause?.message)),
    );
    const answer = await handle.executeUpdate(discoverUpdate, { args: [{ by: 'ana', title: 'Write the changelog', blocks: ['b'] }] });
    assert.deepEqual(answer, { ticketId: 'discovered-1', dependsOn: [], blocks: ['b'] });
    const status = await handle.query(batchStatusQuery);
    assert.deepEqual(status.tickets.find((t) => t.id === 'b')?.dependsOn, ['a', 'discovered-1']);
    assert.equal(status.oracle.satisfied, false);

    await server.env().client.workflow.getHandle(ticketWorkflowId(batchId, 'g')).executeUpdate(approveUpdate, { args: [{ by: 'ana' }] });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ['a', 'b', 'discovered-1', 'g']);
    assert.deepEqual(report.discovered.map((d) => [d.ticketId, d.status, d.filedBy]), [['discovered-1', 'filed', { kind: 'person', by: 'ana' }]]);
    const bStart = (await server.env().client.workflow.getHandle(ticketWorkflowId(batchId, 'b')).describe()).startTime.getTime();
    assert.ok(bStart >= (await closeTime(batchId, 'discovered-1')), 'b started after its discovered blocker ended');
  });

  it('holds an agent\'s discovered work over the cap at a batch gate; resume with "drop" drops it and the batch finishes', async () => {
    const fx = await setup([{ id: 'x', attempts: [{ discovered: [{ title: 'one' }, { title: 'two' }, { body: 'no title' }], ...good('x') }] }]);
    await fx.script({ 'x-d1': [good('x-d1')] });
    const { handle, batchId } = await start(fx, { discovery: { maxPerBatch: 5, maxPerTicket: 1 } });

    const paused = await waitUntil('the batch paused at the discovery cap', async () => {
      const s = await handle.query(batchStatusQuery);
      return s.state === 'paused' && /discovery cap/.test(s.pausedReason ?? '') ? s : undefined;
    });
    assert.match(paused.pausedReason ?? '', /"two"/);
    assert.deepEqual(paused.discovered.map((d) => [d.title, d.status]), [['one', 'filed'], ['two', 'held']]);

    await handle.executeUpdate(resumeUpdate, { args: [{ by: 'ana', discovered: 'drop' }] });
    await approveUnchecked(batchId, 'x-d1');
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ['x', 'x-d1']);
    assert.deepEqual(report.discovered.map((d) => [d.title, d.status]), [['one', 'filed'], ['two', 'dropped']]);
    assert.equal(report.interventions.byKind.resume, 1);
    assert.equal(report.interventions.byKind.approve, 1);
    assert.equal(report.interventions.list.find((i) => i.kind === 'resume')?.gate, 'discovery-cap');
  });
});
