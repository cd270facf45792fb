/**
 * A secret in `agent.env` is refused before anything copies it (issue 25 item 8): a batch started with the raw
 * workflow type, as `temporal workflow start --type batchWorkflow --input ...` does, fails in workflow code before any
 * activity is scheduled, naming the field, the kind of secret and the fix, never the value; `startBatch` (what
 * `ratchet start` calls) refuses it before starting any workflow.
 */
import assert from 'node:assert/strict';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { startBatch } from '../../client/start';
import { BadInputError } from '../../workflows/errors';
import { batchWorkflowId, TASK_QUEUE } from '../../workflows/messages';
import { makeRepo } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';

// A fake token in the shape GitHub issues (not a real one).
const TOKEN = `ghp_${'Zq7'.repeat(12)}`;

describe('a secret in agent.env is refused before anything copies it', function () {
  this.timeout(120_000);
  const server = useServerAndWorker();

  it('fails a batch started with the raw workflow type before scheduling any activity, naming the field and the fix, never the value', async () => {
    const fx = server.track(await makeRepo([{ id: 'a', probes: [{ command: 'true' }] }]));
    const batchId = uniqueId('secret');
    const input = fx.batch(batchId, { agent: { ...fx.batch(batchId).agent, env: { GITHUB_TOKEN: TOKEN, NOTE: `use ${TOKEN}` } } });
    const { client } = server.env();
    const handle = await client.workflow.start('batchWorkflow', { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });

    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError, String(err));
      const cause = err.cause;
      assert.ok(cause instanceof ApplicationFailure, String(cause));
      assert.equal(cause.type, 'BadInput');
      assert.equal(cause.nonRetryable, true);
      assert.match(cause.message, /field "agent\.env\.GITHUB_TOKEN" looks like a secret by its name.*fix: remove it from agent\.env, add "GITHUB_TOKEN" to agent\.envFrom/);
      assert.match(cause.message, /field "agent\.env\.NOTE" has a value that looks like a secret \(a GitHub token \(ghp_, gho_, ghs_, \.\.\.\); not shown here\).*add "NOTE" to agent\.envFrom/);
      assert.ok(!cause.message.includes(TOKEN), 'the refusal shows the token');
      return true;
    });

    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes);
    assert.deepEqual(scheduled.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name), [], 'no activity was scheduled');
    // The start event holds what the person sent; no event after it holds the token (nor its failure).
    const holding = events
      .filter((e) => Buffer.from(temporal.api.history.v1.HistoryEvent.encode(e).finish()).toString('latin1').includes(TOKEN))
      .map((e) => temporal.api.enums.v1.EventType[e.eventType ?? 0]);
    assert.deepEqual(holding, ['EVENT_TYPE_WORKFLOW_EXECUTION_STARTED']);
  });

  it('startBatch (ratchet start) refuses it before starting any workflow', async () => {
    const fx = server.track(await makeRepo([{ id: 'a', probes: [{ command: 'true' }] }]));
    const batchId = uniqueId('secret');
    const batch = fx.batch(batchId, { agent: { ...fx.batch(batchId).agent, env: { MODE: 'fast', NOTE: `use ${TOKEN}` } } });
    const { client } = server.env();
    await assert.rejects(startBatch(client, batch), (err: unknown) => {
      assert.ok(err instanceof BadInputError, String(err));
      assert.match(err.message, /field "agent\.env\.NOTE" has a value that looks like a secret \(a GitHub token.*not shown here\).*; fix: remove it from agent\.env, add "NOTE" to agent\.envFrom/);
      assert.ok(!err.message.includes(TOKEN), 'the refusal shows the token');
      return true;
    });
    await assert.rejects(client.workflow.getHandle(batchWorkflowId(batchId)).describe(), WorkflowNotFoundError);
  });
});
