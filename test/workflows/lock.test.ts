/**
 * The deployment-wide lock (workflows/lock.ts) on the real dev server: deploys to one target take turns through
 * `lock-<key>` whatever worker runs them (merges take turns in the merge queue, merge-queue.test.ts); a holder that never releases loses the lock after its
 * hold time; a requester that is gone is skipped.
 */
import assert from 'node:assert/strict';
import { batchWorkflow } from '../../workflows';
import { lockReleaseSignal, lockRequestSignal, lockStatusQuery, lockWorkflow, lockWorkflowId, type LockStatus } from '../../workflows/lock';
import { batchWorkflowId, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import { mergeQueueKey, mergeQueueWorkflowId, queueStatusQuery } from '../../workflows/merge-queue/messages';
import { makeRepo, mergesOf } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

const ownFileGate = { name: 'own file', command: 'test "$(cat "$RATCHET_TICKET_ID.txt" 2>/dev/null)" = good' };
const ownFileProbe = (id: string) => [{ name: `${id}.txt live`, command: `test "$(cat ${id}.txt)" = good` }];

describe('the deployment-wide lock', function () {
  this.timeout(180_000);
  const server = useServerAndWorker();
  const client = () => server.env().client;

  /** Starts an idle lock workflow to stand in for a requester: any running workflow can receive `lockGranted`. */
  async function requester(): Promise<string> {
    const key = uniqueId('idle');
    await client().workflow.start(lockWorkflow, { taskQueue: TASK_QUEUE, workflowId: lockWorkflowId(key), args: [{ key }] });
    return lockWorkflowId(key);
  }

  it('makes the deploys of tickets running at once take turns, one grant per deploy, and lands each merge once', async () => {
    const fx = server.track(await makeRepo(['a', 'b', 'c'].map((id) => ({ id, probes: ownFileProbe(id) }))));
    const batchId = uniqueId('lk');
    const input = fx.batch(batchId, { gates: [ownFileGate], maxParallel: 3, deploy: { command: 'sleep 0.3', target: `staging-${batchId}` } });
    const report = await client().workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] }).then((h) => h.result());
    assert.equal(report.oracle.satisfied, true);
    for (const id of ['a', 'b', 'c']) assert.equal((await mergesOf(fx.repo, id)).length, 1, `one merge of ${id}`);
    // Merges take turns in the merge queue (workflows/merge-queue.ts), which lands all three.
    const merges = await client().workflow.getHandle(mergeQueueWorkflowId(mergeQueueKey(fx.repo, 'main'))).query(queueStatusQuery);
    assert.deepEqual({ landed: merges.landed, line: merges.line, testing: merges.testing, semanticConflicts: merges.semanticConflicts }, { landed: 3, line: [], testing: [], semanticConflicts: 0 });
    const deploys = await client().workflow.getHandle(lockWorkflowId(`deploy:staging-${batchId}`)).query(lockStatusQuery);
    assert.equal(deploys.grants, 3);
    assert.equal(deploys.expired, 0);
    // One holder at a time: the deploy lock's history grants the next one only after the previous release.
    const history = await client().workflow.getHandle(lockWorkflowId(`deploy:staging-${batchId}`)).fetchHistory();
    const order = (history.events ?? []).flatMap((e) => {
      if (e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'lockGranted') return ['grant'];
      if (e.workflowExecutionSignaledEventAttributes?.signalName === 'lockRelease') return ['release'];
      return [];
    });
    assert.deepEqual(order, ['grant', 'release', 'grant', 'release', 'grant', 'release']);
  });

  it('releases a lock whose holder never releases it after its hold time, and skips a requester that is gone', async () => {
    const key = uniqueId('target');
    const lock = client().workflow.getHandle(lockWorkflowId(key));
    const [first, second] = [await requester(), await requester()];
    const request = (requesterId: string, requestId: string, holdMs: number) =>
      client().workflow.signalWithStart(lockWorkflow, {
        taskQueue: TASK_QUEUE,
        workflowId: lockWorkflowId(key),
        args: [{ key }],
        signal: lockRequestSignal,
        signalArgs: [{ requester: requesterId, requestId, holdMs, what: 'test' }],
      });
    await request(first, 'r1', 1_500);
    await request(`no-such-workflow-${key}`, 'r2', 60_000);
    await request(second, 'r3', 60_000);
    const holderIs = (id: string) => async (): Promise<LockStatus | undefined> => {
      const s = await lock.query(lockStatusQuery);
      return s.holder?.requestId === id ? s : undefined;
    };
    await waitUntil('r1 holds the lock', holderIs('r1'));
    // r1 never releases: after 1.5 s the lock moves on; r2's workflow does not exist, so r3 gets it.
    const s = await waitUntil('r3 holds the lock', holderIs('r3'), { timeoutMs: 30_000 });
    assert.equal(s.expired, 1);
    await lock.signal(lockReleaseSignal, { requestId: 'r3' });
    const free = await waitUntil('the lock is free', async () => {
      const now = await lock.query(lockStatusQuery);
      return now.holder === undefined ? now : undefined;
    });
    assert.deepEqual({ grants: free.grants, expired: free.expired, queue: free.queue }, { grants: 3, expired: 1, queue: [] });
  });

  it('is released at once when the tickets holding it and waiting for it are cancelled', async () => {
    const fx = server.track(await makeRepo(['a', 'b'].map((id) => ({ id, probes: ownFileProbe(id) }))));
    const batchId = uniqueId('lkc');
    const target = `staging-${batchId}`;
    const input = fx.batch(batchId, { gates: [ownFileGate], maxParallel: 2, deploy: { command: 'sleep 600', target } });
    const batch = await client().workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    const lock = client().workflow.getHandle(lockWorkflowId(`deploy:${target}`));
    const status = (): Promise<LockStatus | undefined> => lock.query(lockStatusQuery).catch(() => undefined);
    // One ticket deploys (holds the lock for up to three deploy time-outs), the other waits in line.
    const busy = await waitUntil('one holder and one in line', async () => {
      const s = await status();
      return s?.holder && s.queue.length === 1 ? s : undefined;
    }, { timeoutMs: 60_000 });
    // The one in line is cancelled first, and gives up its place; then the holder, which releases the lock. (Cancelled
    // together, the release could reach the lock first and be granted to the one in line: a grant it then returns.)
    const holder = busy.holder?.requester as string;
    const waiter = ticketWorkflowId(batchId, holder === ticketWorkflowId(batchId, 'a') ? 'b' : 'a');
    await client().workflow.getHandle(waiter).cancel();
    await waitUntil('the one in line gave up its place', async () => ((await status())?.queue.length === 0 ? true : undefined), { timeoutMs: 30_000 });
    await client().workflow.getHandle(holder).cancel();
    const free = await waitUntil('the lock is free and nobody waits', async () => {
      const s = await status();
      return s && !s.holder && s.queue.length === 0 ? s : undefined;
    }, { timeoutMs: 30_000 });
    // Released by the cancelled holder, not by its hold time; the one in line gave up its place without a grant.
    assert.deepEqual({ grants: free.grants, expired: free.expired }, { grants: 1, expired: 0 });
    assert.ok(busy.holder);
    await batch.cancel();
  });
});
