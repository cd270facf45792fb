/**
 * Heartbeats and cancellation for long activities. Outside an activity (plain unit tests) both are inert.
 */
import { Context } from '@temporalio/activity';

export interface Liveness {
  /** Records a heartbeat (throttled by the SDK); cancellation and a dead worker are noticed through heartbeats. */
  heartbeat: (details?: unknown) => void;
  /** Aborted when Temporal cancels the activity or the worker shuts down. */
  signal?: AbortSignal;
}

/** The current activity's liveness hooks, or inert ones outside an activity. */
export function liveness(): Liveness {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return { heartbeat: () => undefined };
  }
  return { heartbeat: (d) => ctx.heartbeat(d), signal: ctx.cancellationSignal };
}
