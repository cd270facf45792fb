/**
 * One errors module for activities (after simple-git's `errors/`): a base error that says where it came from,
 * subclasses per domain, and `toFailure` to convert at the activity boundary.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BadInputError } from '../workflows/input';

export type ErrorSource = 'git' | 'tracker' | 'agent' | 'gate' | 'probe' | 'config';

/**
 * Base error of every activity. `nonRetryable` marks faults a retry cannot fix (a person must act);
 * `type` is the `ApplicationFailure` type a workflow or retry policy can match on.
 */
export class RatchetError extends Error {
  constructor(
    readonly source: ErrorSource,
    message: string,
    readonly nonRetryable = false,
    readonly type = 'RatchetError',
  ) {
    super(message);
    this.name = type;
  }
}

/** A git command failed. Retryable unless the caller knows better (e.g. a missing ref). */
export class GitError extends RatchetError {
  constructor(
    message: string,
    nonRetryable = false,
    /** The git process's exit code, when it ran. */
    readonly exitCode?: number,
  ) {
    super('git', message, nonRetryable, 'GitError');
  }
}

/** The tracker could not be read or written. */
export class TrackerError extends RatchetError {
  constructor(message: string, nonRetryable = false) {
    super('tracker', message, nonRetryable, 'TrackerError');
  }
}

/** A configured value is wrong; the message names the field, the value and the fix. Never retried. */
export class ConfigError extends RatchetError {
  constructor(message: string) {
    super('config', message, true, 'ConfigError');
  }
}

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
