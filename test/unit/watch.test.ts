/**
 * A watch's pure parts (issue 27): the watch file's checks, a failure's normalized message and signature key, and
 * which failures a check's run shows.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { failuresOf, signatureOf } from '../../activities/watch';
import { BadInputError } from '../../workflows/errors';
import { breakerVerdict } from '../../workflows/watch/breaker';
import { normalizeMessage, signatureKey } from '../../workflows/watch/failure';
import { toWatchConfig } from '../../workflows/watch/input';

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
    assert.deepEqual([w.baseBranch, w.ticketsDir, w.confirmAfterRuns, w.checks[0].timeoutMs], ['main', '/r/.ratchet/tickets', 2, 600_000]);
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
  });
});
