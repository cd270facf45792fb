/**
 * Local activities (Temporal's term): the tracker's reads and writes and the lock's requests run in the worker that
 * runs the workflow, recorded as one marker event each, with no activity task to match and no workflow task after it.
 * Deterministic: no I/O here.
 */
import { ActivityFailure, ApplicationFailure, isCancellation, TemporalFailure } from '@temporalio/workflow';

/**
 * Rethrows a local activity's failure as an activity task's failure arrives: an `ActivityFailure` whose cause is the
 * step's own failure. The SDK rejects a local activity with its failure unwrapped, and the workflows handle one error
 * family for "a step failed after its retries" (`ActivityFailure`). Cancellations and other errors pass unchanged.
 * @returns never; @throws the wrapped or the given error.
 */
export function asStepFailure(activityType: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof TemporalFailure && !(err instanceof ActivityFailure) && !isCancellation(err)) {
      const retryState = err instanceof ApplicationFailure && err.nonRetryable ? 'NON_RETRYABLE_FAILURE' : 'MAXIMUM_ATTEMPTS_REACHED';
      throw new ActivityFailure(err.message, activityType, undefined, retryState, undefined, err);
    }
    throw err;
  };
}
