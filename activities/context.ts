/**
 * Heartbeats and cancellation for long activities. Outside an activity (plain unit tests) both are inert.
 */
import { Context } from '@temporalio/activity';

export interface Liveness {
  /** Records a heartbeat (throttled by the SDK); cancellation and a dead worker are noticed through heartbeats. */
  heartbeat: (details?: unknown) => void;
  /** Aborted when Temporal cancels the activity or the worker shuts down. */
  signal?: AbortSignal;
  /** How often to heartbeat, ms: a third of the activity's heartbeat timeout, at most 5 000. */
  tickMs: number;
}

/** The current activity's liveness hooks, or inert ones outside an activity. */
export function liveness(): Liveness {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return { heartbeat: () => undefined, tickMs: 5_000 };
  }
  const timeout = ctx.info.heartbeatTimeoutMs;
  const tickMs = timeout ? Math.max(100, Math.min(5_000, Math.floor(timeout / 3))) : 5_000;
  return { heartbeat: (d) => ctx.heartbeat(d), signal: ctx.cancellationSignal, tickMs };
}
