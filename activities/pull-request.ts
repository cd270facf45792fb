/**
 * Activities of the GitHub forge: open (or find) a ticket's one pull request, and land it by the batch's `land`
 * policy. The token stays in the worker: git gets it through its environment (`remoteAuthEnv`), never in a payload.
 */
import { GitHubForge, type GitHubForgeConfig, type ReviewFeedback } from './forge/github';
import type { GitHub } from './github/client';
import { pushCommit, remoteAuthEnv, syncBase, type Git } from './git';
import { ticketBranch } from './agent-step';
import { ConfigError } from '../workflows/errors';
import type { BatchConfig } from '../workflows/types';
import type { TrackerRef, Trackers } from './batch';

/** Returns the forge of a batch's GitHub `forge` config; one per repository per worker. */
export type Forges = (config: GitHubForgeConfig) => GitHubForge;

/** The worker's GitHub forges, made once per repository. @param github the worker's client, made on first use. */
export function createForges(github: () => GitHub): Forges {
  const made = new Map<string, GitHubForge>();
  return (config) => {
    const key = JSON.stringify(config);
    let forge = made.get(key);
    if (!forge) made.set(key, (forge = new GitHubForge(github(), config)));
    return forge;
  };
}

/** What a pull-request activity needs of the batch. */
export type ForgeBatch = Pick<BatchConfig, 'batchId' | 'repo' | 'baseBranch' | 'forge'>;

function githubForge(config: ForgeBatch): GitHubForgeConfig {
  if (config.forge?.kind !== 'github') throw new ConfigError(`batch ${config.batchId} has no GitHub forge; the pull-request activities need one`);
  return config.forge;
}

export interface OpenPullRequestInput {
  config: ForgeBatch;
  ticketId: string;
  title: string;
  /** The ticket's body, for the pull request's description (first 4,000 characters). */
  body: string;
  /** The batch's tracker: when it is GitHub's, the pull request says "Closes #n" of the ticket's issue. */
  tracker?: TrackerRef;
  /** Histories from before `tracker` was passed: the issue number, when the ticket id is one. */
  issue?: number;
  /** The commit the gates validated: what is pushed. */
  commit: string;
  attempt: number;
  /** ratchet's answer on the pull request (markdown): what this attempt did, which review it addressed. */
  notes: string;
}

/**
 * Pushes the validated commit to `ratchet/<batchId>/<ticketId>` on the remote (replacing an earlier attempt's),
 * finds the ticket's pull request or opens it, and writes ratchet's comment on it. Idempotent: a retry finds the same
 * pull request and edits the same comment.
 * @returns its number and URL, and `closed` when a person closed it unmerged (the caller's reject).
 */
export async function openPullRequest(
  git: Git,
  forges: Forges,
  trackers: Trackers,
  input: OpenPullRequestInput,
): Promise<{ number: number; url: string; state: 'open' | 'merged' | 'closed' }> {
  const forge = forges(githubForge(input.config));
  const remote = await forge.remote();
  const branch = ticketBranch(input.config.batchId, input.ticketId);
  await pushCommit(git, { repo: input.config.repo, remote, commit: input.commit, branch, env: remoteAuthEnv(remote, await forge.gitToken()) });
  const ref = input.tracker ? await trackers(input.tracker).closingReference?.(input.ticketId) : undefined;
  const closing = ref ?? (input.issue === undefined ? undefined : `#${input.issue}`);
  const closes = closing === undefined ? '' : `Closes ${closing}.\n\n`;
  const pr = await forge.openOrFind({
    branch,
    base: input.config.baseBranch,
    title: `${input.title} (ratchet ${input.ticketId})`,
    body: `${closes}${input.body.slice(0, 4_000)}\n\n<sub>Opened by ratchet for ticket ${input.ticketId} of batch ${input.config.batchId}.</sub>`,
  });
  if (pr.state === 'open') await forge.comment(pr.number, input.notes);
  return { number: pr.number, url: pr.url, state: pr.state };
}

/** What landing a pull request came to; `waiting` means: ask again later (a timer, or a webhook's nudge). */
export type LandResult =
  | { status: 'merged'; commit: string; /** Who merged it, when GitHub says. */ by?: string }
  | { status: 'closed' }
  | { status: 'changes-requested'; review: ReviewFeedback }
  | { status: 'checks-failed'; failed: string[] }
  | { status: 'conflict'; message: string }
  | { status: 'waiting'; why: string };

export interface LandInput {
  config: ForgeBatch;
  ticketId: string;
  title: string;
  number: number;
  /** The validated commit, which must be the pull request's head. */
  commit: string;
  /** Ids of reviews already turned into feedback: they ask for nothing new. */
  seenReviews: number[];
}

/**
 * Reads the pull request and lands it by the batch's `forge.land`:
 * - merged (by ratchet earlier, or by a person): the local base is brought up to the remote's; `merged` with the
 *   merge commit.
 * - closed unmerged: `closed`.
 * - a review asking for changes that is not in `seenReviews`: `changes-requested` with its text and inline comments.
 * - `land: "human"`: `waiting` until a person merges it.
 * - `land: "merge"`: a failed required check is `checks-failed`; pending checks, or GitHub still computing whether it
 *   merges, are `waiting`; a conflict is `conflict`; else ratchet merges it at `commit` (GitHub refuses a moved head).
 */
export async function landPullRequest(git: Git, forges: Forges, input: LandInput): Promise<LandResult> {
  const config = githubForge(input.config);
  const forge = forges(config);
  const merged = async (commit: string, by?: string): Promise<LandResult> => {
    const remote = await forge.remote();
    await syncBase(git, { repo: input.config.repo, remote, base: input.config.baseBranch, commit, env: remoteAuthEnv(remote, await forge.gitToken()) });
    return { status: 'merged', commit, ...(by ? { by } : {}) };
  };
  const pr = await forge.view(input.number);
  if (pr.status === 'merged') return merged(pr.mergeCommit, pr.by);
  if (pr.status === 'closed') return { status: 'closed' };
  const review = pr.changesRequested.find((r) => !input.seenReviews.includes(r.id));
  if (review) return { status: 'changes-requested', review };
  if (pr.headSha !== input.commit) return { status: 'waiting', why: `the head of #${input.number} is ${pr.headSha.slice(0, 10)}, not the validated ${input.commit.slice(0, 10)}` };
  if (config.land === 'human') return { status: 'waiting', why: `a person merges pull request #${input.number}` };
  const failed = Object.entries(pr.checks).filter(([, s]) => s === 'failure').map(([n]) => n);
  if (failed.length) return { status: 'checks-failed', failed };
  const pending = Object.entries(pr.checks).filter(([, s]) => s === 'pending').map(([n]) => n);
  if (pending.length) return { status: 'waiting', why: `required checks pending: ${pending.join(', ')}` };
  if (pr.mergeable === null) return { status: 'waiting', why: 'GitHub is still computing whether it merges' };
  if (pr.mergeable === false) return { status: 'conflict', message: `GitHub says #${input.number} does not merge into ${input.config.baseBranch}` };
  const r = await forge.merge(input.number, input.commit, `ratchet: merge ${input.ticketId} (${input.config.batchId}): ${input.title}`);
  if (r.merged) return merged(r.commit);
  return r.why === 'conflict' ? { status: 'conflict', message: r.message } : { status: 'waiting', why: r.message };
}
