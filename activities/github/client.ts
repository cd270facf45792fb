/**
 * The GitHub client of a worker: one Octokit (`@octokit/rest`) composed with `@octokit/plugin-retry` (5xx and other
 * transient statuses, with backoff) and `@octokit/plugin-throttling` (GitHub's documented limits: writes spaced,
 * `retry-after` on a secondary limit and `x-ratelimit-reset` on the primary one honoured). The token comes from the
 * worker's environment only (DESIGN.md "Trust boundaries"): it is never in a payload, a prompt, a transcript or an
 * agent's environment.
 */
import { Octokit } from '@octokit/rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import Bottleneck from 'bottleneck';
import { BadInputError } from '../../workflows/input';
import { ConfigError, RatchetError } from '../errors';

const RatchetOctokit = Octokit.plugin(retry, throttling);
/** The Octokit ratchet uses: `@octokit/rest` with the retry and throttling plugins. */
export type GitHub = InstanceType<typeof RatchetOctokit>;

/** Retries of one request on a rate limit (primary or secondary) before the activity's own retry takes over. */
const RATE_LIMIT_RETRIES = 4;
/** GitHub's guidance for content-creating requests: at least one second apart. */
export const DEFAULT_WRITE_SPACING_MS = 1_000;

export interface GitHubClientOptions {
  /** A fine-grained personal access token or an installation token. */
  token: string;
  /** REST API root, e.g. `https://api.github.com` (default) or `https://ghe.example.com/api/v3`. */
  baseUrl?: string;
  /** Least time between two writes (POST/PATCH/PUT/DELETE), ms; default 1,000 (GitHub's secondary-limit guidance). */
  writeSpacingMs?: number;
  /** Where the plugins' warnings go (a secondary limit hit, a retry); default nowhere. */
  log?: (line: string) => void;
}

/** Builds the worker's GitHub client. Nothing is requested until a call is made. */
export function createGitHubClient(opts: GitHubClientOptions): GitHub {
  const log = opts.log ?? (() => {});
  const spacing = opts.writeSpacingMs ?? DEFAULT_WRITE_SPACING_MS;
  return new RatchetOctokit({
    auth: opts.token,
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

/** Variables a worker reads to reach GitHub. */
export const GITHUB_ENV = {
  token: ['RATCHET_GITHUB_TOKEN', 'GITHUB_TOKEN'],
  apiUrl: 'GITHUB_API_URL',
  writeSpacingMs: 'RATCHET_GITHUB_WRITE_SPACING_MS',
} as const;

/** The token in `env` (`RATCHET_GITHUB_TOKEN`, else `GITHUB_TOKEN`), or undefined. */
export function githubToken(env: NodeJS.ProcessEnv): string | undefined {
  for (const name of GITHUB_ENV.token) if (env[name]) return env[name];
  return undefined;
}

/**
 * Builds a client from the worker's environment: the token from `RATCHET_GITHUB_TOKEN` or `GITHUB_TOKEN`, the API
 * root from `GITHUB_API_URL` (default https://api.github.com), the write spacing from `RATCHET_GITHUB_WRITE_SPACING_MS`.
 * @throws ConfigError naming the variables when no token is set, or when the spacing is not a number of ms.
 */
export function githubFromEnv(env: NodeJS.ProcessEnv, log?: (line: string) => void): GitHub {
  const token = githubToken(env);
  if (!token) {
    throw new ConfigError(
      `the batch uses GitHub but the worker's environment has neither RATCHET_GITHUB_TOKEN nor GITHUB_TOKEN; fix: export a ` +
        'fine-grained token (Issues, Pull requests and Contents: read and write) before starting "ratchet worker"',
    );
  }
  const spacingText = env[GITHUB_ENV.writeSpacingMs];
  const spacing = spacingText === undefined || spacingText === '' ? undefined : Number(spacingText);
  if (spacing !== undefined && !(Number.isInteger(spacing) && spacing >= 0)) {
    throw new ConfigError(`${GITHUB_ENV.writeSpacingMs} is "${spacingText}": not a whole number of ms; fix: e.g. 1000`);
  }
  return createGitHubClient({ token, baseUrl: env[GITHUB_ENV.apiUrl] || undefined, writeSpacingMs: spacing, log });
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
  if (status === 401) return new ConfigError(`GitHub refused the token for ${what} (401 ${message}); fix: export a valid token as RATCHET_GITHUB_TOKEN`);
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
