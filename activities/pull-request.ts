/**
 * Activities of the GitHub forge: open (or find) a ticket's one pull request, bring its head up to date with the base
 * and validate it there (issue 26: what GitHub lands is what was validated), and land it by the batch's `land`
 * policy. The token stays in the worker: git gets it through its environment (`remoteAuthEnv`), never in a payload.
 */
import { stepDir } from './artifacts';
import { checkCandidate, type RedCandidate } from './candidate-check';
import { GitHubForge, type GitHubForgeConfig, type ReviewFeedback } from './forge/github';
import type { GateDeps } from './gates';
import type { GitHub } from './github/client';
import { fetchBranch, hasCommit, isAncestor, mergeOnto, pushCommit, remoteAuthEnv, revertOnto, syncBase, type Git } from './git';
import { ticketBranch } from './agent-step';
import { ConfigError, GitError } from '../workflows/errors';
import type { CandidateChecks } from '../workflows/merge-queue/messages';
import type { BatchConfig, Regression } from '../workflows/types';
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
 * pull request and edits the same comment. A merged pull request whose head was another commit (its merge was
 * reverted) is not this attempt's: a new one is opened.
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
    // A merged pull request of another commit had its merge reverted (issue 26): this attempt gets a new one.
    newAfterMerged: input.commit,
  });
  if (pr.state === 'open') await forge.comment(pr.number, input.notes);
  return { number: pr.number, url: pr.url, state: pr.state };
}

/**
 * What landing a pull request came to; `waiting` means: ask again later (a timer, or a webhook's nudge).
 * - `behind`: the head lacks the base's tip `base`; bring it up to date ({@link updatePullRequest}) before it merges.
 * - `updated`: the head is now `head`, the base tip `base` merged into the validated commit, which passed the gates;
 *   the required checks run on it.
 * - `semantic-conflict`: the validated commit passed its gates, and merged with the base tip `base` it fails them
 *   (or breaks PASS_TO_PASS tests); nothing was pushed. `landedSince`: subjects of the commits on the base's
 *   first-parent line since the attempt's base commit.
 */
export type LandResult =
  | { status: 'merged'; commit: string; /** Who merged it, when GitHub says. */ by?: string }
  | { status: 'closed' }
  | { status: 'changes-requested'; review: ReviewFeedback }
  | { status: 'checks-failed'; failed: string[] }
  | { status: 'conflict'; message: string }
  | { status: 'waiting'; why: string }
  | { status: 'behind'; base: string }
  | { status: 'updated'; head: string; base: string }
  | ({ status: 'semantic-conflict'; landedSince: string[] } & Omit<RedCandidate, 'landedSince'>);

export interface LandInput {
  config: ForgeBatch;
  ticketId: string;
  title: string;
  number: number;
  /** The validated commit, which must be the pull request's head. */
  commit: string;
  /** Ids of reviews already turned into feedback: they ask for nothing new. */
  seenReviews: number[];
  /**
   * Merge only a head that contains the base's tip (histories since the `github-up-to-date` patch): otherwise the
   * answer is `behind`. Without it, ratchet merges a head that lacks the tip and GitHub lands its own, unvalidated,
   * combination of the two (histories from before the patch).
   */
  upToDate?: boolean;
  /** The merge commit's title; default `ratchet: merge <ticketId> (<batchId>): <title>`. */
  message?: string;
}

/**
 * Reads the pull request and lands it by the batch's `forge.land`:
 * - merged (by ratchet earlier, or by a person): the local base is brought up to the remote's; `merged` with the
 *   merge commit.
 * - closed unmerged: `closed`.
 * - a review asking for changes that is not in `seenReviews`: `changes-requested` with its text and inline comments.
 * - `land: "human"`: `waiting` until a person merges it.
 * - `land: "merge"` with `upToDate`: the local base is brought up to the remote's, and a head that lacks its tip is
 *   `behind` (also when GitHub refuses the merge and the base has moved meanwhile, as branch protection's "require
 *   branches to be up to date" does).
 * - `land: "merge"`: a failed required check is `checks-failed`; pending checks, or GitHub still computing whether it
 *   merges, are `waiting`; a conflict is `conflict`; else ratchet merges it at `commit` (GitHub refuses a moved head).
 * @throws GitError when the remote cannot be read or the local base cannot follow it (see `syncBase`).
 */
export async function landPullRequest(git: Git, forges: Forges, input: LandInput): Promise<LandResult> {
  const config = githubForge(input.config);
  const forge = forges(config);
  const behind = async (): Promise<LandResult | undefined> => {
    if (!input.upToDate) return undefined;
    const tip = await baseTip(git, forge, input);
    await haveHead(git, forge, input, input.commit);
    return (await isAncestor(git, input.config.repo, tip, input.commit)) ? undefined : { status: 'behind', base: tip };
  };
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
  const stale = await behind();
  if (stale) return stale;
  const failed = Object.entries(pr.checks).filter(([, s]) => s === 'failure').map(([n]) => n);
  if (failed.length) return { status: 'checks-failed', failed };
  const pending = Object.entries(pr.checks).filter(([, s]) => s === 'pending').map(([n]) => n);
  if (pending.length) return { status: 'waiting', why: `required checks pending: ${pending.join(', ')}` };
  if (pr.mergeable === null) return { status: 'waiting', why: 'GitHub is still computing whether it merges' };
  if (pr.mergeable === false) return { status: 'conflict', message: `GitHub says #${input.number} does not merge into ${input.config.baseBranch}` };
  const r = await forge.merge(input.number, input.commit, input.message ?? `ratchet: merge ${input.ticketId} (${input.config.batchId}): ${input.title}`);
  if (r.merged) return merged(r.commit);
  if (r.why === 'moved') return { status: 'waiting', why: r.message };
  return (await behind()) ?? { status: 'conflict', message: r.message };
}

/** What {@link updatePullRequest} takes: the pull request, its validated head and what validates it brought up to date. */
export interface UpdatePullRequestInput {
  config: ForgeBatch;
  ticketId: string;
  number: number;
  /** The pull request's validated head: the attempt's commit, or an earlier update of it. */
  commit: string;
  /** The base commit the attempt was cut from: the feedback names what landed since. */
  baseCommit: string;
  /** The ticket's attempt: `RATCHET_ATTEMPT` of the gate runs, and its artifacts folder. */
  attempt: number;
  /** What validates the head brought up to date: the batch's gates and setup in the agent's box. */
  checks: CandidateChecks;
  /** ratchet's comment on the pull request (markdown): what the update did is added to it. */
  notes?: string;
}

/**
 * Brings a pull request's head up to date with its base and validates it there, as the merge queue validates a
 * candidate: the local base is brought up to the remote's, its tip is merged into `commit` without a checkout
 * (`mergeOnto`: parents `commit` then the tip, GitHub's "Update branch" shape), the batch's setup steps and gates run
 * boxed on the result with PASS_TO_PASS against the tip ({@link checkCandidate}; logs in the attempt's
 * `up-to-date-<tip>/` folder), and only a green result is pushed to the pull request's branch. With `notes`, ratchet's
 * comment on the pull request says what came of it.
 * Safe to repeat: a `commit` that already contains the tip is `updated` with itself; a retry after the push merges and
 * validates again (the new head replaces the last).
 * @returns `updated` with the new head; `conflict` when the tip does not merge into `commit`; `semantic-conflict`
 *   when the merge fails the checks (nothing pushed).
 * @throws GitError when the remote cannot be read or pushed, or `commit` is in neither the repository nor the
 *   pull request's branch; Error naming the step when a setup step fails (a harness fault).
 */
export async function updatePullRequest(git: Git, forges: Forges, input: UpdatePullRequestInput, deps: GateDeps): Promise<Extract<LandResult, { status: 'updated' | 'conflict' | 'semantic-conflict' }>> {
  const forge = forges(githubForge(input.config));
  const { repo, baseBranch, batchId } = input.config;
  const tip = await baseTip(git, forge, input);
  await haveHead(git, forge, input, input.commit);
  if (await isAncestor(git, repo, tip, input.commit)) return { status: 'updated', head: input.commit, base: tip };
  const branch = ticketBranch(batchId, input.ticketId);
  const merged = await mergeOnto(git, repo, input.commit, tip, `Merge ${baseBranch} (${tip.slice(0, 10)}) into ${branch}`);
  if ('conflict' in merged) return { status: 'conflict', message: `${baseBranch} (${tip.slice(0, 10)}) does not merge into pull request #${input.number}: conflicts in ${merged.conflict.join(', ')}` };
  const ref = input.checks.ref;
  const red = await checkCandidate(
    {
      checks: input.checks,
      tip: merged.commit,
      from: tip,
      ticketId: input.ticketId,
      attempt: input.attempt,
      exportName: `_pr-${batchId}-${input.ticketId}`,
      logDir: await stepDir(ref, input.ticketId, `attempt-${input.attempt}/up-to-date-${tip.slice(0, 10)}`),
      tickets: [{ ticketId: input.ticketId, baseCommit: input.baseCommit }],
    },
    deps,
  );
  const onTip = `merged with \`${baseBranch}\` at \`${tip.slice(0, 10)}\``;
  if (red) {
    const failed = [...red.gates.map((g) => `"${g.name}"`), ...red.tests].join(', ');
    if (input.notes !== undefined) await forge.comment(input.number, `${input.notes}\n\n${onTip}, it fails ${failed}: a semantic conflict; the next attempt starts from the new \`${baseBranch}\`.`);
    return { status: 'semantic-conflict', ...red, landedSince: red.landedSince[input.ticketId] ?? [] };
  }
  const remote = await forge.remote();
  await pushCommit(git, { repo, remote, commit: merged.commit, branch, env: remoteAuthEnv(remote, await forge.gitToken()) });
  if (input.notes !== undefined) await forge.comment(input.number, `${input.notes}\n\nBrought up to date: ${onTip} as \`${merged.commit.slice(0, 10)}\`, which passed the gates too.`);
  return { status: 'updated', head: merged.commit, base: tip };
}

/** The label of a pull request that reverts a ticket's merge (issue 26 item 5). */
export const REVERT_LABEL = 'ratchet:revert';

/** What {@link openRevertPullRequest} takes: the culprit's merge, the evidence, and what validates the revert. */
export interface OpenRevertInput {
  config: ForgeBatch;
  /** The culprit ticket, whose merge is undone. */
  ticketId: string;
  title: string;
  /** The culprit's merge commit on the base (full sha). */
  merge: string;
  /** The revert's number for this ticket in the batch (1, 2, ...): its branch is `ratchet/<batchId>/<ticketId>-revert-<n>`. */
  n: number;
  /** The regressions the merge caused: the pull request's body names them. */
  regressions: Regression[];
  /** The ticket's attempt whose merge it was: `RATCHET_ATTEMPT` of the gate runs, and its artifacts folder. */
  attempt: number;
  /** What validates the revert: the batch's gates and setup in the agent's box, as a merge queue candidate's. */
  checks: CandidateChecks;
}

/**
 * What came of opening a revert pull request: `opened` with its number, URL, state and head (the validated revert, or
 * what the pull request holds now when a retry found it) and the base tip it was made on; `conflict` when later
 * commits changed what the merge changed (nothing pushed); `red` when the revert fails the checks (nothing pushed).
 */
export type RevertPullRequest =
  | { status: 'opened'; number: number; url: string; state: 'open' | 'merged' | 'closed'; head: string; base: string }
  | { status: 'conflict'; paths: string[] }
  | { status: 'red'; gates: string[]; tests: string[] };

/** The revert's pseudo ticket id: its branch is `ticketBranch(batchId, revertBranchId(ticketId, n))`. */
const revertBranchId = (ticketId: string, n: number): string => `${ticketId}-revert-${n}`;

/**
 * Opens the pull request that reverts a ticket's merge on GitHub (issue 26 item 5): the local base is brought up to the
 * remote's (`syncBase`), a commit undoing `merge` is made on its tip without a checkout (`revertOnto`: one parent, the
 * tip), validated with the batch's setup steps and gates boxed on an export with PASS_TO_PASS against the tip
 * ({@link checkCandidate}; logs in the attempt's `revert-<n>/` folder), and only a green one is pushed to
 * `ratchet/<batchId>/<ticketId>-revert-<n>`; the pull request into the base is labelled `ratchet:revert`, its body
 * names the regressions (whose probe, before and after, the suspects). Landing it is {@link landPullRequest}'s.
 * Safe to repeat: a pull request already open (or merged, or closed) for that branch is returned as it is, unchecked again.
 * @returns see {@link RevertPullRequest}.
 * @throws GitError when the remote cannot be read or pushed; Error naming the step when a setup step fails (a
 *   harness fault); a GitHub failure when the pull request cannot be opened or labelled.
 */
export async function openRevertPullRequest(git: Git, forges: Forges, input: OpenRevertInput, deps: GateDeps): Promise<RevertPullRequest> {
  const forge = forges(githubForge(input.config));
  const { repo, baseBranch, batchId } = input.config;
  const id = revertBranchId(input.ticketId, input.n);
  const branch = ticketBranch(batchId, id);
  const tip = await baseTip(git, forge, input);
  const found = await forge.find(branch, baseBranch);
  if (found) {
    const view = await forge.view(found.number);
    const head = view.status === 'open' ? view.headSha : view.status === 'merged' ? view.mergeCommit : '';
    await forge.label(found.number, REVERT_LABEL);
    return { status: 'opened', ...found, head, base: tip };
  }
  const message = `ratchet: revert ${input.ticketId} (${batchId}): ${input.merge}`;
  const revert = await revertOnto(git, repo, tip, input.merge, message);
  if ('conflict' in revert) return { status: 'conflict', paths: revert.conflict };
  const ref = input.checks.ref;
  const red = await checkCandidate(
    {
      checks: input.checks,
      tip: revert.commit,
      from: tip,
      ticketId: input.ticketId,
      attempt: input.attempt,
      exportName: `_revert-${batchId}-${id}`,
      logDir: await stepDir(ref, input.ticketId, `attempt-${input.attempt}/revert-${input.n}`),
      tickets: [],
    },
    deps,
  );
  if (red) return { status: 'red', gates: red.gates.map((g) => g.name), tests: red.tests };
  const remote = await forge.remote();
  await pushCommit(git, { repo, remote, commit: revert.commit, branch, env: remoteAuthEnv(remote, await forge.gitToken()) });
  const evidence = input.regressions.map(
    (r) => `- ticket ${r.ticketId}'s probe "${r.probe}" fails: before \`${r.before.slice(0, 300)}\`, now \`${r.after.slice(0, 300)}\`; landings since it last passed: ${r.suspects.join(', ')}`,
  );
  const pr = await forge.openOrFind({
    branch,
    base: baseBranch,
    title: `Revert ${input.title} (ratchet ${input.ticketId})`,
    body: [
      `Reverts \`${input.merge}\`, ticket ${input.ticketId}'s merge: after its deploy the guard found work that was done broken (failed twice on the same deployment).`,
      '',
      ...evidence,
      '',
      `The revert \`${revert.commit.slice(0, 10)}\` was made on \`${baseBranch}\` at \`${tip.slice(0, 10)}\` and passed the gates (${input.checks.gates.map((g) => g.name).join(', ') || 'none'}).`,
      '',
      `<sub>Opened by ratchet for ticket ${input.ticketId} of batch ${batchId}; ticket ${input.ticketId} goes back to work once it merged. Closing it unmerged keeps the merge.</sub>`,
    ].join('\n'),
  });
  await forge.label(pr.number, REVERT_LABEL);
  return { status: 'opened', number: pr.number, url: pr.url, state: pr.state, head: revert.commit, base: tip };
}

/** What {@link baseTip} and {@link haveHead} need: the batch's repository and base, and the ticket. */
type PullRequestRef = { config: ForgeBatch; ticketId: string };

/**
 * The tip of the base branch on the forge's remote (`git ls-remote`), with the local base brought up to it
 * (`syncBase`), so the tip's objects are here and later attempts are cut from it.
 * @throws GitError when the remote has no such branch or cannot be reached, or the local base cannot follow it.
 */
async function baseTip(git: Git, forge: GitHubForge, input: PullRequestRef): Promise<string> {
  const { repo, baseBranch } = input.config;
  const remote = await forge.remote();
  if (remote.startsWith('-')) throw new GitError(`remote ${JSON.stringify(remote)} starts with "-": git would read it as an option; fix: give a URL or a path`, true);
  const env = remoteAuthEnv(remote, await forge.gitToken());
  const out = (await git.run(repo, ['ls-remote', '--quiet', remote, `refs/heads/${baseBranch}`], [0], env)).out;
  const tip = out.split('\n').find((l) => l.endsWith(`\trefs/heads/${baseBranch}`))?.split('\t')[0];
  if (!tip) throw new GitError(`${remote} has no branch ${baseBranch}`);
  await syncBase(git, { repo, remote, base: baseBranch, commit: tip, env });
  return tip;
}

/**
 * Makes sure the pull request's head `commit` is in the repository (made on another worker: fetched from the pull
 * request's branch).
 * @throws GitError (retryable) when the branch no longer holds it (someone pushed to it meanwhile).
 */
async function haveHead(git: Git, forge: GitHubForge, input: PullRequestRef, commit: string): Promise<void> {
  const { repo, batchId } = input.config;
  if (await hasCommit(git, repo, commit)) return;
  const remote = await forge.remote();
  const branch = ticketBranch(batchId, input.ticketId);
  await fetchBranch(git, { repo, remote, branch, env: remoteAuthEnv(remote, await forge.gitToken()) });
  if (!(await hasCommit(git, repo, commit))) throw new GitError(`the head ${commit} of ${branch} is not in ${repo} nor on ${remote}'s ${branch}`);
}
