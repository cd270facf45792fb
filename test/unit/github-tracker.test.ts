/**
 * GitHubTracker against the local GitHub fake: a person's answer at a human gate, read from the issue's labels and
 * events (the path a batch without webhooks takes), and ratchet's own label writes never taken for an answer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { createGitHubClient } from '../../activities/github/client';
import { GitHubTracker } from '../../activities/tracker/github';
import { startGitHubFake, type GitHubFake } from '../../fakes/github';

const BOT = `ghp_bot${randomBytes(8).toString('hex')}`;
const PERSON = `ghp_person${randomBytes(8).toString('hex')}`;

describe('GitHubTracker: gate answers by label', function () {
  this.timeout(30_000);
  let fake: GitHubFake;
  before(async () => {
    fake = await startGitHubFake({ tokens: { [BOT]: 'ratchet-bot', [PERSON]: 'octocat' } });
  });
  after(async () => fake?.close());

  /** A repository with one issue selected by `ratchet`, its tracker (as ratchet) and a person's client. */
  async function setup() {
    const name = `gate-${randomBytes(4).toString('hex')}`;
    await fake.createRepo(`acme/${name}`);
    const person = new Octokit({ auth: PERSON, baseUrl: fake.url });
    const issue = await person.rest.issues.create({ owner: 'acme', repo: name, title: 'gated', labels: ['ratchet'] });
    const tracker = new GitHubTracker(createGitHubClient({ token: BOT, baseUrl: fake.url, writeSpacingMs: 0 }), {
      kind: 'github',
      repo: `acme/${name}`,
      labels: ['ratchet'],
      issues: [],
      labelPrefix: 'ratchet',
      pollMs: 1_000,
    });
    return { name, id: String(issue.data.number), n: issue.data.number, person, tracker };
  }

  it('reads an issue labelled ratchet:epic as an epic (docs/epics.md)', async () => {
    const { name, person, tracker } = await setup();
    const epic = await person.rest.issues.create({ owner: 'acme', repo: name, title: 'Greet in four ways', labels: ['ratchet', 'ratchet:epic'] });
    assert.equal((await tracker.get(String(epic.data.number)))?.kind, 'epic');
  });

  it('takes a removed awaiting-human label as approve by that person, even when it came before the first read', async () => {
    const { name, id, n, person, tracker } = await setup();
    await tracker.setState(id, 'in-progress');
    await tracker.setState(id, 'awaiting-human', { note: 'plan: review the plan' });
    await person.rest.issues.removeLabel({ owner: 'acme', repo: name, issue_number: n, name: 'ratchet:awaiting-human' });
    const r = await tracker.gateAnswer(id);
    assert.deepEqual(r.answer, { kind: 'approve', by: 'octocat', comment: `unlabeled "ratchet:awaiting-human" on issue #${n} (GitHub)`, trackerState: 'todo' });
    assert.equal(r.cursor.self, 'ratchet-bot');
  });

  it('writes with expect only over the expected state, and refuses a label a person set meanwhile', async () => {
    const { name, id, n, person, tracker } = await setup();
    assert.deepEqual(await tracker.setState(id, 'in-progress', { by: 'me', expect: 'todo' }), { previous: 'todo' });
    await person.rest.issues.addLabels({ owner: 'acme', repo: name, issue_number: n, labels: ['ratchet:done'] });
    await person.rest.issues.removeLabel({ owner: 'acme', repo: name, issue_number: n, name: 'ratchet:in-progress' });
    assert.deepEqual(await tracker.setState(id, 'merged', { by: 'me', expect: 'in-progress' }), { previous: 'done', refused: 'expected' });
    assert.deepEqual(await tracker.facts([id]), [{ id, state: 'done' }], 'a refused write changes nothing');
  });

  it('refuses a fenced write behind a later write of the same workflow, also from another worker\'s tracker (fences live on GitHub)', async () => {
    const { name, id, tracker } = await setup();
    // Another worker's tracker: no cache shared with the first, so the fences must come from the issue itself.
    const other = new GitHubTracker(createGitHubClient({ token: BOT, baseUrl: fake.url, writeSpacingMs: 0 }), {
      kind: 'github', repo: `acme/${name}`, labels: ['ratchet'], issues: [], labelPrefix: 'ratchet', pollMs: 1_000,
    });
    const run = 'run-a';
    await tracker.setState(id, 'in-progress', { fence: { run, seq: 0 } });
    await other.setState(id, 'merged', { fence: { run, seq: 1 } });
    await other.setState(id, 'done', { fence: { run, seq: 2 } });
    assert.deepEqual(await tracker.setState(id, 'merged', { fence: { run, seq: 1 } }), { previous: 'done', refused: 'stale' });
    assert.deepEqual(await other.facts([id]), [{ id, state: 'done' }], 'a stale write changes nothing');
    assert.deepEqual(await tracker.setState(id, 'done', { fence: { run: 'run-b', seq: 0 } }), { previous: 'done' }, 'another workflow writes');
  });

  it('takes an added ratchet:reject label as reject, after a read that found nothing', async () => {
    const { name, id, n, person, tracker } = await setup();
    await tracker.setState(id, 'awaiting-human', { note: 'attempts-exhausted' });
    const first = await tracker.gateAnswer(id);
    assert.equal(first.answer, undefined);
    // Nothing changed: the cursor comes back as it was (the issue was read with its ETag).
    assert.deepEqual((await tracker.gateAnswer(id, first.cursor)).cursor, first.cursor);
    await person.rest.issues.addLabels({ owner: 'acme', repo: name, issue_number: n, labels: ['ratchet:reject'] });
    const r = await tracker.gateAnswer(id, first.cursor);
    assert.equal(r.answer?.kind, 'reject');
    assert.equal(r.answer?.by, 'octocat');
    assert.equal(r.answer?.trackerState, undefined);
  });

  it("never answers with ratchet's own label writes: an earlier gate's removal is before this gate's label, and its login is skipped", async () => {
    const { id, tracker } = await setup();
    // Gate 1 recorded and answered through Temporal: ratchet itself removes awaiting-human.
    await tracker.setState(id, 'awaiting-human', { note: 'plan' });
    await tracker.setState(id, 'in-progress', { note: 'plan approved' });
    // Gate 2 recorded: nothing a person did since.
    await tracker.setState(id, 'awaiting-human', { note: 'protected-change' });
    assert.equal((await tracker.gateAnswer(id)).answer, undefined);
    // ratchet moves on (gate answered elsewhere); a read with the old cursor still sees no answer.
    const cursor = (await tracker.gateAnswer(id)).cursor;
    await tracker.setState(id, 'in-progress', { note: 'approved' });
    assert.equal((await tracker.gateAnswer(id, cursor)).answer, undefined);
  });
});
