/**
 * A watch's pure parts (issue 27): the watch file's checks, a failure's normalized message and signature key, and
 * which failures a check's run shows.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTrackers } from '../../activities/batch';
import { LocalTracker } from '../../activities/tracker/local';
import { failuresOf, signatureOf } from '../../activities/watch';
import { formatWatchStatus } from '../../client/watch-schedule';
import { readDetectedTicket, reopenTicket } from '../../activities/watch-ticket';
import { BadInputError } from '../../workflows/errors';
import { breakerVerdict } from '../../workflows/watch/breaker';
import { checksThatRan, detectedTicket, greenFor, reopenEvidence, reopenMarker, stateOfTicket } from '../../workflows/watch/detected';
import { normalizeMessage, signatureKey } from '../../workflows/watch/failure';
import { toWatchConfig } from '../../workflows/watch/input';
import { detectedTicketId, signatureOfWorkflowId, type SignatureStatus } from '../../workflows/watch/messages';

describe('failure signatures', () => {
  it('masks what changes between runs: numbers, hex, UUIDs, temp paths, ports, timestamps', () => {
    const a = 'Error: expected 200 but got 503 at 2026-12-07T10:00:01.123Z from 127.0.0.1:43123 (req 0d8f6c2e-1b7a-4c1e-9a7e-2b1c3d4e5f60) in /tmp/ratchet-xyz/a.txt obj 0x7ffe1234 sha 9f3c2a1';
    const b = 'Error: expected 200 but got 504 at 2026-12-08T11:30:59Z from localhost:5000 (req 11111111-2222-3333-4444-555555555555) in /tmp/other/b.txt obj 0x1 sha abc1234';
    assert.equal(normalizeMessage(a), normalizeMessage(b));
    assert.equal(normalizeMessage(a), 'Error: expected <n> but got <n> at <ts> from <host:port> (req <uuid>) in <tmp> obj <hex> sha <hex>');
    assert.notEqual(normalizeMessage('TypeError: x is undefined'), normalizeMessage('Error: expected 200 but got 503'));
    assert.equal(normalizeMessage('\n\n  first line  \nsecond'), 'first line', 'only the first non-empty line counts');
    assert.equal(normalizeMessage('added a deadbeef row'), 'added a deadbeef row', 'hex-looking words without digits stay');
  });

  it('keys on the check, the id, the location and the normalized message: never the commit, run or duration', () => {
    const f = { check: 'unit', kind: 'test' as const, id: 'calc > adds', location: '', message: 'expected 3 but got 4' };
    assert.equal(signatureOf({ ...f, tail: 'took 1200 ms on abc' }), signatureOf({ ...f, message: 'expected 3 but got 5', tail: 'other output' }));
    assert.notEqual(signatureKey(f), signatureKey({ ...f, id: 'calc > subtracts' }));
    assert.notEqual(signatureKey(f), signatureKey({ ...f, check: 'lint' }));
    assert.ok(signatureKey(f).startsWith('v1\u0000'), 'the scheme version leads the key');
  });

  it('reads each failing test of a report as a failure of its own, a check without one as one, and a time-out as infrastructure', () => {
    const check = { name: 'unit', command: 'npm test', timeoutMs: 1_000, junit: 'r.xml' };
    const failed = { name: 'unit', passed: false, exitCode: 1, ms: 5, tail: 'FAIL calc\nError: boom', logPath: '/x' };
    const tests = [
      { id: 'a', status: 'passed' },
      { id: 'b', status: 'failed', message: 'expected 1' },
      { id: 'c', status: 'failed' },
    ];
    assert.deepEqual(failuresOf(check, failed, tests).map((f) => [f.kind, f.id, f.message]), [['test', 'b', 'expected 1'], ['test', 'c', '']]);
    assert.deepEqual(failuresOf(check, failed, undefined).map((f) => [f.kind, f.id, f.message, f.infra]), [['command', 'unit', 'Error: boom', undefined]]);
    const timedOut = { ...failed, exitCode: null, tail: 'partial\n[timed out after 1000 ms]' };
    assert.deepEqual(failuresOf(check, timedOut, tests).map((f) => [f.kind, f.message, f.infra]), [['command', 'timed out', true]]);
    assert.deepEqual(failuresOf(check, { ...failed, passed: true, exitCode: 0 }, tests), []);
  });
});

describe('the watch file', () => {
  it('fills defaults and makes folders absolute against the repository', () => {
    const w = toWatchConfig({ watchId: 'nightly', repo: '/r', everyMs: 3_600_000, checks: [{ name: 't', command: 'npm test' }] }, path.resolve);
    assert.deepEqual([w.baseBranch, w.ticketsDir, w.confirmAfterRuns, w.closeAfterGreenRuns, w.checks[0].timeoutMs], ['main', '/r/.ratchet/tickets', 2, 3, 600_000]);
  });

  it('refuses a closeAfterGreenRuns that is not a count of at least one run, naming the fix', () => {
    const w = { watchId: 'w', repo: '/r', everyMs: 60_000, checks: [{ name: 't', command: 'x' }] };
    assert.throws(() => toWatchConfig({ ...w, closeAfterGreenRuns: 0 }, path.resolve, 'watch.json'), (err: unknown) => err instanceof BadInputError && /closeAfterGreenRuns/.test(err.message) && /at least 1; fix/.test(err.message));
    assert.throws(() => toWatchConfig({ ...w, closeAfterGreenRuns: 2.5 }, path.resolve), /closeAfterGreenRuns/);
    assert.equal(toWatchConfig({ ...w, closeAfterGreenRuns: 5 }, path.resolve).closeAfterGreenRuns, 5);
  });

  it('refuses a blank command, no checks and too short an interval, naming the field, the value and the fix', () => {
    assert.throws(
      () => toWatchConfig({ watchId: 'w', repo: '/r', everyMs: 1_000, checks: [{ name: 't', command: ' ' }] }, path.resolve, 'watch.json'),
      (err: unknown) => err instanceof BadInputError && /everyMs/.test(err.message) && /one minute/.test(err.message) && /checks.*command|command/.test(err.message),
    );
    assert.throws(() => toWatchConfig({ watchId: 'w', repo: '/r', everyMs: 60_000, checks: [] }, path.resolve), /at least one check; fix/);
    assert.throws(() => toWatchConfig({ watchId: 'bad id!', repo: '/r', everyMs: 60_000, checks: [{ name: 't', command: 'x' }] }, path.resolve), /watchId/);
  });

  it('turns many failures, a failing share of a suite, or a check that could not finish into one systemic failure each', () => {
    const w = toWatchConfig({ watchId: 'w', repo: '/r', everyMs: 60_000, checks: [{ name: 't', command: 'x' }] }, path.resolve);
    const fail = (id: string, extra = {}) => ({ check: 't', kind: 'test' as const, id, message: 'm', location: '', tail: '', signature: id, ...extra });
    const run = (failures: ReturnType<typeof fail>[], tests?: { total: number; failed: number }) => ({ watchId: 'w', commit: 'c', checks: [{ name: 't', passed: false, ms: 1, ...(tests ? { tests } : {}) }], failures });
    assert.equal(breakerVerdict(w, run([fail('a'), fail('b')], { total: 10, failed: 2 })).systemic, false);
    const many = breakerVerdict(w, run(['a', 'b', 'c', 'd', 'e', 'f'].map((x) => fail(x)), { total: 100, failed: 6 }));
    assert.deepEqual(many.failures.map((f) => f.id), ['systemic: many at once']);
    assert.deepEqual(breakerVerdict(w, run([fail('a'), fail('b'), fail('c')], { total: 5, failed: 3 })).failures.map((f) => f.id), ['systemic: share of t']);
    assert.equal(breakerVerdict(w, run([fail('a')], { total: 1, failed: 1 })).systemic, false, 'one test of one is a failure, not an outage');
    assert.deepEqual(breakerVerdict(w, run([fail('t', { kind: 'command', infra: true, message: 'timed out' })])).failures.map((f) => [f.id, f.systemic]), [['systemic: infrastructure of t', true]]);
    // Counted are failures new to the watch: six failures of which two it already follows are four new ones.
    const six = run(['a', 'b', 'c', 'd', 'e', 'f'].map((x) => fail(x)), { total: 100, failed: 6 });
    const followed = six.failures.slice(0, 2).map((f) => f.signature);
    assert.equal(breakerVerdict(w, six, followed).systemic, false, 'two of the six are known: four new, not over five');
  });
});

describe("a signature's life after filing", () => {
  const watch = toWatchConfig({ watchId: 'w', repo: '/r', everyMs: 60_000, checks: [{ name: 'unit', command: 'npm test' }, { name: 'lint', command: 'npm run lint' }] }, path.resolve);
  const failure = { check: 'unit', kind: 'test' as const, id: 'calc > adds', message: 'expected 3 but got 4', location: '', tail: 'FAIL calc', signature: '0123456789abcdef' };
  const status: SignatureStatus = { watchId: 'w', signature: failure.signature, state: 'closed', occurrences: 4, runs: 4, commits: ['a'.repeat(40)], firstSeen: 0, lastSeen: 1, ticketId: 'bug-0123456789ab', tickets: ['bug-0123456789ab'], greenRuns: 3, reopened: 0, suppressed: 0, failure };

  it('numbers the tickets of a recurrence and links each to the one before', () => {
    assert.deepEqual([detectedTicketId(failure.signature), detectedTicketId(failure.signature, 2), detectedTicketId(failure.signature, 3)], ['bug-0123456789ab', 'bug-0123456789ab-2', 'bug-0123456789ab-3']);
    const again = detectedTicket(watch, status, 2, 'bug-0123456789ab');
    assert.equal(again.id, 'bug-0123456789ab-2');
    assert.equal(again.title, 'test calc > adds fails on main again');
    assert.match(again.body, /previous ticket: `bug-0123456789ab`/);
    assert.doesNotMatch(detectedTicket(watch, status).body, /previous ticket/);
  });

  it('shows the state, the tickets, the green runs and a won\'t fix in ratchet watch status', () => {
    const text = formatWatchStatus({
      scheduleId: 'watch-w',
      paused: false,
      runs: 9,
      next: [],
      signatures: [
        { ...status, state: 'fixed', greenRuns: 2, reopened: 1 },
        { ...status, signature: 'fedcba9876543210', state: 'wont-fix', ticketId: 'bug-fedcba987654-2', tickets: ['bug-fedcba987654', 'bug-fedcba987654-2'], wontFix: { by: 'alice', reason: 'legacy', at: 0, normalized: 'x' }, suppressed: 4 },
      ],
    });
    assert.match(text, /0123456789abcdef fixed as bug-0123456789ab: calc > adds: .*green 2 runs since the fix; reopened 1x\)/);
    assert.match(text, /fedcba9876543210 wont-fix as bug-fedcba987654-2 \(tickets bug-fedcba987654, bug-fedcba987654-2\).*won't fix by alice: legacy; 4 not filed/);
  });

  it("tells a watch's signature workflows from another watch's whose id starts the same", () => {
    assert.equal(signatureOfWorkflowId('a', 'signature-a-0123456789abcdef'), '0123456789abcdef');
    assert.equal(signatureOfWorkflowId('a', 'signature-a-b-0123456789abcdef'), undefined);
    assert.equal(signatureOfWorkflowId('a', 'watch-run-a-1'), undefined);
  });

  it('takes the tracker as the oracle of fixed: done is fixed, todo filed, rejected is won\'t fix, the rest fixing', () => {
    assert.deepEqual(
      (['todo', 'in-progress', 'awaiting-human', 'merged', 'done', 'human-gated'] as const).map(stateOfTicket),
      ['filed', 'fixing', 'fixing', 'fixing', 'fixed', 'wont-fix'],
    );
  });

  it('counts a run green for a signature only when its check ran to its end', () => {
    const run = (checks: [string, boolean][], failures: Partial<Omit<typeof failure, 'kind'> & { kind: 'test' | 'command'; infra: boolean }>[]) => ({
      watchId: 'w',
      commit: 'c',
      checks: checks.map(([name, passed]) => ({ name, passed, ms: 1 })),
      failures: failures.map((f) => ({ ...failure, ...f })),
    });
    assert.deepEqual(checksThatRan(run([['unit', true], ['lint', true]], [])), ['unit', 'lint']);
    assert.deepEqual(checksThatRan(run([['unit', false], ['lint', true]], [{ id: 'other' }])), ['unit', 'lint'], 'a report said which tests failed');
    assert.deepEqual(checksThatRan(run([['unit', false], ['lint', true]], [{ kind: 'command', id: 'unit', infra: true, message: 'timed out' }])), ['lint'], 'a time-out is green for nothing');
    assert.deepEqual(checksThatRan(run([['unit', false], ['lint', true]], [{ kind: 'command', id: 'unit', message: 'Error: cannot compile' }])), ['lint'], 'a failure without a report says nothing about the tests');
    assert.equal(greenFor(watch, 'unit', ['unit']), true);
    assert.equal(greenFor(watch, 'unit', ['lint']), false);
    assert.equal(greenFor(watch, '*', ['unit']), false, 'a systemic signature of many checks needs them all');
    assert.equal(greenFor(watch, '*', ['unit', 'lint']), true);
  });
});

describe('reopening a detected ticket', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ratchet-reopen-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('appends the new evidence once, sets the ticket back to todo, and refuses a ticket a batch holds', async () => {
    const trackers = createTrackers(() => {
      throw new Error('no GitHub here');
    });
    const tracker = trackers({ ticketsDir: dir }) as LocalTracker;
    const watch = toWatchConfig({ watchId: 'w', repo: dir, everyMs: 60_000, ticketsDir: dir, checks: [{ name: 'unit', command: 'npm test' }] }, path.resolve);
    const failure = { check: 'unit', kind: 'test' as const, id: 'calc > adds', message: 'expected 3 but got 5', location: '', tail: 'FAIL calc\nexpected 3 but got 5', signature: 'fedcba9876543210' };
    const s: SignatureStatus = { watchId: 'w', signature: failure.signature, state: 'filed', occurrences: 2, runs: 2, commits: ['c1'], firstSeen: 0, lastSeen: 1, tickets: [], greenRuns: 0, reopened: 0, suppressed: 0, failure };
    const ticket = detectedTicket(watch, s);
    await tracker.file(ticket, 'watch w');
    await tracker.setState(ticket.id, 'done', { by: 'batch b' });
    const done = await readDetectedTicket(trackers, { ticketsDir: dir, ticketId: ticket.id });
    assert.equal(done.state, 'done');
    assert.ok(done.since && Math.abs(done.since - Date.now()) < 60_000, 'since when: the state write');

    const seen = { runId: 'run-7', commit: 'c'.repeat(40), startedAt: 0, at: 0, failure };
    const input = { ticketsDir: dir, ticketId: ticket.id, evidence: reopenEvidence(seen, 1), marker: reopenMarker('run-7'), by: 'watch w', note: 'reopened' };
    assert.deepEqual(await reopenTicket(trackers, input), { previous: 'done' });
    assert.deepEqual(await reopenTicket(trackers, input), { previous: 'todo' }, 'a retried call');
    const text = await readFile(path.join(dir, `${ticket.id}.yaml`), 'utf8');
    assert.equal(text.split('Failed again in run `run-7`').length, 2, 'the evidence appended once');
    assert.match(text, /after 1 green runs/);
    assert.match(text, /commit: c{40}/);
    assert.deepEqual(await tracker.facts([ticket.id]), [{ id: ticket.id, state: 'todo' }]);
    assert.equal((await tracker.get(ticket.id))?.title, ticket.title, 'still the same ticket');

    await tracker.setState(ticket.id, 'in-progress', { by: 'batch b2' });
    assert.deepEqual(await reopenTicket(trackers, { ...input, marker: reopenMarker('run-8') }), { previous: 'in-progress', refused: 'expected' });
    assert.deepEqual(await tracker.facts([ticket.id]), [{ id: ticket.id, state: 'in-progress' }]);
  });
});
