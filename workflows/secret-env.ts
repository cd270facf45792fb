/**
 * Secrets in the batch file's plain variables (`agent.env`): the pure rules that tell a credential by its name or its
 * value (DESIGN.md "Trust boundaries": secrets are names in the batch file and values in the worker's environment).
 * No zod, no I/O and no Node built-ins, so the batch workflow refuses a secret before any activity's input copies it
 * (`secretEnvRefusal`), and the batch file's schema (input.ts) says the same words.
 */

/**
 * Names that look like credentials: their values must not travel in payloads (DESIGN.md "Trust boundaries"). Matched
 * anywhere in the name.
 */
export const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|COOKIE|SESSION)/i;
/**
 * Words that name a credential only as a whole word of the name (`DB_PASS`, `OPENAI_KEY`, `GH_PAT`, `dbPass`), so
 * that `PATH`, `BYPASS_CACHE`, `KEYBOARD` or `GIT_AUTHOR_NAME` are not taken for one.
 */
const SECRET_WORDS = new Set(['PASS', 'PW', 'KEY', 'KEYS', 'PAT', 'AUTH', 'BEARER', 'JWT', 'DSN']);

/** Whether `name` (an environment variable name) looks like it holds a credential. Pure. */
export function secretLikeName(name: string): boolean {
  if (SECRET_NAME.test(name)) return true;
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase().split(/[^A-Z0-9]+/);
  return words.some((w) => SECRET_WORDS.has(w));
}

/** Token formats known by their prefix, each with what it is (said in refusals; the value never is). */
const TOKEN_PREFIXES: [RegExp, string][] = [
  [/(?:^|[^A-Za-z0-9])(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{10,}/, 'a GitHub token (ghp_, gho_, ghs_, ...)'],
  [/(?:^|[^A-Za-z0-9])github_pat_[A-Za-z0-9_]{10,}/, 'a GitHub fine-grained token (github_pat_)'],
  [/(?:^|[^A-Za-z0-9])glpat-[A-Za-z0-9_-]{10,}/, 'a GitLab token (glpat-)'],
  [/(?:^|[^A-Za-z0-9])sk-[A-Za-z0-9_-]{10,}/, 'an API key (sk-)'],
  [/(?:^|[^A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}/, 'a Slack token (xox)'],
  [/(?:^|[^A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/, 'an AWS access key id (AKIA)'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
];

/** Shannon entropy of `text`, bits per character. */
export function entropyBits(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / text.length) * Math.log2(n / text.length);
  return bits;
}

/** Long runs of the base64 / base64url / hex alphabet, where generated secrets live. */
const TOKEN_RUN = /[A-Za-z0-9+/=_-]{32,}/g;
/** The least entropy (bits per character) of such a run that counts as a generated secret. */
export const SECRET_ENTROPY_BITS = 4;

/**
 * What kind of secret `value` looks like, or undefined: a known token prefix, or a run of 32 or more characters of
 * the base64/hex alphabet, not starting with "/", with letters and digits (both cases when it holds a "/") and at
 * least {@link SECRET_ENTROPY_BITS} bits of entropy per character (random keys; words, absolute paths, URLs and a commit sha stay below; hex never
 * reaches 4 bits). Pure; the value is never part of the answer.
 */
export function secretLikeValue(value: string): string | undefined {
  for (const [pattern, kind] of TOKEN_PREFIXES) if (pattern.test(value)) return kind;
  for (const run of value.match(TOKEN_RUN) ?? []) {
    // A run that starts with "/" is an absolute path or a URL's path (random base64 starts so once in 64); one with a
    // "/" inside counts only with upper and lower case letters and digits, as random base64 has (paths seldom do).
    const mixed = run.includes('/') ? /[A-Z]/.test(run) && /[a-z]/.test(run) : /[A-Za-z]/.test(run);
    if (!run.startsWith('/') && mixed && /[0-9]/.test(run) && entropyBits(run) >= SECRET_ENTROPY_BITS) {
      return `a random-looking string of ${run.length} characters`;
    }
  }
  return undefined;
}

const TO_ENV_FROM = (name: string): string =>
  `fix: remove it from agent.env, add "${name}" to agent.envFrom (names only) and export it in the worker's environment`;

/**
 * Why the `agent.env` entry `name` = `value` must not be in a batch file, as the tail of a refusal line (it follows
 * `field "agent.env.<name>" `), or undefined when it is a plain setting. Names the kind of secret, never the value.
 */
export function secretEnvEntry(name: string, value: string): string | undefined {
  if (secretLikeName(name)) return `looks like a secret by its name, and values in agent.env travel in workflow histories; ${TO_ENV_FROM(name)}`;
  const kind = secretLikeValue(value);
  if (kind) return `has a value that looks like a secret (${kind}; not shown here), and values in agent.env travel in workflow histories; ${TO_ENV_FROM(name)}`;
  return undefined;
}

/**
 * The refusal lines of a raw batch input (the JSON a `temporal workflow start` sent) whose `agent.env` holds a
 * secret-looking entry: one line per entry, `field "agent.env.<name>" <why>; fix: ...`, never the value. Any other
 * shape is left to the `loadBatch` activity's full check.
 * @returns the lines; empty when nothing looks like a secret.
 */
export function secretEnvRefusal(raw: unknown): string[] {
  const agent = isRecord(raw) ? raw.agent : undefined;
  const env = isRecord(agent) ? agent.env : undefined;
  if (!isRecord(env)) return [];
  const lines: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    const why = secretEnvEntry(name, typeof value === 'string' ? value : '');
    if (why) lines.push(`field ${JSON.stringify(`agent.env.${name}`)} ${why}`);
  }
  return lines;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
