/**
 * Epics on the real dev server (issue 28 item 1, docs/epics.md): a scripted agent decomposes an epic into four
 * sub-tickets; its first answer, with a cycle and a sub-ticket nothing executable checks, is refused by name in the
 * feedback of the second run; a person approves the corrected answer with a JSON patch that renames one; the four are
 * filed into the running batch, run and land, and the epic is done once the tracker says they all are.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { LocalTracker } from '../../activities/tracker/local';
import { batchWorkflow } from '../../workflows';
import { proposalLines } from '../../client/status';
import { approveUpdate, batchStatusQuery, batchWorkflowId, rejectUpdate, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import type { RunReport, TicketReport } from '../../workflows/types';
import { makeRepo, mergesOf } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

const ownFileGate = { name: 'own file', command: 'test "$(cat "$RATCHET_TICKET_ID.txt" 2>/dev/null)" = good', tests: ['tests/*.test.sh'] };
const readme = { name: 'readme', command: 'test -f README.md' };

/** A sub-ticket as the scripted decompose agent answers it. */
const sub = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  title: `Greet in way ${id}`,
  body: `The ${id} greeting.`,
  acceptance: [`greeting ${id} is there`],
  kind: 'feature',
  size: 'S',
  dependsOn: [] as string[],
  paths: [`ep-${id}.txt`],
  ...extra,
});

describe('epics on the real dev server', function () {
  this.timeout(300_000);
  const server = useServerAndWorker();

  it('decomposes an epic, refuses a cyclic and unchecked answer by name, files the approved and edited sub-tickets and is done when they are', async () => {
    const fx = server.track(await makeRepo([{ id: 'ep', kind: 'epic', title: 'Greet people in four ways', body: 'Greet in four ways, in order.', probes: [readme] }]));
    const good = (id: string) => [{ files: { [`${id}.txt`]: 'good' } }];
    await fx.script({ 'ep-a': good('ep-a'), 'ep-b': good('ep-b'), 'ep-c': [{ files: { 'ep-c.txt': 'good', 'tests/c.test.sh': 'true\n' } }], 'ep-d': good('ep-d') });
    // The answers: first a cycle (a -> d -> b -> a) and c with no check; then the corrected four.
    const first = [sub('a', { dependsOn: ['d'], probes: ['readme'] }), sub('b', { dependsOn: ['a'], probes: [{ name: 'b live', command: 'test "$(cat ep-b.txt)" = good' }] }), sub('c', { dependsOn: ['a'] }), sub('d', { dependsOn: ['b', 'c'], probes: ['readme'] })];
    const second = [sub('a', { probes: ['readme'] }), first[1], sub('c', { dependsOn: ['a'], paths: ['ep-c.txt', 'tests/c.test.sh'] }), first[3]];
    const script = parse(await readFile(fx.scriptPath, 'utf8')) as { tickets: Record<string, Record<string, unknown>> };
    script.tickets.ep = { decompositions: [{ tickets: first }, { tickets: second }] };
    await writeFile(fx.scriptPath, stringify(script));

    const batchId = uniqueId('epic');
    const client = server.env().client;
    const input = fx.batch(batchId, { gates: [ownFileGate], probes: [readme] });
    const handle = await client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    const epic = client.workflow.getHandle(ticketWorkflowId(batchId, 'ep'));

    const waiting = await waitUntil('the epic at its decomposition gate', async () => {
      const st = await epic.query(statusQuery).catch(() => undefined);
      return st?.waitingFor === 'decomposition' ? st : undefined;
    });
    // The second run's prompt carried the first answer's problems, each by name.
    const prompt = await readFile(path.join(fx.repo, '.ratchet', 'artifacts', batchId, 'ep', 'decompose-2', 'prompt.md'), 'utf8');
    assert.match(prompt, /Decomposition 1 was refused; nothing was filed/);
    assert.match(prompt, /dependency cycle "a" -> "d" -> "b" -> "a"/);
    assert.match(prompt, /sub-ticket "c" \("Greet in way c"\): it has no executable acceptance check/);
    // The gate shows the four and their graph.
    assert.match(waiting.waitingReason ?? '', /decomposition 2 proposes 4 sub-tickets/);
    assert.match(waiting.waitingReason ?? '', /\| ep-c \| Greet in way c \| feature \| S \| ep-a \| gate own file runs tests\/c.test.sh \|/);
    assert.match(waiting.waitingReason ?? '', /graph: ep-a -> ep-b, ep-a -> ep-c, ep-b -> ep-d, ep-c -> ep-d/);
    assert.deepEqual(
      waiting.timeline.filter((p) => p.phase === 'decompose').map((p) => p.note),
      ['decomposition 1 refused: 2 problem(s)', undefined],
    );

    // The Web UI's details list them too.
    const details = (await epic.query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails ?? '';
    assert.match(details, /#### Decomposition 2: proposed sub-tickets/);
    assert.match(details, /\| ep-d \| Greet in way d \| feature \| S \| ep-b, ep-c \| probes readme \|/);
    // `ratchet status` prints the proposal under the batch's table.
    const printed = (await proposalLines(client, await handle.query(batchStatusQuery))).join('\n');
    assert.match(printed, /^Epic ep at its decomposition gate:\n {2}decomposition 2 proposes 4 sub-tickets/);
    assert.match(printed, /\| ep-b \| Greet in way b \| feature \| S \| ep-a \| probes b live \|/);

    // Approve with an edit: the second sub-ticket's title.
    await epic.executeUpdate(approveUpdate, { args: [{ by: 'ana', patch: [{ op: 'replace', path: '/1/title', value: 'Greet in French' }] }] });

    const report = (await handle.result()) as RunReport;
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual([...report.oracle.done].sort(), ['ep', 'ep-a', 'ep-b', 'ep-c', 'ep-d']);
    const epicReport = (await epic.result()) as TicketReport;
    assert.equal(epicReport.outcome, 'done');
    assert.deepEqual(epicReport.subTickets, ['ep-a', 'ep-b', 'ep-c', 'ep-d']);
    assert.deepEqual(epicReport.profiles?.decompose, { profile: 'default' }, 'no route names one: the batch\'s agent decomposes');
    assert.deepEqual(epicReport.interventions.map((i) => [i.kind, i.gate, i.by]), [['approve', 'decomposition', 'ana']]);
    // Filed as approved and edited, with their edges; each landed on main.
    const tracker = new LocalTracker(path.join(fx.repo, '.ratchet', 'tickets'));
    const filed = new Map((await tracker.list()).map((t) => [t.id, t]));
    assert.equal(filed.get('ep-b')?.title, 'Greet in French');
    assert.deepEqual(filed.get('ep-d')?.dependsOn, ['ep-b', 'ep-c']);
    assert.equal(filed.get('ep')?.state, 'done');
    for (const id of ['ep-a', 'ep-b', 'ep-c', 'ep-d']) {
      assert.equal(filed.get(id)?.state, 'done', id);
      assert.equal((await mergesOf(fx.repo, id)).length, 1, `${id} landed once`);
    }
    assert.equal((await mergesOf(fx.repo, 'ep')).length, 0, 'the epic itself merges nothing');
    assert.deepEqual(
      report.discovered.map((d) => [d.ticketId, d.status, d.blocks]),
      ['ep-a', 'ep-b', 'ep-c', 'ep-d'].map((id) => [id, 'filed', ['ep']]),
    );
  });

  it('decomposes again with a person\'s reject as feedback, refuses an edit that makes a cycle, and ends human-gated naming a sub-ticket that ended so', async () => {
    const fx = server.track(await makeRepo([{ id: 'ep', kind: 'epic', title: 'Two greetings' }]));
    // ep-2's only attempt fails the gate (maxAttempts 1), and a person rejects it at its attempts-exhausted gate.
    await fx.script({ 'ep-1': [{ files: { 'ep-1.txt': 'good', 'tests/one.test.sh': 'true\n' } }], 'ep-2': [{ files: { 'ep-2.txt': 'bad', 'tests/two.test.sh': 'true\n' } }] });
    const two = (n: number) => [sub('1', { paths: ['tests/one.test.sh'], title: `One (${n})` }), sub('2', { dependsOn: [], paths: ['tests/two.test.sh'], title: `Two (${n})` })];
    const script = parse(await readFile(fx.scriptPath, 'utf8')) as { tickets: Record<string, Record<string, unknown>> };
    script.tickets.ep = { decompositions: [{ tickets: two(1) }, { tickets: two(2) }] };
    await writeFile(fx.scriptPath, stringify(script));

    const batchId = uniqueId('epic');
    const client = server.env().client;
    const input = fx.batch(batchId, { gates: [ownFileGate], probes: [readme], maxAttempts: 1 });
    const handle = await client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    const ticket = (id: string) => client.workflow.getHandle(ticketWorkflowId(batchId, id));
    const atGate = (id: string, gate: string) =>
      waitUntil(`${id} at its ${gate} gate`, async () => ((await ticket(id).query(statusQuery).catch(() => undefined))?.waitingFor === gate ? true : undefined));

    await atGate('ep', 'decomposition');
    await ticket('ep').executeUpdate(rejectUpdate, { args: [{ by: 'ana', comment: 'name them by language' }] });
    await waitUntil('decomposition 2 at the gate', async () => /decomposition 2 proposes/.test((await ticket('ep').query(statusQuery)).waitingReason ?? '') || undefined);
    const prompt = await readFile(path.join(fx.repo, '.ratchet', 'artifacts', batchId, 'ep', 'decompose-2', 'prompt.md'), 'utf8');
    assert.match(prompt, /A person \(ana\) rejected decomposition 1: name them by language/);
    // An edit that makes a cycle is checked again and not applied: the gate opens again, naming why.
    const cyclic = [{ op: 'add', path: '/0/dependsOn/-', value: '2' }, { op: 'add', path: '/1/dependsOn/-', value: '1' }];
    await ticket('ep').executeUpdate(approveUpdate, { args: [{ by: 'ana', patch: cyclic }] });
    const reopened = await waitUntil('the gate open again', async () => {
      const st = await ticket('ep').query(statusQuery);
      return st.waitingFor === 'decomposition' && /not applied/.test(st.waitingReason ?? '') ? st : undefined;
    });
    assert.match(reopened.waitingReason ?? '', /the edit by ana was not applied, it leaves problems: dependency cycle "1" -> "2" -> "1"/);
    await ticket('ep').executeUpdate(approveUpdate, { args: [{ by: 'ana' }] });

    await atGate('ep-2', 'attempts-exhausted');
    await ticket('ep-2').executeUpdate(rejectUpdate, { args: [{ by: 'ana', comment: 'not now' }] });
    const report = (await handle.result()) as RunReport;
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done, ['ep-1']);
    assert.deepEqual([...report.oracle.humanGated].sort(), ['ep', 'ep-2']);
    const epic = (await ticket('ep').result()) as TicketReport;
    assert.equal(epic.outcome, 'human-gated');
    assert.equal(epic.reason, 'sub-ticket ep-2 ended human-gated');
    assert.deepEqual(epic.interventions.map((i) => [i.kind, i.gate]), [['reject', 'decomposition'], ['approve', 'decomposition'], ['approve', 'decomposition']]);
  });
});
