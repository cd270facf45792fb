/**
 * ratchet's GitHub client authenticated as a GitHub App installation (`@octokit/auth-app`) against the local GitHub
 * fake: the app signs a JWT, gets an installation token, and every request and git's token are the installation's.
 * Also: the worker's environment is the only source of the app's credentials, and bad ones are named.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createGitHubClient, githubAppFromEnv, githubFromEnv, gitToken } from '../../activities/github/client';
import { ConfigError } from '../../workflows/errors';
import { GitHubTracker } from '../../activities/tracker/github';
import { startGitHubFake, type GitHubFake } from '../../fakes/github';

const PERSON = `ghp_person${randomBytes(8).toString('hex')}`;
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const other = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });

describe('GitHub App auth (installation tokens) against the GitHub fake', function () {
  this.timeout(30_000);
  let fake: GitHubFake;
  let dir: string;
  before(async () => {
    fake = await startGitHubFake({ tokens: { [PERSON]: 'octocat' }, apps: { '4242': { publicKey, installations: { '77': 'ratchet-app[bot]' } } } });
    dir = await mkdtemp(path.join(os.tmpdir(), 'github-app-test-'));
  });
  after(async () => {
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes labels as the installation, with a token it got by a signed JWT; git gets that token', async () => {
    await fake.createRepo('acme/app-shop');
    const gh = createGitHubClient({ app: { appId: 4242, privateKey, installationId: 77 }, baseUrl: fake.url, writeSpacingMs: 0 });
    const created = await gh.rest.issues.create({ owner: 'acme', repo: 'app-shop', title: 'via the app', labels: ['ratchet'] });
    const tracker = new GitHubTracker(gh, { kind: 'github', repo: 'acme/app-shop', labels: ['ratchet'], issues: [], labelPrefix: 'ratchet' });
    await tracker.setState(String(created.data.number), 'in-progress', { note: 'started' });
    const token = await gitToken(gh);
    assert.match(token ?? '', /^ghs_[0-9a-f]{36}$/);
    const reqs = fake.requests();
    assert.equal(reqs.filter((r) => r.operationId === 'apps/create-installation-access-token').length, 1, 'one installation token, cached by auth-app');
    assert.ok(reqs.filter((r) => r.path.includes('/repos/')).every((r) => r.login === 'ratchet-app[bot]'), JSON.stringify(reqs));
    assert.deepEqual(fake.repo('acme/app-shop').issues.get(created.data.number)!.labels.sort(), ['ratchet', 'ratchet:in-progress']);
    assert.deepEqual(fake.violations(), []);
  });

  it("refuses a JWT signed with a key that is not the app's (401), as GitHub does", async () => {
    const gh = createGitHubClient({ app: { appId: 4242, privateKey: other.privateKey, installationId: 77 }, baseUrl: fake.url, writeSpacingMs: 0 });
    await assert.rejects(gh.rest.issues.get({ owner: 'acme', repo: 'app-shop', issue_number: 1 }), (err: { status?: number }) => err.status === 401);
  });

  it('reads the app from the worker environment (key inline or from a file) and names what is missing', async () => {
    const keyFile = path.join(dir, 'app.pem');
    await writeFile(keyFile, privateKey);
    assert.deepEqual(githubAppFromEnv({ RATCHET_GITHUB_APP_ID: '4242', RATCHET_GITHUB_APP_INSTALLATION_ID: '77', RATCHET_GITHUB_APP_PRIVATE_KEY_FILE: keyFile }), {
      appId: 4242,
      installationId: 77,
      privateKey,
    });
    // Keys pasted into one line with \n escapes (CI secret stores) are accepted.
    const inline = githubAppFromEnv({ RATCHET_GITHUB_APP_ID: '4242', RATCHET_GITHUB_APP_INSTALLATION_ID: '77', RATCHET_GITHUB_APP_PRIVATE_KEY: privateKey.replace(/\n/g, '\\n') });
    assert.equal(inline?.privateKey, privateKey);
    assert.equal(githubAppFromEnv({ GITHUB_TOKEN: 'x' }), undefined);
    assert.throws(() => githubAppFromEnv({ RATCHET_GITHUB_APP_ID: '4242', RATCHET_GITHUB_APP_PRIVATE_KEY: privateKey }), (e: Error) => e instanceof ConfigError && /RATCHET_GITHUB_APP_INSTALLATION_ID is ""/.test(e.message));
    assert.throws(() => githubAppFromEnv({ RATCHET_GITHUB_APP_ID: 'my-app', RATCHET_GITHUB_APP_INSTALLATION_ID: '77' }), /RATCHET_GITHUB_APP_ID is "my-app": not an app id/);
    assert.throws(() => githubAppFromEnv({ RATCHET_GITHUB_APP_ID: '1', RATCHET_GITHUB_APP_INSTALLATION_ID: '77', RATCHET_GITHUB_APP_PRIVATE_KEY_FILE: path.join(dir, 'none.pem') }), /cannot be read/);
    assert.throws(() => githubFromEnv({}), (e: Error) => e instanceof ConfigError && /RATCHET_GITHUB_TOKEN/.test(e.message) && /RATCHET_GITHUB_APP_ID/.test(e.message));
    // From the environment, end to end: the client acts as the installation.
    const gh = githubFromEnv({ RATCHET_GITHUB_APP_ID: '4242', RATCHET_GITHUB_APP_INSTALLATION_ID: '77', RATCHET_GITHUB_APP_PRIVATE_KEY_FILE: keyFile, GITHUB_API_URL: fake.url, RATCHET_GITHUB_WRITE_SPACING_MS: '0' });
    const repo = await gh.rest.repos.get({ owner: 'acme', repo: 'app-shop' });
    assert.equal(repo.data.full_name, 'acme/app-shop');
    assert.equal(fake.requests().at(-1)?.login, 'ratchet-app[bot]');
  });
});
