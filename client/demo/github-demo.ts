/**
 * The GitHub side of `ratchet demo --github`: the local GitHub fake (fakes/github, GitHub's REST routes ratchet
 * uses, checked against GitHub's OpenAPI description, over a real bare repository) with a repository for the greeter,
 * the worker's GitHub client, `ratchet webhook`'s receiver subscribed to the repository, and a person who reviews and
 * merges through the API. No token of the user's is needed or read: the demo makes its own two tokens for the fake.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { Octokit } from '@octokit/rest';
import type { ActivityDeps } from '../../activities';
import { createGitHubClient } from '../../activities/github/client';
import type { GitHubFake } from '../../fakes/github';
import { startWebhookReceiver } from '../webhook';
import type { DemoGitHub, DemoReview } from './demo-repo';

/** The demo's repository on the fake. */
const OWNER = 'demo';
const NAME = 'greeter';
/** The person who files the issues, reviews and merges: the fake's actor for the person's token. */
export const PERSON = 'octocat';
/** ratchet's account on the fake: the worker's token belongs to it. */
export const BOT = 'ratchet-bot';

/** A running GitHub for the demo; `close()` stops the receiver and the fake (the bare repository stays on disk). */
export interface DemoGitHubSession extends DemoGitHub {
  /** The fake's API root, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** Where the fake's bare repositories are. */
  dir: string;
  /** The worker's dependencies: its GitHub client and the environment its git pushes take the token from. */
  activityDeps: ActivityDeps;
  /**
   * Starts `ratchet webhook`'s receiver on `client` and subscribes it to the repository (pull requests, reviews, issue
   * labels), so a person's review or merge wakes the waiting ticket at once. Each signal it sends is passed to `log`.
   */
  subscribe(client: Client, log: (line: string) => void): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the fake under `<dir>/github` and creates `demo/greeter` on it.
 * @throws Error naming `npm install` when the fake's dev dependencies (`@octokit/openapi`, `ajv`) are missing.
 */
export async function startDemoGitHub(dir: string): Promise<DemoGitHubSession> {
  let fakeModule: typeof import('../../fakes/github');
  try {
    // Loaded only for --github: a fake, not the product, and it needs dev dependencies.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    fakeModule = require('../../fakes/github') as typeof import('../../fakes/github');
  } catch (err) {
    throw new Error(`ratchet demo --github needs the GitHub fake's dev dependencies (@octokit/openapi, ajv): run npm install in the ratchet checkout (${(err as Error).message})`, { cause: err });
  }
  const botToken = `ghp_demo${randomBytes(12).toString('hex')}`;
  const personToken = `ghp_person${randomBytes(12).toString('hex')}`;
  const fake: GitHubFake = await fakeModule.startGitHubFake({ tokens: { [botToken]: BOT, [personToken]: PERSON }, dir: path.join(dir, 'github') });
  let receiver: { close: () => Promise<void> } | undefined;
  try {
    const { gitDir } = await fake.createRepo(`${OWNER}/${NAME}`, { defaultBranch: 'main' });
    const person = new Octokit({ auth: personToken, baseUrl: fake.url });
    return {
      url: fake.url,
      dir: fake.dir,
      person,
      repo: `${OWNER}/${NAME}`,
      remote: gitDir,
      activityDeps: {
        github: createGitHubClient({ token: botToken, baseUrl: fake.url, writeSpacingMs: 0 }),
        env: { ...process.env, GITHUB_TOKEN: botToken },
      },
      async subscribe(client, log) {
        const secret = randomBytes(16).toString('hex');
        const started = await startWebhookReceiver({ client, secret, ratchetLogin: BOT, log });
        receiver = started;
        await person.rest.repos.createWebhook({
          owner: OWNER,
          repo: NAME,
          config: { url: started.url, secret, content_type: 'json' },
          events: ['pull_request', 'pull_request_review', 'issues'],
        });
      },
      async close() {
        await receiver?.close();
        await fake.close();
      },
    };
  } catch (err) {
    await fake.close();
    throw err;
  }
}

/**
 * A person on GitHub, for one pull request: when ratchet's pull request for `issue` waits for a person (its issue is
 * labelled `ratchet:awaiting-human`), they ask for changes with `review`; when ratchet has pushed its answer to the same
 * pull request and waits again, they merge it. Reads the API every second, like a person refreshing the page, until it
 * has merged or `signal` aborts.
 * @returns `merged` or `stopped`.
 */
export async function reviewThenMerge(opts: {
  person: Octokit;
  repo: string;
  batchId: string;
  issue: number;
  review: DemoReview;
  signal: AbortSignal;
  out: (line: string) => void;
}): Promise<'merged' | 'stopped'> {
  const [owner, repo] = opts.repo.split('/');
  const head = `ratchet/${opts.batchId}/${opts.issue}`;
  /** The open pull request of `head` once ratchet waits for a person on it, and `ready(pr)` holds. */
  /**
   * Once the open pull request of `head` waits for a person and `ready(its head sha)` holds, does `act` on it; a call
   * GitHub refuses is said and tried again at the next look, as a person would. @returns false when stopped first.
   */
  const when = async (ready: (headSha: string) => boolean, act: (pr: { number: number; sha: string }) => Promise<void>): Promise<boolean> => {
    while (!opts.signal.aborted) {
      try {
        const [pulls, issue] = await Promise.all([
          opts.person.rest.pulls.list({ owner, repo, state: 'open', head: `${owner}:${head}` }),
          opts.person.rest.issues.get({ owner, repo, issue_number: opts.issue }),
        ]);
        const pr = pulls.data[0];
        const waiting = issue.data.labels.some((l) => (typeof l === 'string' ? l : l.name) === 'ratchet:awaiting-human');
        if (pr && waiting && ready(pr.head.sha)) {
          await act({ number: pr.number, sha: pr.head.sha });
          return true;
        }
      } catch (err) {
        opts.out(`  ${PERSON}'s GitHub call failed (${(err as Error).message}); they look again in a second`);
      }
      await sleep(1_000, undefined, { signal: opts.signal }).catch(() => undefined);
    }
    return false;
  };
  let reviewed = '';
  const review = async (pr: { number: number; sha: string }): Promise<void> => {
    await opts.person.rest.pulls.createReview({ owner, repo, pull_number: pr.number, event: 'REQUEST_CHANGES', body: opts.review.body, comments: opts.review.comments });
    reviewed = pr.sha;
    opts.out(`  ${PERSON} (a person, on GitHub) asks for changes on pull request #${pr.number} of issue #${opts.issue}: "${opts.review.body}"`);
    for (const c of opts.review.comments) opts.out(`    ${c.path}:${c.line}: ${c.body}`);
  };
  const merge = async (pr: { number: number; sha: string }): Promise<void> => {
    await opts.person.rest.pulls.merge({ owner, repo, pull_number: pr.number, sha: pr.sha });
    opts.out(`  ${PERSON} (a person, on GitHub) merges pull request #${pr.number}: ratchet answered the review on the same pull request`);
  };
  if (!(await when(() => true, review))) return 'stopped';
  return (await when((sha) => sha !== reviewed, merge)) ? 'merged' : 'stopped';
}

/**
 * What the repository shows at the end, one line per issue: state, ratchet's labels, its pull request and who merged
 * it, and how many ratchet comments it carries. Read through the API as the person.
 */
export async function githubSummary(person: Octokit, fullName: string): Promise<string[]> {
  const [owner, repo] = fullName.split('/');
  const issues = (await person.paginate(person.rest.issues.listForRepo, { owner, repo, state: 'all', per_page: 100 })).filter((i) => !i.pull_request);
  const pulls = await person.paginate(person.rest.pulls.list, { owner, repo, state: 'all', per_page: 100 });
  const lines: string[] = [];
  for (const issue of issues.sort((a, b) => a.number - b.number)) {
    const labels = issue.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? ''))).filter((l) => l.startsWith('ratchet:'));
    const closes = pulls.filter((p) => new RegExp(`\\bCloses #${issue.number}\\b`).test(p.body ?? ''));
    const prs = await Promise.all(
      closes.map(async (p) => {
        const full = (await person.rest.pulls.get({ owner, repo, pull_number: p.number })).data;
        return `PR #${p.number} ${full.merged ? `merged by ${full.merged_by?.login ?? '?'}` : full.state}`;
      }),
    );
    const comments = (await person.paginate(person.rest.issues.listComments, { owner, repo, issue_number: issue.number, per_page: 100 }))
      .filter((c) => c.body?.startsWith('<!-- ratchet:notes -->')).length;
    lines.push(
      `  #${String(issue.number).padEnd(3)} ${issue.title.slice(0, 38).padEnd(38)} ${issue.state.padEnd(6)} ${labels.join(' ').padEnd(28)} ` +
        `${prs.join(', ') || 'no pull request'}; ratchet comments: ${comments}`,
    );
  }
  return lines;
}
