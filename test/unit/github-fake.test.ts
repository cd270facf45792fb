import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Octokit } from '@octokit/rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { simpleGit } from 'simple-git';
import { startGitHubFake, type GitHubFake } from '../../fakes/github';
import { loadGitHubOpenApi } from '../../fakes/github/openapi';
import { HANDLERS } from '../../fakes/github/handlers';

const BOT = 'ratchet-token-bot';
const PERSON = 'person-token-octocat';
const TOKENS = { [BOT]: 'ratchet-bot', [PERSON]: 'octocat' };

/** A repository name no other test uses. */
const uniqueName = (): string => `shop-${randomBytes(4).toString('hex')}`;

/** A git client for test clones; the identity comes with -c so nothing reads the user's config. */
const git = (dir: string) => simpleGit({ baseDir: dir, config: ['user.name=dev', 'user.email=dev@example.invalid', 'commit.gpgsign=false'] });

/** Octokit logs every failed request; the tests expect some and assert on them instead. */
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** Status of a rejected Octokit call. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (err) {
    return (err as { status: number }).status;
  }
  throw new Error('the call succeeded');
}

describe('GitHub fake', function () {
  let fake: GitHubFake;
  let work: string;
  const bot = (): Octokit => new Octokit({ auth: BOT, baseUrl: fake.url, log: quiet });
  const person = (): Octokit => new Octokit({ auth: PERSON, baseUrl: fake.url, log: quiet });

  before(async () => {
    fake = await startGitHubFake({ tokens: TOKENS });
    work = await mkdtemp(path.join(os.tmpdir(), 'github-fake-test-'));
  });
  after(async () => {
    await fake?.close();
    await rm(work, { recursive: true, force: true });
  });

  /** A fresh repository `acme/<unique>`. */
  async function newRepo(files?: Record<string, string>): Promise<{ owner: string; repo: string; gitDir: string }> {
    const repo = uniqueName();
    const { gitDir } = await fake.createRepo(`acme/${repo}`, { defaultBranch: 'main', ...(files ? { files } : {}) });
    return { owner: 'acme', repo, gitDir };
  }

  /** Clones `gitDir`, commits `files` on a new `branch` from `from`, pushes it with `git push <gitDir>`; returns the sha. */
  async function pushBranch(gitDir: string, branch: string, files: Record<string, string>, from = 'main'): Promise<string> {
    const dir = await mkdtemp(path.join(work, 'clone-'));
    await simpleGit().clone(gitDir, dir);
    const g = git(dir);
    await g.checkout(['-b', branch, `origin/${from}`]);
    for (const [file, content] of Object.entries(files)) await writeFile(path.join(dir, file), content);
    await g.add('.');
    await g.commit(`change ${Object.keys(files).join(', ')}`);
    await g.raw(['push', '--quiet', gitDir, `HEAD:refs/heads/${branch}`]);
    return (await g.revparse(['HEAD'])).trim();
  }

  it('starts with GitHub routes at the root and refuses an unknown token with 401 Bad credentials', async () => {
    const { owner, repo } = await newRepo();
    const res = await fetch(`${fake.url}/repos/${owner}/${repo}`, { headers: { authorization: 'token nope' } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { message: string }).message, 'Bad credentials');
    const ok = await bot().rest.repos.get({ owner, repo });
    assert.equal(ok.data.default_branch, 'main');
    assert.equal(ok.headers['x-ratelimit-limit'], '5000');
    assert.deepEqual(fake.violations(), []);
  });

  it('creates and lists issues, sets labels, and records label events with the actor', async () => {
    const { owner, repo } = await newRepo();
    const first = await bot().rest.issues.create({ owner, repo, title: 'first', body: 'one', labels: ['ratchet', 'ready'] });
    assert.equal(first.status, 201);
    assert.equal(first.data.user?.login, 'ratchet-bot');
    await bot().rest.issues.create({ owner, repo, title: 'second', labels: ['ratchet'] });
    await person().rest.issues.setLabels({ owner, repo, issue_number: first.data.number, labels: ['ratchet', 'done'] });

    const both = await bot().rest.issues.listForRepo({ owner, repo, labels: 'ratchet' });
    assert.deepEqual(both.data.map((i) => i.title), ['second', 'first']);
    const done = await bot().rest.issues.listForRepo({ owner, repo, labels: 'ratchet,DONE' });
    assert.deepEqual(done.data.map((i) => i.title), ['first']);
    const paged = await bot().paginate(bot().rest.issues.listForRepo, { owner, repo, per_page: 1, direction: 'asc' });
    assert.deepEqual(paged.map((i) => i.number), [1, 2]);

    const events = await bot().rest.issues.listEvents({ owner, repo, issue_number: first.data.number });
    const summary = events.data.map((e) => {
      const ev = e as { event: string; actor: { login: string }; label: { name: string } };
      return [ev.event, ev.label.name, ev.actor.login];
    });
    assert.deepEqual(summary, [
      ['labeled', 'ratchet', 'ratchet-bot'],
      ['labeled', 'ready', 'ratchet-bot'],
      ['unlabeled', 'ready', 'octocat'],
      ['labeled', 'done', 'octocat'],
    ]);
    assert.deepEqual(fake.repo(`${owner}/${repo}`).issues.get(first.data.number)?.labels, ['ratchet', 'done']);

    await person().rest.issues.removeLabel({ owner, repo, issue_number: first.data.number, name: 'done' });
    assert.equal(await statusOf(person().rest.issues.removeLabel({ owner, repo, issue_number: first.data.number, name: 'done' })), 404);
    assert.equal(await statusOf(bot().rest.issues.createLabel({ owner, repo, name: 'Ratchet' })), 422);
    const closed = await person().rest.issues.update({ owner, repo, issue_number: first.data.number, state: 'closed', state_reason: 'not_planned' });
    assert.equal(closed.data.state_reason, 'not_planned');
    assert.equal(closed.data.closed_by?.login, 'octocat');
    assert.deepEqual(fake.violations(), []);
  });

  it('creates and edits comments', async () => {
    const { owner, repo } = await newRepo();
    const issue = await bot().rest.issues.create({ owner, repo, title: 'talk' });
    const made = await bot().rest.issues.createComment({ owner, repo, issue_number: issue.data.number, body: 'first words' });
    await bot().rest.issues.updateComment({ owner, repo, comment_id: made.data.id, body: 'better words' });
    const listed = await bot().rest.issues.listComments({ owner, repo, issue_number: issue.data.number });
    assert.deepEqual(listed.data.map((c) => [c.body, c.user?.login]), [['better words', 'ratchet-bot']]);
    const got = await bot().rest.issues.getComment({ owner, repo, comment_id: made.data.id });
    assert.equal(got.data.body, 'better words');
    assert.equal((await bot().rest.issues.get({ owner, repo, issue_number: issue.data.number })).data.comments, 1);
    const comments = fake.requests().filter((r) => r.method === 'POST' && r.path === `/repos/${owner}/${repo}/issues/${issue.data.number}/comments`);
    assert.equal(comments.length, 1);
    assert.deepEqual(fake.violations(), []);
  });

  it('adds and lists blocked-by dependencies by issue id, and refuses an existing edge with 422', async () => {
    const { owner, repo } = await newRepo();
    const blocker = await bot().rest.issues.create({ owner, repo, title: 'blocker' });
    const blocked = await bot().rest.issues.create({ owner, repo, title: 'blocked' });
    const added = await bot().rest.issues.addBlockedByDependency({ owner, repo, issue_number: blocked.data.number, issue_id: blocker.data.id });
    assert.equal(added.status, 201);
    assert.equal(added.data.number, blocker.data.number);
    const list = await bot().rest.issues.listDependenciesBlockedBy({ owner, repo, issue_number: blocked.data.number });
    assert.deepEqual(list.data.map((i) => i.number), [blocker.data.number]);
    assert.equal(await statusOf(bot().rest.issues.addBlockedByDependency({ owner, repo, issue_number: blocked.data.number, issue_id: blocker.data.id })), 422);
    // The number is not the id: GitHub finds no issue by it.
    assert.equal(await statusOf(bot().rest.issues.addBlockedByDependency({ owner, repo, issue_number: blocked.data.number, issue_id: blocker.data.number })), 422);
    assert.equal(fake.repo(`${owner}/${repo}`).dependencies.length, 1);
    const summary = (await bot().rest.issues.get({ owner, repo, issue_number: blocked.data.number })).data.issue_dependencies_summary;
    assert.deepEqual(summary, { blocked_by: 1, blocking: 0, total_blocked_by: 1, total_blocking: 0 });
    await bot().rest.issues.removeDependencyBlockedBy({ owner, repo, issue_number: blocked.data.number, issue_id: blocker.data.id });
    assert.deepEqual((await bot().rest.issues.listDependenciesBlockedBy({ owner, repo, issue_number: blocked.data.number })).data, []);
    assert.deepEqual(fake.violations(), []);
  });

  it('opens a pull request from a pushed branch, refuses a second one, takes a review, and merges it in the bare repository', async () => {
    const { owner, repo, gitDir } = await newRepo({ 'README.md': '# shop\n', 'app.txt': 'one\ntwo\nthree\n' });
    const head = await pushBranch(gitDir, 'feature', { 'app.txt': 'one\nTWO\nthree\n' });
    const opened = await bot().rest.pulls.create({ owner, repo, title: 'Feature', head: 'feature', base: 'main', body: 'Fixes #1' });
    assert.equal(opened.data.head.sha, head);
    assert.equal(opened.data.mergeable, true);
    const again = bot().rest.pulls.create({ owner, repo, title: 'Feature again', head: `${owner}:feature`, base: 'main' });
    await assert.rejects(again, (err: { status: number; response: { data: { errors: { message: string }[] } } }) => {
      assert.equal(err.status, 422);
      assert.equal(err.response.data.errors[0]?.message, `A pull request already exists for ${owner}:feature.`);
      return true;
    });
    assert.equal(await statusOf(bot().rest.pulls.create({ owner, repo, title: 'x', head: 'nowhere', base: 'main' })), 422);
    const open = await bot().rest.pulls.list({ owner, repo, head: `${owner}:feature` });
    assert.deepEqual(open.data.map((p) => p.number), [opened.data.number]);
    const asIssues = await bot().rest.issues.listForRepo({ owner, repo });
    assert.ok(asIssues.data.find((i) => i.number === opened.data.number)?.pull_request, 'the issue list carries the pull request');

    await person().rest.pulls.createReview({
      owner,
      repo,
      pull_number: opened.data.number,
      event: 'REQUEST_CHANGES',
      body: 'Please shout less.',
      comments: [{ path: 'app.txt', line: 2, body: 'lower case here' }],
    });
    const reviews = await bot().rest.pulls.listReviews({ owner, repo, pull_number: opened.data.number });
    assert.deepEqual(reviews.data.map((r) => [r.state, r.user?.login, r.body]), [['CHANGES_REQUESTED', 'octocat', 'Please shout less.']]);
    const inline = await bot().rest.pulls.listReviewComments({ owner, repo, pull_number: opened.data.number });
    assert.deepEqual(inline.data.map((c) => [c.path, c.line, c.body, c.user.login, c.pull_request_review_id]), [
      ['app.txt', 2, 'lower case here', 'octocat', reviews.data[0]?.id],
    ]);

    // A later push moves the head; merging with the old sha is refused.
    const newHead = await pushBranch(gitDir, 'feature-2', { 'app.txt': 'one\ntwo!\nthree\n' }, 'feature');
    await simpleGit(gitDir).raw(['update-ref', 'refs/heads/feature', newHead]);
    assert.equal((await bot().rest.pulls.get({ owner, repo, pull_number: opened.data.number })).data.head.sha, newHead);
    assert.equal(await statusOf(person().rest.pulls.merge({ owner, repo, pull_number: opened.data.number, sha: head })), 409);

    const mainBefore = (await simpleGit(gitDir).revparse(['main'])).trim();
    const merged = await person().rest.pulls.merge({ owner, repo, pull_number: opened.data.number, sha: newHead, merge_method: 'merge' });
    assert.equal(merged.data.merged, true);
    const [parents, subject] = (await simpleGit(gitDir).raw(['log', '-1', '--format=%P%n%s', 'main'])).trim().split('\n');
    assert.equal((await simpleGit(gitDir).revparse(['main'])).trim(), merged.data.sha);
    assert.equal(parents, `${mainBefore} ${newHead}`);
    assert.equal(subject, `Merge pull request #${opened.data.number} from ${owner}/feature`);
    assert.equal((await simpleGit(gitDir).show([`main:app.txt`])).toString(), 'one\ntwo!\nthree\n');

    const after = await bot().rest.pulls.get({ owner, repo, pull_number: opened.data.number });
    assert.equal(after.data.merged, true);
    assert.equal(after.data.state, 'closed');
    assert.equal(after.data.merged_by?.login, 'octocat');
    assert.equal(after.data.merge_commit_sha, merged.data.sha);
    assert.equal((await bot().rest.pulls.checkIfMerged({ owner, repo, pull_number: opened.data.number })).status, 204);
    assert.equal(await statusOf(person().rest.pulls.merge({ owner, repo, pull_number: opened.data.number })), 405);
    assert.equal(fake.requests().filter((r) => r.method === 'POST' && r.path === `/repos/${owner}/${repo}/pulls`).length, 3);
    assert.deepEqual(fake.violations(), []);
  });

  it('squash-merges and closes the issue the body fixes; refuses a pull request that now conflicts (405, mergeable false)', async () => {
    const { owner, repo, gitDir } = await newRepo({ 'app.txt': 'base\n' });
    await pushBranch(gitDir, 'left', { 'app.txt': 'left\n' });
    await pushBranch(gitDir, 'right', { 'app.txt': 'right\n' });
    const ticket = await bot().rest.issues.create({ owner, repo, title: 'make it left' });
    const left = await bot().rest.pulls.create({ owner, repo, title: 'Left', head: 'left', base: 'main', body: `Fixes #${ticket.data.number}` });
    const right = await bot().rest.pulls.create({ owner, repo, title: 'Right', head: 'right', base: 'main' });
    await person().rest.pulls.merge({ owner, repo, pull_number: left.data.number, merge_method: 'squash' });
    assert.equal((await simpleGit(gitDir).raw(['log', '-1', '--format=%s', 'main'])).trim(), `Left (#${left.data.number})`);
    // As on GitHub, merging into the default branch closes the issues the body says it fixes.
    const closed = await bot().rest.issues.get({ owner, repo, issue_number: ticket.data.number });
    assert.deepEqual([closed.data.state, closed.data.state_reason, closed.data.closed_by?.login], ['closed', 'completed', 'octocat']);
    assert.equal((await bot().rest.pulls.get({ owner, repo, pull_number: right.data.number })).data.mergeable, false);
    assert.equal(await statusOf(person().rest.pulls.merge({ owner, repo, pull_number: right.data.number })), 405);
    assert.deepEqual(fake.violations(), []);
  });

  it('records commit statuses and check runs on a ref', async () => {
    const { owner, repo, gitDir } = await newRepo();
    const sha = (await simpleGit(gitDir).revparse(['main'])).trim();
    await bot().rest.repos.createCommitStatus({ owner, repo, sha, state: 'pending', context: 'ci' });
    await bot().rest.repos.createCommitStatus({ owner, repo, sha, state: 'success', context: 'ci', target_url: 'https://ci.example/1' });
    const combined = await bot().rest.repos.getCombinedStatusForRef({ owner, repo, ref: 'main' });
    assert.deepEqual([combined.data.state, combined.data.total_count, combined.data.sha], ['success', 1, sha]);
    await bot().rest.checks.create({ owner, repo, name: 'build', head_sha: sha, status: 'in_progress' });
    await bot().rest.checks.create({ owner, repo, name: 'build', head_sha: sha, conclusion: 'failure' });
    const runs = await bot().rest.checks.listForRef({ owner, repo, ref: sha });
    assert.deepEqual(runs.data.check_runs.map((r) => [r.name, r.status, r.conclusion]), [['build', 'completed', 'failure']]);
    const branch = await bot().rest.repos.getBranch({ owner, repo, branch: 'main' });
    assert.equal(branch.data.commit.sha, sha);
    assert.deepEqual(fake.violations(), []);
  });

  it('answers a conditional GET whose ETag still matches with 304 and no body', async () => {
    const { owner, repo } = await newRepo();
    const issue = await bot().rest.issues.create({ owner, repo, title: 'cached' });
    const first = await bot().rest.issues.get({ owner, repo, issue_number: issue.data.number });
    const etag = first.headers.etag;
    assert.ok(etag);
    assert.equal(await statusOf(bot().rest.issues.get({ owner, repo, issue_number: issue.data.number, headers: { 'if-none-match': etag } })), 304);
    await bot().rest.issues.update({ owner, repo, issue_number: issue.data.number, title: 'changed' });
    const fresh = await bot().rest.issues.get({ owner, repo, issue_number: issue.data.number, headers: { 'if-none-match': etag } });
    assert.equal(fresh.data.title, 'changed');
    const conditional = fake.requests().filter((r) => r.path === `/repos/${owner}/${repo}/issues/${issue.data.number}` && r.method === 'GET');
    assert.deepEqual(conditional.map((r) => r.status), [200, 304, 200]);
    assert.deepEqual(fake.violations(), []);
  });

  it('injects secondary rate limits before handling, so Octokit with retry and throttling succeeds once, and requests() shows the 403s', async () => {
    const { owner, repo } = await newRepo();
    const RetryingOctokit = Octokit.plugin(retry, throttling);
    const gh = new RetryingOctokit({
      auth: BOT,
      baseUrl: fake.url,
      log: quiet,
      // retry-after counts in units of 100 ms instead of 1 s: the same waits, ten times shorter.
      throttle: { onRateLimit: () => true, onSecondaryRateLimit: () => true, retryAfterBaseValue: 100 },
    });
    // A label: had a faulted request created it, the retry would be refused as already_exists.
    const labelsPath = `/repos/${owner}/${repo}/labels`;
    fake.faults({ kinds: ['secondary'], rate: 1, max: 2, seed: 7, methods: ['POST'], paths: new RegExp(`^${labelsPath}$`) });
    try {
      const made = await gh.rest.issues.createLabel({ owner, repo, name: 'through-the-limit' });
      assert.equal(made.status, 201);
    } finally {
      fake.faults(null);
    }
    const posts = fake.requests().filter((r) => r.method === 'POST' && r.path === labelsPath);
    assert.deepEqual(posts.map((r) => [r.status, r.fault]), [[403, 'secondary'], [403, 'secondary'], [201, undefined]]);
    assert.equal(fake.repo(`${owner}/${repo}`).labels.size, 1);
    assert.deepEqual(fake.violations(), []);
  });

  it('delivers signed webhooks in order to a local receiver, verifiable with @octokit/webhooks', async () => {
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    const receiver: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const { owner, repo, gitDir } = await newRepo();
      const secret = 'shh-its-a-secret';
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      await bot().rest.repos.createWebhook({
        owner,
        repo,
        config: { url, secret, content_type: 'json' },
        events: ['issues', 'issue_comment', 'pull_request', 'pull_request_review'],
      });
      const issue = await bot().rest.issues.create({ owner, repo, title: 'watched' });
      await person().rest.issues.addLabels({ owner, repo, issue_number: issue.data.number, labels: ['bug'] });
      await bot().rest.issues.createComment({ owner, repo, issue_number: issue.data.number, body: 'noted' });
      await pushBranch(gitDir, 'watched', { 'w.txt': 'w\n' });
      const pr = await bot().rest.pulls.create({ owner, repo, title: 'Watched', head: 'watched', base: 'main' });
      await person().rest.pulls.createReview({ owner, repo, pull_number: pr.data.number, event: 'REQUEST_CHANGES', body: 'no' });
      await person().rest.pulls.merge({ owner, repo, pull_number: pr.data.number });
      await fake.webhooksSettled();

      // A dynamic import: @octokit/webhooks-methods exports ESM only, which a require() under tsx cannot load.
      const { Webhooks } = await import('@octokit/webhooks');
      const webhooks = new Webhooks({ secret });
      for (const d of received) {
        assert.equal(d.headers['content-type'], 'application/json');
        assert.match(String(d.headers['x-github-delivery']), /^[0-9a-f-]{36}$/);
        assert.equal(await webhooks.verify(d.body, String(d.headers['x-hub-signature-256'])), true);
      }
      const seen = received.map((d) => {
        const payload = JSON.parse(d.body) as { action?: string; sender: { login: string }; pull_request?: { merged: boolean }; review?: { state: string } };
        const detail = payload.review?.state ?? (payload.action === 'closed' ? `merged=${payload.pull_request?.merged}` : '');
        return [d.headers['x-github-event'], payload.action, payload.sender.login, detail].filter(Boolean).join(' ');
      });
      assert.deepEqual(seen, [
        'ping ratchet-bot',
        'issues opened ratchet-bot',
        'issues labeled octocat',
        'issue_comment created ratchet-bot',
        'pull_request opened ratchet-bot',
        'pull_request_review submitted octocat changes_requested',
        'pull_request closed octocat merged=true',
      ]);
      assert.equal(await webhooks.verify(received[1]?.body ?? '', 'sha256=0000'), false);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
    assert.deepEqual(fake.violations(), []);
  });
});

describe('GitHub fake: what GitHub would refuse', () => {
  let fake: GitHubFake;
  before(async () => {
    fake = await startGitHubFake({ tokens: TOKENS });
  });
  after(async () => fake?.close());

  it('refuses a request that breaks the description with a 4xx and records a violation', async () => {
    const repo = uniqueName();
    await fake.createRepo(`acme/${repo}`);
    const gh = new Octokit({ auth: BOT, baseUrl: fake.url, log: quiet });
    const noTitle = gh.request('POST /repos/{owner}/{repo}/issues', { owner: 'acme', repo, body: 'no title' } as never);
    assert.equal(await statusOf(noTitle), 422);
    const wrongType = gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { owner: 'acme', repo, issue_number: 1, labels: 'bug' } as never);
    assert.equal(await statusOf(wrongType), 422);
    const res = await fetch(`${fake.url}/repos/acme/${repo}/issues`, { method: 'POST', headers: { authorization: `token ${BOT}` }, body: '{"title":' });
    assert.equal(res.status, 400);
    assert.deepEqual(
      fake.violations().map((v) => [v.operationId, v.where]),
      [
        ['issues/create', 'request'],
        ['issues/add-labels', 'request'],
        ['issues/create', 'request'],
      ],
    );
    assert.match(fake.violations()[0]?.message ?? '', /title/);
    assert.equal(fake.repo(`acme/${repo}`).issues.size, 0);
  });

  it('answers a route it does not implement, or that GitHub does not have, with 404 and a violation', async () => {
    const before = fake.violations().length;
    const gh = new Octokit({ auth: BOT, baseUrl: fake.url, log: quiet });
    assert.equal(await statusOf(gh.rest.repos.listReleases({ owner: 'acme', repo: 'shop' })), 404);
    assert.equal(await statusOf(gh.request('GET /no/such/route')), 404);
    const found = fake.violations().slice(before);
    assert.deepEqual(found.map((v) => [v.where, v.operationId]), [
      ['route', 'repos/list-releases'],
      ['route', undefined],
    ]);
  });

  it('checks response bodies against the documented schema, OpenAPI nullable included', () => {
    const api = loadGitHubOpenApi(Object.keys(HANDLERS));
    assert.deepEqual(api.validateResponse('issues/get-label', 200, { id: 1, node_id: 'x', url: 'http://h/l', name: 'bug', description: null, color: 'ededed', default: false }), []);
    const bad = api.validateResponse('issues/get-label', 200, { id: 1, node_id: 'x', url: 'http://h/l', name: null, color: 'ededed', default: false });
    assert.ok(bad.some((e) => /description/.test(e)), bad.join('\n'));
    assert.ok(bad.some((e) => /name/.test(e)), bad.join('\n'));
    assert.deepEqual(api.validateResponse('pulls/check-if-merged', 204, undefined), []);
    assert.notDeepEqual(api.validateResponse('pulls/check-if-merged', 201, undefined), []);
  });
});
