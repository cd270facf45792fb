/**
 * Heartbeats and cancellation for long activities. Outside an activity (plain unit tests) both are inert.
 */
import { Context } from '@temporalio/activity';

export interface Liveness {
  /** Records a heartbeat (throttled by the SDK); cancellation and a dead worker are noticed through heartbeats. */
  heartbeat: (details?: unknown) => void;
  /** Aborted when Temporal cancels the activity, or at once when the worker process is told to stop. */
  signal?: AbortSignal;
  /** How often to heartbeat, ms: a third of the activity's heartbeat timeout, at most 5 000. */
  tickMs: number;
}

/**
 * The current activity's liveness hooks, or inert ones outside an activity. `stopping` (the worker's own
 * SIGINT/SIGTERM) aborts the signal at once: a long agent or gate run is stopped rather than waited for, and its
 * activity attempt goes on on another worker.
 */
export function liveness(stopping?: AbortSignal): Liveness {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return { heartbeat: () => undefined, signal: stopping, tickMs: 5_000 };
  }
  // A local activity runs inside its workflow task and has no heartbeat to send.
  if (ctx.info.isLocal) return { heartbeat: () => undefined, signal: stopping ? AbortSignal.any([ctx.cancellationSignal, stopping]) : ctx.cancellationSignal, tickMs: 5_000 };
  const timeout = ctx.info.heartbeatTimeoutMs;
  const tickMs = timeout ? Math.max(100, Math.min(5_000, Math.floor(timeout / 3))) : 5_000;
  const signal = stopping ? AbortSignal.any([ctx.cancellationSignal, stopping]) : ctx.cancellationSignal;
  return { heartbeat: (d) => ctx.heartbeat(d), signal, tickMs };
}

/**
 * Throws when `signal` was aborted: an activity whose command was stopped (cancelled, or its worker stopping) must
 * not report the cut-short run as a result; the error lets Temporal retry the attempt elsewhere.
 */
export function throwIfStopped(signal: AbortSignal | undefined, what: string): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'CancelledFailure') throw reason;
  throw new Error(`${what} was stopped: ${reason instanceof Error ? reason.message : String(reason)}; the attempt is retried on another worker`);
}

/**
 * Records how long an activity waited for a lock (`lock`: what it guards, e.g. `repo`), in ms, as the histogram
 * `ratchet_lock_wait_ms` on the worker's metric meter (README "Metrics"). Inert outside an activity.
 */
export function recordLockWait(lock: string, ms: number): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return;
  }
  ctx.metricMeter.createHistogram('ratchet_lock_wait_ms', 'int', 'ms', 'Time an activity waited for a lock, by lock').record(Math.max(0, Math.round(ms)), { lock });
}
