/**
 * Reading a repository and checking it before a batch runs: refs, commits, diffs, the protected files' digests, and
 * ratchet's entries in `.git/info/exclude`. Each function takes the worker's {@link Git} first.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfigError, GitError } from '../../workflows/errors';
import { canonical, type Git } from './git';
import { nulList, parseLsTree } from './parse';

/**
 * Checks the batch's `repo` and `baseBranch` before anything runs.
 * @throws ConfigError (non-retryable) naming the field, the value and the fix when `repo` is not absolute, does not
 *   exist, is not a folder, not a git working tree or not its top level, or when `baseBranch` is not a local branch.
 */
export async function assertGitRepo(git: Git, repo: string, baseBranch: string): Promise<void> {
  const field = `field "repo" is ${JSON.stringify(repo)}`;
  if (!path.isAbsolute(repo)) {
    throw new ConfigError(`${field}: not an absolute path; fix: give the full path, such as ${path.resolve(repo)}`);
  }
  const stat = await fs.stat(repo).catch(() => undefined);
  if (!stat) throw new ConfigError(`${field}: no such folder; fix: create it or correct the path`);
  if (!stat.isDirectory()) throw new ConfigError(`${field}: not a folder; fix: point repo at the repository's folder`);
  let top: string;
  try {
    top = (await git.run(repo, ['rev-parse', '--show-toplevel'])).out.trim();
  } catch {
    throw new ConfigError(`${field}: not a git repository; fix: run git init there or point repo at a clone`);
  }
  if ((await canonical(top)) !== (await canonical(repo))) {
    throw new ConfigError(
      `${field}: a folder inside the git repository ${top}, not its top level (merges would land in that repository); ` +
        `fix: set repo to ${top}, or make the folder a repository of its own (git init)`,
    );
  }
  const { code } = await git.run(repo, ['show-ref', '--verify', '--quiet', `refs/heads/${baseBranch}`], [0, 1]);
  if (code === 0) return;
  const branches = (await git.run(repo, ['for-each-ref', '--format=%(refname:short)', 'refs/heads'])).out.split('\n').filter(Boolean);
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
 * paths outside the repository are skipped. Under the repository lock.
 */
export async function ensureExcluded(git: Git, repo: string, relPaths: string[], filePatterns: { folder: string; glob: string }[] = []): Promise<void> {
  await git.withRepoLock(repo, async () => {
    const root = await canonical(repo);
    const common = (await git.run(repo, ['rev-parse', '--git-common-dir'])).out.trim();
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
export async function blobDigests(git: Git, repo: string, commit: string, isMatch: (p: string) => boolean): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of parseLsTree((await git.run(repo, ['ls-tree', '-r', '-z', '--full-tree', commit])).out)) {
    if (isMatch(file.path)) out[file.path] = file.blob;
  }
  return out;
}

/** The patch (`git diff --binary`) between commits `from` and `to`. */
export async function diffText(git: Git, repo: string, from: string, to: string): Promise<string> {
  return (await git.run(repo, ['diff', '--binary', from, to])).out;
}

/** Paths (relative to the repository, `/`-separated) that differ between commits `from` and `to`. */
export async function changedPaths(git: Git, repo: string, from: string, to: string): Promise<string[]> {
  return nulList((await git.run(repo, ['diff', '--name-only', '--no-renames', '-z', from, to])).out);
}

/**
 * The commit `ref` points at in `repo`, as a full sha.
 * @throws GitError (non-retryable) when `ref` does not name a commit.
 */
export async function headOf(git: Git, repo: string, ref: string): Promise<string> {
  const { code, out } = await git.run(repo, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], [0, 1]);
  if (code !== 0) throw new GitError(`ref ${JSON.stringify(ref)} does not name a commit in ${repo}`, true);
  return out.trim();
}

/** Whether `commit` is `ref` or one of its ancestors. */
export async function isAncestor(git: Git, repo: string, commit: string, ref: string): Promise<boolean> {
  return (await git.run(repo, ['merge-base', '--is-ancestor', commit, ref], [0, 1])).code === 0;
}

/** Whether `repo` has the commit `commit` (a full sha). */
export async function hasCommit(git: Git, repo: string, commit: string): Promise<boolean> {
  return (await git.run(repo, ['cat-file', '-e', `${commit}^{commit}`], [0, 1, 128])).code === 0;
}
