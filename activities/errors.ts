/**
 * The activity boundary's conversion of ratchet's errors (the family itself lives in `workflows/errors.ts`, shared
 * with workflow and client code) into what Temporal retries or does not.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BadInputError, RatchetError } from '../workflows/errors';

/**
 * Rethrows `err` for Temporal: `BadInputError` and non-retryable `RatchetError`s become a non-retryable
 * `ApplicationFailure` with the error's `type`; anything else is rethrown as is, so transient faults are retried.
 */
export function toFailure(err: unknown): never {
  if (err instanceof BadInputError || (err instanceof RatchetError && err.nonRetryable)) {
    throw ApplicationFailure.create({ message: err.message, type: err.type, nonRetryable: true, cause: err });
  }
  throw err;
}
