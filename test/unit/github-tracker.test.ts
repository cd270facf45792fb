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

  it('takes a removed awaiting-human label as approve by that person, even when it came before the first read', async () => {
    const { name, id, n, person, tracker } = await setup();
    await tracker.setState(id, 'in-progress');
    await tracker.setState(id, 'awaiting-human', 'plan: review the plan');
    await person.rest.issues.removeLabel({ owner: 'acme', repo: name, issue_number: n, name: 'ratchet:awaiting-human' });
    const r = await tracker.gateAnswer(id);
    assert.deepEqual(r.answer, { kind: 'approve', by: 'octocat', comment: `unlabeled "ratchet:awaiting-human" on issue #${n} (GitHub)`, trackerState: 'todo' });
    assert.equal(r.cursor.self, 'ratchet-bot');
  });

  it('writes with expect only over the expected state, and refuses a label a person set meanwhile', async () => {
    const { name, id, n, person, tracker } = await setup();
    assert.deepEqual(await tracker.setState(id, 'in-progress', undefined, 'me', 'todo'), { previous: 'todo' });
    await person.rest.issues.addLabels({ owner: 'acme', repo: name, issue_number: n, labels: ['ratchet:done'] });
    await person.rest.issues.removeLabel({ owner: 'acme', repo: name, issue_number: n, name: 'ratchet:in-progress' });
    assert.deepEqual(await tracker.setState(id, 'merged', undefined, 'me', 'in-progress'), { previous: 'done', refused: true });
    assert.deepEqual(await tracker.facts([id]), [{ id, state: 'done' }], 'a refused write changes nothing');
  });

  it('takes an added ratchet:reject label as reject, after a read that found nothing', async () => {
    const { name, id, n, person, tracker } = await setup();
    await tracker.setState(id, 'awaiting-human', 'attempts-exhausted');
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
    await tracker.setState(id, 'awaiting-human', 'plan');
    await tracker.setState(id, 'in-progress', 'plan approved');
    // Gate 2 recorded: nothing a person did since.
    await tracker.setState(id, 'awaiting-human', 'protected-change');
    assert.equal((await tracker.gateAnswer(id)).answer, undefined);
    // ratchet moves on (gate answered elsewhere); a read with the old cursor still sees no answer.
    const cursor = (await tracker.gateAnswer(id)).cursor;
    await tracker.setState(id, 'in-progress', 'approved');
    assert.equal((await tracker.gateAnswer(id, cursor)).answer, undefined);
  });
});
