/**
 * The batch's agent breaker (workflows/batch/agent-breaker.ts), without a server: how an agent run's failure is
 * normalized, how runs failing the same way are counted across tickets, what reopens the tap, the canary, and the
 * schedule's part (pause, resume, start, carry).
 */
import assert from 'node:assert/strict';
import { AgentBreaker, agentFailure, maskLine, type AgentRunReport } from '../../workflows/batch/agent-breaker';
import { BatchSchedule } from '../../workflows/batch/schedule';
import { decodeCarry, encodeCarry } from '../../workflows/carry';
import type { BatchConfig, LoadedBatch, TicketNode } from '../../workflows/types';

const run = (summary: string, exitCode: number | null = 1, timedOut = false) => ({ exitCode, timedOut, summary });
const KEY = 'Error: 401 invalid x-api-key';
const failed = (ticketId: string, seq = 1, line = KEY): AgentRunReport => ({
  ticketId,
  seq,
  attempt: seq,
  outcome: 'failed',
  failure: agentFailure(run(`working on it\n${line}\n`), ticketId),
  ack: true,
});
const ok = (ticketId: string, seq = 1, ack = false): AgentRunReport => ({ ticketId, seq, attempt: seq, outcome: 'ok', ...(ack ? { ack } : {}) });
const waiting = (ticketId: string, seq = 1): AgentRunReport => ({ ticketId, seq, attempt: seq, outcome: 'waiting' });

describe('agent breaker: an agent run\'s failure, normalized', () => {
  it('is no failure when the agent exited 0 within its time', () => {
    assert.equal(agentFailure(run('Error: 401 invalid x-api-key', 0)), undefined);
  });

  it('tells the classes apart: command not found, authentication, quota or rate limit, time-out', () => {
    assert.equal(agentFailure(run('sh: 1: claude: not found', 127))?.key, 'not-found');
    assert.equal(agentFailure(run('spawn codex ENOENT', 1))?.key, 'not-found');
    assert.equal(agentFailure(run('Invalid API key · Please run /login'))?.key, 'auth');
    assert.equal(agentFailure(run('ERROR: stream error: 401 Unauthorized'))?.key, 'auth');
    assert.equal(agentFailure(run('Error: 429 Too Many Requests'))?.key, 'quota');
    assert.equal(agentFailure(run('Your credit balance is too low to access the API'))?.key, 'quota');
    assert.equal(agentFailure(run('rate limit reached for requests'))?.key, 'quota');
    assert.equal(agentFailure(run('still thinking', null, true))?.key, 'timed-out');
    assert.equal(agentFailure(run(KEY))?.text, 'authentication refused ("Error: 401 invalid x-api-key")');
  });

  it('keys any other failure by its first error line, numbers, hex, paths and the ticket id masked', () => {
    const a = agentFailure(run('[ratchet] a note of ours\nreading files\nTypeError: cannot read /home/u/wt/b1-a/src/x.ts line 12 (0x1f)\nat foo\n'), 'a');
    const b = agentFailure(run('TypeError: cannot read /home/u/wt/b1-b/src/y.ts line 40 (0x2e)\n'), 'b');
    assert.equal(a?.key, b?.key);
    assert.equal(a?.key, 'line:TypeError: cannot read <path> line <n> (<hex>)');
    assert.notEqual(agentFailure(run('TypeError: x is undefined'))?.key, a?.key);
    assert.equal(maskLine('failed for ticket t-7 after 3 tries', 't-7'), 'failed for ticket <ticket> after <n> tries');
    assert.equal(agentFailure(run('', 3))?.key, 'exit:3', 'no output: the exit code');
    assert.equal(agentFailure(run('done, but exiting with a status\n'))?.key, 'line:done, but exiting with a status', 'no error line: the last line');
  });
});

describe('agent breaker: counting and the tap', () => {
  const all = new Set(['a', 'b', 'c', 'd']);

  it('closes the tap after sameFailure runs failing the same way on distinct tickets, telling every running ticket why', () => {
    const br = new AgentBreaker(undefined, 3);
    br.report(failed('a', 1), all);
    br.report(failed('a', 2), all);
    br.report(failed('b', 1), all);
    assert.equal(br.state, 'open', 'a failing twice is one ticket: two tickets so far');
    assert.deepEqual(br.take().map((m) => [m.to, m.open, m.ack]), [['a', true, 2], ['b', true, 1]], 'failed runs are answered: the tap is open');
    br.report(failed('c', 1), all);
    assert.equal(br.state, 'tripped');
    assert.equal(br.startable(), 0, 'no ticket starts');
    assert.match(br.reason(), /^agents stopped: 4 runs failed with authentication refused \("Error: 401 invalid x-api-key"\) on tickets a, b, c; fix the cause, then send the batch "resume"/);
    const told = br.take();
    assert.deepEqual(told.map((m) => [m.to, m.open, m.ack ?? 0]).sort(), [['a', false, 0], ['b', false, 0], ['c', false, 1], ['d', false, 0]]);
    assert.ok(told.every((m) => m.v === 1 && /^agents stopped/.test(m.reason ?? '')));
  });

  it('starts counting again after a run that did not fail, or one that failed another way', () => {
    const br = new AgentBreaker(undefined, 3);
    br.report(failed('a'), all);
    br.report(failed('b'), all);
    br.report(ok('d'), all);
    br.report(failed('c'), all);
    assert.equal(br.state, 'open', 'd got through: a and b no longer count');
    br.report(failed('a', 2, 'fatal: repository not found at /srv/x'), all);
    br.report(failed('b', 2), all);
    assert.equal(br.state, 'open', 'another reason broke the row');
    br.report(failed('c', 2), all);
    br.report(failed('d', 2), all);
    assert.equal(br.state, 'tripped');
  });

  it('after resume lets one canary run: a waiting ticket first; its run getting past the failure reopens the tap for all', () => {
    const br = new AgentBreaker(undefined, 2);
    br.report(failed('a'), all);
    br.report(failed('b'), all);
    br.take();
    br.report(waiting('b', 2), all);
    br.report(waiting('a', 2), all);
    assert.deepEqual(br.take(), [], 'waiting at a tripped tap: nothing to say yet');
    br.resume();
    assert.equal(br.state, 'canary');
    assert.equal(br.startable(), 0, 'b waits: it is the canary, no ticket starts');
    assert.deepEqual(br.take().map((m) => [m.to, m.open, m.canary]), [['b', false, true]]);
    br.report(failed('c', 1), all);
    assert.equal(br.state, 'canary', 'another ticket\'s run (started before the trip) decides nothing');
    br.report(ok('b', 3, true), all);
    assert.equal(br.state, 'open');
    assert.equal(br.startable(), Infinity);
    assert.deepEqual(br.take().map((m) => [m.to, m.open, m.ack ?? 0]).sort(), [['a', true, 0], ['b', true, 3], ['c', true, 1], ['d', true, 0]]);
  });

  it('closes the tap again, with the count, when the canary fails the same way; another failure reopens it', () => {
    const br = new AgentBreaker(undefined, 2);
    br.report(failed('a'), all);
    br.report(failed('b'), all);
    br.resume();
    assert.equal(br.startable(), 1, 'nobody waits: one ticket may start, as the canary');
    assert.equal(br.starting('c'), true);
    assert.equal(br.starting('d'), false, 'one canary');
    assert.equal(br.startable(), 0);
    br.report(failed('c'), all);
    assert.equal(br.state, 'tripped');
    assert.equal(br.c.trips, 2);
    assert.match(br.reason(), /^agents stopped: 3 runs failed with authentication refused .* on tickets a, b, c;/);
    br.resume();
    br.report(waiting('d'), all);
    assert.equal(br.c.canary, 'd', 'the first to come to the tap is the canary');
    br.report(failed('d', 2, 'Error: ENOSPC no space left on device'), all);
    assert.equal(br.state, 'open', 'd got past the authentication failure');
    assert.equal(br.c.streak?.failure.key, 'line:Error: ENOSPC no space left on device', 'its own failure starts a new row');
  });

  it('hands the canary to the next waiting ticket when the canary ends before its run', () => {
    const br = new AgentBreaker(undefined, 1);
    br.report(failed('a'), all);
    br.report(waiting('b'), all);
    br.report(waiting('c'), all);
    br.resume();
    assert.equal(br.c.canary, 'b');
    br.take();
    br.ended('b');
    assert.equal(br.c.canary, 'c');
    assert.deepEqual(br.take().map((m) => [m.to, m.canary]), [['c', true]]);
  });
});

describe('agent breaker in the batch schedule', () => {
  const config = { batchId: 'b1', maxParallel: 2, circuitBreaker: 9, breaker: { sameFailure: 2 }, discovery: { maxPerBatch: 10, maxPerTicket: 3 }, probes: [] } as unknown as BatchConfig;
  const node = (id: string): TicketNode => ({ id, title: `Ticket ${id}`, dependsOn: [], state: 'todo' });
  const loaded = (ids: string[]): LoadedBatch => ({ config: { ...config }, tickets: ids.map(node), doneFingerprint: 'f'.repeat(64), trackerKey: 'k' });

  it('pauses with the reason, starts one canary ticket after resume, carries the breaker across continue-as-new', () => {
    const s = BatchSchedule.loaded(loaded(['a', 'b', 'c', 'd']), 0);
    s.orderByKind = () => false;
    for (const id of s.ready()) s.start(id, 1);
    s.onAgentRun(failed('a'));
    s.onAgentRun(failed('zz'));
    assert.equal(s.agents.state, 'open', 'a ticket not running is not counted');
    s.onAgentRun(failed('b'));
    assert.equal(s.dirty, true);
    s.pauseIfNeeded();
    assert.equal(s.state, 'paused');
    assert.equal(s.pausedBy, 'agent-breaker');
    assert.match(s.pausedReason ?? '', /^agents stopped: 2 runs failed with authentication refused/);
    assert.match(s.details(), /\*\*agents stopped: 2 runs failed/);
    assert.equal(s.status().agents?.state, 'tripped');
    s.onEnded({ ticketId: 'a', report: { ticketId: 'a', outcome: 'human-gated', attempts: 1 } }, 5);
    s.onEnded({ ticketId: 'b', report: { ticketId: 'b', outcome: 'human-gated', attempts: 1 } }, 5);

    const again = new BatchSchedule(decodeCarry(encodeCarry(s.snapshot())));
    again.orderByKind = () => false;
    assert.equal(again.agents.state, 'tripped', 'carried');
    assert.deepEqual(again.agents.c.streak?.tickets, ['a', 'b']);
    again.resume({ by: 'ops' }, 10);
    assert.equal(again.agents.state, 'canary');
    assert.deepEqual(again.ready(), ['c'], 'one canary starts');
    assert.equal(again.start('c', 11).input.agentTap, 'canary');
    assert.deepEqual(again.ready(), [], 'the rest wait for the canary');
    assert.match(again.details(), /agents: canary: ticket c runs its agent first/);
    again.onAgentRun(ok('c', 1, true));
    assert.equal(again.agents.state, 'open');
    assert.deepEqual(again.ready(), ['d']);
    assert.equal(again.start('d', 12).input.agentTap, undefined);
  });
});
