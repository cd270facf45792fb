/**
 * The worktrees of a ticket's steps: cut fresh for an attempt (or reset in place), a pool of ended tickets' worktrees
 * for the next ticket, the checkout of the base branch that deploys and probes run in, and the attempt's commit. Every function takes the worker's {@link Git}
 * first and is safe to repeat after a crash.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { GitError } from '../../workflows/errors';
import { canonical, exists, type Git } from './git';
import { nulList, parseWorktreeList, type WorktreeEntry } from './parse';
import { headOf } from './repository';

async function listWorktrees(git: Git, repo: string): Promise<WorktreeEntry[]> {
  const entries = parseWorktreeList((await git.run(repo, ['worktree', 'list', '--porcelain'])).out);
  return Promise.all(entries.map(async (e) => ({ ...e, path: await canonical(e.path) })));
}

/**
 * Removes the linked worktree or leftover folder at `target` (canonical), whatever state it is in, and forgets it.
 * Never touches the main working tree.
 */
async function discard(git: Git, repo: string, target: string, main: string, registered: boolean): Promise<void> {
  const inside = path.relative(target, main);
  if (!inside.startsWith('..') && !path.isAbsolute(inside)) {
    throw new GitError(`refusing to remove ${target}: it holds the main working tree of ${repo}`, true);
  }
  // A worktree git removed is forgotten with it; only what it could not remove needs a prune.
  const removed = registered && (await git.run(repo, ['worktree', 'remove', '--force', '--force', target]).then(() => true, () => false));
  if (await exists(target)) {
    // git could not delete it all (a process still writing there, or it was never a worktree). Rename is atomic and
    // a process whose working directory is inside follows the rename, so it cannot write into the fresh worktree.
    const stale = `${target}.stale-${process.pid}-${Date.now()}`;
    await fs.rename(target, stale);
    await fs.rm(stale, { recursive: true, force: true }).catch(() => undefined);
  }
  if (!removed) await git.run(repo, ['worktree', 'prune']);
}

function assertPlainName(name: string): void {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..') {
    throw new GitError(`worktree name ${JSON.stringify(name)} must be a plain folder name ([A-Za-z0-9._-])`, true);
  }
}

/**
 * The worktree of a ticket's step at `<worktreesDir>/<name>`, on `branch` cut fresh from the current tip of `base`:
 * clean, with nothing left from an earlier attempt (its commits, edits, untracked and ignored files such as an
 * agent's node_modules or build output are gone: an attempt must not see what an earlier one left).
 * - The ticket's own worktree, registered at that path and still on `branch`, is reset in place (see
 *   {@link resetInPlace}): only files that differ are rewritten, so a second attempt on a large repository costs
 *   about what changed, not a full checkout. No repository lock: merges do not wait for it.
 * - Anything else is replaced under the repository lock: a leftover folder git no longer knows, a broken worktree,
 *   one on another branch, one a process still works in, and another worktree holding `branch`. Then a worktree an
 *   ended ticket left in the pool ({@link releaseWorktree}) is moved there and reset in place the same way, so a
 *   ticket's first workspace also costs what differs, not a full checkout (on a repository of 10,000 files: ~200 ms
 *   against ~400 ms for `worktree add` and ~200 ms more to remove it after the merge). Only with the pool empty, or
 *   its worktree not resetting, is a new worktree added (a full checkout).
 * @returns the worktree's canonical absolute path and the base commit (full sha) it was cut from.
 * @throws GitError (non-retryable) when `name` is not a plain folder name or `branch` is checked out in the main
 *   working tree.
 */
export async function prepareWorktree(git: Git, opts: {
  repo: string;
  worktreesDir: string;
  branch: string;
  base: string;
  name: string;
}): Promise<{ path: string; baseCommit: string }> {
  const { repo, branch, base, name } = opts;
  assertPlainName(name);
  const target = await canonical(path.join(opts.worktreesDir, name));
  const tip = await headOf(git, repo, base);
  if (await resetInPlace(git, repo, target, tip, branch)) return { path: target, baseCommit: tip };
  const replace = (pool: boolean): Promise<{ path: string; baseCommit: string } | undefined> =>
    git.withRepoLock(repo, async () => {
      const [main, ...linked] = await listWorktrees(git, repo);
      if (main.branch === branch) {
        throw new GitError(`branch ${branch} is checked out in the main working tree ${main.path}; fix: check out another branch there`, true);
      }
      for (const wt of linked) {
        if (wt.path === target || wt.branch === branch) await discard(git, repo, wt.path, main.path, true);
      }
      if (await exists(target)) await discard(git, repo, target, main.path, false);
      await fs.mkdir(path.dirname(target), { recursive: true });
      // Reset after the lock is released: merges do not wait for it.
      if (pool && (await takePooled(git, repo, opts.worktreesDir, target, linked))) return undefined;
      const baseCommit = await headOf(git, repo, base);
      await git.run(repo, ['worktree', 'add', '-B', branch, target, baseCommit]);
      return { path: target, baseCommit };
    });
  const added = await replace(true);
  if (added) return added;
  if (await resetInPlace(git, repo, target, tip, branch, true)) return { path: target, baseCommit: tip };
  // The pooled worktree would not reset (e.g. a file git may not delete): a fresh one in its place.
  return (await replace(false)) as { path: string; baseCommit: string };
}

/**
 * Resets the linked worktree of `repo` at `target` (canonical) in place to `commit`: on `branch` re-cut there
 * (`checkout -B`), or detached when no branch is given. False, touching nothing, when there is no such worktree to
 * reuse: none at that path, one of another repository, one whose HEAD is not on `branch`, or one a live process
 * works in (its cwd is inside: an agent's or a gate's background child would go on writing into the next run; with
 * a fresh worktree it follows the old folder's rename, see {@link discard}). Where processes cannot be listed (no
 * /proc) nothing is reused. Also false when a step fails half-way (e.g. a file git may not delete): the caller then
 * replaces the worktree.
 *
 * The worktree's index is the previous run's to write (an agent runs git there), so none of it is trusted: it is
 * rebuilt from `commit`, everything untracked or ignored is deleted (`clean -ffdx`, nested repositories too), tracked
 * `.gitattributes` are rewritten (they steer how files are hashed), and every file is hashed again (`update-index
 * --refresh`), so no stat data or assume-unchanged / skip-worktree bit an earlier run left can hide an edited file.
 * The checkout then rewrites only files whose content differs from `commit`.
 *
 * `anyHead`: a worktree taken from the pool (detached, another ticket's before) is reset whatever its HEAD is on.
 */
async function resetInPlace(git: Git, repo: string, target: string, commit: string, branch?: string, anyHead = false): Promise<boolean> {
  if (!(await exists(path.join(target, '.git')))) return false;
  try {
    // One git process for three answers: its top level, its repository, and the branch HEAD is on ("HEAD" if none).
    const [top, common, head] = (await git.run(target, ['rev-parse', '--show-toplevel', '--git-common-dir', '--symbolic-full-name', 'HEAD'])).out.trim().split('\n');
    if ((await canonical(top)) !== target) return false;
    if ((await canonical(path.resolve(target, common))) !== (await git.commonDirOf(repo))) return false;
    if (branch !== undefined && !anyHead && head !== `refs/heads/${branch}`) return false;
    if (await inUse(target)) return false;
    await git.run(target, ['read-tree', commit]);
    await git.run(target, ['clean', '-ffdxq']);
    const attributes = nulList((await git.run(target, ['ls-files', '-z', '--', ':(glob)**/.gitattributes'])).out);
    if (attributes.length) await git.run(target, ['checkout-index', '--force', '--', ...attributes]);
    await git.run(target, ['update-index', '-q', '--refresh'], [0, 1]);
    await git.run(target, ['checkout', '--quiet', '--force', ...(branch === undefined ? ['--detach'] : ['-B', branch]), commit]);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process this one can see has its working directory in `dir` (canonical); true when it cannot tell. */
async function inUse(dir: string): Promise<boolean> {
  const pids = await fs.readdir('/proc').then(
    (names) => names.filter((n) => /^\d+$/.test(n)),
    () => undefined,
  );
  if (!pids) return true;
  const cwds = await Promise.all(pids.map((pid) => fs.readlink(`/proc/${pid}/cwd`).catch(() => '')));
  return cwds.some((cwd) => cwd === dir || cwd.startsWith(`${dir}/`));
}

/**
 * Stages everything in `worktree` and commits it as "ratchet <ratchet@localhost>" if anything is staged. Hooks are
 * skipped (`--no-verify`): checking the work is the gates' job, and a failing hook would look like a transient fault.
 * When `branch` is given, the worktree must still be on it.
 * @returns HEAD after the commit (also when the agent committed by itself), undefined only when HEAD is still
 *   `baseCommit`; and the number of files that differ between `baseCommit` and HEAD.
 * @throws GitError (non-retryable) when the worktree is no longer on `branch`.
 */
export async function commitAll(
  git: Git,
  worktree: string,
  message: string,
  baseCommit: string,
  branch?: string,
): Promise<{ commit?: string; filesChanged: number }> {
  if (branch !== undefined) {
    // An agent may have switched the worktree to another branch (main, say): never commit there for it.
    const head = (await git.run(worktree, ['symbolic-ref', '--quiet', 'HEAD'], [0, 1])).out.trim();
    if (head !== `refs/heads/${branch}`) {
      throw new GitError(`the worktree ${worktree} is on ${head || 'a detached HEAD'}, not on refs/heads/${branch}: the agent switched branches; the attempt is not committed`, true);
    }
  }
  // A fresh index from HEAD, not the agent's (read-tree without -m replaces every entry): the agent's may carry
  // skip-worktree or assume-unchanged bits that keep an edited file (a gate's script) out of the commit while the
  // gates, run in this worktree, run the edited file (issue 25).
  await git.run(worktree, ['read-tree', 'HEAD']);
  await git.run(worktree, ['add', '-A']);
  // Commit first and ask only when it exits 1 (also git's answer to "nothing to commit") whether anything was staged:
  // an agent that changed files, the common case, costs one git process less.
  const committed = await git.run(worktree, ['commit', '--no-verify', '--quiet', '-m', message], [0, 1]);
  if (committed.code === 1 && (await git.run(worktree, ['diff', '--cached', '--quiet'], [0, 1])).code === 1) {
    throw new GitError(`git commit failed in ${worktree} with changes staged: ${committed.out.trim()}`, false, 1);
  }
  const head = await headOf(git, worktree, 'HEAD');
  const files = nulList((await git.run(worktree, ['diff', '--name-only', '-z', baseCommit, head])).out);
  return { commit: head === baseCommit ? undefined : head, filesChanged: files.length };
}

/** The folder of a worktrees folder where ended tickets' worktrees wait for the next ticket ({@link releaseWorktree}). */
export const POOL_DIR = '.pool';

/** At most this many worktrees wait in one pool; more are removed. Each is a full checkout on disk. */
export const POOL_MAX = 16;

/**
 * Ends the use of the worktrees at `worktreePaths` (a ticket's, once merged): each registered one that no process
 * works in is detached (its branch is free again) and moved into `<worktreesDir>/.pool/`, where
 * {@link prepareWorktree} takes it for the next ticket and reset it in place (nothing of
 * this ticket's survives that reset); anything else, and any beyond {@link POOL_MAX} in the pool, is removed as by
 * {@link removeWorktree}. A move is a rename: no file of the checkout is touched. Idempotent.
 * @throws GitError (non-retryable) when a path is, or contains, the main working tree.
 */
export async function releaseWorktree(git: Git, repo: string, worktreesDir: string, ...worktreePaths: string[]): Promise<void> {
  await git.withRepoLock(repo, async () => {
    const [main, ...linked] = await listWorktrees(git, repo);
    const pool = await canonical(path.join(worktreesDir, POOL_DIR));
    let pooled = linked.filter((wt) => path.dirname(wt.path) === pool && !wt.prunable).length;
    for (const worktreePath of worktreePaths) {
      const target = await canonical(worktreePath);
      const registered = linked.some((wt) => wt.path === target && !wt.prunable);
      if (registered && pooled < POOL_MAX && (await park(git, repo, target, path.join(pool, path.basename(target))))) {
        pooled++;
        continue;
      }
      if (registered || (await exists(target))) await discard(git, repo, target, main.path, registered);
    }
  });
}

/**
 * Detaches the linked worktree at `target` and moves it to `dest`; false when a process works in it, `dest` is taken
 * or a step fails (the caller then removes it).
 */
async function park(git: Git, repo: string, target: string, dest: string): Promise<boolean> {
  if ((await inUse(target)) || (await exists(dest))) return false;
  try {
    // HEAD detached at the commit it names (update-ref resolves its new value as a revision): the branch is free.
    await git.run(target, ['update-ref', '--no-deref', 'HEAD', 'HEAD']);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await git.run(repo, ['worktree', 'move', target, dest]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Moves a worktree waiting in the pool of `worktreesDir` to `target` (canonical; nothing there, its parent made);
 * `linked`: the repository's linked worktrees as just listed. Under the repository lock. Another process taking the
 * same one first makes its move fail: the next one is tried.
 * @returns whether one was moved; false when the pool has none.
 */
async function takePooled(git: Git, repo: string, worktreesDir: string, target: string, linked: WorktreeEntry[]): Promise<boolean> {
  const pool = await canonical(path.join(worktreesDir, POOL_DIR));
  for (const wt of linked) {
    if (path.dirname(wt.path) !== pool || wt.prunable) continue;
    if (await git.run(repo, ['worktree', 'move', wt.path, target]).then(() => true, () => false)) return true;
  }
  return false;
}

/**
 * Removes the worktrees at `worktreePaths` and deletes whatever folder is left at each path; their branches stay.
 * One listing of the repository's worktrees serves all of them: git lists a registered worktree also when its folder
 * is gone, so a path neither listed nor there has nothing to remove. Idempotent.
 * @throws GitError (non-retryable) when a path is, or contains, the main working tree.
 */
export async function removeWorktree(git: Git, repo: string, ...worktreePaths: string[]): Promise<void> {
  await git.withRepoLock(repo, async () => {
    const [main, ...linked] = await listWorktrees(git, repo);
    for (const worktreePath of worktreePaths) {
      const target = await canonical(worktreePath);
      const registered = linked.some((wt) => wt.path === target);
      if (registered || (await exists(target))) await discard(git, repo, target, main.path, registered);
    }
  });
}

async function findBaseCheckout(git: Git, repo: string, base: string, worktreesDir: string): Promise<string> {
  await git.run(repo, ['worktree', 'prune']);
  const entries = await listWorktrees(git, repo);
  // The main working tree is listed first, so it wins when base is checked out there.
  const onBase = entries.find((wt) => wt.branch === base && !wt.bare && !wt.prunable);
  if (onBase) return onBase.path;
  const target = await canonical(path.join(worktreesDir, `_base-${base.replace(/[^A-Za-z0-9._-]/g, '-')}`));
  if (await exists(target)) await discard(git, repo, target, entries[0].path, false);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await git.run(repo, ['worktree', 'add', target, base]);
  return target;
}

/** The content of the HEAD file of the checkout at `dir` (`ref: refs/heads/<branch>` or a sha), read without git. */
async function headFileOf(dir: string): Promise<string | undefined> {
  const dotGit = path.join(dir, '.git');
  const st = await fs.stat(dotGit).catch(() => undefined);
  if (!st) return undefined;
  // The main working tree's `.git` is its repository; a linked worktree's is a file naming its own git folder.
  const gitDir = st.isDirectory() ? dotGit : path.resolve(dir, (await fs.readFile(dotGit, 'utf8')).replace(/^gitdir:\s*/, '').trim());
  return fs.readFile(path.join(gitDir, 'HEAD'), 'utf8').then((t) => t.trim(), () => undefined);
}

/**
 * The path of a working tree where `base` is checked out: the main working tree if it is there, else an existing
 * worktree on `base`, else a new one at `<worktreesDir>/_base-<base>`. The one found is remembered in this process
 * and reused while its HEAD file still names `base` (read without starting git: every verify-live round and every
 * deploy asks).
 */
export async function baseCheckout(git: Git, repo: string, base: string, worktreesDir: string): Promise<string> {
  const key = `${repo}\0${base}`;
  const known = git.baseCheckouts.get(key);
  if (known !== undefined && (await headFileOf(known)) === `ref: refs/heads/${base}`) return known;
  const found = await git.withRepoLock(repo, () => findBaseCheckout(git, repo, base, worktreesDir));
  git.baseCheckouts.set(key, found);
  return found;
}


