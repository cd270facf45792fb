/**
 * A ticket's budget (issue 28 item 5) on the real dev server with real agent processes that report their cost: once
 * its runs spent its budget.ticketUsd the ticket stops at the budget gate before its next attempt; a person's approve
 * grants another budget and it goes on; the report adds the cost up by role and profile.
 */
import assert from 'node:assert/strict';
import { batchWorkflow } from '../../workflows';
import { approveUpdate, batchStatusQuery, batchWorkflowId, resumeUpdate, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import { makeRepo } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

/** An agent whose implement runs report $0.04 and 1,000 tokens (its plan reports nothing), good work from attempt 3. */
const paidAgent =
  'if [ "$RATCHET_ROLE" = implement ]; then if [ "$RATCHET_ATTEMPT" -ge 3 ]; then echo good > x.txt; else echo bad > x.txt; fi; ' +
  `printf '%s' '{"costUsd":0.04,"tokens":1000}' > "$RATCHET_RESULT_FILE"; fi`;

/** An agent whose implement runs report $0.04 and write good work at once. */
const goodPaidAgent =
  'if [ "$RATCHET_ROLE" = implement ]; then echo good > "$RATCHET_TICKET_ID.txt"; ' + `printf '%s' '{"costUsd":0.04}' > "$RATCHET_RESULT_FILE"; fi`;

describe('budgets on the real dev server', function () {
  this.timeout(240_000);
  const server = useServerAndWorker();

  it('stops a ticket at its budget gate once its runs spent budget.ticketUsd; approve grants another budget', async () => {
    const fx = server.track(await makeRepo([{ id: 'x' }]));
    const batchId = uniqueId('bud');
    const input = fx.batch(batchId, {
      agent: { command: paidAgent },
      gates: [{ name: 'x is good', command: 'grep -q good x.txt' }],
      probes: [{ name: 'x on main', command: 'grep -q good x.txt' }],
      maxAttempts: 5,
      budget: { ticketUsd: 0.05 },
    });
    const client = server.env().client;
    const handle = await client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    const x = client.workflow.getHandle(ticketWorkflowId(batchId, 'x'));
    // attempt 1 ($0.04) is under $0.05, attempt 2 brings it to $0.08: no third attempt without a person.
    const waiting = await waitUntil('x at the budget gate', async () => {
      const s = await x.query(statusQuery).catch(() => undefined);
      return s?.waitingFor === 'budget' ? s : undefined;
    });
    assert.match(waiting.waitingReason ?? '', /^ticket x spent \$0\.08( and 1 run of unknown cost)? of its \$0\.05 budget \(budget\.ticketUsd 0\.05\) before implement attempt 3; approve grants another \$0\.05/);
    await x.executeUpdate(approveUpdate, { args: [{ by: 'ana', comment: 'one more try' }] });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    const [row] = report.tickets;
    assert.equal(row.attempts, 3);
    assert.deepEqual(report.interventions.byKind, { approve: 1 });
    assert.ok(row.costUsd !== undefined && row.costUsd >= 0.12, `cost adds up: ${row.costUsd}`);
    const result = (await x.result()) as { costs?: { role: string; runs: number; usd: number }[]; tokens?: number };
    const implement = result.costs?.find((c) => c.role === 'implement');
    assert.deepEqual([implement?.runs, implement?.usd.toFixed(2)], [3, '0.12']);
  });

  it('stops starting tickets once the ended ones spent budget.batchUsd; resume grants another budget and the rest run', async () => {
    const fx = server.track(await makeRepo([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['b'] }]));
    const batchId = uniqueId('bud');
    const own = 'grep -q good "$RATCHET_TICKET_ID.txt"';
    const input = fx.batch(batchId, {
      agent: { command: goodPaidAgent },
      gates: [{ name: 'own file good', command: own }],
      probes: [{ name: 'README on main', command: 'test -f README.md' }],
      budget: { batchUsd: 0.05 },
    });
    const client = server.env().client;
    const handle = await client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    // a ($0.04) leaves room for b; a and b ($0.08) leave none for c.
    const paused = await waitUntil('the batch paused at its budget gate', async () => {
      const st = await handle.query(batchStatusQuery);
      return st.state === 'paused' ? st : undefined;
    });
    assert.match(paused.pausedReason ?? '', /^budget: the batch's agents spent \$0\.08 of its \$0\.05 \(budget\.batchUsd 0\.05\)/);
    const c = await client.workflow.getHandle(ticketWorkflowId(batchId, 'c')).describe().catch(() => undefined);
    assert.equal(c, undefined, 'c was not started');
    await handle.executeUpdate(resumeUpdate, { args: [{ by: 'ana', comment: 'another budget' }] });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ['a', 'b', 'c']);
    assert.deepEqual(report.interventions.list.map((i) => [i.kind, i.gate, i.by]), [['resume', 'budget', 'ana']]);
  });
});
