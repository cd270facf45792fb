/**
 * A watch into work (issue 27 items 3 and 4), the pure parts: the fix caps' rules, the watch file's `batch` section
 * validated as the batch file it becomes, the intake batch's file and request, and the ticket body's bisect lines.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { BadInputError } from '../../workflows/errors';
import { discoverRequestToWork } from '../../workflows/discovery';
import { batchFileSchema } from '../../workflows/input';
import { FixCaps, type FixSlotAsk } from '../../workflows/watch/caps';
import { detectedTicket } from '../../workflows/watch/detected';
import { toWatchConfig } from '../../workflows/watch/input';
import { intakeBatchFile, intakeRequest } from '../../workflows/watch/intake';
import type { SignatureStatus } from '../../workflows/watch/messages';
import { bisectFailure, forAgents } from '../../workflows/watch/signature-intake';

const HOUR = 3600_000;
const ask = (n: number, runId: string, at = 0): FixSlotAsk => ({ signature: `s${n}`, workflowId: `signature-w-s${n}`, runId, at });
const caps = (perRun = 5, perHour = 10) => new FixCaps({ maxFixesPerRun: perRun, maxFixesPerHour: perHour, grants: [], perRun: [], waiting: [] });

describe('the fix caps', () => {
  it('hands at most maxFixesPerRun of one run over; the rest wait, and a later run that sees them hands them over', () => {
    const c = caps();
    for (let n = 1; n <= 6; n++) c.ask(ask(n, 'r1'));
    assert.deepEqual(c.pump(1_000).map((a) => a.signature), ['s1', 's2', 's3', 's4', 's5']);
    assert.deepEqual(c.status(1_000).waiting.map((w) => [w.signature, w.why.split(' handed')[0]]), [['s6', 'maxFixesPerRun 5']]);
    assert.deepEqual(c.pump(2_000), [], 'nothing frees a run\'s cap but a later run');
    c.ask(ask(6, 'r2', 3_000));
    assert.deepEqual(c.pump(3_000).map((a) => [a.signature, a.runId]), [['s6', 'r2']]);
    assert.equal(c.status(3_000).waiting.length, 0);
  });

  it('hands at most maxFixesPerHour over in an hour, and says when the next slot frees', () => {
    const c = caps(5, 3);
    for (let n = 1; n <= 2; n++) c.ask(ask(n, 'r1'));
    assert.equal(c.pump(0).length, 2);
    for (let n = 3; n <= 4; n++) c.ask(ask(n, 'r2'));
    assert.deepEqual(c.pump(10 * 60_000).map((a) => a.signature), ['s3']);
    assert.match(c.status(10 * 60_000).waiting[0].why, /maxFixesPerHour 3/);
    assert.equal(c.nextFreeMs(10 * 60_000), HOUR - 10 * 60_000 + 1, 'when the first grant is an hour old');
    assert.deepEqual(c.pump(HOUR + 1).map((a) => a.signature), ['s4']);
  });

  it('keeps one place per signature: asking again only moves it to the later run', () => {
    const c = caps(1, 10);
    c.ask(ask(1, 'r1'));
    c.ask(ask(2, 'r1'));
    c.pump(0);
    c.ask(ask(2, 'r1'));
    assert.equal(c.state.waiting.length, 1);
    c.ask(ask(2, 'r2'));
    assert.deepEqual(c.state.waiting.map((w) => w.runId), ['r2']);
  });
});

describe("a watch file's intake batch", () => {
  const base = { watchId: 'nightly', repo: '/abs/repo', everyMs: 3_600_000, checks: [{ name: 'unit', command: 'npm test' }] };

  it('validates "batch" as the batch file it becomes, naming each field under batch.', () => {
    const refusal = (batch: unknown) => {
      try {
        toWatchConfig({ ...base, batch }, path.resolve, 'watch.json');
      } catch (err) {
        assert.ok(err instanceof BadInputError);
        return err.message;
      }
      assert.fail('not refused');
    };
    assert.match(refusal({ gates: [] }), /field "batch.agent" is missing: every batch needs the agent/);
    assert.match(refusal({ agent: { command: 'x', timeoutMs: '5s' } }), /field "batch.agent.timeoutMs" is "5s": expected number/);
    assert.match(refusal({ agent: { command: 'x' }, maxParalel: 2 }), /field "batch.maxParalel" is not a batch file field; fix: remove it or check its spelling/);
    assert.match(refusal({ agent: { command: 'x' }, repo: '/other' }), /field "batch.repo" is "\/other": the watch sets it for its intake batch; fix: remove "batch.repo"/);
    assert.match(refusal({ agent: { command: 'x' }, tickets: ['a'] }), /field "batch.tickets" is \["a"\]: the watch sets it for its intake batch/);
    const w = toWatchConfig({ ...base, batch: { agent: { command: 'agent' }, maxParallel: 3 } }, path.resolve);
    assert.equal(w.maxFixesPerRun, 5);
    assert.equal(w.maxFixesPerHour, 10);
  });

  it('refuses caps below one, naming the fix', () => {
    assert.throws(() => toWatchConfig({ ...base, maxFixesPerRun: 0 }, path.resolve), /field "maxFixesPerRun" is 0: .*fix: give how many tickets one run may hand to agents/);
  });

  it("is the watch's repository, base and folders with its batch settings, no ticket of its own, and takes a detected ticket with its probe", () => {
    const w = toWatchConfig({ ...base, batch: { agent: { command: 'agent' }, maxParallel: 3 } }, path.resolve);
    const file = intakeBatchFile(w);
    assert.deepEqual([file.batchId, file.intake, file.repo, file.ticketsDir, file.tickets, file.maxParallel], ['intake-nightly', true, '/abs/repo', '/abs/repo/.ratchet/tickets', [], 3]);
    assert.equal(batchFileSchema.safeParse(file).success, true);
    const status = statusOf();
    const ticket = detectedTicket(w, status);
    const req = intakeRequest(w.watchId, ticket);
    assert.equal(req.by, 'watch nightly');
    const work = discoverRequestToWork(req);
    assert.deepEqual([work.id, work.kind, work.probes?.map((p) => p.name)], [ticket.id, 'bug', ['check unit passes']]);
    assert.throws(() => discoverRequestToWork({ ...req, probes: [{ kind: 'command', name: 'x' }] as never }), /discover field "probes\[0\]" is .*give \{"kind": "command"/);
  });
});

function statusOf(over: Partial<SignatureStatus> = {}): SignatureStatus {
  return {
    watchId: 'nightly',
    signature: '0123456789abcdef',
    state: 'confirmed',
    occurrences: 2,
    runs: 2,
    commits: ['a'.repeat(40)],
    firstSeen: 0,
    lastSeen: 0,
    tickets: [],
    greenRuns: 0,
    reopened: 0,
    suppressed: 0,
    failure: { check: 'unit', kind: 'test', id: 'calc > adds', message: 'expected 3', location: '', tail: 'tail', signature: '0123456789abcdef' },
    ...over,
  };
}

describe("a detected ticket's bisect lines", () => {
  const w = toWatchConfig({ watchId: 'nightly', repo: '/abs/repo', everyMs: 3_600_000, checks: [{ name: 'unit', command: 'npm test' }] }, path.resolve);

  it('names the first bad commit, the ticket whose merge it is, and the last good one', () => {
    const bisect = { check: 'unit', signature: '0123456789abcdef', firstBad: 'b'.repeat(40), lastGood: 'c'.repeat(40), subject: 'ratchet: merge t-1 (b1): x', ticket: { batchId: 'b1', ticketId: 't-1' }, runs: 3, maxRuns: 8, tested: [] };
    const body = detectedTicket(w, statusOf({ bisect })).body;
    assert.match(body, new RegExp(`first bad commit: \`${'b'.repeat(40)}\` \\(merge of ticket \`t-1\` in batch \`b1\`\\)`));
    assert.match(body, new RegExp(`last good commit: \`${'c'.repeat(40)}\``));
  });

  it('says why when the bisect failed', () => {
    const body = detectedTicket(w, statusOf({ bisectFailed: 'git: no such repository' })).body;
    assert.match(body, /first bad commit: unknown: the bisect failed \(git: no such repository\)/);
  });

  it("takes the root cause's first line of an activity failure, and sends only new failures to agents", () => {
    const err = new Error('Activity task failed', { cause: new Error('firstBadCommit: maxRuns: 0 is not a positive integer\nmore') });
    assert.equal(bisectFailure(err), 'firstBadCommit: maxRuns: 0 is not a positive integer');
    assert.deepEqual([forAgents({}), forAgents({ flaky: true }), forAgents({ systemic: true }), forAgents({ infra: true })], [true, false, false, false]);
  });
});
