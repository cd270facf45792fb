/**
 * A batch's secrets: the worker variables its file names in `envFrom` (agent, gates, deploy). Values come from the
 * worker's environment at run time and never travel in payloads; every command output ratchet keeps is redacted
 * with all of them, whichever command they were given to (DESIGN.md "Trust boundaries").
 */
import { resolveEnvFrom } from './env';
import { Redactor } from './redact';
import type { BatchConfig } from '../workflows/types';

/** Every `envFrom` name of the batch, once. */
export function secretNames(config: Pick<BatchConfig, 'agent' | 'gates' | 'deploy'>): string[] {
  return [...new Set([...config.agent.envFrom, ...config.gates.flatMap((g) => g.envFrom), ...(config.deploy?.envFrom ?? [])])];
}

/**
 * A redactor for every secret the batch names, with values taken from `env` (the worker's environment). Names
 * `env` lacks are skipped here (`loadBatch` already refused them; a command that needs one fails when its env is built).
 */
export function batchRedactor(config: Pick<BatchConfig, 'agent' | 'gates' | 'deploy'>, env: NodeJS.ProcessEnv): Redactor {
  const present = secretNames(config).filter((n) => env[n] !== undefined);
  return new Redactor(resolveEnvFrom(present, env, 'envFrom'));
}
