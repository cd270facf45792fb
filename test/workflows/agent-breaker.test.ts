/**
 * The batch's agent breaker (issue 27 item 6) on the real dev server, with a real agent process: agents failing the
 * same way on three tickets stop the batch's agents at a batch-level gate with the reason; after the cause is fixed,
 * `resume` lets one canary run go first, and the tap reopens for the rest only once it got past that failure.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatStatus } from '../../client/format';
import { batchWorkflow } from '../../workflows';
import { batchStatusQuery, batchWorkflowId, resumeUpdate, TASK_QUEUE } from '../../workflows/messages';
import { makeRepo, type FixtureTicket } from '../fixtures/repo';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

const ownFileGate = { name: 'own file', command: 'test "$(cat "$RATCHET_TICKET_ID.txt" 2>/dev/null)" = good' };
const ticket = (id: string): FixtureTicket => ({ id, probes: [{ name: `${id}.txt live`, command: `test "$(cat ${id}.txt)" = good` }] });

/**
 * The agent: logs each run's start (and a good run's end) to `runs.log`; while `broken` exists it fails as an agent
 * with a revoked key does (after the first three implement runs have all begun, so they fail together); while `hold`
 * exists an implement run waits for `go` first. All in `dir`, the one folder outside its worktree the box lets it see.
 */
function agentScript(dir: string): string {
  const f = (name: string) => path.join(dir, name);
  return [
    'set -u',
    `echo "start $RATCHET_TICKET_ID $RATCHET_ROLE $RATCHET_ATTEMPT" >> '${f('runs.log')}'`,
    `if [ -e '${f('broken')}' ]; then`,
    `  if [ "$RATCHET_ROLE" = implement ] && [ "$RATCHET_ATTEMPT" = 1 ]; then`,
    `    touch '${f('arrived-')}'"$RATCHET_TICKET_ID"`,
    `    while [ "$(ls '${dir}' | grep -c '^arrived-')" -lt 3 ]; do sleep 0.05; done`,
    '  fi',
    '  echo "Error: 401 invalid x-api-key" >&2',
    '  exit 1',
    'fi',
    'if [ "$RATCHET_ROLE" = plan ]; then echo "plan: write the file"; exit 0; fi',
    `if [ -e '${f('hold')}' ]; then while [ ! -e '${f('go')}' ]; do sleep 0.05; done; fi`,
    'echo good > "$RATCHET_TICKET_ID.txt"',
    `echo "ok $RATCHET_TICKET_ID" >> '${f('runs.log')}'`,
  ].join('\n');
}

describe('the agent breaker on the real dev server', function () {
  this.timeout(240_000);
  const server = useServerAndWorker();

  it('stops agents after three tickets fail the same way, and after resume runs one canary before the rest', async () => {
    const fx = server.track(await makeRepo(['a', 'b', 'c', 'd', 'e'].map(ticket)));
    const dir = path.dirname(fx.marker('x'));
    const log = path.join(dir, 'runs.log');
    await writeFile(path.join(dir, 'agent.sh'), agentScript(dir));
    await writeFile(path.join(dir, 'broken'), '');
    const batchId = uniqueId('brk');
    const input = fx.batch(batchId, {
      agent: { ...fx.batch(batchId).agent, command: `sh '${path.join(dir, 'agent.sh')}'` },
      gates: [ownFileGate],
      maxParallel: 3,
      maxAttempts: 5,
      circuitBreaker: 10,
      breaker: { sameFailure: 3 },
    });
    const handle = await server.env().client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    const runs = async (): Promise<string[]> => (existsSync(log) ? (await readFile(log, 'utf8')).trim().split('\n') : []);
    const implementRuns = async () => (await runs()).filter((l) => / implement /.test(l));

    // Three tickets' agents fail with the same revoked key: the batch stops at its gate, the three wait at the tap.
    const stopped = await waitUntil('the batch to stop its agents with all three running tickets waiting', async () => {
      const st = await handle.query(batchStatusQuery);
      return st.state === 'paused' && st.agents?.waiting.length === 3 ? st : undefined;
    });
    assert.match(stopped.pausedReason ?? '', /^agents stopped: [3-9] runs failed with authentication refused \("Error: 401 invalid x-api-key"\) on tickets [abc], [abc], [abc]; fix the cause, then send the batch "resume"/);
    assert.deepEqual(stopped.agents?.waiting.sort(), ['a', 'b', 'c']);
    assert.deepEqual(stopped.tickets.filter((t) => t.running).map((t) => t.id), ['a', 'b', 'c'], 'no fourth ticket started');
    const text = formatStatus(stopped);
    assert.match(text, /^Batch brk-[0-9a-f]+: paused \(agents stopped: \d runs failed with authentication refused/);
    assert.match(text, /Agents: agents stopped: .*; waiting at the tap: [abc], [abc], [abc]/);
    const details = (await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails ?? '';
    assert.match(details, /\*\*agents stopped: \d runs failed with authentication refused/);
    const before = await implementRuns();
    assert.ok(before.every((l) => !/ [de] /.test(l)), `no agent of d or e ran: ${before.join('; ')}`);

    // The cause is fixed; the canary's run is held until the test has looked.
    await rm(path.join(dir, 'broken'));
    await writeFile(path.join(dir, 'hold'), '');
    assert.deepEqual(await handle.executeUpdate(resumeUpdate, { args: [{ by: 'ops', comment: 'key rotated' }] }), { batchId, state: 'running' });
    const canary = await waitUntil('one canary run', async () => {
      const st = await handle.query(batchStatusQuery);
      const started = (await implementRuns()).length;
      return st.agents?.state === 'canary' && st.agents.canary && started === before.length + 1 ? st.agents.canary : undefined;
    });
    const during = await handle.query(batchStatusQuery);
    assert.deepEqual(during.agents?.waiting.sort(), ['a', 'b', 'c'].filter((t) => t !== canary), 'the other two still wait');
    assert.match(formatStatus(during), new RegExp(`Agents: canary: ticket ${canary} runs its agent first; the tap reopens once it gets past authentication refused`));
    assert.equal((await implementRuns()).length, before.length + 1, 'one agent run while the canary runs');
    await writeFile(path.join(dir, 'go'), '');

    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.oracle.done.sort(), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(report.interventions.byKind, { resume: 1 });
    assert.equal(report.interventions.list[0].gate, 'agent-breaker');
    // The canary's run ended well before any other agent ran after the resume.
    const after = (await runs()).slice((await runs()).indexOf(`start ${canary} implement ${before.filter((l) => l.includes(` ${canary} `)).length + 1}`));
    assert.match(after[0], new RegExp(`^start ${canary} implement`));
    assert.equal(after[1], `ok ${canary}`, `the canary's run ended before the next began: ${after.slice(0, 4).join('; ')}`);
    const final = await handle.query(batchStatusQuery);
    assert.equal(final.agents?.state, 'open');
    assert.equal(final.agents?.trips, 1);
  });
});
