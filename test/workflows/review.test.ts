/**
 * The review before merge (issue 28 item 4) on the real dev server, real git and real reviewer processes: a reviewer
 * profile that blocks an attempt whose diff leaves a TODO behind costs that attempt, its finding is the next attempt's
 * feedback, and the next attempt's review allows it (the finding resolved); a reviewer that crashes goes to a person
 * at the review-infra gate after its retries, without costing an attempt.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { batchWorkflow } from '../../workflows';
import { approveUpdate, batchWorkflowId, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import { makeRepo } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

/** Blocks a diff that adds a TODO line, naming the file; allows anything else. Reads the diff in its prompt. */
const todoReviewer = [
  `if grep -q '^+TODO' "$RATCHET_PROMPT_FILE"; then`,
  `printf '%s' '{"verdict":"BLOCK","findings":[{"file":"x.txt","line":2,"what":"a TODO is left in","why":"the ticket asks for finished work"}]}' > "$RATCHET_RESULT_FILE";`,
  `else printf '%s' '{"verdict":"ALLOW"}' > "$RATCHET_RESULT_FILE"; fi`,
].join(' ');

describe('the review before merge on the real dev server', function () {
  this.timeout(240_000);
  const server = useServerAndWorker();
  const gate = { name: 'x is good', command: 'grep -q good x.txt' };
  const probes = [{ name: 'x on main', command: 'grep -q good x.txt' }];

  it('blocks an attempt with a finding, and the next attempt resolves it: two attempts, one merge, the finding resolved', async () => {
    const fx = server.track(await makeRepo([{ id: 'x', attempts: [{ files: { 'x.txt': 'good\nTODO\n' } }, { files: { 'x.txt': 'good\n' } }] }]));
    const batchId = uniqueId('rev');
    const input = fx.batch(batchId, {
      gates: [gate],
      probes,
      agents: { reviewer: { command: todoReviewer } },
      routes: { review: 'reviewer' },
      review: {},
    });
    const report = await server.env().client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] }).then((h) => h.result());

    assert.equal(report.oracle.satisfied, true, JSON.stringify(report.oracle));
    const [row] = report.tickets;
    assert.equal(row.attempts, 2);
    assert.deepEqual(row.failures, { review: 1 });
    assert.deepEqual(
      row.reviews?.map((r) => [r.attempt, r.profile, r.verdict, r.findings.map((f) => `${f.file}:${f.line}: ${f.what}`), r.resolved]),
      [
        [1, 'reviewer', 'BLOCK', ['x.txt:2: a TODO is left in'], true],
        [2, 'reviewer', 'ALLOW', [], undefined],
      ],
    );
    assert.equal((await simpleGit(fx.repo).show(['main:x.txt'])).trim(), 'good');
    // The second attempt's prompt carried the finding as feedback.
    const prompt = await readFile(path.join(fx.repo, '.ratchet/artifacts', batchId, 'x', 'attempt-2', 'prompt.md'), 'utf8');
    assert.match(prompt, /the reviewer \(reviewer\) blocked the merge[\s\S]*x\.txt:2: a TODO is left in/);
  });

  it('sends a reviewer that crashes to a person after its retries, without costing an attempt', async () => {
    const fx = server.track(await makeRepo([{ id: 'x', attempts: [{ files: { 'x.txt': 'good\n' } }] }]));
    const batchId = uniqueId('rev');
    const input = fx.batch(batchId, {
      gates: [gate],
      probes,
      agents: { reviewer: { command: 'echo "reviewer: API unreachable" >&2; exit 3' } },
      routes: { review: 'reviewer' },
      review: { retries: 1 },
    });
    const client = server.env().client;
    const handle = await client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    const x = client.workflow.getHandle(ticketWorkflowId(batchId, 'x'));
    const waiting = await waitUntil('x at the review-infra gate', async () => {
      const s = await x.query(statusQuery).catch(() => undefined);
      return s?.waitingFor === 'review-infra' ? s : undefined;
    });
    assert.match(waiting.waitingReason ?? '', /gave no verdict on attempt 1 after 2 tries: the reviewer exited 3: reviewer: API unreachable/);
    assert.equal(waiting.attempt, 1);
    await x.executeUpdate(approveUpdate, { args: [{ by: 'ana', comment: 'land it; the reviewer is down' }] });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.equal(report.tickets[0].attempts, 1);
    assert.equal(report.tickets[0].failures, undefined, 'no attempt failed');
    assert.deepEqual(report.tickets[0].reviews?.map((r) => r.verdict), ['none', 'none']);
  });
});
