/**
 * `ratchet report` (client/report.ts): the CSV a team budgets with (rows, columns, quoting, unknown as empty), and the
 * refusal of a batch that does not exist or still runs, without a server (a client that answers as Temporal would).
 */
import assert from 'node:assert/strict';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { parse } from 'csv-parse/sync';
import { CSV_COLUMNS, csvRecords, finishedReport, joinTicketResults, reportCsv } from '../../client/report';
import { exitCodeFor, EXIT } from '../../client/errors';
import { BadInputError } from '../../workflows/errors';
import { failureCause, TicketRunState } from '../../workflows/ticket/state';
import type { RunReport, TicketReport, TicketRow } from '../../workflows/types';

const SHA = 'a'.repeat(40);

function report(tickets: TicketRow[]): RunReport {
  return {
    batchId: 'b1',
    oracle: { satisfied: true, done: tickets.map((t) => t.ticketId), humanGated: [], pending: [] },
    tickets,
    interventions: { total: 0, byKind: {}, list: [] },
    trackerTampers: [],
    tamperingsCaught: [],
    discovered: [],
    heals: [],
    startedAt: 0,
    ms: 1000,
    doneFingerprint: 'f'.repeat(64),
  };
}

/** A client whose batch is `status` and whose ticket workflows returned `results` (by ticket id). */
function clientWith(status: string | 'missing', result?: RunReport, results: Record<string, TicketReport> = {}): Client {
  const getHandle = (workflowId: string) => ({
    describe: async () => {
      if (status === 'missing') throw new WorkflowNotFoundError('workflow not found', workflowId, undefined);
      return { status: { name: status } };
    },
    result: async () => {
      if (workflowId.startsWith('batch-')) return result;
      const r = results[workflowId.replace(/^ticket-b1-/, '')];
      if (!r) throw new WorkflowNotFoundError('workflow not found', workflowId, undefined);
      return r;
    },
  });
  return { workflow: { getHandle } } as unknown as Client;
}

describe('ratchet report', () => {
  const gated: TicketRow = {
    ticketId: 'login',
    outcome: 'done',
    attempts: 3,
    mergeCommit: SHA,
    failures: { gates: 1, 'semantic-conflict': 1 },
    interventions: [{ kind: 'approve', ticketId: 'login', gate: 'plan', by: 'ana', at: 1 }],
    title: 'Log in, with "remember me"\nand a second line',
    kind: 'bug',
    size: 'M',
    phaseMs: { plan: 60_000, implement: 90_000, validate: 30_000 },
    costUsd: 0.42,
    tokens: 12_345,
    planSize: 'M',
    profiles: { plan: { profile: 'strong' }, implement: { profile: 'default', fallback: 'routes.implement names no profile for size M (it names S); ran default' } },
    reviews: [
      { attempt: 2, profile: 'strong', verdict: 'BLOCK', findings: [{ file: 'a.js', what: 'x', why: 'y' }, { file: 'b.js', line: 3, what: 'z', why: 'w' }], resolved: true },
      { attempt: 3, profile: 'strong', verdict: 'ALLOW', findings: [] },
    ],
  };
  const older: TicketRow = { ticketId: 'old', outcome: 'done', attempts: 1, mergeCommit: SHA };
  const preexisting: TicketRow = { ticketId: 'pre', outcome: 'done', attempts: 0, reason: 'the tracker said done when the batch loaded' };

  it('writes one row per ticket under the documented columns, quoting commas, quotes and line breaks', () => {
    const csv = reportCsv(report([gated, older, preexisting]));
    const [header, ...rows] = parse(csv) as string[][];
    assert.deepEqual(header, [...CSV_COLUMNS]);
    for (const column of ['ticket', 'title', 'kind', 'size', 'outcome', 'attempts', 'cost_usd', 'tokens', 'agent_minutes', 'interventions', 'merge_commit']) {
      assert.ok(header.includes(column), column);
    }
    assert.equal(rows.length, 3);
    const login = Object.fromEntries(header.map((h, i) => [h, rows[0][i]]));
    assert.deepEqual(login, {
      ticket: 'login',
      title: 'Log in, with "remember me"\nand a second line',
      kind: 'bug',
      size: 'M',
      outcome: 'done',
      attempts: '3',
      attempts_failed_gates: '1',
      attempts_failed_semantic_conflict: '1',
      attempts_failed_conflict: '0',
      attempts_failed_agent: '0',
      attempts_failed_protected: '0',
      attempts_failed_harness: '0',
      attempts_failed_checks: '0',
      attempts_failed_review: '0',
      attempts_failed_other: '0',
      attempts_failed_budget: '',
      cost_usd: '0.42',
      cost_unknown_runs: '0',
      tokens: '12345',
      agent_minutes: '2.50',
      interventions: '1',
      merge_commit: SHA,
      plan_size: 'M',
      profile_plan: 'strong',
      profile_implement: 'default (fallback)',
      profile_review: '',
      profile_heal: '',
      profile_decompose: '',
      route_fallbacks: 'implement: routes.implement names no profile for size M (it names S); ran default',
      review_blocks: '1',
      review_findings: '2',
      review_findings_resolved: '2',
    });
    assert.ok(csv.includes('"Log in, with ""remember me""\nand a second line"'), 'RFC 4180 quoting');
  });

  it('leaves unknown cells empty, never 0: cost, tokens, time and causes a ticket\'s result did not record', () => {
    const [old, pre] = csvRecords(report([older, preexisting]));
    for (const column of ['title', 'kind', 'size', 'cost_usd', 'tokens', 'agent_minutes', 'attempts_failed_gates', 'attempts_failed_budget', 'plan_size', 'profile_plan', 'route_fallbacks', 'review_blocks']) {
      assert.equal(old[column], '', `${column} is unknown for a ticket whose result predates it`);
    }
    assert.equal(old.attempts, '1');
    assert.equal(old.interventions, '0');
    assert.equal(pre.attempts_failed_gates, '0', 'no attempt, nothing failed');
    assert.equal(pre.cost_usd, '', 'cost stays unknown');
    assert.equal(pre.merge_commit, '');
  });

  it('defuses a title that a spreadsheet would run as a formula', () => {
    const csv = reportCsv(report([{ ...older, title: '=HYPERLINK("http://x.example","click")' }]));
    const [, row] = parse(csv) as string[][];
    assert.equal(row[1], '\'=HYPERLINK("http://x.example","click")');
  });

  it('joins each row with its ticket workflow\'s result; rows whose result cannot be read stay as recorded', async () => {
    const result: TicketReport = {
      ticketId: 'old',
      title: 'Old ticket',
      outcome: 'done',
      attempts: 1,
      phases: [],
      phaseMs: { implement: 30_000 },
      interventions: [],
      tamperings: [],
      guardedBy: [],
      failures: {},
      kind: 'chore',
    };
    const joined = await joinTicketResults(clientWith('COMPLETED', undefined, { old: result }), report([older, preexisting]));
    const [old, pre] = csvRecords(joined);
    assert.equal(old.title, 'Old ticket');
    assert.equal(old.kind, 'chore');
    assert.equal(old.attempts_failed_agent, '0', 'its result says no attempt failed');
    assert.equal(old.agent_minutes, '0.50');
    assert.equal(pre.title, '');
  });

  it('refuses a batch that does not exist, naming it and the fix (exit 2)', async () => {
    await assert.rejects(finishedReport(clientWith('missing'), 'nope'), (e: unknown) => {
      assert.ok(e instanceof BadInputError);
      assert.equal(e.source, 'batch nope');
      assert.match(e.issues[0], /^no workflow batch-nope in this namespace; fix: check the id/);
      assert.equal(exitCodeFor(e), EXIT.BAD_INPUT);
      return true;
    });
  });

  it('refuses a batch that is still running: its report is not written yet; says how to wait or look', async () => {
    await assert.rejects(finishedReport(clientWith('RUNNING'), 'b1'), (e: unknown) => {
      assert.ok(e instanceof BadInputError);
      assert.equal(e.source, 'batch b1');
      assert.match(e.issues[0], /^workflow batch-b1 is still running, and a batch writes its report only when it finishes; fix: wait for it \(`ratchet watch b1`\)/);
      assert.equal(exitCodeFor(e), EXIT.BAD_INPUT);
      return true;
    });
  });

  it('gives a finished batch\'s result', async () => {
    const r = report([older]);
    assert.deepEqual(await finishedReport(clientWith('COMPLETED', r), 'b1'), r);
  });
});

describe('failed attempts by cause', () => {
  it('classifies every signature a failed attempt records', () => {
    const cases: [string, string][] = [
      ['gates: test; tests: ', 'gates'],
      ['semantic conflict: gates: test; tests: a', 'semantic-conflict'],
      ['conflict: src/a.ts', 'conflict'],
      ['conflict: pull request', 'conflict'],
      ['protected: Makefile', 'protected'],
      ['agent timed out', 'agent'],
      ['agent exited non-zero', 'agent'],
      ['agent changed nothing', 'agent'],
      ['harness error in implement', 'harness'],
      ['setup: npm ci', 'harness'],
      ['checks: ci/build', 'checks'],
      ['review 1234', 'review'],
      ['something new', 'other'],
    ];
    for (const [signature, cause] of cases) assert.equal(failureCause(signature), cause, signature);
  });

  it('counts each failed attempt in the ticket\'s report, and says {} when none failed', () => {
    const s = new TicketRunState(3, 'todo', 0);
    s.fail('gates: test; tests: ', 'red');
    s.fail('gates: lint; tests: ', 'red');
    s.fail('agent timed out', 'slow');
    s.enter('human-gated', 10);
    const r = s.report({ id: 't', title: 'T', kind: 'bug', size: 'S' }, 'human-gated', 'attempts exhausted');
    assert.deepEqual(r.failures, { gates: 2, agent: 1 });
    assert.equal(r.kind, 'bug');
    assert.equal(r.size, 'S');
    assert.deepEqual(new TicketRunState(3, 'todo', 0).report({ id: 'u', title: 'U' }, 'done', undefined).failures, {});
  });
});
