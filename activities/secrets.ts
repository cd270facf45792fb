/**
 * A batch's secrets: the worker variables its file names in `envFrom` (agent, gates, deploy; `secretNames`,
 * workflows/repo-ref.ts). Values come from the worker's environment at run time and never travel in payloads; every
 * command output ratchet keeps is redacted with all of them, whichever command they were given to (DESIGN.md "Trust
 * boundaries").
 */
import { resolveEnvFrom } from './env';
import { Redactor } from './redact';

/**
 * A redactor for the secrets `names` (an activity's `secrets`: every `envFrom` name of its batch), with values taken
 * from `env` (the worker's environment). Names `env` lacks are skipped here (`loadBatch` already refused them; a
 * command that needs one fails when its env is built).
 */
export function batchRedactor(names: readonly string[], env: NodeJS.ProcessEnv): Redactor {
  const present = names.filter((n) => env[n] !== undefined);
  return new Redactor(resolveEnvFrom(present, env, 'envFrom'));
}
