/**
 * A local, stateful fake of GitHub's REST API for tests and `ratchet demo --github`: an HTTP server on 127.0.0.1 whose
 * routes are at the root (like api.github.com), so `new Octokit({ baseUrl: fake.url, auth: token })` talks to it.
 *
 * Every request is checked against GitHub's published OpenAPI description before it is handled (422, or 400 for
 * malformed JSON, and a violation on failure; 404 and a violation for a route the description lacks or the fake does
 * not implement), and every response body against the operation's documented schema for its status (a mismatch is a
 * violation; the response is still sent). Each fake repository is a real bare git repository. Faults can be injected
 * (`faults`), requests and violations are recorded for assertions. No test-framework globals: usable from a script.
 *
 * People act through the API with their own token (a person merges with PUT /pulls/{n}/merge, reviews with POST
 * /pulls/{n}/reviews); `repo()` is read access to the state for assertions only.
 */
import { createHash, createPublicKey, randomBytes, verify as verifySignature } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FakeCore, HttpError } from './core';
import { type Fault, type FaultSpec, Faults, SECONDARY_RATE_LIMIT_MESSAGE } from './faults';
import { initBareRepo } from './git';
import { type Ctx, HANDLERS } from './handlers';
import { loadGitHubOpenApi, type GitHubOpenApi } from './openapi';
import { now, RepoState } from './state';

export type { FaultKind, FaultSpec } from './faults';
export type { RepoState } from './state';

/** What `startGitHubFake` takes. */
export interface GitHubFakeOptions {
  /** Token -> login. The login is the actor of everything done with the token; any other token gets 401. */
  tokens: Record<string, string>;
  /** Where the bare repositories go (`<dir>/<owner>/<repo>.git`); default a fresh temp folder, removed on close. */
  dir?: string;
  /** Receives one line per request and per failed webhook delivery; default nowhere. */
  log?: (line: string) => void;
  /** Port on 127.0.0.1; default a free one. */
  port?: number;
  /**
   * GitHub Apps, by app id: the app's public key (PEM, RS256) and its installations (installation id -> the login its
   * tokens act as, e.g. `ratchet-app[bot]`). POST /app/installations/{id}/access_tokens with a JWT the app signed
   * answers a fresh `ghs_` token valid for an hour, as GitHub does.
   */
  apps?: Record<string, { publicKey: string; installations: Record<string, string> }>;
}

/** One request the fake served (faulted, 304 and refused ones included). `path` is the pathname, without the query. */
export interface RequestRecord {
  method: string;
  path: string;
  status: number;
  /** The token's login; null when the token was missing or unknown. */
  login: string | null;
  /** GitHub's operation id for the route; null when the description has none. */
  operationId: string | null;
  /** Time to answer, ms. */
  ms: number;
  /** The injected fault, if any. */
  fault?: Fault['kind'];
}

/** A request GitHub would refuse, a route the fake cannot serve, or a response GitHub would not send. */
export interface Violation {
  method: string;
  path: string;
  operationId?: string;
  where: 'request' | 'response' | 'route';
  message: string;
}

/** A running fake. */
export interface GitHubFake {
  /** `http://127.0.0.1:<port>`: the `baseUrl` to give Octokit. */
  readonly url: string;
  /** Where the bare repositories are. */
  readonly dir: string;
  /**
   * Creates `owner/name` with a bare repository whose `defaultBranch` (default `main`) holds one commit with `files`
   * (default a README.md).
   * @returns `gitDir`, the absolute path of the bare repository: a remote to clone from and `git push <gitDir>` to.
   * @throws Error if the name is not `owner/name` or the repository exists; GitCommandError if git fails.
   */
  createRepo(fullName: string, opts?: { defaultBranch?: string; files?: Record<string, string> }): Promise<{ gitDir: string }>;
  /**
   * The state of `owner/name` for assertions (issues, pulls, labels, comments, events, reviews, hooks and their
   * deliveries ...). Read it; change things through the API.
   * @throws Error if the fake has no such repository.
   */
  repo(fullName: string): RepoState;
  /** Injects faults from now on (see FaultSpec); null clears. @throws RangeError on a bad spec. */
  faults(spec: FaultSpec | null): void;
  /** Every request served so far, oldest first (a copy). */
  requests(): RequestRecord[];
  /** Every OpenAPI violation so far, oldest first (a copy). */
  violations(): Violation[];
  /** Resolves when every webhook delivery queued so far has finished (delivered, refused or given up). */
  webhooksSettled(): Promise<void>;
  /** Stops the server and webhook deliveries; removes `dir` if the fake made it. */
  close(): Promise<void>;
}

/** GitHub's primary rate limit for a token, per hour. */
const RATE_LIMIT = 5_000;
const MAX_BODY_BYTES = 25 * 1024 * 1024;

/** What one request turns into before it is written. */
interface Answer {
  status: number;
  body?: unknown;
  headers: Record<string, string>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * The app id of a GitHub App JWT (RS256, `iss` the app id, `exp` in the future and at most 10 minutes after `iat`,
 * as GitHub requires), or undefined when the JWT is malformed, expired or not signed by that app's key.
 */
function appOfJwt(jwt: string, apps: NonNullable<GitHubFakeOptions['apps']>): string | undefined {
  const [head, body, sig] = jwt.split('.');
  if (!head || !body || !sig) return undefined;
  try {
    const header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as { alg?: string };
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { iss?: string | number; iat?: number; exp?: number };
    const app = apps[String(claims.iss)];
    const nowS = Date.now() / 1000;
    if (header.alg !== 'RS256' || !app || !claims.exp || !claims.iat || claims.exp < nowS || claims.exp - claims.iat > 600) return undefined;
    const ok = verifySignature('RSA-SHA256', Buffer.from(`${head}.${body}`), createPublicKey(app.publicKey), Buffer.from(sig, 'base64url'));
    return ok ? String(claims.iss) : undefined;
  } catch {
    return undefined;
  }
}

function tokenOf(req: IncomingMessage): string | undefined {
  const m = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

function faultAnswer(fault: Fault): Answer {
  const docs = 'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits';
  const retry = { 'retry-after': String(fault.retryAfterS) };
  switch (fault.kind) {
    case 'secondary':
      return { status: 403, body: { message: SECONDARY_RATE_LIMIT_MESSAGE, documentation_url: docs }, headers: retry };
    case '429':
      return { status: 429, body: { message: SECONDARY_RATE_LIMIT_MESSAGE, documentation_url: docs }, headers: retry };
    default:
      return { status: 502, body: { message: 'Server Error' }, headers: {} };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a fake on 127.0.0.1. The OpenAPI description is loaded once per process (a few hundred ms the first time).
 * @throws Error if the description cannot be loaded or the port is taken.
 */
export async function startGitHubFake(opts: GitHubFakeOptions): Promise<GitHubFake> {
  // The installation-token route is answered before the per-repository handlers (an app's JWT, no repository).
  const openapi: GitHubOpenApi = loadGitHubOpenApi([...Object.keys(HANDLERS), 'apps/create-installation-access-token']);
  const log = opts.log ?? (() => {});
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'github-fake-')));
  const apps = opts.apps ?? {};
  const appLogins = Object.values(apps).flatMap((a) => Object.values(a.installations));
  const core = new FakeCore('', [...Object.values(opts.tokens), ...appLogins], log);
  /** Installation tokens minted so far: token -> login and expiry (ms since epoch). */
  const minted = new Map<string, { login: string; expires: number }>();
  const faults = new Faults();
  const requests: RequestRecord[] = [];
  const violations: Violation[] = [];
  const usage = new Map<string, { windowStart: number; used: number }>();

  function rateHeaders(login: string | null, counts: boolean): Record<string, string> {
    const key = login ?? '(anonymous)';
    const nowS = Math.floor(Date.now() / 1000);
    let u = usage.get(key);
    if (!u || nowS >= u.windowStart + 3600) {
      u = { windowStart: nowS, used: 0 };
      usage.set(key, u);
    }
    if (counts) u.used++;
    const limit = login ? RATE_LIMIT : 60;
    return {
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': String(Math.max(0, limit - u.used)),
      'x-ratelimit-reset': String(u.windowStart + 3600),
      'x-ratelimit-used': String(u.used),
      'x-ratelimit-resource': 'core',
    };
  }

  function pager(url: URL, query: Record<string, unknown>): Ctx['page'] {
    return <T>(items: T[]) => {
      const perPage = Math.min(100, Math.max(1, Number(query.per_page) || 30));
      const page = Math.max(1, Number(query.page) || 1);
      const last = Math.max(1, Math.ceil(items.length / perPage));
      const link = (n: number): string => {
        const u = new URL(url.pathname + url.search, core.base);
        u.searchParams.set('page', String(n));
        return u.toString();
      };
      const rels: string[] = [];
      if (page > 1) rels.push(`<${link(Math.min(page - 1, last))}>; rel="prev"`);
      if (page < last) rels.push(`<${link(page + 1)}>; rel="next"`);
      if (page < last) rels.push(`<${link(last)}>; rel="last"`);
      if (page > 1) rels.push(`<${link(1)}>; rel="first"`);
      const headers: Record<string, string> = rels.length ? { link: rels.join(', ') } : {};
      return { slice: items.slice((page - 1) * perPage, page * perPage), headers };
    };
  }

  /** Answers one request (everything but writing it); fills `record`. */
  async function answer(req: IncomingMessage, url: URL, record: RequestRecord): Promise<Answer> {
    const method = (req.method ?? 'GET').toUpperCase();
    const text = await readBody(req);
    const route = openapi.route(method, url.pathname);
    record.operationId = route?.operationId ?? null;
    const violation = (where: Violation['where'], message: string): void => {
      violations.push({ method, path: url.pathname, ...(route ? { operationId: route.operationId } : {}), where, message });
    };
    const docs = route ? openapi.docsUrl(route.operationId) : 'https://docs.github.com/rest';
    const error = (status: number, message: string, errors?: unknown[]): Answer => ({
      status,
      body: { message, documentation_url: docs, status: String(status), ...(errors ? { errors } : {}) },
      headers: {},
    });

    const token = tokenOf(req);
    if (route?.operationId === 'apps/create-installation-access-token') {
      // The one route an app's JWT opens: a fresh installation token.
      const appId = token === undefined ? undefined : appOfJwt(token, apps);
      if (!appId) return error(401, 'A JSON web token could not be decoded');
      const installation = apps[appId].installations[String(route.params.installation_id)];
      if (!installation) return error(404, 'Not Found');
      record.login = installation;
      const fresh = `ghs_${randomBytes(18).toString('hex')}`;
      const expires = Date.now() + 3_600_000;
      minted.set(fresh, { login: installation, expires });
      return { status: 201, body: { token: fresh, expires_at: new Date(expires).toISOString().replace(/\.\d{3}Z$/, 'Z'), permissions: { issues: 'write', pull_requests: 'write', contents: 'write' }, repository_selection: 'all' }, headers: {} };
    }
    const installation = token === undefined ? undefined : minted.get(token);
    record.login = token === undefined ? null : (opts.tokens[token] ?? (installation && installation.expires > Date.now() ? installation.login : null));
    if (!record.login) return error(401, 'Bad credentials');

    const fault = faults.draw(method, url.pathname);
    if (fault) {
      record.fault = fault.kind;
      if (fault.kind !== 'slow') return faultAnswer(fault);
      await sleep(fault.slowMs);
    }

    if (!route) {
      violation('route', `GitHub's description has no ${method} ${url.pathname}`);
      return error(404, 'Not Found');
    }
    const handler = HANDLERS[route.operationId];
    if (!handler) {
      violation('route', `${route.operationId} (${method} ${route.template}) is in GitHub's description but the fake does not implement it`);
      return error(404, 'Not Found');
    }
    let body: unknown;
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch (err) {
        violation('request', `malformed JSON body: ${err instanceof Error ? err.message : String(err)}`);
        return error(400, 'Problems parsing JSON');
      }
    }
    const checked = openapi.validateRequest(route.operationId, { path: route.params, query: Object.fromEntries(url.searchParams), body });
    if (checked.errors.length) {
      violation('request', checked.errors.join('; '));
      return error(422, `Invalid request.\n\n${checked.errors.join('\n')}`);
    }
    const repo = core.repo(String(checked.path.owner), String(checked.path.repo));
    if (!repo) return error(404, 'Not Found');
    const ctx: Ctx = {
      core,
      repo,
      login: record.login,
      path: checked.path,
      query: checked.query,
      body: body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined,
      page: pager(url, checked.query),
    };
    try {
      const reply = await core.exclusive(repo, () => handler(ctx));
      return { status: reply.status, body: reply.body, headers: reply.headers ?? {} };
    } catch (err) {
      if (err instanceof HttpError) return err.empty ? { status: err.status, headers: {} } : error(err.status, err.message, err.errors);
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      violation('response', `the fake failed handling it: ${message}`);
      log(`github-fake: ${method} ${url.pathname} failed: ${message}`);
      return error(500, 'Server Error');
    }
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', core.base);
    const method = (req.method ?? 'GET').toUpperCase();
    const record: RequestRecord = { method, path: url.pathname, status: 0, login: null, operationId: null, ms: 0 };
    let a: Answer;
    try {
      a = await answer(req, url, record);
    } catch (err) {
      log(`github-fake: ${method} ${url.pathname} failed: ${err instanceof Error ? err.message : String(err)}`);
      a = { status: 500, body: { message: 'Server Error' }, headers: {} };
    }
    let json = a.body === undefined ? undefined : JSON.stringify(a.body);
    const headers: Record<string, string> = {
      'x-github-media-type': 'github.v3; format=json',
      'x-github-api-version-selected': '2022-11-28',
      'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
      ...a.headers,
    };
    if (json !== undefined) headers['content-type'] = 'application/json; charset=utf-8';
    let status = a.status;
    if (method === 'GET' && status === 200 && json !== undefined) {
      const etag = `W/"${createHash('sha256').update(json).digest('hex').slice(0, 32)}"`;
      headers.etag = etag;
      const wanted = (req.headers['if-none-match'] ?? '').split(',').map((t) => t.trim().replace(/^W\//, ''));
      if (wanted.includes(etag.replace(/^W\//, ''))) {
        status = 304;
        json = undefined;
        delete headers['content-type'];
      }
    }
    // Faulted answers are not GitHub's documented ones (a slow one is real), and a 304 has no body to check.
    const faulted = record.fault !== undefined && record.fault !== 'slow';
    if (status !== 304 && !faulted && record.login && record.operationId && HANDLERS[record.operationId]) {
      const errors = openapi.validateResponse(record.operationId, status, json === undefined ? undefined : a.body);
      if (errors.length) {
        violations.push({ method, path: url.pathname, operationId: record.operationId, where: 'response', message: errors.slice(0, 10).join('; ') });
      }
    }
    Object.assign(headers, rateHeaders(record.login, status !== 304));
    record.status = status;
    record.ms = Math.round(performance.now() - started);
    requests.push(record);
    log(`${method} ${url.pathname}${url.search} ${status}${record.fault ? ` (fault ${record.fault})` : ''} ${record.ms}ms ${record.login ?? '-'}`);
    res.writeHead(status, headers);
    res.end(json);
  }

  const server = createServer((req, res) => {
    serve(req, res).catch((err: unknown) => {
      log(`github-fake: ${String(err)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  core.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: core.base,
    dir,
    async createRepo(fullName, repoOpts = {}) {
      const [owner, name, ...rest] = fullName.split('/');
      if (!owner || !name || rest.length || !/^[A-Za-z0-9._-]+$/.test(owner) || !/^[A-Za-z0-9._-]+$/.test(name)) {
        throw new Error(`createRepo: '${fullName}' is not owner/name`);
      }
      if (core.repo(owner, name)) throw new Error(`createRepo: the fake already has ${fullName}`);
      const gitDir = path.join(dir, owner, `${name}.git`);
      const defaultBranch = repoOpts.defaultBranch ?? 'main';
      const at = now();
      await initBareRepo(gitDir, defaultBranch, repoOpts.files ?? { 'README.md': `# ${name}\n` }, {
        name: 'github-fake',
        email: 'github-fake@example.invalid',
        date: at,
      });
      core.addRepo(new RepoState(core.ids.next(), owner, name, defaultBranch, gitDir, at));
      return { gitDir };
    },
    repo(fullName) {
      const [owner = '', name = ''] = fullName.split('/');
      const repo = core.repo(owner, name);
      if (!repo) throw new Error(`the fake has no repository ${fullName}`);
      return repo;
    },
    faults: (spec) => faults.set(spec),
    requests: () => requests.map((r) => ({ ...r })),
    violations: () => violations.map((v) => ({ ...v })),
    webhooksSettled: () => core.webhooks.drain(),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await core.webhooks.close();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
