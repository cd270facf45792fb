/**
 * The exit codes the CLI maps errors to. The client's error classes (one per case a person must act on differently,
 * each message saying what happened and what to do) are ratchet's one error family's, in workflows/errors.ts.
 */
import { isGrpcServiceError } from '@temporalio/client';
import {
  BadInputError,
  BatchFailedError,
  GateRejectedError,
  isBadInputType,
  RatchetError,
  TemporalUnreachableError,
  WatchInterruptedError,
} from '../workflows/errors';

/**
 * Exit codes of the `ratchet` command; scripts may rely on them (also listed in `ratchet --help`).
 * - `OK` 0: success; for `start`/`watch`/`demo`, the batch finished with the oracle satisfied.
 * - `NOT_DONE` 1: the batch finished with the oracle not satisfied, the batch failed, or another error.
 * - `BAD_INPUT` 2: bad input or usage (batch file, ids, options) or a wrong configured value (`ConfigError`): a
 *   failure of a type in `NON_RETRYABLE` (workflows/errors.ts); nothing was started, or the batch stopped on it.
 * - `UNREACHABLE` 3: cannot reach Temporal.
 * - `GATE_REJECTED` 4: an approve/reject/resume call was rejected by the workflow's validator.
 * - `INTERRUPTED` 130: interrupted (Ctrl-C) while watching; the batch keeps running.
 */
export const EXIT = {
  OK: 0,
  NOT_DONE: 1,
  BAD_INPUT: 2,
  UNREACHABLE: 3,
  GATE_REJECTED: 4,
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The innermost message of an error chain (`err.cause` ...): the ApplicationFailure a workflow threw. */
export function rootMessage(err: unknown): string {
  let current: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  for (let depth = 0; current instanceof Error && depth < 20; depth++) {
    if (current.message) message = current.message;
    current = (current as { cause?: unknown }).cause;
  }
  return message;
}

/** gRPC status UNAVAILABLE (`@grpc/grpc-js` is not a direct dependency, so the number is spelled out). */
const GRPC_UNAVAILABLE = 14;

/** True when `err` (or a cause) says the server could not be reached rather than that it refused the call. */
export function isUnreachable(err: unknown): boolean {
  for (let current: unknown = err, depth = 0; current instanceof Error && depth < 20; depth++) {
    if (isGrpcServiceError(current) && current.code === GRPC_UNAVAILABLE) return true;
    if (/Failed to connect before the deadline|ECONNREFUSED|No connection established/i.test(current.message)) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Maps any error to the CLI's exit code. */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof BadInputError || (err instanceof RatchetError && isBadInputType(err.type))) return EXIT.BAD_INPUT;
  if (err instanceof BatchFailedError && isBadInputType(err.failureType)) return EXIT.BAD_INPUT;
  if (err instanceof TemporalUnreachableError || isUnreachable(err)) return EXIT.UNREACHABLE;
  if (err instanceof GateRejectedError) return EXIT.GATE_REJECTED;
  if (err instanceof WatchInterruptedError) return EXIT.INTERRUPTED;
  return EXIT.NOT_DONE;
}
