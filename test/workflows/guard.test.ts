/**
 * Done tickets stay done (issue 26 items 4-5) on the real dev server, real git and real probe processes: after every
 * deploy the guard re-runs the probes of the tickets the batch already verified; a later ticket that switches off an
 * earlier ticket's route is caught, its merge reverted through the merge queue, the earlier probe passes again, and
 * the culprit lands later with both routes on. A guard probe that fails once and passes on its re-run reverts
 * nothing; a person may keep a merge within the veto window, and then main's health keeps the batch from finishing.
 */
import assert from 'node:assert/strict';
import { simpleGit } from 'simple-git';
import { batchWorkflow } from '../../workflows';
import { guardWorkflowId } from '../../workflows/guard/messages';
import { batchStatusQuery, batchWorkflowId, rejectUpdate, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import { makeRepo, mergesOf, type FixtureTicket } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

/** A route is on when `config/flags.json` says so: the probe reads the deployed checkout. */
const routeOn = (name: string) => [{ name: `route ${name} on`, command: `grep -q '"${name}": true' config/flags.json` }];

describe('the guard and revert on regression', function () {
  this.timeout(300_000);
  const server = useServerAndWorker();
  const client = () => server.env().client;

  /** `route-a` turns its flag on; `route-b` (after it) rewrites the flags with `bFlags` on its first attempt. */
  function routes(bFirst: string): FixtureTicket[] {
    return [
      { id: 'route-a', probes: routeOn('a'), attempts: [{ files: { 'config/flags.json': '{"a": true}\n' } }] },
      {
        id: 'route-b',
        dependsOn: ['route-a'],
        probes: routeOn('b'),
        attempts: [{ files: { 'config/flags.json': bFirst } }, { files: { 'config/flags.json': '{"a": true, "b": true}\n' } }],
      },
    ];
  }

  it('catches a later ticket switching off an earlier route after its deploy, reverts it, and lands it again with both routes on', async () => {
    const fx = server.track(await makeRepo(routes('{"b": true}\n')));
    const batchId = uniqueId('grd');
    const input = fx.batch(batchId, { deploy: { command: 'true' } });
    const report = await client().workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] }).then((h) => h.result());

    assert.equal(report.oracle.satisfied, true, JSON.stringify(report.oracle));
    assert.deepEqual(report.oracle.done.sort(), ['route-a', 'route-b']);
    // The regression: route-a's probe, broken by route-b's first landing.
    assert.equal(report.regressions?.length, 1, JSON.stringify(report.regressions));
    const [reg] = report.regressions ?? [];
    assert.deepEqual({ ticketId: reg.ticketId, probe: reg.probe, culprit: reg.culprit, suspects: reg.suspects }, { ticketId: 'route-a', probe: 'route a on', culprit: 'route-b', suspects: ['route-b'] });
    // Reverted through the queue, and route-a's probe passed again after the revert's deploy.
    assert.equal(report.reverts?.length, 1);
    const [rev] = report.reverts ?? [];
    assert.deepEqual({ ticketId: rev.ticketId, by: rev.by, restored: rev.restored }, { ticketId: 'route-b', by: 'auto', restored: true });
    assert.equal(report.tickets.find((t) => t.ticketId === 'route-b')?.attempts, 2);
    // main's first-parent line: a, b, the revert of b, b again; both routes on at the end.
    const subjects = (await simpleGit(fx.repo).raw(['log', '--first-parent', '--reverse', '--format=%s', 'main'])).split('\n').filter((l) => l.startsWith('ratchet: '));
    assert.deepEqual(
      subjects.map((l) => l.split(' ').slice(0, 3).join(' ')),
      ['ratchet: merge route-a', 'ratchet: merge route-b', 'ratchet: revert route-b', 'ratchet: merge route-b'],
    );
    assert.equal(subjects[2], `ratchet: revert route-b (${batchId}): ${rev.merge}`);
    assert.equal((await simpleGit(fx.repo).show(['main:config/flags.json'])).trim(), '{"a": true, "b": true}');
    // The oracle's evidence of main's health: the final round ran every done ticket's probes after the last landing.
    assert.deepEqual(report.mainHealth?.probes.sort(), ['route-a: route a on', 'route-b: route b on']);
    assert.equal(report.mainHealth?.commit, report.tickets.find((t) => t.ticketId === 'route-b')?.mergeCommit);
    // The guard ended with its batch's clean final round: no workflow left running for a batch that is over.
    await waitUntil('the guard completed', async () => (await client().workflow.getHandle(guardWorkflowId(batchId)).describe()).status.name === 'COMPLETED');
    // Main's first-parent line since the batch's first landing, each commit with its validation.
    assert.deepEqual(
      report.mainLine?.map((c) => [c.ticketId, c.validation]),
      [['route-a', 'its attempt'], ['route-b', 'its attempt'], ['route-b', 'revert'], ['route-b', 'its attempt']],
    );
  });

  it("reopens a culprit that already ended done when only the final round finds its regression: reverted, back to work, landed again", async () => {
    // One guard probe per deploy, rotating: after d's landing the cursor points past route-a, so route-b's round
    // checks c, not route-a, and route-b ends done; the final round finds route-a broken.
    const txt = (id: string) => ({ id, probes: [{ name: `${id} there`, command: `test -f ${id}.txt` }] });
    const [a, b] = routes('{"b": true}\n');
    const fx = server.track(await makeRepo([a, { ...txt('c'), dependsOn: ['route-a'] }, { ...txt('d'), dependsOn: ['c'] }, { ...b, dependsOn: ['d'] }]));
    const batchId = uniqueId('reo');
    const input = fx.batch(batchId, { deploy: { command: 'true' }, verify: { guard: 1 } });
    const report = await client().workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] }).then((h) => h.result());

    assert.equal(report.oracle.satisfied, true, JSON.stringify(report.oracle));
    assert.deepEqual(report.oracle.done.sort(), ['c', 'd', 'route-a', 'route-b']);
    assert.equal(report.interventions.total, 0, 'no person was needed');
    const [rev, ...more] = report.reverts ?? [];
    assert.equal(more.length, 0, JSON.stringify(report.reverts));
    assert.deepEqual({ ticketId: rev.ticketId, by: rev.by, restored: rev.restored }, { ticketId: 'route-b', by: 'auto', restored: true });
    assert.deepEqual(rev.regressions.map((r) => [r.ticketId, r.probe, r.culprit]), [['route-a', 'route a on', 'route-b']]);
    // The reopened run carried on from the first: attempt 2, both landings in its row.
    const rowB = report.tickets.find((t) => t.ticketId === 'route-b');
    assert.equal(rowB?.attempts, 2);
    assert.equal(rowB?.landings?.length, 2);
    const subjects = (await simpleGit(fx.repo).raw(['log', '--first-parent', '--reverse', '--format=%s', 'main'])).split('\n').filter((l) => l.startsWith('ratchet: '));
    assert.deepEqual(
      subjects.map((l) => l.split(' ').slice(0, 3).join(' ')),
      ['ratchet: merge route-a', 'ratchet: merge c', 'ratchet: merge d', 'ratchet: merge route-b', 'ratchet: revert route-b', 'ratchet: merge route-b'],
    );
    assert.equal((await simpleGit(fx.repo).show(['main:config/flags.json'])).trim(), '{"a": true, "b": true}');
    assert.deepEqual(report.mainHealth?.probes.sort(), ['c: c there', 'd: d there', 'route-a: route a on', 'route-b: route b on']);
    // route-b's ticket workflow ran twice under its id: done, then reopened by the batch.
    await waitUntil('two runs of route-b in visibility', async () => {
      const runs: string[] = [];
      for await (const w of client().workflow.list({ query: `WorkflowId = '${ticketWorkflowId(batchId, 'route-b')}'` })) runs.push(w.runId);
      return runs.length === 2 || undefined;
    });
  });

  it('re-runs a guard probe that fails once on the same deployment: recorded as flaky, nothing reverted', async () => {
    const fx = server.track(await makeRepo(routes('{"a": true, "b": true}\n')));
    const armed = fx.marker('armed');
    // route-b's agent arms a batch-level probe that fails once for route-a: in the guard round after b's deploy.
    await fx.script({ 'route-b': [{ run: `touch '${armed}'`, files: { 'config/flags.json': '{"a": true, "b": true}\n' } }] });
    const once = `[ "$RATCHET_TICKET_ID" != route-a ] || { if [ -e '${armed}' ]; then rm '${armed}'; exit 1; fi; }`;
    const batchId = uniqueId('flk');
    const input = fx.batch(batchId, { probes: [{ name: 'fails once when armed', command: once }] });
    const report = await client().workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] }).then((h) => h.result());

    assert.equal(report.oracle.satisfied, true, JSON.stringify(report.oracle));
    assert.equal(report.flaky?.length, 1, JSON.stringify(report.flaky));
    const [f] = report.flaky ?? [];
    assert.deepEqual({ ticketId: f.ticketId, probe: f.probe, seenAfter: f.seenAfter }, { ticketId: 'route-a', probe: 'fails once when armed', seenAfter: 'route-b' });
    assert.equal(report.regressions?.length ?? 0, 0);
    assert.equal(report.reverts?.length ?? 0, 0);
    assert.equal((await mergesOf(fx.repo, 'route-b')).length, 1);
  });

  it('waits out the veto window at the revert gate, where a person keeps the merge', async () => {
    const fx = server.track(await makeRepo(routes('{"b": true}\n')));
    const batchId = uniqueId('veto');
    const input = fx.batch(batchId, { revert: { mode: 'auto', maxPerBatch: 3, vetoMs: 120_000 } });
    const handle = await client().workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    const b = client().workflow.getHandle(ticketWorkflowId(batchId, 'route-b'));
    await waitUntil('route-b waits at the revert gate', async () => (await b.query(statusQuery).catch(() => undefined))?.waitingFor === 'revert', { timeoutMs: 120_000 });
    await b.executeUpdate(rejectUpdate, { args: [{ by: 'tester', comment: 'keep it: a is retired' }] });
    const done = await b.result();
    assert.equal(done.outcome, 'done');
    assert.equal(done.regressions?.length, 1);
    assert.equal(done.reverts, undefined, 'nothing reverted');
    assert.ok(done.interventions.some((i: { kind: string; gate?: string; by: string }) => i.kind === 'reject' && i.gate === 'revert' && i.by === 'tester'), JSON.stringify(done.interventions));
    assert.equal((await mergesOf(fx.repo, 'route-b')).length, 1);
    // Kept, route-a's probe still fails: the batch does not finish; its final guard round pauses it for a person.
    const paused = await waitUntil('the batch paused for main\'s health', async () => {
      const st = await handle.query(batchStatusQuery);
      return st.state === 'paused' && /main's health: route-a's probe "route a on" fails/.test(st.pausedReason ?? '') ? st : undefined;
    }, { timeoutMs: 60_000 });
    assert.match(paused.pausedReason ?? '', /first landing after it last passed: route-b/);
    await handle.cancel();
  });
});
