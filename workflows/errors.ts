/**
 * ratchet's one error family (after simple-git's `errors/`): every error a workflow, an activity or the client
 * raises on purpose, and the list of failure types no retry can fix. Free of I/O and of Node built-ins, so
 * workflow code imports it as activities do. Activities convert at their boundary (`activities/errors.ts`
 * `toFailure`); the CLI maps to exit codes (`client/errors.ts` `exitCodeFor`).
 */

/**
 * `ApplicationFailure` types that no retry can fix: bad input a person must correct. Every activity option in
 * `options.ts` names this list; an activity converts its own errors at its boundary (`activities/errors.ts` `toFailure`).
 * The CLI exits 2 for a failure of one of these types.
 */
export const NON_RETRYABLE: readonly string[] = ['BadInput', 'ConfigError'];

/** True when `type` (an `ApplicationFailure` type) is bad input a person must correct: exit 2 in the CLI. */
export function isBadInputType(type: string | undefined): boolean {
  return type !== undefined && NON_RETRYABLE.includes(type);
}

/** Where an error came from. */
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

/**
 * Input a person must fix (a batch file, a ticket file, an id, an option). `message` names the field, the value and
 * the fix; `issues` lists each one. Never retried: the activity boundary turns it into a non-retryable
 * `ApplicationFailure` of type `BadInput`, and the CLI exits 2. Not a {@link RatchetError}: its `source` names what
 * was read (a file, "batch input", `ticket <id>`, an option), not a domain.
 */
export class BadInputError extends Error {
  readonly type = 'BadInput';
  readonly nonRetryable = true;
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`${source}: ${issues.join('; ')}`);
    this.name = 'BadInputError';
  }
}

/** A configured value is wrong; the message names the field, the value and the fix. Never retried; exit 2 in the CLI. */
export class ConfigError extends RatchetError {
  constructor(message: string) {
    super('config', message, true, 'ConfigError');
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

/**
 * What a step needs from the machine is not there right now: the repository, its worktrees or artifacts folder (or
 * the tickets folder) is gone or cannot be written. Not the agent's fault and not bad input: the ticket waits and
 * tries again (`harness.outageMs`), then asks a person at the `harness-fault` gate; it never costs an attempt.
 * Non-retryable at the activity (the workflow does the waiting, with timers, whatever the step's own retry policy).
 */
export class OutageError extends RatchetError {
  constructor(message: string) {
    super('config', message, true, 'Outage');
  }
}

/** The tracker could not be read or written. */
export class TrackerError extends RatchetError {
  constructor(message: string, nonRetryable = false) {
    super('tracker', message, nonRetryable, 'TrackerError');
  }
}

/** A GitHub request failed in a way a retry of the activity may fix (5xx, rate limits past the plugin's retries). */
export class GitHubError extends RatchetError {
  constructor(
    message: string,
    nonRetryable: boolean,
    /** The HTTP status, when GitHub answered. */
    readonly status?: number,
  ) {
    super('tracker', message, nonRetryable, 'GitHubError');
  }
}

/**
 * A JUnit report could not be read: unreadable file, malformed XML, or a root other than `<testsuites>` /
 * `<testsuite>`. The caller fails the gate: an agent may have planted a broken report to hide its failures.
 */
export class RegressionReportError extends RatchetError {
  constructor(
    /** The report's path, as given to `parseJUnit` or relative to `readReports`'s dir. */
    readonly file: string,
    problem: string,
  ) {
    super('gate', `JUnit report ${file}: ${problem}`, false, 'RegressionReportError');
  }
}

// ---- the client's: each a case a person acts on differently (exit codes in client/errors.ts) ----------------------

/** Temporal does not answer at `address`. The message tells how to start one or point at one. */
export class TemporalUnreachableError extends Error {
  constructor(
    readonly address: string,
    detail: string,
  ) {
    super(
      `cannot reach Temporal at ${address} (${detail}); fix: run \`ratchet server\` in another terminal, ` +
        'or set TEMPORAL_ADDRESS (or pass --address) to a running Temporal frontend',
    );
    this.name = 'TemporalUnreachableError';
  }
}

/** An `approve` / `reject` update was rejected by the ticket workflow; `message` is the workflow's own words. */
export class GateRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GateRejectedError';
  }
}

/** The batch workflow failed; `message` is the failure's own message (the innermost ApplicationFailure). */
export class BatchFailedError extends Error {
  constructor(
    readonly batchId: string,
    message: string,
    /** The failure's type, e.g. `BadInput` when the batch rejected its input before starting any ticket. */
    readonly failureType?: string,
  ) {
    super(message);
    this.name = 'BatchFailedError';
  }
}

/** Watching stopped because the caller aborted (Ctrl-C). The batch itself keeps running. */
export class WatchInterruptedError extends Error {
  constructor(readonly batchId: string) {
    super(`stopped watching batch ${batchId}; the batch keeps running`);
    this.name = 'WatchInterruptedError';
  }
}

/** No Temporal CLI binary was found and none could be built (deploy/temporal-cli.ts); the message says what to install. */
export class TemporalCliNotFoundError extends Error {
  override name = 'TemporalCliNotFoundError';
}
