/**
 * A worker waits for its server: each half of a worker (workers/main.ts) retries reaching Temporal with exponential
 * backoff, 1 s doubling to 30 s, saying so once per retry, instead of exiting when the server is down at its start (a
 * server restarting, a machine booting both at once, a cluster behind a load balancer that comes up later). A worker
 * is a service: by default it waits as long as it takes, as a supervisor (systemd, Kubernetes) expects of it; a limit
 * (`RATCHET_CONNECT_TIMEOUT_MS`, `--connect-timeout`) makes it give up instead. Only "cannot reach" is retried: a
 * namespace that does not exist, a refused API key or a wrong TLS setting fail at once, as before.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BadInputError, TemporalUnreachableError } from '../workflows/errors';
import { formatMs } from '../workflows/duration';

/** Options of {@link untilReachable}. */
export interface ReachOptions {
  /** The Temporal address, for the messages. */
  address: string;
  /** Receives one line per retry: `cannot reach Temporal at <address>: <reason>; retrying in <n>s`. */
  log: (line: string) => void;
  /** Stops the wait: `untilReachable` then rejects with the signal's reason, at once (an attempt under way is left behind). */
  signal?: AbortSignal;
  /** Gives up after this long, ms, counted from the first attempt; unset: waits forever; 0: one attempt. */
  timeoutMs?: number;
  /** The first retry's delay, ms (default 1 000); each next one doubles, up to {@link ReachOptions.maxDelayMs}. */
  firstDelayMs?: number;
  /** The longest delay between two attempts, ms (default 30 000). */
  maxDelayMs?: number;
}

/**
 * Why `err` means Temporal cannot be reached now (connection refused, a name that does not resolve yet, the server
 * unavailable or timing out), as a short clause for a person; undefined when it is another failure, one a retry would
 * not mend (a namespace not found, an API key refused, TLS misconfigured, something else listening there).
 * The SDK's native connection reports these as `TransportError`s carrying the Rust transport's or gRPC status's text.
 */
export function unreachableReason(err: unknown): string | undefined {
  const text = err instanceof Error ? err.message : String(err);
  if (/ConnectionRefused|connection refused/i.test(text)) return 'connection refused';
  if (/dns error|failed to lookup address|Name or service not known|ENOTFOUND/i.test(text)) return 'the host name does not resolve';
  if (/ConnectionReset|connection reset|broken pipe|connection closed/i.test(text)) return 'the connection was reset';
  if (/timed out|DeadlineExceeded|deadline has elapsed|Deadline exceeded/i.test(text)) return 'timed out';
  if (/HostUnreachable|NetworkUnreachable|No route to host|Network is unreachable/i.test(text)) return 'no route to the host';
  if (/code: Unavailable|status: Unavailable|\bUnavailable\b|tcp connect error/.test(text)) return 'the server is unavailable';
  return undefined;
}

/**
 * Runs `attempt` until it does not fail for want of a server ({@link unreachableReason}), waiting 1 s, 2 s, 4 s ... up
 * to 30 s between attempts and logging each retry.
 * @returns what `attempt` returned.
 * @throws what `attempt` threw when it is not "cannot reach"; the signal's reason once `opts.signal` aborts;
 *   TemporalUnreachableError (naming the address, the last reason and the time waited) after `opts.timeoutMs`.
 */
export async function untilReachable<T>(attempt: () => Promise<T>, opts: ReachOptions): Promise<T> {
  const started = Date.now();
  const max = opts.maxDelayMs ?? 30_000;
  let delay = Math.min(opts.firstDelayMs ?? 1_000, max);
  for (;;) {
    opts.signal?.throwIfAborted();
    let reason: string | undefined;
    try {
      return await abortable(attempt(), opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      reason = unreachableReason(err);
      if (reason === undefined) throw err;
    }
    const left = opts.timeoutMs === undefined ? Infinity : started + opts.timeoutMs - Date.now();
    if (left <= 0) throw new TemporalUnreachableError(opts.address, `${reason}; gave up after ${formatMs(Date.now() - started)}`);
    const wait = Math.min(delay, left);
    opts.log(`cannot reach Temporal at ${opts.address}: ${reason}; retrying in ${wait % 1_000 === 0 ? `${wait / 1_000}s` : formatMs(wait)}`);
    try {
      await sleep(wait, undefined, opts.signal ? { signal: opts.signal } : {});
    } catch {
      throw opts.signal?.reason;
    }
    delay = Math.min(delay * 2, max);
  }
}

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * How long a worker waits for Temporal at start, from `value` (a flag or RATCHET_CONNECT_TIMEOUT_MS), ms; undefined
 * (wait forever) when unset.
 * @throws BadInputError naming the source and the value when it is not a whole number of ms >= 0.
 */
export function connectTimeoutOf(value: string | undefined, source: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^\d{1,12}$/.test(value)) return Number(value);
  throw new BadInputError(source, [`"${value}" is not a time in ms; fix: a whole number of milliseconds, e.g. 120000 (2 minutes), or 0 to try once; unset: wait forever`]);
}
