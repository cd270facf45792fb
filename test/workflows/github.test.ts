/**
 * Batches whose tracker and forge are GitHub, against the local GitHub fake (fakes/github: GitHub's REST routes
 * that ratchet uses, every request and response validated against GitHub's OpenAPI description, a real bare
 * repository behind it). What a user would see on GitHub: issues labelled done and closed, one pull request per
 * issue, one ratchet comment per issue, review feedback answered on the same pull request, and no token anywhere.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Octokit } from '@octokit/rest';
import { simpleGit } from 'simple-git';
import type { ActivityDeps } from '../../activities';
import { createGitHubClient } from '../../activities/github/client';
import { startWebhookReceiver } from '../../client/webhook';
import { batchWorkflow } from '../../workflows';
import { batchWorkflowId, statusQuery, TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import type { BatchFile } from '../../workflows/input';
import { makeRepo, type Fixture, type ScriptedAttempt } from '../fixtures/repo';
import { callsResolve, redOnMain, withProduct } from '../fixtures/semantic-conflict';
import { startGitHubFake } from '../../fakes/github';
import { uniqueId, useServerAndWorker } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

const RATCHET_TOKEN = `ghp_ratchet${uniqueId('t').replace(/-/g, '')}`;
const PERSON_TOKEN = `ghp_person${uniqueId('t').replace(/-/g, '')}`;

/** Each ticket's own gate and probe: `<ticketId>.txt` must say `good`, in the worktree and then on main. */
const ownFileGate = { name: 'own file', command: 'test "$(cat "$RATCHET_TICKET_ID.txt" 2>/dev/null)" = good' };
const ownFileProbe = { name: 'own file live', command: 'test "$(cat "$RATCHET_TICKET_ID.txt")" = good' };

describe('GitHub as tracker and forge (local GitHub fake, real dev server)', function () {
  this.timeout(300_000);
  let fake: Awaited<ReturnType<typeof startGitHubFake>>;
  const deps: ActivityDeps = {};
  before(async () => {
    fake = await startGitHubFake({ tokens: { [RATCHET_TOKEN]: 'ratchet-bot', [PERSON_TOKEN]: 'octocat' } });
    deps.github = createGitHubClient({ token: RATCHET_TOKEN, baseUrl: fake.url, writeSpacingMs: 0 });
    deps.env = { ...process.env, GITHUB_TOKEN: RATCHET_TOKEN };
  });
  after(async () => fake?.close());
  const server = useServerAndWorker({ activityDeps: deps });

  const person = (): Octokit => new Octokit({ auth: PERSON_TOKEN, baseUrl: fake.url });

  /**
   * A GitHub repository (fake) whose main is the fixture's main (with `product` committed on it first), and issues
   * made by a person.
   */
  async function setup(
    issues: { title: string; body?: string; blockedBy?: number[]; labels?: string[] }[],
    attempts: (n: number) => ScriptedAttempt[] | undefined = () => undefined,
    product?: (fx: Fixture) => Promise<void>,
  ) {
    const name = uniqueId('shop');
    const fullName = `acme/${name}`;
    const fx: Fixture = server.track(await makeRepo([]));
    await product?.(fx);
    const { gitDir } = await fake.createRepo(fullName, { defaultBranch: 'main' });
    await simpleGit(fx.repo).raw(['push', '--force', '--quiet', gitDir, 'main:main']);
    const gh = person();
    const numbers: number[] = [];
    for (const i of issues) {
      const r = await gh.rest.issues.create({ owner: 'acme', repo: name, title: i.title, body: i.body ?? '', labels: i.labels ?? ['ratchet'] });
      numbers.push(r.data.number);
      for (const b of i.blockedBy ?? []) {
        const blocker = await gh.rest.issues.get({ owner: 'acme', repo: name, issue_number: b });
        await gh.rest.issues.addBlockedByDependency({ owner: 'acme', repo: name, issue_number: r.data.number, issue_id: blocker.data.id });
      }
    }
    await fx.script(Object.fromEntries(numbers.map((n) => [String(n), attempts(n) ?? [{ files: { [`${n}.txt`]: 'good' } }]])));
    return { fx, name, fullName, gitDir, numbers };
  }

  async function start(
    fx: Fixture,
    fullName: string,
    gitDir: string,
    forge: Partial<Extract<NonNullable<BatchFile['forge']>, { kind: 'github' }>> = {},
    tracker: Partial<Extract<NonNullable<BatchFile['tracker']>, { kind: 'github' }>> = {},
    batch: Partial<BatchFile> = {},
  ) {
    const batchId = uniqueId('gh');
    const input = fx.batch(batchId, {
      gates: [ownFileGate],
      probes: [ownFileProbe],
      tracker: { kind: 'github', repo: fullName, labels: ['ratchet'], ...tracker },
      forge: { kind: 'github', remote: gitDir, land: 'merge', pollMs: 1_000, ...forge },
      ...batch,
    });
    const handle = await server.env().client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
    return { handle, batchId };
  }

  /** Everything ratchet left where a token could leak: every workflow history, the artifacts, git config. */
  async function assertNoToken(batchId: string, fx: Fixture): Promise<void> {
    const client = server.env().client;
    for await (const wf of client.workflow.list({ query: `RatchetBatch = "${batchId}"` })) {
      const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      assert.ok(!JSON.stringify(history).includes(RATCHET_TOKEN), `the token is in the history of ${wf.workflowId}`);
    }
    const batchHistory = await client.workflow.getHandle(batchWorkflowId(batchId)).fetchHistory();
    assert.ok(!JSON.stringify(batchHistory).includes(RATCHET_TOKEN), 'the token is in the batch history');
    const files = await fs.readdir(fx.dir, { recursive: true, withFileTypes: true });
    for (const f of files.filter((e) => e.isFile())) {
      const full = path.join(f.parentPath, f.name);
      const text = await fs.readFile(full).catch(() => Buffer.alloc(0));
      assert.ok(!text.includes(RATCHET_TOKEN), `the token is in ${full}`);
    }
  }

  it('runs issues in native dependency order, one pull request and one ratchet comment per issue, merged through the API', async () => {
    const { fx, fullName, gitDir, numbers } = await setup([
      { title: 'first' },
      { title: 'second', blockedBy: [1] },
      { title: 'third', body: 'Needs the others.\n\nDepends on #1, #2\n\n- [ ] third.txt says good' },
    ]);
    const { handle, batchId } = await start(fx, fullName, gitDir);
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true, JSON.stringify(report.oracle));
    assert.deepEqual(report.tickets.map((t) => [t.ticketId, t.outcome]).sort(), numbers.map((n) => [String(n), 'done']).sort());

    const repo = fake.repo(fullName);
    for (const n of numbers) {
      const issue = repo.issues.get(n)!;
      assert.equal(issue.state, 'closed');
      assert.deepEqual(issue.labels.filter((l) => l.startsWith('ratchet:')), ['ratchet:done']);
      const mine = [...repo.comments.values()].filter((c) => c.issueNumber === n && c.body.startsWith('<!-- ratchet:notes -->'));
      assert.equal(mine.length, 1, `one ratchet comment on #${n}`);
      const prs = [...repo.pulls.values()].filter((p) => p.headRef === `ratchet/${batchId}/${n}`);
      assert.equal(prs.length, 1, `one pull request for #${n}`);
      assert.equal(prs[0].merged, true);
    }
    // Dependency order: #2 and #3 started after #1 merged.
    const started = async (n: number) => (await server.env().client.workflow.getHandle(ticketWorkflowId(batchId, String(n))).describe()).startTime.getTime();
    const merged1 = [...repo.pulls.values()].find((p) => p.headRef === `ratchet/${batchId}/${numbers[0]}`)!.mergedAt!;
    assert.ok((await started(numbers[1])) >= Date.parse(merged1) - 1_000);
    // The local base came up to GitHub's: every ticket's file is on main here too.
    for (const n of numbers) assert.equal((await fs.readFile(path.join(fx.repo, `${n}.txt`), 'utf8').catch(() => '')).trim(), 'good');
    assert.deepEqual(fake.violations(), []);
    await assertNoToken(batchId, fx);
  });

  it('brings a pull request behind main up to date and validates it before merging: a semantic conflict goes back to work, and main is never red', async () => {
    const { fx, fullName, gitDir, numbers } = await setup(
      [{ title: 'rename get_name to name' }, { title: 'add a describe caller' }, { title: 'add notes' }],
      undefined,
      withProduct,
    );
    const [rename, describe, notes] = numbers;
    const go = fx.marker('rename-merged');
    const wait = `until [ -e "${go}" ]; do sleep 0.1; done`;
    await fx.script({
      [rename]: [{ files: { 'names.txt': 'name\n', 'uses/main': 'name\n', [`${rename}.txt`]: 'good' } }],
      // Cut from main before the rename merges, and validated there: each passes on its own base.
      [describe]: [
        { run: wait, files: { 'uses/describe': 'get_name\n', [`${describe}.txt`]: 'good' } },
        { files: { 'uses/describe': 'name\n', [`${describe}.txt`]: 'good' } },
      ],
      [notes]: [{ run: wait, files: { 'notes.txt': 'notes\n', [`${notes}.txt`]: 'good' } }],
    });
    const { handle, batchId } = await start(fx, fullName, gitDir, {}, {}, { gates: [callsResolve], maxParallel: 3 });
    const repo = fake.repo(fullName);
    const pullOf = (n: number) => [...repo.pulls.values()].find((p) => p.headRef === `ratchet/${batchId}/${n}`);
    await waitUntil('the rename merged on GitHub', async () => (pullOf(rename)?.merged ? true : undefined), { timeoutMs: 120_000 });
    await fs.writeFile(go, 'go');
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true, JSON.stringify(report.oracle));
    assert.deepEqual(report.tickets.map((t) => [t.ticketId, t.outcome, t.attempts]).sort(), [
      [String(rename), 'done', 1],
      [String(describe), 'done', 2],
      [String(notes), 'done', 1],
    ].sort());
    // The describe pull request was behind main; merged up to date, it failed the gate: a semantic conflict, counted.
    const pr = pullOf(describe)!;
    assert.equal(report.semanticConflicts?.length, 1, JSON.stringify(report.semanticConflicts));
    const [conflict] = report.semanticConflicts ?? [];
    assert.deepEqual(
      { ticketId: conflict.ticketId, attempt: conflict.attempt, gates: conflict.gates, candidate: conflict.candidate, base: conflict.base },
      { ticketId: String(describe), attempt: 1, gates: ['calls resolve'], candidate: pr.number, base: pullOf(rename)!.mergeCommitSha },
    );
    assert.ok(conflict.landedSince.some((l) => l.startsWith(`ratchet: merge ${rename} `)), conflict.landedSince.join('\n'));
    const prompt = await fs.readFile(path.join(fx.repo, '.ratchet/artifacts', batchId, String(describe), 'attempt-2', 'prompt.md'), 'utf8');
    assert.match(prompt, /semantic conflict/);
    assert.match(prompt, /uses\/describe calls get_name, which names\.txt does not define/);
    assert.match(prompt, new RegExp(`ratchet: merge ${rename} `));
    // One pull request for both attempts, merged at a head that contained main's tip; every commit on GitHub's main passes.
    assert.equal([...repo.pulls.values()].filter((p) => p.headRef === `ratchet/${batchId}/${describe}`).length, 1);
    assert.equal(pr.merged, true);
    // The notes pull request was behind main too and passed there: merged at the head ratchet brought up to date (the
    // attempt's commit with main's tip merged in), as its comment says.
    const notesPr = pullOf(notes)!;
    const parents = (await simpleGit(gitDir).raw(['rev-list', '--parents', '-n', '1', notesPr.headSha])).trim().split(' ');
    assert.equal(parents.length, 3, `the merged head ${notesPr.headSha} is a merge commit`);
    const comment = [...repo.comments.values()].find((c) => c.issueNumber === notesPr.number && c.body.startsWith('<!-- ratchet:pull-request -->'));
    assert.match(comment?.body ?? '', new RegExp(`Brought up to date: merged with \`main\` at \`[0-9a-f]{10}\` as \`${notesPr.headSha.slice(0, 10)}\`, which passed the gates too`));
    assert.deepEqual(await redOnMain(gitDir), [], 'every commit on the first-parent line of main on GitHub passes the gate');
    assert.deepEqual(await redOnMain(fx.repo), [], 'and on the local main that follows it');
    assert.deepEqual(fake.violations(), []);
  });

  it('with "require branches to be up to date" on main, a base that moves between its check and the merge is caught too: GitHub refuses, ratchet validates again', async () => {
    const { fx, fullName, gitDir, numbers } = await setup([{ title: 'rename get_name to name' }], undefined, withProduct);
    const [rename] = numbers;
    await fx.script({
      [rename]: [
        { files: { 'names.txt': 'name\n', 'uses/main': 'name\n', [`${rename}.txt`]: 'good' } },
        { files: { 'names.txt': 'name\n', 'uses/main': 'name\n', 'uses/describe': 'name\n', [`${rename}.txt`]: 'good' } },
      ],
    });
    const repo = fake.repo(fullName);
    repo.upToDateBranches.add('main');
    // A person pushes a new caller of get_name to main just after ratchet found the head up to date, before GitHub merges.
    let pushed: string | undefined;
    repo.beforeMerge = async () => {
      if (pushed) return;
      const clone = path.join(fx.dir, 'person');
      await simpleGit().clone(gitDir, clone);
      const git = simpleGit(clone).addConfig('user.name', 'octocat').addConfig('user.email', 'octocat@localhost');
      await fs.writeFile(path.join(clone, 'uses', 'describe'), 'get_name\n');
      await git.add('.').commit('a person adds a describe caller');
      await git.push('origin', 'main');
      pushed = (await git.revparse(['HEAD'])).trim();
    };
    const { handle, batchId } = await start(fx, fullName, gitDir, {}, {}, { gates: [callsResolve] });
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true, JSON.stringify(report.oracle));
    assert.ok(pushed, "the person's push happened");
    assert.equal(report.tickets[0].attempts, 2);
    const [conflict] = report.semanticConflicts ?? [];
    assert.deepEqual({ attempt: conflict?.attempt, gates: conflict?.gates, base: conflict?.base }, { attempt: 1, gates: ['calls resolve'], base: pushed });
    assert.deepEqual(conflict.landedSince, ['a person adds a describe caller']);
    // GitHub refused the out-of-date merge once (405), and never merged a head that lacked main's tip.
    const pr = [...repo.pulls.values()].find((p) => p.headRef === `ratchet/${batchId}/${rename}`)!;
    const merges = fake.requests().filter((r) => r.path === `/repos/${fullName}/pulls/${pr.number}/merge`);
    assert.deepEqual(merges.map((r) => r.status), [405, 200]);
    assert.equal(pr.merged, true);
    assert.deepEqual(await redOnMain(gitDir), [], 'every commit on the first-parent line of main on GitHub passes the gate');
    assert.deepEqual(fake.violations(), []);
  });

  it('reverts a regression through a pull request labelled ratchet:revert, validated and merged by ratchet; the culprit lands again', async () => {
    // #1 turns its flag on; #2's first attempt rewrites the flags without it (its own gate and probe pass), its second keeps both.
    const flags = (...on: number[]) => `{${on.map((n) => `"${n}": true`).join(', ')}}\n`;
    const { fx, fullName, gitDir, numbers } = await setup([{ title: 'flag one' }, { title: 'flag two', blockedBy: [1] }], (n) =>
      n === 1 ? [{ files: { 'config/flags.json': flags(1) } }] : [{ files: { 'config/flags.json': flags(2) } }, { files: { 'config/flags.json': flags(1, 2) } }],
    );
    const [one, two] = numbers.map(String);
    const flagOn = { name: 'flag on', command: 'grep -q "\\"$RATCHET_TICKET_ID\\": true" config/flags.json' };
    const flagsFile = { name: 'flags file', command: 'test -s config/flags.json' };
    const { handle, batchId } = await start(fx, fullName, gitDir, {}, {}, { gates: [flagsFile], probes: [flagOn], deploy: { command: 'true' } });
    const report = await handle.result();

    assert.equal(report.oracle.satisfied, true, JSON.stringify(report.oracle));
    const [reg] = report.regressions ?? [];
    assert.deepEqual({ ticketId: reg?.ticketId, probe: reg?.probe, culprit: reg?.culprit, suspects: reg?.suspects }, { ticketId: one, probe: 'flag on', culprit: two, suspects: [two] });
    assert.equal(report.reverts?.length, 1, JSON.stringify(report.reverts));
    const [rev] = report.reverts ?? [];
    assert.deepEqual({ ticketId: rev.ticketId, by: rev.by, restored: rev.restored }, { ticketId: two, by: 'auto', restored: true });
    assert.deepEqual(report.tickets.map((t) => [t.ticketId, t.outcome, t.attempts]).sort(), [[one, 'done', 1], [two, 'done', 2]]);
    // The revert's pull request: its own branch, labelled, the evidence in its body, merged by ratchet as the revert commit.
    const repo = fake.repo(fullName);
    const pr = [...repo.pulls.values()].find((p) => p.headRef === `ratchet/${batchId}/${two}-revert-1`);
    assert.ok(pr, `a pull request from ratchet/${batchId}/${two}-revert-1`);
    assert.equal(pr.merged, true);
    assert.equal(pr.mergeCommitSha, rev.revertCommit);
    const issue = repo.issues.get(pr.number)!;
    assert.deepEqual(issue.labels, ['ratchet:revert']);
    assert.match(issue.body ?? '', new RegExp(`Reverts \`${rev.merge}\``));
    assert.match(issue.body ?? '', new RegExp(`ticket ${one}'s probe "flag on" fails: before .*; landings since it last passed: ${two}`));
    // GitHub's main, first-parent: #1, #2, the revert of #2, #2 again; both flags on at the end.
    const subjects = (await simpleGit(gitDir).raw(['log', '--first-parent', '--reverse', '--format=%s', 'main'])).split('\n').filter((l) => l.startsWith('ratchet: '));
    assert.deepEqual(
      subjects.map((l) => l.split(' ').slice(0, 3).join(' ')),
      [`ratchet: merge ${one}`, `ratchet: merge ${two}`, `ratchet: revert ${two}`, `ratchet: merge ${two}`],
    );
    assert.equal(subjects[2], `ratchet: revert ${two} (${batchId}): ${rev.merge}`);
    assert.equal((await simpleGit(gitDir).show(['main:config/flags.json'])).trim(), flags(1, 2).trim());
    assert.deepEqual(report.mainLine?.map((c) => [c.ticketId, c.validation]).filter(([, v]) => v === 'revert'), [[two, 'revert']]);
    assert.deepEqual(fake.violations(), []);
  });

  it('turns a review asking for changes into a new attempt on the same pull request, then waits for a person to merge it (seen through signed webhooks)', async () => {
    const { fx, name, fullName, gitDir, numbers } = await setup([{ title: 'reviewed' }], (n) => [{ files: { [`${n}.txt`]: 'good' } }, { files: { [`${n}.txt`]: 'good', 'docs.txt': 'as asked' } }]);
    const [n] = numbers;
    // The ticket polls only every 10 minutes: the review and the merge reach it through `ratchet webhook`'s signals.
    const signalled: string[] = [];
    const receiver = await startWebhookReceiver({ client: server.env().client, secret: 'hook-secret', log: (l) => signalled.push(l) });
    try {
      const gh = person();
      await gh.rest.repos.createWebhook({ owner: 'acme', repo: name, config: { url: receiver.url, secret: 'hook-secret', content_type: 'json' }, events: ['pull_request', 'pull_request_review'] });
      const { handle, batchId } = await start(fx, fullName, gitDir, { land: 'human', pollMs: 600_000 });
      const pr = await waitUntil('the pull request to open', async () => [...fake.repo(fullName).pulls.values()].find((p) => p.headRef === `ratchet/${batchId}/${n}`));
      await gh.rest.pulls.createReview({
        owner: 'acme',
        repo: name,
        pull_number: pr.number,
        event: 'REQUEST_CHANGES',
        body: 'Please document it.',
        comments: [{ path: `${n}.txt`, line: 1, body: 'add docs.txt next to this' }],
      });
      const ticket = server.env().client.workflow.getHandle(ticketWorkflowId(batchId, String(n)));
      await waitUntil('attempt 2 pushed to the same pull request', async () => {
        const s = await ticket.query(statusQuery);
        const head = await simpleGit(fx.repo).raw(['ls-remote', gitDir, `refs/heads/ratchet/${batchId}/${n}`]);
        return s.attempt === 2 && s.phase === 'merge' && head.includes((await simpleGit(fx.repo).raw(['rev-parse', `ratchet/${batchId}/${n}`])).trim()) ? s : undefined;
      });
      const issue = await waitUntil('the issue to await a person', async () => (fake.repo(fullName).issues.get(n)!.labels.includes('ratchet:awaiting-human') ? true : undefined));
      assert.equal(issue, true);
      const current = await gh.rest.pulls.get({ owner: 'acme', repo: name, pull_number: pr.number });
      await gh.rest.pulls.merge({ owner: 'acme', repo: name, pull_number: pr.number, sha: current.data.head.sha });
      const report = await handle.result();
      assert.equal(report.oracle.satisfied, true);
      assert.deepEqual(report.interventions.byKind, { review: 1, merge: 1 });
      const prs = [...fake.repo(fullName).pulls.values()].filter((p) => p.headRef === `ratchet/${batchId}/${n}`);
      assert.equal(prs.length, 1, 'one pull request for both attempts');
      const answer = [...fake.repo(fullName).comments.values()].filter((c) => c.issueNumber === pr.number && c.body.startsWith('<!-- ratchet:pull-request -->'));
      assert.equal(answer.length, 1);
      assert.match(answer[0].body, /attempt 2 .*answers review/);
      assert.ok(signalled.some((l) => l.startsWith('pull_request_review.submitted') && l.includes(`signalled ticket-${batchId}-${n}`)), signalled.join('\n'));
      assert.deepEqual(fake.violations(), []);
      await assertNoToken(batchId, fx);
    } finally {
      await receiver.close();
    }
  });

  it("answers a plan gate when a person labels the issue ratchet:approve (signed webhook), never on ratchet's own label writes", async () => {
    const { fx, name, fullName, gitDir, numbers } = await setup([{ title: 'gated', labels: ['ratchet', 'ratchet:gate:plan'] }]);
    const [n] = numbers;
    const lines: string[] = [];
    const receiver = await startWebhookReceiver({ client: server.env().client, secret: 'label-secret', ratchetLogin: 'ratchet-bot', log: (l) => lines.push(l) });
    try {
      const gh = person();
      await gh.rest.repos.createWebhook({ owner: 'acme', repo: name, config: { url: receiver.url, secret: 'label-secret', content_type: 'json' }, events: ['issues'] });
      const { handle, batchId } = await start(fx, fullName, gitDir);
      const ticket = server.env().client.workflow.getHandle(ticketWorkflowId(batchId, String(n)));
      await waitUntil('the plan gate', async () => ((await ticket.query(statusQuery)).waitingFor === 'plan' ? true : undefined));
      // ratchet labelled the issue awaiting-human itself; that delivery (and every other of its own) answers nothing.
      await waitUntil('the awaiting-human label', async () => (fake.repo(fullName).issues.get(n)!.labels.includes('ratchet:awaiting-human') ? true : undefined));
      await fake.webhooksSettled();
      assert.equal((await ticket.query(statusQuery)).waitingFor, 'plan');
      await gh.rest.issues.addLabels({ owner: 'acme', repo: name, issue_number: n, labels: ['ratchet:approve'] });
      const report = await handle.result();
      assert.equal(report.oracle.satisfied, true);
      assert.deepEqual(report.interventions.byKind, { approve: 1 });
      assert.equal(report.interventions.list[0].by, 'octocat');
      assert.deepEqual(lines.filter((l) => l.includes(' sent to ')), [`issues.labeled ratchet:approve on #${n}: approve sent to ${ticketWorkflowId(batchId, String(n))} by octocat`]);
      assert.deepEqual(fake.violations(), []);
    } finally {
      await receiver.close();
    }
  });

  it('without webhooks, reads a waiting issue for a person removing ratchet:awaiting-human (conditional reads), and that answers the gate', async () => {
    const { fx, name, fullName, gitDir, numbers } = await setup([{ title: 'gated, no webhook', labels: ['ratchet', 'ratchet:gate:plan'] }]);
    const [n] = numbers;
    const { handle, batchId } = await start(fx, fullName, gitDir, {}, { pollMs: 1_000 });
    const ticket = server.env().client.workflow.getHandle(ticketWorkflowId(batchId, String(n)));
    await waitUntil('the plan gate', async () => ((await ticket.query(statusQuery)).waitingFor === 'plan' ? true : undefined));
    await waitUntil('the awaiting-human label', async () => (fake.repo(fullName).issues.get(n)!.labels.includes('ratchet:awaiting-human') ? true : undefined));
    const before = fake.requests().length;
    await person().rest.issues.removeLabel({ owner: 'acme', repo: name, issue_number: n, name: 'ratchet:awaiting-human' });
    const report = await handle.result();
    assert.equal(report.oracle.satisfied, true);
    assert.deepEqual(report.interventions.byKind, { approve: 1 });
    assert.equal(report.interventions.list[0].by, 'octocat');
    assert.match(report.interventions.list[0].comment ?? '', /unlabeled "ratchet:awaiting-human" on issue #\d+ \(GitHub\)/);
    // While nothing changed, the issue was read conditionally: GitHub answered 304 (no rate limit spent).
    const reads = fake.requests().filter((r) => r.operationId === 'issues/get' && r.path.endsWith(`/issues/${n}`));
    assert.ok(reads.some((r) => r.status === 304), 'conditional reads of the waiting issue');
    assert.ok(fake.requests().length > before);
    assert.deepEqual(fake.violations(), []);
  });

  it('finishes a batch of 20 issues under storms of secondary rate limits, 429s and 502s: every ticket done, one pull request and one ratchet comment per issue', async () => {
    const { fx, fullName, gitDir, numbers } = await setup(Array.from({ length: 20 }, (_, i) => ({ title: `storm ${i + 1}`, blockedBy: i >= 15 ? [i - 14] : [] })));
    fake.faults({ rate: 0.15, seed: 7, kinds: ['secondary', '429', '502'], retryAfterS: 1 });
    try {
      const { handle, batchId } = await start(fx, fullName, gitDir);
      const report = await handle.result();
      assert.equal(report.oracle.satisfied, true, JSON.stringify(report.oracle));
      assert.equal(report.tickets.filter((t) => t.outcome === 'done').length, 20);
      const repo = fake.repo(fullName);
      for (const n of numbers) {
        assert.equal(repo.issues.get(n)!.state, 'closed', `#${n} closed`);
        assert.equal([...repo.pulls.values()].filter((p) => p.headRef === `ratchet/${batchId}/${n}`).length, 1, `one pull request for #${n}`);
        assert.equal([...repo.comments.values()].filter((c) => c.issueNumber === n && c.body.startsWith('<!-- ratchet:notes -->')).length, 1, `one comment on #${n}`);
      }
      const faulted = fake.requests().filter((r) => r.fault);
      assert.ok(faulted.length >= 20, `the storm hit ${faulted.length} requests`);
      assert.deepEqual(new Set(faulted.map((r) => r.status)), new Set([403, 429, 502]));
      assert.deepEqual(fake.violations(), []);
      await assertNoToken(batchId, fx);
    } finally {
      fake.faults(null);
    }
  });
});
