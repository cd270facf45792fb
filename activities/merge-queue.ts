/**
 * Activities of the merge queue (workflows/merge-queue.ts, issue 26): a ticket puts its validated commit in line
 * (`enterMergeQueue`), and the queue lands candidates (`landCandidate`): the base tip with the commits merged onto it,
 * validated by the batch's gates before the base moves, then a compare-and-swap to exactly that candidate.
 */
import { Context } from '@temporalio/activity';
import { stepDir } from './artifacts';
import { checkCandidate, type RedCandidate } from './candidate-check';
import { advanceBase, chainMerges, firstParentSince, firstParentWith, headOf, isAncestor, landedMerge, MERGE_TRIES, type Git } from './git';
import type { GateDeps } from './gates';
import { haveCommit } from './validate';
import { GitError } from '../workflows/errors';
import type { RepoRef } from '../workflows/types';
import { mergeQueueWorkflowId, queueEnterSignal, type CandidateChecks, type QueueEntry } from '../workflows/merge-queue/messages';

export interface EnterMergeQueueInput {
  key: string;
  entry: QueueEntry;
  /** Task queue the queue workflow runs on when this request starts it (the requester's). */
  taskQueue: string;
}

/**
 * Puts `entry` in line for `key` (starting the queue workflow if it is not running: signal-with-start). Idempotent:
 * the queue keeps one place per request id, and answers a request it already decided with its verdict again.
 */
export async function enterMergeQueue(input: EnterMergeQueueInput): Promise<void> {
  await Context.current().client.workflow.signalWithStart('mergeQueueWorkflow', {
    workflowId: mergeQueueWorkflowId(input.key),
    taskQueue: input.taskQueue,
    args: [{ key: input.key }],
    signal: queueEnterSignal,
    signalArgs: [input.entry],
    staticSummary: `ratchet merge queue ${input.key}: what lands is what was validated`,
  });
}

/** One validated commit of a candidate. */
export interface CandidateEntry {
  ticketId: string;
  title: string;
  commit: string;
  baseCommit: string;
  attempt: number;
  /** `commit` is the ticket's merge on the base, to undo (a regression's culprit). */
  revert?: boolean;
}

export interface LandCandidateInput {
  checks: CandidateChecks;
  /** In merge order. */
  entries: CandidateEntry[];
  /** The queue's number for this candidate: `RATCHET_ATTEMPT` of its gate runs and its log folder's name. */
  candidate: number;
  /** false: validate only, never move the base (a red candidate's prefixes, tested at once); absent: land. */
  land?: boolean;
  /**
   * These entries passed the checks merged onto `base`, giving `tree` (an earlier `land: false` run): while the base is
   * still there and the merges give that tree again, the checks are not run again.
   */
  validated?: { base: string; tree: string };
}

/** How a candidate ended. */
export type LandCandidateResult =
  /** The base moved to the candidate: one merge commit per entry, in order. `validated`: its gates ran (else it was the attempt's own tree). */
  | { status: 'landed'; merges: { ticketId: string; commit: string }[]; validated: boolean; base: string }
  /** Entry `ticketId` conflicts with the base and the entries before it (or a checkout of the base has local changes in `paths`). */
  | { status: 'conflict'; ticketId: string; paths: string[] }
  /** The candidate failed its checks: nothing moved. `landedSince`: per entry, what landed since its base commit. */
  | ({ status: 'red' } & RedCandidate)
  /** (`land: false`) The candidate passed its checks merged onto `base`, giving `tree`; nothing moved. */
  | { status: 'green'; base: string; tree: string };

/** The merge commit's message of a ticket's commit (the shape `merge` writes, which `landedMerge` readers parse). */
export const mergeMessage = (batchId: string, e: Pick<CandidateEntry, 'ticketId' | 'title' | 'commit' | 'revert'>): string =>
  e.revert ? `ratchet: revert ${e.ticketId} (${batchId}): ${e.commit}` : `ratchet: merge ${e.ticketId} (${batchId}): ${e.title}`;

/**
 * Lands one candidate: reads the base tip, merges the entries' commits onto it in order (`chainMerges`: no ref moves),
 * runs the batch's setup steps and gates on the result, boxed, on a fresh export (GateRunner), with the regression
 * guard's PASS_TO_PASS against the tip (every test that passed there must still pass), and only when they pass moves
 * the base to exactly that commit by compare-and-swap (`advanceBase`). A candidate whose tree is the attempt's own
 * (one entry cut from the tip) was validated by its attempt and is not run again. When the base moved meanwhile,
 * the new candidate is validated again (up to {@link MERGE_TRIES} times). With `land: false` it validates only; with
 * `validated` it skips checks that an earlier run passed on the same base and tree.
 * Idempotent: a retry after the base moved to the candidate (the worker died after the swap) finds the entries'
 * merge commits on the base and reports them landed. Each landed ticket releases its own worktree (`releaseTicket`,
 * on its host).
 * @throws GitError (retryable) when the base kept moving; (non-retryable) when an entry's commit is gone; Error naming
 *   the step when a setup step fails (a harness fault).
 */
export async function landCandidate(input: LandCandidateInput, deps: GateDeps): Promise<LandCandidateResult> {
  const { checks, entries } = input;
  const { ref } = checks;
  const { git } = deps;
  const baseRef = `refs/heads/${ref.baseBranch}`;
  for (const e of entries) if (!e.revert) await haveCommit(git, ref, e.ticketId, e.attempt, e.commit);
  for (let tries = 0; tries < MERGE_TRIES; tries++) {
    const from = await headOf(git, ref.repo, baseRef);
    const landed = await alreadyLanded(git, ref.repo, from, entries);
    if (landed) return { status: 'landed', merges: landed, validated: true, base: from };
    const chain = await chainMerges(git, ref.repo, from, entries.map((e) => ({ commit: e.commit, message: mergeMessage(ref.batchId, e), revert: e.revert })));
    if ('conflictAt' in chain) return { status: 'conflict', ticketId: entries[chain.conflictAt].ticketId, paths: chain.paths };
    const tip = chain.commits[chain.commits.length - 1];
    const tree = (await git.run(ref.repo, ['rev-parse', `${tip}^{tree}`])).out.trim();
    const validated = !(entries.length === 1 && !entries[0].revert && (await sameTree(git, ref.repo, tip, entries[0].commit)));
    const known = input.validated?.base === from && input.validated.tree === tree;
    if (validated && !known) {
      const red = await checkQueued(input, deps, tip, from);
      if (red) return red;
    }
    if (input.land === false) return { status: 'green', base: from, tree };
    const moved = await git.withRepoLock(ref.repo, () => advanceBase(git, ref.repo, ref.baseBranch, from, tip, entries[entries.length - 1].commit));
    if (moved === 'again') continue;
    if (moved !== true) return { status: 'conflict', ticketId: entries[0].ticketId, paths: moved };
    return { status: 'landed', merges: entries.map((e, i) => ({ ticketId: e.ticketId, commit: chain.commits[i] })), validated, base: from };
  }
  throw new GitError(`${ref.baseBranch} moved ${MERGE_TRIES} times while a candidate of ${entries.map((e) => e.ticketId).join(', ')} was validated in ${ref.repo}; the retry validates again`);
}

/** The entries' merge commits when every one of them is on `tip` already (a retry after the swap), else undefined. */
async function alreadyLanded(git: Git, repo: string, tip: string, entries: CandidateEntry[]): Promise<{ ticketId: string; commit: string }[] | undefined> {
  const merges: { ticketId: string; commit: string }[] = [];
  for (const e of entries) {
    if (e.revert) {
      const revert = await firstParentWith(git, repo, tip, `: ${e.commit}`);
      if (revert === undefined) return undefined;
      merges.push({ ticketId: e.ticketId, commit: revert });
      continue;
    }
    if (!(await isAncestor(git, repo, e.commit, tip))) return undefined;
    merges.push({ ticketId: e.ticketId, commit: (await landedMerge(git, repo, tip, e.commit)) ?? tip });
  }
  return merges;
}

async function sameTree(git: Git, repo: string, a: string, b: string): Promise<boolean> {
  const out = (await git.run(repo, ['rev-parse', `${a}^{tree}`, `${b}^{tree}`])).out.trim().split('\n');
  return out[0] === out[1];
}

/** Runs the candidate's checks ({@link checkCandidate}); logs go to `<artifacts>/<batch>/_queue/candidate-<n>/`. */
async function checkQueued(input: LandCandidateInput, deps: GateDeps, tip: string, from: string): Promise<LandCandidateResult | undefined> {
  const { checks, entries, candidate } = input;
  const { ref } = checks;
  const red = await checkCandidate(
    {
      checks,
      tip,
      from,
      ticketId: entries[entries.length - 1].ticketId,
      attempt: candidate,
      // Its own export: a red candidate's halves are tested at once (workflows/merge-queue.ts).
      exportName: `_candidate-${ref.batchId}-${candidate}`,
      logDir: await stepDir(ref, '_queue', `candidate-${candidate}`),
      tickets: entries,
    },
    deps,
  );
  return red && { status: 'red', ...red };
}

export interface MainLineInput {
  ref: RepoRef;
  /** The batch's landings and reverts (commits on the base's first-parent line). */
  commits: string[];
}

/**
 * The base's first-parent line from the batch's first landing to its tip, oldest first (`firstParentSince`): what a
 * run report lists with each commit's validation.
 */
export async function readMainLine(git: Git, input: MainLineInput): Promise<{ commit: string; subject: string }[]> {
  const { ref } = input;
  return firstParentSince(git, ref.repo, await headOf(git, ref.repo, `refs/heads/${ref.baseBranch}`), input.commits);
}
