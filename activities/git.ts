/**
 * Git side effects through simple-git: worktrees per attempt, commits, merges into the base branch.
 * Functions take plain absolute paths and return plain data; every one is safe to repeat after a crash.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Mutex } from 'async-mutex';
import { recordLockWait } from './context';
import { commandEnv } from './env';
import { runGit } from './git-process';
import type { MergeResult } from '../workflows/types';
import { ConfigError, GitError } from '../workflows/errors';

/**
 * Runs `git <args>` in `dir` (in the git process: activities/git-process.ts). Exit codes listed in `ok` resolve with
 * the code and stdout; anything else rejects with a retryable `GitError` naming the command, the folder and git's own
 * message.
 */
export async function git(dir: string, args: string[], ok: number[] = [0], env?: Record<string, string>): Promise<{ code: number; out: string }> {
  const outcome = await runGit(dir, args, env ? gitEnv(env) : undefined);
  if ('code' in outcome && ok.includes(outcome.code)) return { code: outcome.code, out: outcome.stdout };
  const why = 'failed' in outcome ? outcome.failed : (outcome.stderr || outcome.stdout).trim();
  const code = 'code' in outcome ? outcome.code : undefined;
  throw new GitError(`git ${args.join(' ')} failed in ${dir}${code === undefined ? '' : ` (exit ${code})`}: ${why}`, false, code);
}

/** Worker variables a git process that reaches a remote needs besides the commands' base ones: TLS and proxies. */
const NETWORK_ENV = ['SSL_CERT_FILE', 'SSL_CERT_DIR', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];

/**
 * The environment of a git process given `env`: the commands' allowlist (`commandEnv`: no editors, pagers or hooks,
 * which simple-git refuses anyway), the network variables, then `env`.
 */
function gitEnv(env: Record<string, string>): Record<string, string> {
  const network = Object.fromEntries(NETWORK_ENV.filter((n) => process.env[n] !== undefined).map((n) => [n, process.env[n] as string]));
  return commandEnv({ fromWorker: network, protocol: env });
}

const nulList = (out: string): string[] => out.split('\0').filter(Boolean);

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

/** Absolute path with symlinks resolved as far as the path exists, so paths git prints compare equal to ours. */
export async function canonical(p: string): Promise<string> {
  const abs = path.resolve(p);
  try {
    return await fs.realpath(abs);
  } catch {
    const parent = path.dirname(abs);
    return parent === abs ? abs : path.join(await canonical(parent), path.basename(abs));
  }
}

// Serializes merges and worktree bookkeeping per repository. Good for one worker process only; serialization across
// hosts is a later lock workflow (DESIGN.md "Scale-out").
const repoLocks = new Map<string, Mutex>();

async function withRepoLock<T>(repo: string, fn: () => Promise<T>): Promise<T> {
  const key = await fs.realpath(repo);
  let lock = repoLocks.get(key);
  if (!lock) {
    lock = new Mutex();
    repoLocks.set(key, lock);
  }
  const asked = performance.now();
  return lock.runExclusive(() => {
    recordLockWait('repo', performance.now() - asked);
    return fn();
  });
}

/** One entry of `git worktree list --porcelain`. The first entry is always the main working tree. */
export interface WorktreeEntry {
  path: string;
  head?: string;
  /** Short branch name (`main`), absent when detached or bare. */
  branch?: string;
  bare: boolean;
  detached: boolean;
  /** Registered, but its folder is gone. */
  prunable: boolean;
}

/** Parses `git worktree list --porcelain` (pure). */
export function parseWorktreeList(porcelain: string): WorktreeEntry[] {
  const entries: WorktreeEntry[] = [];
  for (const line of porcelain.split('\n')) {
    const [word, ...rest] = line.split(' ');
    const value = rest.join(' ');
    if (word === 'worktree') entries.push({ path: value, bare: false, detached: false, prunable: false });
    const entry = entries[entries.length - 1];
    if (!entry) continue;
    if (word === 'HEAD') entry.head = value;
    if (word === 'branch') entry.branch = value.replace(/^refs\/heads\//, '');
    if (word === 'bare') entry.bare = true;
    if (word === 'detached') entry.detached = true;
    if (word === 'prunable') entry.prunable = true;
  }
  return entries;
}

async function listWorktrees(repo: string): Promise<WorktreeEntry[]> {
  const entries = parseWorktreeList((await git(repo, ['worktree', 'list', '--porcelain'])).out);
  return Promise.all(entries.map(async (e) => ({ ...e, path: await canonical(e.path) })));
}

/**
 * Removes the linked worktree or leftover folder at `target` (canonical), whatever state it is in, and forgets it.
 * Never touches the main working tree.
 */
async function discard(repo: string, target: string, main: string, registered: boolean): Promise<void> {
  const inside = path.relative(target, main);
  if (!inside.startsWith('..') && !path.isAbsolute(inside)) {
    throw new GitError(`refusing to remove ${target}: it holds the main working tree of ${repo}`, true);
  }
  // A worktree git removed is forgotten with it; only what it could not remove needs a prune.
  const removed = registered && (await git(repo, ['worktree', 'remove', '--force', '--force', target]).then(() => true, () => false));
  if (await exists(target)) {
    // git could not delete it all (a process still writing there, or it was never a worktree). Rename is atomic and
    // a process whose working directory is inside follows the rename, so it cannot write into the fresh worktree.
    const stale = `${target}.stale-${process.pid}-${Date.now()}`;
    await fs.rename(target, stale);
    await fs.rm(stale, { recursive: true, force: true }).catch(() => undefined);
  }
  if (!removed) await git(repo, ['worktree', 'prune']);
}

/**
 * Checks the batch's `repo` and `baseBranch` before anything runs.
 * @throws ConfigError (non-retryable) naming the field, the value and the fix when `repo` is not absolute, does not
 *   exist, is not a folder, not a git working tree or not its top level, or when `baseBranch` is not a local branch.
 */
export async function assertGitRepo(repo: string, baseBranch: string): Promise<void> {
  const field = `field "repo" is ${JSON.stringify(repo)}`;
  if (!path.isAbsolute(repo)) {
    throw new ConfigError(`${field}: not an absolute path; fix: give the full path, such as ${path.resolve(repo)}`);
  }
  const stat = await fs.stat(repo).catch(() => undefined);
  if (!stat) throw new ConfigError(`${field}: no such folder; fix: create it or correct the path`);
  if (!stat.isDirectory()) throw new ConfigError(`${field}: not a folder; fix: point repo at the repository's folder`);
  let top: string;
  try {
    top = (await git(repo, ['rev-parse', '--show-toplevel'])).out.trim();
  } catch {
    throw new ConfigError(`${field}: not a git repository; fix: run git init there or point repo at a clone`);
  }
  if ((await canonical(top)) !== (await canonical(repo))) {
    throw new ConfigError(
      `${field}: a folder inside the git repository ${top}, not its top level (merges would land in that repository); ` +
        `fix: set repo to ${top}, or make the folder a repository of its own (git init)`,
    );
  }
  const { code } = await git(repo, ['show-ref', '--verify', '--quiet', `refs/heads/${baseBranch}`], [0, 1]);
  if (code === 0) return;
  const branches = (await git(repo, ['for-each-ref', '--format=%(refname:short)', 'refs/heads'])).out.split('\n').filter(Boolean);
  const have = branches.length ? `local branches are ${branches.join(', ')}` : 'the repository has no commits yet';
  throw new ConfigError(
    `field "baseBranch" is ${JSON.stringify(baseBranch)}: no such local branch in ${repo} (${have}); ` +
      `fix: set baseBranch to an existing branch or create it (git branch ${baseBranch})`,
  );
}

/**
 * Appends `relPaths` (relative to `repo`, or absolute inside it) to the repository's `.git/info/exclude` as
 * anchored folder patterns, so ratchet's own folders never show up as untracked; and, for each of `filePatterns`,
 * the anchored pattern `<folder>/<glob>` (e.g. the tracker's `*.state` records in the tickets folder). Idempotent;
 * paths outside the repository are skipped.
 */
export async function ensureExcluded(repo: string, relPaths: string[], filePatterns: { folder: string; glob: string }[] = []): Promise<void> {
  await withRepoLock(repo, async () => {
    const root = await canonical(repo);
    const common = (await git(repo, ['rev-parse', '--git-common-dir'])).out.trim();
    const file = path.join(path.resolve(repo, common), 'info', 'exclude');
    const existing = await fs.readFile(file, 'utf8').catch(() => '');
    const have = new Set(existing.split('\n').map((l) => l.trim()));
    const wanted: string[] = [];
    const entries = [...relPaths.map((p) => ({ folder: p, glob: '' })), ...filePatterns];
    for (const { folder, glob } of entries) {
      const rel = path.relative(root, await canonical(path.resolve(root, folder)));
      if (rel.startsWith('..') || path.isAbsolute(rel) || (!rel && !glob)) continue;
      const pattern = `/${rel ? `${rel.split(path.sep).join('/')}/` : ''}${glob}`;
      if (!have.has(pattern) && !wanted.includes(pattern)) wanted.push(pattern);
    }
    if (!wanted.length) return;
    await fs.mkdir(path.dirname(file), { recursive: true });
    const sep = existing && !existing.endsWith('\n') ? '\n' : '';
    await fs.appendFile(file, `${sep}${wanted.join('\n')}\n`);
  });
}

/**
 * Git's blob id (a content digest) of every file at `commit` that matches `isMatch`, by path (relative, `/`-separated):
 * the definition of done's protected files, frozen at batch start.
 */
export async function blobDigests(repo: string, commit: string, isMatch: (p: string) => boolean): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of nulList((await git(repo, ['ls-tree', '-r', '-z', '--full-tree', commit])).out)) {
    const tab = line.indexOf('\t');
    const file = line.slice(tab + 1);
    if (isMatch(file)) out[file] = line.slice(0, tab).split(' ')[2];
  }
  return out;
}

/** The patch (`git diff --binary`) between commits `from` and `to`. */
export async function diffText(repo: string, from: string, to: string): Promise<string> {
  return (await git(repo, ['diff', '--binary', from, to])).out;
}

/** Paths (relative to the repository, `/`-separated) that differ between commits `from` and `to`. */
export async function changedPaths(repo: string, from: string, to: string): Promise<string[]> {
  return nulList((await git(repo, ['diff', '--name-only', '--no-renames', '-z', from, to])).out);
}

/**
 * The commit `ref` points at in `repo`, as a full sha.
 * @throws GitError (non-retryable) when `ref` does not name a commit.
 */
export async function headOf(repo: string, ref: string): Promise<string> {
  const { code, out } = await git(repo, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], [0, 1]);
  if (code !== 0) throw new GitError(`ref ${JSON.stringify(ref)} does not name a commit in ${repo}`, true);
  return out.trim();
}

async function isAncestor(repo: string, commit: string, ref: string): Promise<boolean> {
  return (await git(repo, ['merge-base', '--is-ancestor', commit, ref], [0, 1])).code === 0;
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
export async function prepareWorktree(opts: {
  repo: string;
  worktreesDir: string;
  branch: string;
  base: string;
  name: string;
}): Promise<{ path: string; baseCommit: string }> {
  const { repo, branch, base, name } = opts;
  assertPlainName(name);
  const target = await canonical(path.join(opts.worktreesDir, name));
  const tip = await headOf(repo, base);
  if (await resetInPlace(repo, target, tip, branch)) return { path: target, baseCommit: tip };
  const replace = (pool: boolean): Promise<{ path: string; baseCommit: string } | undefined> =>
    withRepoLock(repo, async () => {
      const [main, ...linked] = await listWorktrees(repo);
      if (main.branch === branch) {
        throw new GitError(`branch ${branch} is checked out in the main working tree ${main.path}; fix: check out another branch there`, true);
      }
      for (const wt of linked) {
        if (wt.path === target || wt.branch === branch) await discard(repo, wt.path, main.path, true);
      }
      if (await exists(target)) await discard(repo, target, main.path, false);
      await fs.mkdir(path.dirname(target), { recursive: true });
      // Reset after the lock is released: merges do not wait for it.
      if (pool && (await takePooled(repo, opts.worktreesDir, target, linked))) return undefined;
      const baseCommit = await headOf(repo, base);
      await git(repo, ['worktree', 'add', '-B', branch, target, baseCommit]);
      return { path: target, baseCommit };
    });
  const added = await replace(true);
  if (added) return added;
  if (await resetInPlace(repo, target, tip, branch, true)) return { path: target, baseCommit: tip };
  // The pooled worktree would not reset (e.g. a file git may not delete): a fresh one in its place.
  return (await replace(false)) as { path: string; baseCommit: string };
}

/**
 * A scratch worktree at `<worktreesDir>/<name>`, detached at `commit` and clean (untracked and ignored files
 * removed), optionally with `paths` taken from `overlay` (another commit) on top and its `removed` paths deleted: how
 * the regression guard runs gates on the base's code. An existing scratch worktree of that name is reset in place
 * like an attempt's ({@link resetInPlace}; no repository lock, so it does not wait for merges); anything else at
 * that path is replaced, by a pooled worktree reset in place when the pool has one, else a fresh one. A merge hands
 * it to the pool with the ticket's worktree ({@link releaseWorktree}).
 * @returns the worktree's canonical absolute path.
 * @throws GitError (non-retryable) when `name` is not a plain folder name.
 */
export async function prepareScratch(opts: {
  repo: string;
  worktreesDir: string;
  name: string;
  commit: string;
  overlay?: { commit: string; paths: string[]; removed?: string[] };
}): Promise<string> {
  const { repo, name } = opts;
  assertPlainName(name);
  const target = await canonical(path.join(opts.worktreesDir, name));
  const replace = (pool: boolean): Promise<boolean> =>
    withRepoLock(repo, async () => {
      const [main, ...linked] = await listWorktrees(repo);
      for (const wt of linked) if (wt.path === target) await discard(repo, wt.path, main.path, true);
      if (await exists(target)) await discard(repo, target, main.path, false);
      await fs.mkdir(path.dirname(target), { recursive: true });
      if (pool && (await takePooled(repo, opts.worktreesDir, target, linked))) return true;
      await git(repo, ['worktree', 'add', '--detach', target, opts.commit]);
      return false;
    });
  // Its own scratch worktree, else a pooled one (both reset in place), else a fresh one.
  if (!(await resetInPlace(repo, target, opts.commit)) && (await replace(true)) && !(await resetInPlace(repo, target, opts.commit))) await replace(false);
  if (opts.overlay?.paths.length) await git(target, ['checkout', opts.overlay.commit, '--', ...opts.overlay.paths]);
  for (const p of opts.overlay?.removed ?? []) await fs.rm(path.join(target, p), { force: true });
  return target;
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
async function resetInPlace(repo: string, target: string, commit: string, branch?: string, anyHead = false): Promise<boolean> {
  if (!(await exists(path.join(target, '.git')))) return false;
  try {
    // One git process for three answers: its top level, its repository, and the branch HEAD is on ("HEAD" if none).
    const [top, common, head] = (await git(target, ['rev-parse', '--show-toplevel', '--git-common-dir', '--symbolic-full-name', 'HEAD'])).out.trim().split('\n');
    if ((await canonical(top)) !== target) return false;
    if ((await canonical(path.resolve(target, common))) !== (await commonDirOf(repo))) return false;
    if (branch !== undefined && !anyHead && head !== `refs/heads/${branch}`) return false;
    if (await inUse(target)) return false;
    await git(target, ['read-tree', commit]);
    await git(target, ['clean', '-ffdxq']);
    const attributes = nulList((await git(target, ['ls-files', '-z', '--', ':(glob)**/.gitattributes'])).out);
    if (attributes.length) await git(target, ['checkout-index', '--force', '--', ...attributes]);
    await git(target, ['update-index', '-q', '--refresh'], [0, 1]);
    await git(target, ['checkout', '--quiet', '--force', ...(branch === undefined ? ['--detach'] : ['-B', branch]), commit]);
    return true;
  } catch {
    return false;
  }
}

/** Each repository's own git folder (canonical), by the repository's path: it does not change while ratchet runs. */
const commonDirs = new Map<string, string>();

/** The canonical path of `repo`'s git folder (its common dir, shared by its linked worktrees). */
async function commonDirOf(repo: string): Promise<string> {
  let dir = commonDirs.get(repo);
  if (dir === undefined) {
    dir = await canonical(path.resolve(repo, (await git(repo, ['rev-parse', '--git-common-dir'])).out.trim()));
    commonDirs.set(repo, dir);
  }
  return dir;
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
  worktree: string,
  message: string,
  baseCommit: string,
  branch?: string,
): Promise<{ commit?: string; filesChanged: number }> {
  if (branch !== undefined) {
    // An agent may have switched the worktree to another branch (main, say): never commit there for it.
    const head = (await git(worktree, ['symbolic-ref', '--quiet', 'HEAD'], [0, 1])).out.trim();
    if (head !== `refs/heads/${branch}`) {
      throw new GitError(`the worktree ${worktree} is on ${head || 'a detached HEAD'}, not on refs/heads/${branch}: the agent switched branches; the attempt is not committed`, true);
    }
  }
  await git(worktree, ['add', '-A']);
  // Commit first and ask only when it exits 1 (also git's answer to "nothing to commit") whether anything was staged:
  // an agent that changed files, the common case, costs one git process less.
  const committed = await git(worktree, ['commit', '--no-verify', '--quiet', '-m', message], [0, 1]);
  if (committed.code === 1 && (await git(worktree, ['diff', '--cached', '--quiet'], [0, 1])).code === 1) {
    throw new GitError(`git commit failed in ${worktree} with changes staged: ${committed.out.trim()}`, false, 1);
  }
  const head = await headOf(worktree, 'HEAD');
  const files = nulList((await git(worktree, ['diff', '--name-only', '-z', baseCommit, head])).out);
  return { commit: head === baseCommit ? undefined : head, filesChanged: files.length };
}

/** The folder of a worktrees folder where ended tickets' worktrees wait for the next ticket ({@link releaseWorktree}). */
export const POOL_DIR = '.pool';

/** At most this many worktrees wait in one pool; more are removed. Each is a full checkout on disk. */
export const POOL_MAX = 16;

/**
 * Ends the use of the worktrees at `worktreePaths` (a ticket's, once merged): each registered one that no process
 * works in is detached (its branch is free again) and moved into `<worktreesDir>/.pool/`, where
 * {@link prepareWorktree} and {@link prepareScratch} take it for the next ticket and reset it in place (nothing of
 * this ticket's survives that reset); anything else, and any beyond {@link POOL_MAX} in the pool, is removed as by
 * {@link removeWorktree}. A move is a rename: no file of the checkout is touched. Idempotent.
 * @throws GitError (non-retryable) when a path is, or contains, the main working tree.
 */
export async function releaseWorktree(repo: string, worktreesDir: string, ...worktreePaths: string[]): Promise<void> {
  await withRepoLock(repo, async () => {
    const [main, ...linked] = await listWorktrees(repo);
    const pool = await canonical(path.join(worktreesDir, POOL_DIR));
    let pooled = linked.filter((wt) => path.dirname(wt.path) === pool && !wt.prunable).length;
    for (const worktreePath of worktreePaths) {
      const target = await canonical(worktreePath);
      const registered = linked.some((wt) => wt.path === target && !wt.prunable);
      if (registered && pooled < POOL_MAX && (await park(repo, target, path.join(pool, path.basename(target))))) {
        pooled++;
        continue;
      }
      if (registered || (await exists(target))) await discard(repo, target, main.path, registered);
    }
  });
}

/**
 * Detaches the linked worktree at `target` and moves it to `dest`; false when a process works in it, `dest` is taken
 * or a step fails (the caller then removes it).
 */
async function park(repo: string, target: string, dest: string): Promise<boolean> {
  if ((await inUse(target)) || (await exists(dest))) return false;
  try {
    // HEAD detached at the commit it names (update-ref resolves its new value as a revision): the branch is free.
    await git(target, ['update-ref', '--no-deref', 'HEAD', 'HEAD']);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await git(repo, ['worktree', 'move', target, dest]);
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
async function takePooled(repo: string, worktreesDir: string, target: string, linked: WorktreeEntry[]): Promise<boolean> {
  const pool = await canonical(path.join(worktreesDir, POOL_DIR));
  for (const wt of linked) {
    if (path.dirname(wt.path) !== pool || wt.prunable) continue;
    if (await git(repo, ['worktree', 'move', wt.path, target]).then(() => true, () => false)) return true;
  }
  return false;
}

/**
 * Removes the worktrees at `worktreePaths` and deletes whatever folder is left at each path; their branches stay.
 * One listing of the repository's worktrees serves all of them: git lists a registered worktree also when its folder
 * is gone, so a path neither listed nor there has nothing to remove. Idempotent.
 * @throws GitError (non-retryable) when a path is, or contains, the main working tree.
 */
export async function removeWorktree(repo: string, ...worktreePaths: string[]): Promise<void> {
  await withRepoLock(repo, async () => {
    const [main, ...linked] = await listWorktrees(repo);
    for (const worktreePath of worktreePaths) {
      const target = await canonical(worktreePath);
      const registered = linked.some((wt) => wt.path === target);
      if (registered || (await exists(target))) await discard(repo, target, main.path, registered);
    }
  });
}

async function findBaseCheckout(repo: string, base: string, worktreesDir: string): Promise<string> {
  await git(repo, ['worktree', 'prune']);
  const entries = await listWorktrees(repo);
  // The main working tree is listed first, so it wins when base is checked out there.
  const onBase = entries.find((wt) => wt.branch === base && !wt.bare && !wt.prunable);
  if (onBase) return onBase.path;
  const target = await canonical(path.join(worktreesDir, `_base-${base.replace(/[^A-Za-z0-9._-]/g, '-')}`));
  if (await exists(target)) await discard(repo, target, entries[0].path, false);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await git(repo, ['worktree', 'add', target, base]);
  return target;
}

/** Base checkouts found in this process, by repository and base; each is checked before it is reused. */
const baseCheckouts = new Map<string, string>();

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
export async function baseCheckout(repo: string, base: string, worktreesDir: string): Promise<string> {
  const key = `${repo}\0${base}`;
  const known = baseCheckouts.get(key);
  if (known !== undefined && (await headFileOf(known)) === `ref: refs/heads/${base}`) return known;
  const found = await withRepoLock(repo, () => findBaseCheckout(repo, base, worktreesDir));
  baseCheckouts.set(key, found);
  return found;
}

/** What `git merge-tree --write-tree -z --name-only` printed: the merged tree, and the paths that conflicted. */
export interface MergeTreeOutput {
  tree: string;
  conflicted: string[];
}

/**
 * Parses `git merge-tree --write-tree -z --name-only` output (pure): the tree id, then, after a conflict, each
 * conflicted path once, an empty field, and messages of the form `<n>\0<path>...\0<type>\0<text>\0`. When a conflict
 * lists no file, the paths its `CONFLICT` messages name stand in.
 */
export function parseMergeTree(out: string): MergeTreeOutput {
  const fields = out.split('\0');
  const tree = fields[0].trim();
  let i = 1;
  const conflicted: string[] = [];
  for (; i < fields.length && fields[i] !== ''; i++) conflicted.push(fields[i]);
  const named = new Set<string>();
  for (i++; i < fields.length; ) {
    const n = Number(fields[i]);
    if (!Number.isInteger(n) || n < 0) break;
    const paths = fields.slice(i + 1, i + 1 + n);
    if ((fields[i + 1 + n] ?? '').startsWith('CONFLICT')) for (const p of paths) named.add(p);
    i += n + 3;
  }
  return { tree, conflicted: [...new Set(conflicted.length ? conflicted : named)] };
}

/** The working trees of `repo` that have `base` checked out, the main one first, with the commit git saw there. */
async function checkoutsOf(repo: string, base: string): Promise<WorktreeEntry[]> {
  const entries = parseWorktreeList((await git(repo, ['worktree', 'list', '--porcelain'])).out);
  return entries.filter((wt) => wt.branch === base && !wt.bare && !wt.prunable);
}

/**
 * Paths of `incoming` (files a fast-forward of `dir` would write) that `dir` has local changes in, staged, unstaged
 * or untracked; a change in a folder where a file comes (or in a file where a folder comes) counts.
 */
async function blockingPaths(dir: string, incoming: string[]): Promise<string[]> {
  const status = nulList((await git(dir, ['status', '--porcelain', '-z', '--untracked-files=all', '--no-renames'])).out);
  const dirty = status.map((entry) => entry.slice(3));
  const under = (p: string, folder: string): boolean => p.startsWith(`${folder}/`);
  return incoming.filter((p) => dirty.some((d) => d === p || under(d, p) || under(p, d)));
}

/**
 * Undoes a merge of `branchHead` a crashed ratchet left in progress in `dir` (true when it did); throws when someone
 * else's merge is in progress there.
 */
async function clearOwnMerge(dir: string, branchHead: string): Promise<boolean> {
  const pending = await git(dir, ['rev-parse', '--quiet', '--verify', 'MERGE_HEAD'], [0, 1]);
  if (pending.code !== 0) return false;
  // Older ratchet versions merged in the checkout; a crash between conflict and abort left this. Anyone else's merge
  // is left alone and the retry waits for them.
  if (pending.out.trim() !== branchHead) throw new GitError(`a merge is in progress in ${dir}; fix: finish or abort it`);
  await git(dir, ['merge', '--abort']);
  return true;
}

/** How often a merge is computed again because `base` moved between computing it and landing it. */
const MERGE_TRIES = 5;

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
async function advanceBase(repo: string, base: string, from: string, to: string, branchHead: string): Promise<true | 'again' | string[]> {
  const ref = `refs/heads/${base}`;
  const moved = async (): Promise<boolean> => (await headOf(repo, ref)) !== from;
  const [first, ...others] = await checkoutsOf(repo, base);
  if (first === undefined) {
    try {
      await git(repo, ['update-ref', '-m', `ratchet: merge ${branchHead}`, ref, to, from]);
      return true;
    } catch (err) {
      if (await moved()) return 'again';
      throw err;
    }
  }
  if (first.head !== from) return 'again';
  let incoming: string[] | undefined;
  const incomingPaths = async (): Promise<string[]> => (incoming ??= await changedPaths(repo, from, to));
  for (const wt of others) {
    await clearOwnMerge(wt.path, branchHead);
    const blocking = await blockingPaths(wt.path, await incomingPaths());
    if (blocking.length) return blocking;
  }
  try {
    await git(first.path, ['merge', '--ff-only', '--no-stat', '--no-autostash', '--no-verify-signatures', to]);
  } catch (err) {
    if ((await moved()) || (await clearOwnMerge(first.path, branchHead))) return 'again';
    const blocking = await blockingPaths(first.path, await incomingPaths());
    if (blocking.length) return blocking;
    throw err;
  }
  for (const wt of others) await git(wt.path, ['read-tree', '-m', '-u', from, to]);
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
export async function mergeBranch(opts: {
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
  return withRepoLock(repo, async () => {
    // The validated commit, not whatever the branch points at now: a ref can move after validation.
    const branchHead = opts.commit ?? (await headOf(repo, branch));
    for (let tries = 0; tries < MERGE_TRIES; tries++) {
      const from = await headOf(repo, `refs/heads/${base}`);
      if (await isAncestor(repo, branchHead, from)) return { merged: true, alreadyMerged: true, commit: from };
      const merged = await git(repo, ['merge-tree', '--write-tree', '-z', '--name-only', from, branchHead], [0, 1]);
      const { tree, conflicted } = parseMergeTree(merged.out);
      if (merged.code === 1) return { merged: false, alreadyMerged: false, conflict: conflicted };
      const commit = (await git(repo, ['commit-tree', tree, '-p', from, '-p', branchHead, '-m', opts.message])).out.trim();
      const landed = await advanceBase(repo, base, from, commit, branchHead);
      if (landed === true) return { merged: true, alreadyMerged: false, commit };
      if (landed !== 'again') return { merged: false, alreadyMerged: false, conflict: landed };
    }
    throw new GitError(`${base} moved ${MERGE_TRIES} times while ${branch} was being merged into it in ${repo}; the retry merges again`);
  });
}

/**
 * The environment that gives git a token for one `https://` remote, as configuration in the environment
 * (`GIT_CONFIG_COUNT`), never in a URL, an argument or a file: an `http.<origin>/.extraHeader` with HTTP basic auth
 * (`x-access-token:<token>`, what GitHub accepts for app and fine-grained tokens). Empty for other remotes.
 */
export function remoteAuthEnv(remote: string, token: string | undefined): Record<string, string> {
  if (!token || !/^https:\/\//.test(remote)) return {};
  const origin = new URL(remote).origin;
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: `http.${origin}/.extraHeader`, GIT_CONFIG_VALUE_0: `AUTHORIZATION: basic ${basic}`, GIT_TERMINAL_PROMPT: '0' };
}

/**
 * Pushes `commit` to `refs/heads/<branch>` of `remote` (a URL or a path), replacing what the branch held there: each
 * attempt's branch is cut fresh, so its pull request shows that attempt. Hooks are not run. Idempotent.
 * @throws GitError (retryable) when git cannot reach the remote; the message never carries `env`'s values.
 */
export async function pushCommit(opts: { repo: string; remote: string; commit: string; branch: string; env?: Record<string, string> }): Promise<void> {
  await git(opts.repo, ['push', '--force', '--no-verify', '--quiet', opts.remote, `${opts.commit}:refs/heads/${opts.branch}`], [0], opts.env);
}

/** Whether `dir` is a git worktree whose HEAD is `commit` (a full sha); false when it is not a worktree at all. */
export async function worktreeAt(dir: string, commit: string): Promise<boolean> {
  if (!(await exists(path.join(dir, '.git')))) return false;
  const head = await git(dir, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], [0, 1, 128]).catch(() => undefined);
  return head?.code === 0 && head.out.trim() === commit;
}

/** Whether `repo` has the commit `commit` (a full sha). */
export async function hasCommit(repo: string, commit: string): Promise<boolean> {
  return (await git(repo, ['cat-file', '-e', `${commit}^{commit}`], [0, 1, 128])).code === 0;
}

/**
 * Fetches `refs/heads/<branch>` from `remote` (a name of the repository's or a URL) into `repo`'s object store,
 * without moving any local ref: a worker taking over another's attempt gets its commit so.
 * @throws GitError (retryable) when git cannot reach the remote or the remote has no such branch.
 */
export async function fetchBranch(opts: { repo: string; remote: string; branch: string; env?: Record<string, string> }): Promise<void> {
  await git(opts.repo, ['fetch', '--quiet', '--no-tags', opts.remote, `refs/heads/${opts.branch}`], [0], opts.env);
}

/**
 * Brings the local `base` up to `remote`'s `base` after a pull request merged there (so deploys, later attempts and
 * the user's checkout see it): fetches the remote branch and fast-forwards the local one, by compare-and-swap as a
 * local merge does (checkouts of `base` are brought forward; local changes in files the update writes refuse it).
 * Serialized with merges per repository.
 * @returns the new tip of the local `base`.
 * @throws GitError when the remote's `base` does not contain `commit` (retryable: the fetch raced a push), when the
 *   local `base` has commits the remote lacks (non-retryable: a person must reconcile them), or a checkout of `base`
 *   has local changes in the way (non-retryable, naming them).
 */
export async function syncBase(opts: { repo: string; remote: string; base: string; commit: string; env?: Record<string, string> }): Promise<string> {
  const { repo, base } = opts;
  return withRepoLock(repo, async () => {
    for (let tries = 0; tries < MERGE_TRIES; tries++) {
      await git(repo, ['fetch', '--quiet', '--no-tags', opts.remote, `refs/heads/${base}`], [0], opts.env);
      const fetched = await headOf(repo, 'FETCH_HEAD');
      if (!(await isAncestor(repo, opts.commit, fetched))) throw new GitError(`${opts.remote} ${base} (${fetched}) does not contain ${opts.commit} yet`);
      const from = await headOf(repo, `refs/heads/${base}`);
      if (await isAncestor(repo, fetched, from)) return from;
      if (!(await isAncestor(repo, from, fetched))) {
        throw new GitError(`the local ${base} (${from}) has commits that ${opts.remote} lacks; fix: push or drop them, then resume`, true);
      }
      const landed = await advanceBase(repo, base, from, fetched, fetched);
      if (landed === true) return fetched;
      if (landed !== 'again') throw new GitError(`a checkout of ${base} has local changes in ${landed.join(', ')}; fix: commit or stash them`, true);
    }
    throw new GitError(`${base} kept moving while it was brought up to ${opts.remote} in ${repo}; the retry tries again`);
  });
}
