/**
 * Agent profiles, routes and typed plans on the real dev server (issue 28 items 2 and 3): one profile plans, another
 * implements an `S` plan, which the transcripts' commands show; a size the route leaves out falls back to `default`
 * and says so in the status and the report; an `XL` plan is not implemented but stops at the `split` gate.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { demoAgentCommand } from '../../activities/agents/demo-agent-command';
import { csvRecords, joinTicketResults } from '../../client/report';
import { batchWorkflow } from '../../workflows';
import { batchWorkflowId, rejectUpdate, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import type { TicketReport } from '../../workflows/types';
import { makeRepo, mergesOf } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

/** A typed plan of `size` (docs/agents.md "Typed plans"). */
const typedPlan = (size: string) => ({
  summary: `write the file (${size})`,
  steps: ['write <id>.txt with "good"'],
  files: ['<id>.txt'],
  risks: [],
  size,
  sizeReason: `scripted ${size}`,
  tests: [],
});

describe('agent profiles and routes on the real dev server', function () {
  this.timeout(240_000);
  const server = useServerAndWorker();

  it('plans with one profile and implements an S plan with another, falls back by name for M, and stops an XL plan at the split gate', async () => {
    const fx = server.track(await makeRepo([{ id: 'small' }, { id: 'mid' }, { id: 'huge' }]));
    // The scripted agent answers typed plans of each size.
    const script = parse(await readFile(fx.scriptPath, 'utf8')) as { tickets: Record<string, { plan: unknown }> };
    script.tickets.small.plan = typedPlan('S');
    script.tickets.mid.plan = typedPlan('M');
    script.tickets.huge.plan = typedPlan('XL');
    await writeFile(fx.scriptPath, stringify(script));
    const demo = demoAgentCommand(fx.scriptPath);
    const markers = path.dirname(fx.marker('x'));
    const batchId = uniqueId('routes');
    const input = fx.batch(batchId, {
      agents: {
        strong: { command: `PROFILE_TAG=strong-model ${demo}`, cacheDirs: [markers] },
        cheap: { command: `PROFILE_TAG=cheap-model ${demo}`, cacheDirs: [markers] },
      },
      routes: { plan: 'strong', implement: { S: 'cheap', L: 'strong' } },
      probes: [{ name: 'README on main', command: 'test -f README.md' }],
      maxParallel: 3,
    });
    const client = server.env().client;
    const handle = await client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });

    // The XL plan waits at the split gate, naming why, with its size and the profile that planned it.
    const huge = client.workflow.getHandle(ticketWorkflowId(batchId, 'huge'));
    const waiting = await waitUntil(
      'ticket huge at the split gate',
      async () => {
        const st = await huge.query(statusQuery).catch(() => undefined);
        return st?.waitingFor === 'split' ? st : undefined;
      },
      { timeoutMs: 120_000 },
    );
    assert.match(waiting.waitingReason ?? '', /^the plan asks for a split: size XL, and XL plans are split/);
    assert.equal(waiting.planSize, 'XL');
    assert.deepEqual(waiting.profiles, { plan: { profile: 'strong' } });
    assert.ok(!waiting.timeline.some((s) => s.phase === 'implement'), 'nothing was implemented');
    await huge.executeUpdate(rejectUpdate, { args: [{ by: 'alice', comment: 'split it' }] });

    const report = await handle.result();
    assert.deepEqual([...report.oracle.done].sort(), ['mid', 'small']);
    assert.deepEqual(report.oracle.humanGated, ['huge']);
    assert.equal((await mergesOf(fx.repo, 'small')).length, 1);

    // The transcripts name the profile and show the command that ran.
    const artifacts = path.join(fx.repo, '.ratchet', 'artifacts', batchId);
    const planLog = await readFile(path.join(artifacts, 'small', 'plan', 'transcript.log'), 'utf8');
    assert.match(planLog, /^=== profile strong, role plan\n/);
    assert.match(planLog, /\$ PROFILE_TAG=strong-model /);
    const implLog = await readFile(path.join(artifacts, 'small', 'attempt-1', 'transcript.log'), 'utf8');
    assert.match(implLog, /^=== profile cheap, role implement\n/);
    assert.match(implLog, /\$ PROFILE_TAG=cheap-model /);
    const midLog = await readFile(path.join(artifacts, 'mid', 'attempt-1', 'transcript.log'), 'utf8');
    assert.match(midLog, /^=== profile default, role implement\n/);

    // The ticket's report: the plan's size and the profile per role; M fell back to default, saying so.
    const small = (await client.workflow.getHandle(ticketWorkflowId(batchId, 'small')).result()) as TicketReport;
    assert.equal(small.planSize, 'S');
    assert.deepEqual(small.profiles, { plan: { profile: 'strong' }, implement: { profile: 'cheap' } });
    const mid = (await client.workflow.getHandle(ticketWorkflowId(batchId, 'mid')).result()) as TicketReport;
    assert.deepEqual(mid.profiles?.implement, { profile: 'default', fallback: 'routes.implement names no profile for size M (it names S, L); ran default' });

    // And the CSV a team reads.
    const rows = Object.fromEntries(csvRecords(await joinTicketResults(client, report)).map((r) => [r.ticket, r]));
    assert.equal(rows.small.plan_size, 'S');
    assert.equal(rows.small.profile_plan, 'strong');
    assert.equal(rows.small.profile_implement, 'cheap');
    assert.equal(rows.mid.profile_implement, 'default (fallback)');
    assert.match(rows.mid.route_fallbacks, /implement: routes.implement names no profile for size M/);
    assert.equal(rows.huge.plan_size, 'XL');
    assert.equal(rows.huge.profile_implement, '');
  });
});
