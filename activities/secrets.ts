/**
 * A batch's secrets: the worker variables its file names in `envFrom` (agent, gates, deploy; `secretNames`,
 * workflows/repo-ref.ts). Values come from the worker's environment at run time and never travel in payloads; every
 * command output ratchet keeps is redacted with all of them, whichever command they were given to (DESIGN.md "Trust
 * boundaries").
 */
import { secretLikeName } from '../workflows/input';
import { resolveEnvFrom } from './env';
import { Redactor } from './redact';

/**
 * The worker's own credentials: every variable of `env` whose name looks like one (`secretLikeName`: `GITHUB_TOKEN`,
 * `TEMPORAL_API_KEY`, `*_SECRET`, `DB_PASS`, ...), by name. Redacted from every output even when no batch names them:
 * a command that reads the worker's environment some other way (a gate run unboxed reading `/proc`) must not carry
 * them into a history, a prompt or the repository (issue 25).
 */
export function workerCredentials(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value && secretLikeName(name)) out[name] = value;
  return out;
}

/**
 * A redactor for the secrets `names` (an activity's `secrets`: every `envFrom` name of its batch) and the worker's
 * own credentials ({@link workerCredentials}), with values taken from `env` (the worker's environment). Names `env`
 * lacks are skipped here (`loadBatch` already refused them; a command that needs one fails when its env is built).
 */
export function batchRedactor(names: readonly string[], env: NodeJS.ProcessEnv): Redactor {
  const present = names.filter((n) => env[n] !== undefined);
  // The batch's names first: a value both hold is redacted under the name the batch gave it (the first name wins).
  return new Redactor({ ...resolveEnvFrom(present, env, 'envFrom'), ...workerCredentials(env) });
}
