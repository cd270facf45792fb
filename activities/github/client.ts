/**
 * The GitHub client of a worker: one Octokit (`@octokit/rest`) composed with `@octokit/plugin-retry` (5xx and other
 * transient statuses, with backoff) and `@octokit/plugin-throttling` (GitHub's documented limits: writes spaced,
 * `retry-after` on a secondary limit and `x-ratelimit-reset` on the primary one honoured), authenticated by a token or
 * as a GitHub App installation (`@octokit/auth-app`). The credentials come from the worker's environment only
 * (DESIGN.md "Trust boundaries"): they are never in a payload, a prompt, a transcript or an agent's environment.
 */
import { readFileSync } from 'node:fs';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import Bottleneck from 'bottleneck';
import { BadInputError, ConfigError, GitHubError } from '../../workflows/errors';

const RatchetOctokit = Octokit.plugin(retry, throttling);
/** The Octokit ratchet uses: `@octokit/rest` with the retry and throttling plugins. */
export type GitHub = InstanceType<typeof RatchetOctokit>;

/** Retries of one request on a rate limit (primary or secondary) before the activity's own retry takes over. */
const RATE_LIMIT_RETRIES = 4;
/** GitHub's guidance for content-creating requests: at least one second apart. */
export const DEFAULT_WRITE_SPACING_MS = 1_000;

/** A GitHub App installation: the client signs a JWT with the app's key and uses short-lived installation tokens. */
export interface GitHubAppAuth {
  appId: number | string;
  /** The app's private key (PEM). */
  privateKey: string;
  installationId: number;
}

export type GitHubClientOptions = {
  /** REST API root, e.g. `https://api.github.com` (default) or `https://ghe.example.com/api/v3`. */
  baseUrl?: string;
  /** Least time between two writes (POST/PATCH/PUT/DELETE), ms; default 1,000 (GitHub's secondary-limit guidance). */
  writeSpacingMs?: number;
  /** Where the plugins' warnings go (a secondary limit hit, a retry); default nowhere. */
  log?: (line: string) => void;
} & (
  | {
      /** A fine-grained personal access token or an installation token. */
      token: string;
      app?: undefined;
    }
  | { app: GitHubAppAuth; token?: undefined }
);

/** Builds the worker's GitHub client. Nothing is requested until a call is made. */
export function createGitHubClient(opts: GitHubClientOptions): GitHub {
  const log = opts.log ?? (() => {});
  const spacing = opts.writeSpacingMs ?? DEFAULT_WRITE_SPACING_MS;
  return new RatchetOctokit({
    ...(opts.app
      ? { authStrategy: createAppAuth, auth: { appId: opts.app.appId, privateKey: opts.app.privateKey, installationId: opts.app.installationId } }
      : { auth: opts.token }),
    baseUrl: opts.baseUrl ?? 'https://api.github.com',
    userAgent: 'ratchet',
    log: { debug: () => {}, info: () => {}, warn: (m: string) => log(m), error: (m: string) => log(m) },
    throttle: {
      // Per client, not the plugin's process-wide groups, so two clients (two GitHubs) do not slow each other.
      write: new Bottleneck.Group({ maxConcurrent: 1, minTime: spacing }),
      // Requests that notify people (new issues, comments, pull requests): three times the spacing, as the plugin does.
      notifications: new Bottleneck.Group({ maxConcurrent: 1, minTime: spacing * 3 }),
      onRateLimit: (retryAfter: number, options: { method: string; url: string }, _o: unknown, retryCount: number) => {
        log(`GitHub rate limit on ${options.method} ${options.url}: retry ${retryCount + 1} after ${retryAfter} s`);
        return retryCount < RATE_LIMIT_RETRIES;
      },
      onSecondaryRateLimit: (retryAfter: number, options: { method: string; url: string }, _o: unknown, retryCount: number) => {
        log(`GitHub secondary rate limit on ${options.method} ${options.url}: retry ${retryCount + 1} after ${retryAfter} s`);
        return retryCount < RATE_LIMIT_RETRIES;
      },
    },
    retry: { retries: 4 },
  });
}

/**
 * The token git pushes and fetches with: the client's own (a token, or the current installation token of an App,
 * refreshed by `@octokit/auth-app` before it expires). Never stored; passed to git through its environment.
 */
export async function gitToken(gh: GitHub): Promise<string | undefined> {
  const auth = (await gh.auth({ type: 'installation' })) as { token?: string };
  return auth.token;
}

/** Variables a worker reads to reach GitHub. */
export const GITHUB_ENV = {
  token: ['RATCHET_GITHUB_TOKEN', 'GITHUB_TOKEN'],
  appId: 'RATCHET_GITHUB_APP_ID',
  appInstallationId: 'RATCHET_GITHUB_APP_INSTALLATION_ID',
  appPrivateKey: 'RATCHET_GITHUB_APP_PRIVATE_KEY',
  appPrivateKeyFile: 'RATCHET_GITHUB_APP_PRIVATE_KEY_FILE',
  apiUrl: 'GITHUB_API_URL',
  writeSpacingMs: 'RATCHET_GITHUB_WRITE_SPACING_MS',
} as const;

/** The token in `env` (`RATCHET_GITHUB_TOKEN`, else `GITHUB_TOKEN`), or undefined. */
export function githubToken(env: NodeJS.ProcessEnv): string | undefined {
  for (const name of GITHUB_ENV.token) if (env[name]) return env[name];
  return undefined;
}

/**
 * The GitHub App in `env`: `RATCHET_GITHUB_APP_ID`, `RATCHET_GITHUB_APP_INSTALLATION_ID` and the private key
 * (`RATCHET_GITHUB_APP_PRIVATE_KEY`, PEM, or `RATCHET_GITHUB_APP_PRIVATE_KEY_FILE`, its path); undefined when no app
 * variable is set.
 * @throws ConfigError naming the variable that is missing or malformed when some are set.
 */
export function githubAppFromEnv(env: NodeJS.ProcessEnv): GitHubAppAuth | undefined {
  const E = GITHUB_ENV;
  const names = [E.appId, E.appInstallationId, E.appPrivateKey, E.appPrivateKeyFile];
  if (!names.some((n) => env[n])) return undefined;
  const fix = `fix: export ${E.appId}, ${E.appInstallationId} and ${E.appPrivateKey} (PEM) or ${E.appPrivateKeyFile} (its path)`;
  const appId = env[E.appId];
  if (!appId || !/^\d+$/.test(appId)) throw new ConfigError(`${E.appId} is "${appId ?? ''}": not an app id; ${fix}`);
  const installation = env[E.appInstallationId];
  if (!installation || !/^\d+$/.test(installation)) throw new ConfigError(`${E.appInstallationId} is "${installation ?? ''}": not an installation id; ${fix}`);
  let privateKey = env[E.appPrivateKey];
  const file = env[E.appPrivateKeyFile];
  if (!privateKey && file) {
    try {
      privateKey = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`${E.appPrivateKeyFile} is "${file}", which cannot be read (${(err as Error).message}); ${fix}`);
    }
  }
  if (!privateKey || !privateKey.includes('PRIVATE KEY')) throw new ConfigError(`the GitHub App's private key is missing or not PEM; ${fix}`);
  return { appId: Number(appId), installationId: Number(installation), privateKey: privateKey.replace(/\\n/g, '\n') };
}

/**
 * Builds a client from the worker's environment: a GitHub App installation (see {@link githubAppFromEnv}) or the token
 * from `RATCHET_GITHUB_TOKEN` or `GITHUB_TOKEN`; the API root from `GITHUB_API_URL` (default https://api.github.com),
 * the write spacing from `RATCHET_GITHUB_WRITE_SPACING_MS`.
 * @throws ConfigError naming the variables when neither an app nor a token is set, when the app's variables are
 *   incomplete, or when the spacing is not a number of ms.
 */
export function githubFromEnv(env: NodeJS.ProcessEnv, log?: (line: string) => void): GitHub {
  const app = githubAppFromEnv(env);
  const token = githubToken(env);
  if (!app && !token) {
    throw new ConfigError(
      `the batch uses GitHub but the worker's environment has neither RATCHET_GITHUB_TOKEN nor GITHUB_TOKEN nor a GitHub App ` +
        `(${GITHUB_ENV.appId}); fix: export a fine-grained token (Issues, Pull requests and Contents: read and write), or ` +
        'the App variables, before starting "ratchet worker"',
    );
  }
  const spacingText = env[GITHUB_ENV.writeSpacingMs];
  const spacing = spacingText === undefined || spacingText === '' ? undefined : Number(spacingText);
  if (spacing !== undefined && !(Number.isInteger(spacing) && spacing >= 0)) {
    throw new ConfigError(`${GITHUB_ENV.writeSpacingMs} is "${spacingText}": not a whole number of ms; fix: e.g. 1000`);
  }
  const common = { baseUrl: env[GITHUB_ENV.apiUrl] || undefined, writeSpacingMs: spacing, log };
  return app ? createGitHubClient({ app, ...common }) : createGitHubClient({ token: token as string, ...common });
}

/** The status of an Octokit `RequestError`, or undefined for anything else. */
export function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Maps a failed request to ratchet's error family: 401 -> ConfigError (the token); 404 and 422 -> BadInputError
 * naming `what` (the repository, issue or label as the batch file gave it), which a retry cannot fix; 403 that is not
 * a rate limit -> ConfigError (the token's permissions); anything else -> a retryable GitHubError.
 * @param what e.g. `repository "acme/shop"` or `issue #12 of acme/shop`.
 */
export function githubFailure(err: unknown, what: string, fix = 'check the batch file'): Error {
  const status = statusOf(err);
  const message = (err as Error)?.message ?? String(err);
  if (status === 401) return new ConfigError(`GitHub refused the token for ${what} (401 ${message}); fix: export a valid token as RATCHET_GITHUB_TOKEN, or check the GitHub App's id, installation id and private key`);
  if (status === 403 && !/rate limit/i.test(message)) {
    return new ConfigError(`GitHub forbids this for ${what} (403 ${message}); fix: give the token Issues, Pull requests and Contents read and write on it`);
  }
  if (status === 404 || status === 410) return new BadInputError(what, [`GitHub says ${status} (${message}); fix: ${fix}`]);
  if (status === 422) return new BadInputError(what, [`GitHub refused it (422 ${message}); fix: ${fix}`]);
  return new GitHubError(`GitHub request for ${what} failed${status ? ` (${status})` : ''}: ${message}`, false, status);
}

/** `owner/name` split; @throws BadInputError naming `field` when it is not that shape. */
export function splitRepo(repo: string, field: string): { owner: string; repo: string } {
  const m = /^([A-Za-z0-9-]{1,39})\/([A-Za-z0-9._-]{1,100})$/.exec(repo);
  if (!m) throw new BadInputError('batch input', [`field "${field}" is "${repo}": not owner/name; fix: e.g. "acme/shop"`]);
  return { owner: m[1], repo: m[2] };
}
