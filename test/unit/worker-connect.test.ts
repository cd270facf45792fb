/**
 * How a worker waits for its server (workers/connect.ts): which failures mean "cannot reach Temporal" and are retried,
 * the backoff it announces, its limit and its stop. Without a server: the attempts are functions that fail as the SDK's
 * native connection fails (its messages, copied from real failures).
 */
import assert from 'node:assert/strict';
import { connectTimeoutOf, unreachableReason, untilReachable } from '../../workers/connect';
import { BadInputError, TemporalUnreachableError } from '../../workflows/errors';
import { unauthenticatedWarning } from '../../workers/main';

const REFUSED = new Error(
  'tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", 127.0.0.1:7233, Os { code: 111, kind: ConnectionRefused, message: "Connection refused" })))',
);
const NO_HOST = new Error(
  'tonic::transport::Error(Transport, ConnectError(ConnectError("dns error", Custom { kind: Uncategorized, error: "failed to lookup address information: Name or service not known" })))',
);
const UNAVAILABLE_AT_CREATE = new Error(
  'Namespace default was not found or otherwise could not be described: Status { code: Unavailable, message: "tcp connect error", source: ' +
    'Some(tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", 127.0.0.1:7233, Os { code: 111, kind: ConnectionRefused, message: "Connection refused" })))) }',
);
const NOT_FOUND = new Error('Namespace nope was not found or otherwise could not be described: Status { code: NotFound, message: "Namespace nope is not found." }');
const NOT_TEMPORAL = new Error(`Failed to call GetSystemInfo: code: 'Operation is not implemented or not supported', message: "grpc-status header missing, mapped from HTTP status code 404"`);

/** An attempt that throws each of `failures` in turn, then returns `value`; `calls()` counts its calls. */
function failing<T>(failures: Error[], value: T): { attempt: () => Promise<T>; calls: () => number } {
  let n = 0;
  return {
    attempt: async () => {
      const failure = failures[n++];
      if (failure) throw failure;
      return value;
    },
    calls: () => n,
  };
}

describe('a worker waiting for its server', () => {
  it('tells "cannot reach" (refused, a name that does not resolve, unavailable) from failures a retry does not mend', () => {
    assert.equal(unreachableReason(REFUSED), 'connection refused');
    assert.equal(unreachableReason(NO_HOST), 'the host name does not resolve');
    assert.equal(unreachableReason(UNAVAILABLE_AT_CREATE), 'connection refused');
    assert.equal(unreachableReason(new Error('Status { code: Unavailable, message: "upstream connect error" }')), 'the server is unavailable');
    assert.equal(unreachableReason(NOT_FOUND), undefined);
    assert.equal(unreachableReason(NOT_TEMPORAL), undefined);
  });

  it('retries with doubling delays up to the cap, one line per retry, and returns what the attempt gave', async () => {
    const lines: string[] = [];
    const { attempt, calls } = failing([REFUSED, REFUSED, NO_HOST, REFUSED], 'connected');
    const started = Date.now();
    const got = await untilReachable(attempt, { address: 'temporal:7233', log: (l) => lines.push(l), firstDelayMs: 100, maxDelayMs: 200 });
    assert.equal(got, 'connected');
    assert.equal(calls(), 5);
    assert.deepEqual(lines, [
      'cannot reach Temporal at temporal:7233: connection refused; retrying in 100ms',
      'cannot reach Temporal at temporal:7233: connection refused; retrying in 200ms',
      'cannot reach Temporal at temporal:7233: the host name does not resolve; retrying in 200ms',
      'cannot reach Temporal at temporal:7233: connection refused; retrying in 200ms',
    ]);
    assert.ok(Date.now() - started >= 700, `waited ${Date.now() - started} ms, not 100 + 200 + 200 + 200`);
  });

  it('throws at once, with no retry, what is not "cannot reach"', async () => {
    const lines: string[] = [];
    const { attempt, calls } = failing([NOT_FOUND], 'never');
    await assert.rejects(untilReachable(attempt, { address: 'temporal:7233', log: (l) => lines.push(l) }), (err) => err === NOT_FOUND);
    assert.equal(calls(), 1);
    assert.deepEqual(lines, []);
  });

  it('gives up after its limit with TemporalUnreachableError naming the address and the reason; 0 tries once', async () => {
    const { attempt, calls } = failing(Array<Error>(100).fill(REFUSED), 'never');
    await assert.rejects(untilReachable(attempt, { address: 'temporal:7233', log: () => undefined, timeoutMs: 0 }), (err: unknown) => {
      assert.ok(err instanceof TemporalUnreachableError);
      assert.match(err.message, /^cannot reach Temporal at temporal:7233 \(connection refused; gave up after \d+ms\); fix: run `ratchet server`/);
      return true;
    });
    assert.equal(calls(), 1);
    const lines: string[] = [];
    const later = failing(Array<Error>(100).fill(REFUSED), 'never');
    const started = Date.now();
    await assert.rejects(untilReachable(later.attempt, { address: 'temporal:7233', log: (l) => lines.push(l), firstDelayMs: 100, timeoutMs: 250 }), TemporalUnreachableError);
    const waited = Date.now() - started;
    assert.ok(waited >= 240 && waited < 2_000, `gave up after ${waited} ms`);
    // Tries at 0 and 100 ms, then at the limit: the last wait is what was left of it.
    assert.equal(lines[0], 'cannot reach Temporal at temporal:7233: connection refused; retrying in 100ms');
    assert.match(lines[1], /retrying in 1\d\dms$/);
  });

  it('stops waiting as soon as its signal aborts, with the signal\'s reason', async () => {
    const ac = new AbortController();
    const stop = new Error('the worker received SIGTERM');
    const lines: string[] = [];
    const { attempt } = failing(Array<Error>(100).fill(REFUSED), 'never');
    const waiting = untilReachable(attempt, { address: 'temporal:7233', log: (l) => (lines.push(l), ac.abort(stop)), signal: ac.signal });
    await assert.rejects(waiting, (err) => err === stop);
    assert.equal(lines.length, 1);
  });

  it('reads its limit from a whole number of ms, and refuses anything else naming the source', () => {
    assert.equal(connectTimeoutOf(undefined, 'RATCHET_CONNECT_TIMEOUT_MS'), undefined);
    assert.equal(connectTimeoutOf('', 'RATCHET_CONNECT_TIMEOUT_MS'), undefined);
    assert.equal(connectTimeoutOf('0', '--connect-timeout'), 0);
    assert.equal(connectTimeoutOf('120000', '--connect-timeout'), 120_000);
    assert.throws(() => connectTimeoutOf('2m', '--connect-timeout'), (err: unknown) => err instanceof BadInputError && /--connect-timeout/.test(err.message) && /"2m" is not a time in ms/.test(err.message));
  });
});

describe('the worker start line without authentication (issue 25)', () => {
  it('says what an unauthenticated frontend leaves open and the fix', () => {
    const line = unauthenticatedWarning('ratchet worker (activities)', '127.0.0.1:7233');
    assert.match(line, /Temporal at 127\.0\.0\.1:7233 is reached without authentication: .*an agent included .*approve, reject and resume/);
    assert.match(line, /mTLS or API keys \(TEMPORAL_TLS_\*, TEMPORAL_API_KEY/);
  });
});
