/**
 * ratchet's one error family (after simple-git's `errors/`): every error a workflow, an activity or the client
 * raises on purpose, and the list of failure types no retry can fix. Free of I/O and of Node built-ins, so
 * workflow code imports it as activities do.
 */

/**
 * `ApplicationFailure` types that no retry can fix: bad input a person must correct. Every activity option in
 * `options.ts` names this list; an activity converts its own errors at its boundary (`activities/errors.ts` `toFailure`).
 */
export const NON_RETRYABLE: readonly string[] = ['BadInput', 'ConfigError'];
