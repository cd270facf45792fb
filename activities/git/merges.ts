/**
 * Merging a ticket's validated commit into the base branch without a checkout of its own: `git merge-tree
 * --write-tree` computes it, `git commit-tree` makes the commit, and the base moves by compare-and-swap, with every
 * checkout of the base brought forward as a fast-forward would. Every function takes the worker's {@link Git} first.
 */
import type { MergeResult } from '../../workflows/types';
import { GitError } from '../../workflows/errors';
import type { Git } from './git';
import { parseMergeTree, parseStatusPaths, parseWorktreeList, pathsInTheWay, type WorktreeEntry } from './parse';
import { changedPaths, headOf, isAncestor } from './repository';

/** The working trees of `repo` that have `base` checked out, the main one first, with the commit git saw there. */
async function checkoutsOf(git: Git, repo: string, base: string): Promise<WorktreeEntry[]> {
  const entries = parseWorktreeList((await git.run(repo, ['worktree', 'list', '--porcelain'])).out);
  return entries.filter((wt) => wt.branch === base && !wt.bare && !wt.prunable);
}

/**
 * Paths of `incoming` (files a fast-forward of `dir` would write) that `dir` has local changes in, staged, unstaged
 * or untracked; a change in a folder where a file comes (or in a file where a folder comes) counts.
 */
async function blockingPaths(git: Git, dir: string, incoming: string[]): Promise<string[]> {
  const status = await git.run(dir, ['status', '--porcelain', '-z', '--untracked-files=all', '--no-renames']);
  return pathsInTheWay(parseStatusPaths(status.out), incoming);
}

/**
 * Undoes a merge of `branchHead` a crashed ratchet left in progress in `dir` (true when it did); throws when someone
 * else's merge is in progress there.
 */
async function clearOwnMerge(git: Git, dir: string, branchHead: string): Promise<boolean> {
  const pending = await git.run(dir, ['rev-parse', '--quiet', '--verify', 'MERGE_HEAD'], [0, 1]);
  if (pending.code !== 0) return false;
  // Older ratchet versions merged in the checkout; a crash between conflict and abort left this. Anyone else's merge
  // is left alone and the retry waits for them.
  if (pending.out.trim() !== branchHead) throw new GitError(`a merge is in progress in ${dir}; fix: finish or abort it`);
  await git.run(dir, ['merge', '--abort']);
  return true;
}

/** How often a merge is computed again because `base` moved between computing it and landing it. */
export const MERGE_TRIES = 5;

/**
 * Moves `base` from `from` to its child `to`, and every working tree that has `base` checked out with it, touching
 * only files that differ between the two (a fast-forward). Refuses, moving nothing, when such a checkout has local
 * changes (staged, unstaged or untracked) in one of those files.
 * - Checked out nowhere: `update-ref <ref> <to> <from>`, a compare-and-swap.
 * - Checked out: `git merge --ff-only <to>` there. Git checks the local changes before it writes a file, updates the
 *   index and the files with a two-way read-tree, and moves the ref only from the commit it read at its start
 *   (its own compare-and-swap), refusing when `base` moved forward (`base` is then no ancestor of `to`). A move
 *   backwards would pass that test, so the commit `git worktree list` saw there, moments before, must be `from`.
 *   Like the merge in the checkout before it, this runs the `post-merge` hook. Any further checkout of `base` (only
 *   `worktree add --force` makes one) is checked first and brought forward after with `read-tree -m -u <from> <to>`.
 * @returns true when landed, `'again'` when `base` is no longer at `from` (or an interrupted merge of an older
 *   ratchet was undone), or the blocking paths.
 */
export async function advanceBase(git: Git, repo: string, base: string, from: string, to: string, branchHead: string): Promise<true | 'again' | string[]> {
  const ref = `refs/heads/${base}`;
  const moved = async (): Promise<boolean> => (await headOf(git, repo, ref)) !== from;
  const [first, ...others] = await checkoutsOf(git, repo, base);
  if (first === undefined) {
    try {
      await git.run(repo, ['update-ref', '-m', `ratchet: merge ${branchHead}`, ref, to, from]);
      return true;
    } catch (err) {
      if (await moved()) return 'again';
      throw err;
    }
  }
  if (first.head !== from) return 'again';
  let incoming: string[] | undefined;
  const incomingPaths = async (): Promise<string[]> => (incoming ??= await changedPaths(git, repo, from, to));
  for (const wt of others) {
    await clearOwnMerge(git, wt.path, branchHead);
    const blocking = await blockingPaths(git, wt.path, await incomingPaths());
    if (blocking.length) return blocking;
  }
  try {
    await git.run(first.path, ['merge', '--ff-only', '--no-stat', '--no-autostash', '--no-verify-signatures', to]);
  } catch (err) {
    if ((await moved()) || (await clearOwnMerge(git, first.path, branchHead))) return 'again';
    const blocking = await blockingPaths(git, first.path, await incomingPaths());
    if (blocking.length) return blocking;
    throw err;
  }
  for (const wt of others) await git.run(wt.path, ['read-tree', '-m', '-u', from, to]);
  return true;
}

/**
 * Merges `branch` (its validated `commit` when given) into `base` with a merge commit whose parents are the base
 * tip and that commit (the `--no-ff` shape), without a checkout of its own: `git merge-tree --write-tree` computes
 * the result, `git commit-tree` makes the commit as "ratchet <ratchet@localhost>" (no hooks), and the base moves by
 * compare-and-swap. Every working tree where `base` is checked out (the user's checkout, a `_base-<base>` worktree
 * from {@link baseCheckout}) is brought forward as a fast-forward would: only files the merge changed are written,
 * and uncommitted changes in other files (such as ticket files the tracker writes) stay and do not block it.
 * When `base` moved meanwhile, the merge is computed again (up to 5 times).
 * Idempotent: a branch already contained in `base` reports `alreadyMerged` with the base tip. On a conflict, or when
 * a checkout of `base` has local changes in a file the merge would write, `base`, its checkouts and their files are
 * left as they were. Serialized per repository within this process.
 * @returns the merge commit (full sha), or `merged: false` with the conflicting (or locally changed) paths.
 * @throws GitError (retryable) when `base` kept moving, a merge is in progress in a checkout of `base`, or git fails;
 *   (non-retryable) when `branch` or `base` names no commit.
 */
export async function mergeBranch(git: Git, opts: {
  repo: string;
  base: string;
  branch: string;
  /** The commit to merge: the one the gates validated; default the branch tip. */
  commit?: string;
  message: string;
  /** Not used since merges need no checkout of their own; accepted so callers may keep passing it. */
  worktreesDir?: string;
}): Promise<MergeResult> {
  const { repo, base, branch } = opts;
  return git.withRepoLock(repo, async () => {
    // The validated commit, not whatever the branch points at now: a ref can move after validation.
    const branchHead = opts.commit ?? (await headOf(git, repo, branch));
    for (let tries = 0; tries < MERGE_TRIES; tries++) {
      const from = await headOf(git, repo, `refs/heads/${base}`);
      if (await isAncestor(git, repo, branchHead, from)) return { merged: true, alreadyMerged: true, commit: from };
      const onto = await mergeOnto(git, repo, from, branchHead, opts.message);
      if ('conflict' in onto) return { merged: false, alreadyMerged: false, conflict: onto.conflict };
      const { commit } = onto;
      const landed = await advanceBase(git, repo, base, from, commit, branchHead);
      if (landed === true) return { merged: true, alreadyMerged: false, commit };
      if (landed !== 'again') return { merged: false, alreadyMerged: false, conflict: landed };
    }
    throw new GitError(`${base} moved ${MERGE_TRIES} times while ${branch} was being merged into it in ${repo}; the retry merges again`);
  });
}


/**
 * The merge commit of `commit` onto `onto` (parents: `onto`, then `commit`; the `--no-ff` shape), made with
 * `merge-tree --write-tree` and `commit-tree` as "ratchet <ratchet@localhost>": no ref moves, no checkout, no hook.
 * @returns the new commit (full sha), or the conflicting paths.
 */
export async function mergeOnto(git: Git, repo: string, onto: string, commit: string, message: string): Promise<{ commit: string } | { conflict: string[] }> {
  const merged = await git.run(repo, ['merge-tree', '--write-tree', '-z', '--name-only', onto, commit], [0, 1]);
  const { tree, conflicted } = parseMergeTree(merged.out);
  if (merged.code === 1) return { conflict: conflicted };
  return { commit: (await git.run(repo, ['commit-tree', tree, '-p', onto, '-p', commit, '-m', message])).out.trim() };
}

/**
 * A commit on `onto` that undoes the merge `merge` (against its first parent, as `git revert -m 1` does), made with
 * `merge-tree --write-tree` and `commit-tree`: no ref moves, no checkout. Its only parent is `onto`.
 * @returns the new commit, or the conflicting paths (later commits changed what the merge changed).
 */
export async function revertOnto(git: Git, repo: string, onto: string, merge: string, message: string): Promise<{ commit: string } | { conflict: string[] }> {
  // The three-way merge of base `merge`, ours `onto`, theirs `merge^1`. `merge-tree --merge-base` needs git 2.40; a
  // commit holding `merge^1`'s tree with `merge` as its parent makes `merge` the merge base for any git with
  // `--write-tree` (2.38). That commit is referenced by nothing and goes with the next gc.
  const undo = (await git.run(repo, ['commit-tree', `${merge}^1^{tree}`, '-p', merge, '-m', `undo ${merge}`])).out.trim();
  const merged = await git.run(repo, ['merge-tree', '--write-tree', '-z', '--name-only', onto, undo], [0, 1]);
  const { tree, conflicted } = parseMergeTree(merged.out);
  if (merged.code === 1) return { conflict: conflicted };
  return { commit: (await git.run(repo, ['commit-tree', tree, '-p', onto, '-m', message])).out.trim() };
}

/** One validated commit of a merge candidate and the message of its merge commit; or, with `revert`, a merge to undo. */
export interface CandidatePart {
  commit: string;
  message: string;
  /** `commit` is a merge on the base's first-parent line to revert: the part is a one-parent commit undoing it. */
  revert?: boolean;
}

/**
 * A merge candidate (issue 26): `parts` merged in order onto `from`, each a merge commit onto the one before (the
 * first onto `from`), so that once the base moves to the last, main's first-parent line has one merge commit per
 * part. No ref moves.
 * @returns the merge commits in order, or the index of the first part that conflicts and its paths.
 */
export async function chainMerges(git: Git, repo: string, from: string, parts: CandidatePart[]): Promise<{ commits: string[] } | { conflictAt: number; paths: string[] }> {
  const commits: string[] = [];
  let tip = from;
  for (const [i, part] of parts.entries()) {
    const onto = part.revert ? await revertOnto(git, repo, tip, part.commit, part.message) : await mergeOnto(git, repo, tip, part.commit, part.message);
    if ('conflict' in onto) return { conflictAt: i, paths: onto.conflict };
    commits.push((tip = onto.commit));
  }
  return { commits };
}

/** How far back along the base's first-parent line {@link landedMerge} looks, commits. */
const LANDED_LOOKBACK = 2_000;

/**
 * The merge commit on `tip`'s first-parent line that brought `commit` in (one of its other parents is `commit`), or
 * undefined when none of the last 2,000 did (it came in some other way, a fast-forward say).
 */
export async function landedMerge(git: Git, repo: string, tip: string, commit: string): Promise<string | undefined> {
  const out = (await git.run(repo, ['rev-list', '--first-parent', '--parents', `--max-count=${LANDED_LOOKBACK}`, tip])).out;
  for (const line of out.split('\n')) {
    const [c, , ...others] = line.trim().split(' ');
    if (c && others.includes(commit)) return c;
  }
  return undefined;
}

/** The commit on `tip`'s first-parent line (of the last 2,000) whose subject contains `text`, or undefined. */
export async function firstParentWith(git: Git, repo: string, tip: string, text: string): Promise<string | undefined> {
  const out = (await git.run(repo, ['log', '--first-parent', `--max-count=${LANDED_LOOKBACK}`, '--format=%H %s', tip])).out;
  const line = out.split('\n').find((l) => l.slice(41).includes(text));
  return line?.slice(0, 40);
}

/** The subjects of the commits on `to`'s first-parent line after `from`, oldest first (what landed since `from`). */
export async function landedSince(git: Git, repo: string, from: string, to: string): Promise<string[]> {
  const out = (await git.run(repo, ['log', '--first-parent', '--reverse', '--format=%s', `${from}..${to}`])).out;
  return out.split('\n').filter(Boolean);
}

/**
 * `tip`'s first-parent line back to the first of `commits` on it (the last 5,000 commits at most), oldest first: a
 * batch's landings and whatever else landed between them.
 * @returns commit and subject of each; empty when none of `commits` is on the line.
 */
export async function firstParentSince(git: Git, repo: string, tip: string, commits: string[]): Promise<{ commit: string; subject: string }[]> {
  const wanted = new Set(commits);
  const out = (await git.run(repo, ['log', '--first-parent', '--max-count=5000', '--format=%H %s', tip])).out;
  const line: { commit: string; subject: string }[] = [];
  let last = -1;
  for (const l of out.split('\n').filter(Boolean)) {
    line.push({ commit: l.slice(0, 40), subject: l.slice(41) });
    if (wanted.has(l.slice(0, 40))) last = line.length - 1;
  }
  return line.slice(0, last + 1).reverse();
}
