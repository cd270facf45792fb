import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { LocalTracker } from '../../activities/tracker/local';
import { formatStatus } from '../../client/format';
import { csvRecords, finishedReport, joinTicketResults } from '../../client/report';
import { batchWorkflow } from '../../workflows';
import { decodeCarry, type CarryWire } from '../../workflows/carry';
import {
  approveSignal,
  approveUpdate,
  batchStatusQuery,
  batchWorkflowId,
  rejectUpdate,
  resumeUpdate,
  statusQuery,
  TASK_QUEUE,
  ticketWorkflowId,
} from '../../workflows/messages';
import type { BatchFile } from '../../workflows/input';
import type { GateReason, Ticket, TicketInput, TicketReport } from '../../workflows/types';
import { makeRepo, mergesOf, type Fixture, type FixtureTicket } from '../fixtures/repo';
import { createWorker } from '../../workers/worker';
import { scheduledInput, uniqueId, useServerAndWorker, workflowBundle } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

/** Each ticket's own gate and probe: `<ticketId>.txt` must say `good`, in the worktree and then on main. */
const ownFileGate = { name: 'own file', command: 'test "$(cat "$RATCHET_TICKET_ID.txt" 2>/dev/null)" = good' };
const ownFileProbe = (id: string) => [{ name: `${id}.txt live`, command: `test "$(cat ${id}.txt)" = good` }];
const ticket = (id: string, extra: Partial<FixtureTicket> = {}): FixtureTicket => ({ id, probes: ownFileProbe(id), ...extra });
const bad = { files: { 'x.txt': 'bad' } };

describe('batchWorkflow and ticketWorkflow on the real dev server', function () {
  this.timeout(240_000);
  const server = useServerAndWorker();

  async function setup(tickets: FixtureTicket[]): Promise<Fixture> {
    const fx = await makeRepo(tickets);
    server.track(fx);
    return fx;
  }

  async function start(fx: Fixture, overrides: Partial<BatchFile> = {}, batchId = uniqueId('b')) {
    const input = fx.batch(batchId, { gates: [ownFileGate], ...overrides });
    const handle = await server.env().client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    return { handle, batchId };
  }

  const ticketHandle = (batchId: string, ticketId: string) => server.env().client.workflow.getHandle(ticketWorkflowId(batchId, ticketId));

  async function waitForGate(batchId: string, ticketId: string, gate: GateReason, attempt?: number) {
    return waitUntil(`${ticketId} waiting at ${gate}${attempt ? ` after attempt ${attempt}` : ''}`, async () => {
      const s = await ticketHandle(batchId, ticketId).query(statusQuery);
      return s.waitingFor === gate && (attempt === undefined || s.attempt === attempt) ? s : undefined;
    });
  }

  it('runs tickets in dependency order under the parallelism cap and starts a dependent on its blockers\' completion', async () => {
    const fx = await setup([ticket('a'), ticket('b'), ticket('c'), ticket('d', { dependsOn: ['a', 'b'] })]);
    const { handle, batchId } = await start(fx, { maxParallel: 2 });
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ['a', 'b', 'c', 'd']);
    for (const id of ['a', 'b', 'c', 'd']) assert.equal((await mergesOf(fx.repo, id)).length, 1, `${id} merged once`);

    // A ticket holds its slot from its start until it tells the batch it ended (its workflow closes a moment later,
    // once the signal is delivered: the batch may start the next ticket meanwhile).
    const spans = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (id) => {
        const d = await ticketHandle(batchId, id).describe();
        const events = (await ticketHandle(batchId, id).fetchHistory()).events ?? [];
        const told = events.find((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'ticketEnded');
        assert.ok(told, `${id} told its batch it ended`);
        const ms = Number(told.eventTime?.seconds ?? 0) * 1000 + (told.eventTime?.nanos ?? 0) / 1e6;
        return { id, start: d.startTime.getTime(), end: ms };
      }),
    );
    const maxOverlap = Math.max(...spans.map((s) => spans.filter((o) => o.start <= s.start && o.end > s.start).length));
    assert.ok(maxOverlap <= 2, `at most 2 tickets ran at once, saw ${maxOverlap}`);
    const d = spans.find((s) => s.id === 'd') as (typeof spans)[number];
    for (const blocker of spans.filter((s) => s.id === 'a' || s.id === 'b')) assert.ok(d.start >= blocker.end, `d started after ${blocker.id} finished`);

    // Event-driven: the batch never waited on a timer; d's child was initiated in reaction to a child completion.
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    assert.equal(events.filter((e) => e.timerStartedEventAttributes).length, 0, 'the batch polls with no timer');
    const startOfD = events.findIndex((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === ticketWorkflowId(batchId, 'd'));
    const endsBefore = events.slice(0, startOfD).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'ticketEnded').length;
    assert.ok(endsBefore >= 2, 'd was scheduled only after its blockers reported their end');
  });

  it('starts features before chores and chores before refactors, whatever the tracker\'s order; its report counts failed attempts by cause (issue 28 items 6-7)', async () => {
    // The tracker lists them a, b, c (by file name): a refactor, a chore whose first attempt fails its gate, a feature.
    const fx = await setup([ticket('a', { kind: 'refactor' }), ticket('b', { kind: 'chore', size: 'S', attempts: [bad, { files: { 'b.txt': 'good' } }] }), ticket('c', { kind: 'feature' })]);
    const { handle, batchId } = await start(fx, { maxParallel: 1 });
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true);
    const started = await Promise.all(
      ['a', 'b', 'c'].map(async (id) => {
        const r = (await ticketHandle(batchId, id).result()) as TicketReport;
        return { id, at: r.phases[0].startedAt, ended: r.phases[r.phases.length - 1].startedAt };
      }),
    );
    started.sort((x, y) => x.at - y.at);
    assert.deepEqual(started.map((t) => t.id), ['c', 'b', 'a'], 'the feature first, then the chore, then the refactor');
    assert.ok(started[0].ended <= started[1].at && started[1].ended <= started[2].at, 'one at a time (maxParallel 1)');

    // `ratchet report --csv`: the finished batch's rows joined with the tickets' own results.
    const client = server.env().client;
    const rows = csvRecords(await joinTicketResults(client, await finishedReport(client, batchId)));
    const b = rows.find((r) => r.ticket === 'b');
    assert.deepEqual(
      [b?.kind, b?.size, b?.attempts, b?.attempts_failed_gates, b?.attempts_failed_agent, b?.attempts_failed_budget, b?.cost_usd],
      ['chore', 'S', '2', '1', '0', '', ''],
    );
    assert.deepEqual(rows.map((r) => [r.ticket, r.kind]), [['a', 'refactor'], ['b', 'chore'], ['c', 'feature']]);
    assert.ok(rows.every((r) => /^[0-9a-f]{40}$/.test(r.merge_commit) && /^\d+\.\d\d$/.test(r.agent_minutes)), JSON.stringify(rows));
  });

  it('answers status while it loads: state "loading", before any ticket or tracker is read', async () => {
    const fx = await setup([ticket('a')]);
    // A task queue whose only worker runs workflows: the batch's loadBatch activity waits there, so the batch stays
    // in its load for as long as the test looks.
    const taskQueue = uniqueId('loading');
    const worker = await createWorker({ connection: server.env().nativeConnection, taskQueue, role: 'workflows', workflowBundle: await workflowBundle(), shutdownGraceTimeMs: 1_000 });
    const batchId = uniqueId('b');
    await worker.runUntil(async () => {
      const handle = await server.env().client.workflow.start(batchWorkflow, { taskQueue, workflowId: batchWorkflowId(batchId), args: [fx.batch(batchId, { gates: [ownFileGate] })] });
      const status = await handle.query(batchStatusQuery);
      assert.deepEqual([status.batchId, status.state, status.tickets], [batchId, 'loading', []]);
      assert.equal(status.oracle.satisfied, false);
      await handle.terminate('the test looked at the load');
    });
  });

  it('continues as new mid-batch: tickets started by one run report their end to the next, and the batch finishes with one merge each', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const fx = await setup(ids.map((id, i) => ticket(id, { body: `the body of ${id}`, ...(i % 2 ? { dependsOn: [ids[i - 1]] } : {}) })));
    // 50 events: the load, the claim and a couple of tickets; every few tickets end in a run after the one that started them.
    const { handle, batchId } = await start(fx, { maxParallel: 2, continueAsNewAtEvents: 50 });
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ids);
    assert.deepEqual(report.tickets.map((t) => [t.ticketId, t.outcome, t.attempts]), ids.map((id) => [id, 'done', 1]));
    for (const id of ids) assert.equal((await mergesOf(fx.repo, id)).length, 1, `${id} merged once`);
    // How many runs depends on how the ticket's signals fell into the batch's workflow tasks (a busy machine batches
    // more of them into one task, so fewer events): at least one continue-as-new, and the last run completed.
    const runs = await waitUntil('the runs of the batch to be listed, the last one completed', async () => {
      const listed: string[] = [];
      for await (const w of server.env().client.workflow.list({ query: `WorkflowId = '${batchWorkflowId(batchId)}'` })) listed.push(w.status.name);
      if (listed.length < 2 || !listed.includes('COMPLETED')) throw new Error(`listed so far: ${listed.join(', ') || 'none'}`);
      return listed;
    });
    assert.equal(runs.filter((s) => s === 'CONTINUED_AS_NEW').length, runs.length - 1, `runs: ${runs.join(', ')}`);
    // The last run's history holds the end of the batch, not its beginning; every history stays small.
    const last = (await handle.fetchHistory()).events ?? [];
    assert.ok(last.length < 200, `the last run's history has ${last.length} events`);
    // What the last run was carried: the wire form, with every ticket as its graph node (no body, no probes).
    const wire = defaultPayloadConverter.fromPayload<CarryWire>(last[0].workflowExecutionStartedEventAttributes?.input?.payloads?.[1] as Payload);
    assert.equal(wire.v, 2);
    const carried = decodeCarry(wire);
    assert.ok(Object.keys(carried.evidence).length > 0, 'some tickets had ended before the last run');
    for (const t of carried.loaded.tickets) assert.deepEqual(Object.keys(t).sort(), ['dependsOn', 'id', 'kind', 'state', 'title']);
    // Each ticket started from its graph node with its probes as frozen at load, and read itself whole from the
    // tracker with its first write: its plan had the tracker's body.
    const frozen = carried.loaded.definitionOfDone?.ticketProbes ?? {};
    for (const id of ids) {
      const history = await ticketHandle(batchId, id).fetchHistory();
      const input = defaultPayloadConverter.fromPayload<TicketInput>(history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0] as Payload);
      assert.equal(input.readSelf, true);
      assert.ok(frozen[id]?.length, `${id} has frozen probes`);
      assert.deepEqual(input.ticket.probes, frozen[id]);
      const planned = scheduledInput<{ ticket: Ticket }>(history, 'plan').ticket;
      assert.equal(planned.body, `the body of ${id}`);
      assert.deepEqual(planned.probes, frozen[id]);
    }
    // The status query pages: a page of tickets with the total, or the active ones and what ended after a cursor,
    // in the order they ended, carried across runs.
    const page = await handle.query(batchStatusQuery, { from: 2, limit: 3 });
    assert.deepEqual(page.tickets.map((t) => t.id), ['c', 'd', 'e']);
    assert.equal(page.ticketCount, 6);
    assert.deepEqual(page.counts, { done: 6 });
    assert.equal(page.report, undefined, 'a page leaves the report to the result');
    assert.equal((await handle.query(batchStatusQuery)).report?.tickets.length, 6, 'an answer listing every ticket carries the report');
    const active = await handle.query(batchStatusQuery, { tickets: 'active', endedFrom: 4 });
    assert.equal(active.endedCount, 6);
    assert.deepEqual(active.tickets, []);
    assert.equal(active.report, undefined, 'the active view leaves the report to the result');
    assert.equal(active.ended?.length, 2);
    assert.deepEqual(new Set((await handle.query(batchStatusQuery, { tickets: 'active' })).ended?.map((e) => e.ticketId)), new Set(ids));
    assert.deepEqual(active.ended?.map((e) => e.outcome), ['done', 'done']);
    // The tracker's claim is released when the batch finishes: a new batch over the same tickets starts at once.
    const again = await start(fx, { maxParallel: 2 });
    assert.equal((await again.handle.result()).oracle.satisfied, true);
  });

  it('takes three attempts when the gate fails twice and then passes, feeding each failure into the next prompt', async () => {
    const fx = await setup([ticket('x', { attempts: [{ files: { 'x.txt': 'bad' } }, { files: { 'x.txt': 'still bad' } }, { files: { 'x.txt': 'good' } }] })]);
    const { handle, batchId } = await start(fx);
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true);
    const x = report.tickets[0];
    assert.equal(x.outcome, 'done');
    assert.equal(x.attempts, 3);
    assert.equal((await mergesOf(fx.repo, 'x')).length, 1);
    const prompt3 = await readFile(path.join(fx.repo, '.ratchet/artifacts', batchId, 'x', 'attempt-3', 'prompt.md'), 'utf8');
    assert.match(prompt3, /Attempt 2: gate "own file" \(exit 1\) failed/);
    // The timeline (what `ratchet watch` prints from; in the ticket workflow's result, not the batch's rows) gives
    // each span its own attempt, and a failed span its reason.
    assert.equal(x.phases, undefined, 'the run report carries no timelines');
    const { phases } = (await ticketHandle(batchId, 'x').result()) as TicketReport;
    const validates = phases.filter((s) => s.phase === 'validate');
    assert.deepEqual(validates.map((s) => s.attempt), [1, 2, 3]);
    assert.match(validates[0].note ?? '', /^Attempt 1: gate "own file" \(exit 1\) failed/);
    assert.equal(validates[2].note, 'gates passed');
    assert.equal((await new LocalTracker(path.join(fx.repo, '.ratchet/tickets')).get('x'))?.state, 'done');
  });

  it('parks a ticket whose gate always fails at the human gate; approve grants a round, reject records human-gated and the oracle accepts it', async () => {
    const fx = await setup([ticket('x', { attempts: [bad] }), ticket('y', { dependsOn: ['x'] })]);
    const { handle, batchId } = await start(fx, { maxAttempts: 2 });

    await waitForGate(batchId, 'x', 'attempts-exhausted', 2);
    const tracker = new LocalTracker(path.join(fx.repo, '.ratchet/tickets'));
    assert.equal((await tracker.get('x'))?.state, 'awaiting-human');
    const status = await waitUntil('the batch status to show x at its gate', async () => {
      const st = await handle.query(batchStatusQuery);
      return st.tickets.find((t) => t.id === 'x')?.waitingFor === 'attempts-exhausted' ? st : undefined;
    });
    assert.equal(status.oracle.satisfied, false);

    const answer = await ticketHandle(batchId, 'x').executeUpdate(approveUpdate, { args: [{ by: 'alice', comment: 'try again' }] });
    assert.deepEqual(answer, { ticketId: 'x', gate: 'attempts-exhausted', decision: 'approve' });
    await waitUntil('x to leave the gate in the tracker', async () => (await tracker.get('x'))?.state === 'in-progress');
    await waitForGate(batchId, 'x', 'attempts-exhausted', 4);
    await ticketHandle(batchId, 'x').executeUpdate(rejectUpdate, { args: [{ by: 'bob' }] });

    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.humanGated.sort(), ['x', 'y']);
    assert.equal(report.interventions.total, 2);
    assert.deepEqual(report.interventions.byKind, { approve: 1, reject: 1 });
    assert.deepEqual(
      report.interventions.list.map((i) => [i.kind, i.by, i.gate]),
      [
        ['approve', 'alice', 'attempts-exhausted'],
        ['reject', 'bob', 'attempts-exhausted'],
      ],
    );
    assert.equal((await tracker.get('x'))?.state, 'human-gated');
    assert.equal((await tracker.get('y'))?.state, 'human-gated');
    assert.match(report.tickets.find((t) => t.ticketId === 'y')?.reason ?? '', /blocked by human-gated ticket x/);
    assert.deepEqual(await mergesOf(fx.repo, 'x'), []);
  });

  it('records a ticket human-gated when its gate gets no answer in time, keeps waiting at gates told to, and shows how long each waits', async () => {
    const fx = await setup([ticket('x', { attempts: [bad] }), ticket('p', { gate: 'plan' })]);
    const { handle, batchId } = await start(fx, { maxAttempts: 1, humanGates: { timeoutMs: 2_000, keepWaiting: ['plan'] } });

    // The batch's own status is fresh: p's phase and its wait come from p's progress signals, no re-read needed.
    const status = await waitUntil('x recorded human-gated and p waiting at its plan gate', async () => {
      const s = await handle.query(batchStatusQuery);
      const p = s.tickets.find((t) => t.id === 'p');
      return s.tickets.find((t) => t.id === 'x')?.evidence?.outcome === 'human-gated' && p?.waitingFor === 'plan' ? s : undefined;
    });
    const p = status.tickets.find((t) => t.id === 'p');
    assert.equal(p?.phase, 'human-gate');
    assert.equal(p?.state, 'awaiting-human');
    assert.ok(typeof p?.waitingSince === 'number' && p.waitingSince <= Date.now(), 'the status says since when p waits');
    assert.match(formatStatus(status, (p?.waitingSince ?? 0) + 75_000), /^p\s+awaiting-human\s+-\s+human-gate\s+plan \(1m15s\)/m);
    // Well past the gate timeout, p's plan gate still waits (keepWaiting).
    await waitUntil('p to have waited past the gate timeout, still at its gate', async () => {
      const s = await ticketHandle(batchId, 'p').query(statusQuery);
      const since = (await handle.query(batchStatusQuery)).tickets.find((t) => t.id === 'p')?.waitingSince ?? Date.now();
      assert.equal(s.waitingFor, 'plan', 'p still waits');
      return Date.now() - since > 3_000;
    });

    await ticketHandle(batchId, 'p').executeUpdate(approveUpdate, { args: [{ by: 'ana' }] });
    // The batch's status counts the approve while the batch still runs; the expiry is not one.
    const counted = await waitUntil('the batch status to count the approve', async () => {
      const s = await handle.query(batchStatusQuery);
      return s.interventions.total > 0 ? s : undefined;
    });
    assert.match(formatStatus(counted), /^Interventions so far: 1 \(approve 1\)$/m);
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    const x = report.tickets.find((t) => t.ticketId === 'x');
    assert.equal(x?.outcome, 'human-gated');
    assert.match(x?.reason ?? '', /^no answer in 2\.0s at the attempts-exhausted gate/);
    assert.deepEqual(report.interventions.list.map((i) => [i.kind, i.ticketId]), [['approve', 'p']], 'an expiry is not an intervention');
    assert.equal((await new LocalTracker(path.join(fx.repo, '.ratchet/tickets')).get('x'))?.state, 'human-gated');
  });

  it('rejects approve at the wrong time with a message saying what the ticket is doing', async () => {
    const fx = await setup([ticket('h')]);
    const marker = fx.marker('holding');
    await fx.script({ h: [{ holdOnce: marker, holdMs: 4_000, files: { 'h.txt': 'good' } }] });
    // The agent holds for longer than the heartbeat timeout: heartbeats must keep that single run alive.
    const { handle, batchId } = await start(fx, { heartbeatTimeoutMs: 1_500 });
    await waitUntil('the agent to be holding in implement', async () => existsSync(marker));

    await assert.rejects(ticketHandle(batchId, 'h').executeUpdate(approveUpdate, { args: [{ by: 'eve' }] }), (err: unknown) => {
      assert.ok(err instanceof WorkflowUpdateFailedError);
      assert.match(String((err.cause as Error).message), /ticket h is not waiting at a human gate: it is in phase implement \(attempt 1/);
      return true;
    });
    await assert.rejects(ticketHandle(batchId, 'h').executeUpdate(approveUpdate, { args: [{ by: '' }] }), WorkflowUpdateFailedError);
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.equal(report.interventions.total, 0);
    const transcript = await readFile(path.join(fx.repo, '.ratchet/artifacts', batchId, 'h', 'attempt-1', 'transcript.log'), 'utf8');
    assert.equal(transcript.match(/^=== \$ /gm)?.length, 1, 'the agent ran once: no heartbeat time-out retried it');
  });

  it('keeps the oracle unsatisfied while a merged ticket fails verify-live', async () => {
    const fx = await setup([ticket('v', { probes: [{ name: 'never there', command: 'test -f never.txt' }] })]);
    const { handle, batchId } = await start(fx, { verify: { deadlineMs: 1_500, intervalMs: 300 } });
    const s = await waitForGate(batchId, 'v', 'verify-live-failed');
    assert.match(s.waitingReason ?? '', /never there: exit 1/);

    assert.equal((await mergesOf(fx.repo, 'v')).length, 1, 'the branch is merged');
    const status = await waitUntil('the batch to read v\'s tracker state', async () => {
      const st = await handle.query(batchStatusQuery);
      return st.oracle.pending[0]?.state === 'awaiting-human' ? st : undefined;
    });
    assert.equal(status.oracle.satisfied, false);
    assert.deepEqual(status.oracle.pending, [{ id: 'v', state: 'awaiting-human' }]);
    assert.deepEqual(await handle.describe().then((d) => d.status.name), 'RUNNING');

    await ticketHandle(batchId, 'v').executeUpdate(rejectUpdate, { args: [{ by: 'carol', comment: 'service never came up' }] });
    const report = await handle.result();
    assert.deepEqual(report.oracle.humanGated, ['v']);
    assert.match(report.tickets[0].reason ?? '', /verify-live failed/);
  });

  it('accepts a plan through the approve signal, for fire-and-forget clients', async () => {
    const fx = await setup([ticket('p', { gate: 'plan' })]);
    const { handle, batchId } = await start(fx);
    const s = await waitForGate(batchId, 'p', 'plan');
    assert.match(s.waitingReason ?? '', /plan ready for review: .*plan\.md/);
    await ticketHandle(batchId, 'p').signal(approveSignal, { by: 'dana' });

    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.interventions.list.map((i) => [i.kind, i.by, i.gate]), [['approve', 'dana', 'plan']]);
    assert.equal(report.tickets[0].attempts, 1);
  });

  it('pauses scheduling behind the circuit breaker until the batch gets resume', async () => {
    const fx = await setup([ticket('a', { attempts: [bad] }), ticket('b'), ticket('c')]);
    // b takes its time, so it still runs (holding the one slot) when the breaker trips.
    await fx.script({ b: [{ holdOnce: fx.marker('b-held'), holdMs: 15_000, files: { 'b.txt': 'good' } }] });
    const { handle, batchId } = await start(fx, { maxParallel: 1, maxAttempts: 1, circuitBreaker: 1 });
    await waitForGate(batchId, 'a', 'attempts-exhausted');
    // A ticket waiting for a person holds no slot: at maxParallel 1, b starts meanwhile.
    await waitUntil('b to start while a waits', async () => (await handle.query(batchStatusQuery)).tickets.find((t) => t.id === 'b')?.running === true);
    await assert.rejects(handle.executeUpdate(resumeUpdate, { args: [{ by: 'ops' }] }), (err: unknown) => {
      assert.ok(err instanceof WorkflowUpdateFailedError);
      assert.match(String((err.cause as Error).message), /is running, not paused; resume is accepted only while/);
      return true;
    });
    await ticketHandle(batchId, 'a').executeUpdate(rejectUpdate, { args: [{ by: 'erin' }] });

    const paused = await waitUntil('the batch to pause', async () => {
      const st = await handle.query(batchStatusQuery);
      return st.state === 'paused' ? st : undefined;
    });
    assert.match(paused.pausedReason ?? '', /circuit breaker: 1 tickets in a row ended without done.*send the batch "resume" \(update or signal\)/);
    assert.deepEqual(paused.tickets.map((t) => [t.id, t.state, t.running]), [
      ['a', 'human-gated', false],
      ['b', 'in-progress', true],
      ['c', 'todo', false],
    ]);

    assert.deepEqual(await handle.executeUpdate(resumeUpdate, { args: [{ by: 'ops', comment: 'a was a bad ticket' }] }), { batchId, state: 'running' });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ['b', 'c']);
    assert.deepEqual(report.interventions.byKind, { reject: 1, resume: 1 });
  });

  it('refuses a second batch over a tracker a running batch holds, and lets the next one in once it is done', async () => {
    const fx = await setup([ticket('a', { gate: 'plan' })]);
    const first = await start(fx);
    await waitForGate(first.batchId, 'a', 'plan');
    const second = await start(fx);
    await assert.rejects(second.handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String(err.cause?.message), /the tracker .*\.ratchet\/tickets is held by another running batch \(claim workflow claim-[0-9a-f]+;/);
      return true;
    });
    await ticketHandle(first.batchId, 'a').executeUpdate(approveUpdate, { args: [{ by: 'ann' }] });
    assert.equal((await first.handle.result()).oracle.satisfied, true);
    assert.equal((await mergesOf(fx.repo, 'a')).length, 1);

    const third = await start(fx);
    const report = await third.handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.match(report.tickets[0].reason ?? '', /the tracker said done.* when the batch loaded/);
    assert.equal((await mergesOf(fx.repo, 'a')).length, 1, 'never merged twice');
  });

  describe('rejects bad input before any ticket starts', () => {
    const cases: [string, FixtureTicket[], (fx: Fixture) => Partial<BatchFile>, RegExp][] = [
      ['duplicate ids', [ticket('a')], () => ({ tickets: ['a', 'a'] }), /duplicate ticket id "a"/],
      ['an unknown dependency', [ticket('a', { dependsOn: ['ghost'] })], () => ({}), /ticket "a" field "dependsOn" names unknown ticket "ghost"/],
      ['a cycle, naming it', [ticket('a', { dependsOn: ['b'] }), ticket('b', { dependsOn: ['a'] })], () => ({}), /dependency cycle a -> b -> a/],
      ['a bad id', [ticket('a')], () => ({ batchId: 'bad id!' }), /field "batchId" is "bad id!": must match/],
      ['a missing repository', [ticket('a')], (fx) => ({ repo: path.join(fx.dir, 'nowhere') }), /field "repo" is ".*nowhere"/],
      ['a folder that is not a git repository', [ticket('a')], (fx) => ({ repo: fx.dir }), /not a git repository/],
      ['a config field of the wrong type', [ticket('a')], () => ({ maxParallel: 'two' as unknown as number }), /field "maxParallel" is "two": expected number/],
      [
        'a batch whose state would not fit a payload once its tickets have ended, naming its size',
        Array.from({ length: 16_000 }, (_, i) => ticket(`t${i}`, { probes: [] })),
        () => ({ probes: [{ name: 'up', command: 'true' }] }),
        /a batch of 16000 tickets carries ~\d+ bytes into its next run once they have all ended, over the 1700000-byte limit .*fix: split the batch/,
      ],
    ];
    for (const [name, tickets, overrides, message] of cases) {
      it(`rejects ${name}`, async () => {
        const fx = await setup(tickets);
        const { handle } = await start(fx, overrides(fx));
        await assert.rejects(handle.result(), (err: unknown) => {
          assert.ok(err instanceof WorkflowFailedError);
          assert.match(String(err.cause?.message), message);
          return true;
        });
        const tracker = new LocalTracker(path.join(fx.repo, '.ratchet/tickets'));
        for (const t of tickets) assert.equal((await tracker.get(t.id))?.state, 'todo', `${t.id} was never started`);
      });
    }
  });
});
