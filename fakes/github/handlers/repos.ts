/**
 * The repository, its branches, commit statuses and check runs on a ref, and its webhooks.
 */
import { branchSha, readCommit, resolveCommit } from '../git';
import { type FakeCore, HttpError, notFound, validationFailed } from '../core';
import { type CheckRunRecord, nodeId, now } from '../state';
import { type Ctx, type Handler, created, ok, sortBy, str } from './context';

// ---- statuses and checks --------------------------------------------------------------------------------------

async function commitOf(c: Ctx, ref: string, missing: () => HttpError): Promise<string> {
  const sha = await resolveCommit(c.repo.gitDir, ref);
  if (!sha) throw missing();
  return sha;
}

const noCommit = (ref: string) => () => new HttpError(422, `No commit found for SHA: ${ref}`);

export const createStatus: Handler = async (c) => {
  const sha = await commitOf(c, String(c.path.sha), noCommit(String(c.path.sha)));
  const body = c.body ?? {};
  const id = c.core.ids.next();
  const at = now();
  const status = {
    id,
    nodeId: nodeId('SC', id),
    sha,
    state: body.state as 'error' | 'failure' | 'pending' | 'success',
    targetUrl: str(body.target_url) ?? null,
    description: str(body.description) ?? null,
    context: str(body.context) ?? 'default',
    creator: c.login,
    createdAt: at,
    updatedAt: at,
  };
  c.repo.statuses.push(status);
  return created(c.core.views.status(c.repo, status));
};

export const combinedStatus: Handler = async (c) => {
  const sha = await commitOf(c, String(c.path.ref), () => notFound(`No commit found for SHA: ${String(c.path.ref)}`));
  return ok(c.core.views.combinedStatus(c.repo, sha));
};

/** Open pull requests whose head is `sha`, for a check run's `pull_requests`. */
async function pullsAt(c: Ctx, sha: string): Promise<Parameters<FakeCore['views']['checkRun']>[2]> {
  const out: Parameters<FakeCore['views']['checkRun']>[2] = [];
  for (const p of c.repo.pulls.values()) {
    if (c.repo.issues.get(p.number)?.state !== 'open') continue;
    const facts = await c.core.pullFacts(c.repo, p, false);
    if (facts.headSha === sha) out.push({ number: p.number, id: p.id, head: p.headRef, headSha: facts.headSha, base: p.baseRef, baseSha: facts.baseSha });
  }
  return out;
}

/** Creates a check run. A `conclusion` completes it; `completed` without one is refused (422, wording guessed). */
export const createCheckRun: Handler = async (c) => {
  const body = c.body ?? {};
  const sha = await commitOf(c, String(body.head_sha), noCommit(String(body.head_sha)));
  const conclusion = str(body.conclusion) ?? null;
  const status = conclusion ? 'completed' : ((str(body.status) ?? 'queued') as CheckRunRecord['status']);
  if (status === 'completed' && !conclusion) {
    throw validationFailed({ resource: 'CheckRun', field: 'conclusion', code: 'missing_field', message: 'conclusion is required when status is completed' });
  }
  const id = c.core.ids.next();
  const at = now();
  const output = (body.output ?? {}) as Record<string, unknown>;
  const run: CheckRunRecord = {
    id,
    nodeId: nodeId('CR', id),
    name: String(body.name),
    headSha: sha,
    status,
    conclusion,
    externalId: str(body.external_id) ?? null,
    detailsUrl: str(body.details_url) ?? null,
    startedAt: str(body.started_at) ?? at,
    completedAt: status === 'completed' ? (str(body.completed_at) ?? at) : null,
    output: { title: str(output.title) ?? null, summary: str(output.summary) ?? null, text: str(output.text) ?? null },
  };
  c.repo.checkRuns.push(run);
  return created(c.core.views.checkRun(c.repo, run, await pullsAt(c, sha)));
};

export const listCheckRunsForRef: Handler = async (c) => {
  const sha = await commitOf(c, String(c.path.ref), () => notFound(`No commit found for SHA: ${String(c.path.ref)}`));
  let runs = c.repo.checkRuns.filter((r) => r.headSha === sha);
  if (str(c.query.check_name) !== undefined) runs = runs.filter((r) => r.name === c.query.check_name);
  if (str(c.query.status) !== undefined) runs = runs.filter((r) => r.status === c.query.status);
  if ((str(c.query.filter) ?? 'latest') === 'latest') {
    const latest = new Map<string, CheckRunRecord>();
    for (const r of runs) latest.set(r.name, r);
    runs = [...latest.values()];
  }
  runs = sortBy(runs, (r) => r.id, 'desc');
  const { slice, headers } = c.page(runs);
  const pulls = await pullsAt(c, sha);
  return ok({ total_count: runs.length, check_runs: slice.map((r) => c.core.views.checkRun(c.repo, r, pulls)) }, headers);
};

// ---- repository -----------------------------------------------------------------------------------------------

export const getRepo: Handler = async (c) => ok(c.core.views.repository(c.repo, true));

export const getBranch: Handler = async (c) => {
  const name = String(c.path.branch);
  const sha = await branchSha(c.repo.gitDir, name);
  if (!sha) throw notFound('Branch not found');
  const commit = c.core.views.commit(c.repo, await readCommit(c.repo.gitDir, sha), (email) => c.core.loginOfEmail(email));
  return ok(c.core.views.branch(c.repo, name, commit));
};

// ---- hooks ----------------------------------------------------------------------------------------------------

/** Creates a repository webhook (`name` must be `web`, `config.url` is required) and pings it, as GitHub does. */
export const createWebhook: Handler = async (c) => {
  const body = c.body ?? {};
  const config = (body.config ?? {}) as Record<string, unknown>;
  const url = str(config.url);
  if (body.name !== undefined && body.name !== 'web') throw validationFailed({ resource: 'Hook', field: 'name', code: 'invalid' });
  if (!url || !/^https?:\/\//.test(url)) throw validationFailed({ resource: 'Hook', code: 'custom', message: 'Config must contain URL for webhooks' });
  const events = Array.isArray(body.events) ? (body.events as string[]) : ['push'];
  if (c.repo.hooks.some((h) => h.config.url === url)) throw validationFailed({ resource: 'Hook', code: 'custom', message: 'Hook already exists on this repository' });
  const id = c.core.ids.next();
  const at = now();
  const hook = {
    id,
    active: body.active !== false,
    events,
    config: {
      url,
      contentType: config.content_type === 'json' ? ('json' as const) : ('form' as const),
      secret: str(config.secret) ?? null,
      insecureSsl: String(config.insecure_ssl ?? '0'),
    },
    createdAt: at,
    updatedAt: at,
    deliveries: [],
  };
  c.repo.hooks.push(hook);
  const view = c.core.views.hook(c.repo, hook);
  c.core.webhooks.enqueue(hook, c.repo.id, 'ping', {
    zen: 'Keep it logically awesome.',
    hook_id: id,
    hook: view,
    repository: c.core.views.repository(c.repo),
    sender: c.core.views.user(c.login),
  });
  return created(view);
};

export const listWebhooks: Handler = async (c) => {
  const { slice, headers } = c.page(c.repo.hooks);
  return ok(
    slice.map((h) => c.core.views.hook(c.repo, h)),
    headers,
  );
};
