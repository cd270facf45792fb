/**
 * Environments of the commands ratchet runs (agents, gates, deploy, probes), built from an allowlist: a command sees
 * a few harmless worker variables, what the batch file sets, and the worker variables the batch file names; nothing
 * else of the worker's environment (DESIGN "Trust boundaries": secrets reach an agent only when named).
 */
import { ConfigError } from '../workflows/errors';

/**
 * Worker variables every command gets when the worker has them. An entry ending in `*` stands for every variable
 * starting with what comes before it (`LC_*`: the locale categories).
 */
export const BASE_ENV_NAMES: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TERM',
  'TMPDIR',
  'LC_*',
];

/**
 * Takes the variables `names` from `source` (the worker's environment).
 * @param field the configuration field that lists `names`, e.g. `"agent.envFrom"`, for the error message.
 * @returns name -> value for every name, in the order given.
 * @throws ConfigError (non-retryable) naming `field` and the first name `source` does not have, and the fix.
 *   A variable set to the empty string counts as present.
 */
export function resolveEnvFrom(names: string[], source: NodeJS.ProcessEnv, field: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    const value = source[name];
    if (value === undefined) {
      throw new ConfigError(
        `field ${JSON.stringify(field)} names ${name} but the worker's environment has no such variable; ` +
          `fix: export ${name} before starting "ratchet worker"`,
      );
    }
    env[name] = value;
  }
  return env;
}

/**
 * The complete environment of one command, each layer overriding the ones before it:
 * 1. the {@link BASE_ENV_NAMES} present in `source` (default `process.env`),
 * 2. `plain`: values written in the batch file,
 * 3. `fromWorker`: worker variables the batch file names (see {@link resolveEnvFrom}),
 * 4. `protocol`: what ratchet itself passes (paths of the prompt, result file...), so a batch file cannot shadow it.
 *
 * Pass the result to `runCommand` with `exactEnv: true`; nothing else of `source` is included.
 */
export function commandEnv(opts: {
  source?: NodeJS.ProcessEnv;
  plain?: Record<string, string>;
  fromWorker?: Record<string, string>;
  protocol?: Record<string, string>;
}): Record<string, string> {
  const source = opts.source ?? process.env;
  const exact = BASE_ENV_NAMES.filter((n) => !n.endsWith('*'));
  const prefixes = BASE_ENV_NAMES.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1));
  const base: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined) continue;
    if (exact.includes(name) || prefixes.some((p) => name.startsWith(p))) base[name] = value;
  }
  return { ...base, ...opts.plain, ...opts.fromWorker, ...opts.protocol };
}
