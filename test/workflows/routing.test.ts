/**
 * Agent profiles, routes and typed plans on the real dev server (issue 28 items 2 and 3): one profile plans, another
 * implements an `S` plan, which the transcripts' commands show; a size the route leaves out falls back to `default`
 * and says so in the status and the report; an `XL` plan is not implemented: it is split as an epic is decomposed
 * (its decomposer reads the plan), and the ticket is done when its sub-ticket is.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { demoAgentCommand } from '../../activities/agents/demo-agent-command';
import { csvRecords, joinTicketResults } from '../../client/report';
import { batchWorkflow } from '../../workflows';
import { approveUpdate, batchWorkflowId, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
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

  it('plans with one profile and implements an S plan with another, falls back by name for M, and splits an XL plan as an epic is decomposed', async () => {
    const fx = server.track(await makeRepo([{ id: 'small' }, { id: 'mid' }, { id: 'huge' }]));
    // The scripted agent answers typed plans of each size.
    const script = parse(await readFile(fx.scriptPath, 'utf8')) as { tickets: Record<string, { plan: unknown }> };
    script.tickets.small.plan = typedPlan('S');
    script.tickets.mid.plan = typedPlan('M');
    script.tickets.huge.plan = typedPlan('XL');
    // The split: one sub-ticket with a probe of its own, which the scripted agent implements.
    const probe = { name: 'p1 there', command: 'test -f huge-p1.txt' };
    const part = { id: 'p1', title: 'The first part of huge', body: 'Write the first part.', acceptance: ['the part is there'], kind: 'feature', size: 'S', dependsOn: [], paths: ['huge-p1.txt'], probes: [probe] };
    (script.tickets as Record<string, unknown>).huge = { ...script.tickets.huge, decompositions: [{ tickets: [part] }] };
    (script.tickets as Record<string, unknown>)['huge-p1'] = { plan: typedPlan('S'), attempts: [{ files: { 'huge-p1.txt': 'good' } }] };
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

    // The XL plan is split as an epic is decomposed: it waits at the decomposition gate, with its size and the
    // profile that planned it, and nothing implemented.
    const huge = client.workflow.getHandle(ticketWorkflowId(batchId, 'huge'));
    const waiting = await waitUntil(
      'ticket huge at the decomposition gate',
      async () => {
        const st = await huge.query(statusQuery).catch(() => undefined);
        return st?.waitingFor === 'decomposition' ? st : undefined;
      },
      { timeoutMs: 120_000 },
    );
    assert.match(waiting.waitingReason ?? '', /decomposition 1 proposes 1 sub-ticket/);
    assert.equal(waiting.planSize, 'XL');
    assert.ok(!waiting.timeline.some((s) => s.phase === 'implement'), 'nothing was implemented');
    // The decomposer read why it splits: the plan and its size.
    const prompt = await readFile(path.join(fx.repo, '.ratchet', 'artifacts', batchId, 'huge', 'decompose-1', 'prompt.md'), 'utf8');
    assert.match(prompt, /sizes this ticket XL, and XL plans are split: split it into sub-tickets/);
    await huge.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });

    const report = await handle.result();
    assert.deepEqual([...report.oracle.done].sort(), ['huge', 'huge-p1', 'mid', 'small'], JSON.stringify([report.oracle, report.tickets.map((t) => [t.ticketId, t.reason])]));
    assert.equal((await mergesOf(fx.repo, 'huge-p1')).length, 1);
    assert.equal((await mergesOf(fx.repo, 'huge')).length, 0, 'the split ticket itself merges nothing');
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
