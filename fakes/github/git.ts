/**
 * The fake's git side: one real bare repository per fake repository, read and written with git plumbing only (no
 * work tree), so a test pushes to it with `git push <gitDir> ...` and a merge is a real commit on the base branch.
 * Needs git >= 2.38 (`merge-tree --write-tree`).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Who a commit names: `date` is ISO 8601. */
export interface GitPerson {
  name: string;
  email: string;
  date: string;
}

/** A commit as `git cat-file` shows it. */
export interface GitCommit {
  sha: string;
  tree: string;
  parents: string[];
  author: GitPerson;
  committer: GitPerson;
  message: string;
}

/** A failed git command: the arguments, exit code and stderr. */
export class GitCommandError extends Error {
  constructor(
    readonly args: string[],
    readonly code: number | null,
    readonly stderr: string,
    readonly stdout: string,
  ) {
    super(`git ${args.join(' ')} failed (${code}): ${stderr.trim()}`);
    this.name = 'GitCommandError';
  }
}

/** Where the committer of GitHub's own commits (merges) comes from. */
const GITHUB_COMMITTER = { name: 'GitHub', email: 'noreply@github.com' };

/**
 * Runs git in `gitDir` with an isolated config (no user or system config can add hooks or signing).
 * @returns stdout.
 * @throws GitCommandError on a non-zero exit.
 */
export function git(gitDir: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      ['-c', 'core.hooksPath=/dev/null', '-c', 'commit.gpgsign=false', ...args],
      {
        cwd: gitDir,
        env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', ...opts.env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) reject(new GitCommandError(args, typeof err.code === 'number' ? err.code : null, stderr, stdout));
        else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

function identityEnv(author: GitPerson, committer: GitPerson): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_AUTHOR_DATE: author.date,
    GIT_COMMITTER_NAME: committer.name,
    GIT_COMMITTER_EMAIL: committer.email,
    GIT_COMMITTER_DATE: committer.date,
  };
}

/**
 * Creates a bare repository at `gitDir` whose `defaultBranch` holds one commit with `files` (path -> content, paths
 * with `/` make folders), authored by `author`.
 * @returns the commit's sha.
 * @throws GitCommandError if git fails (e.g. `gitDir` exists and is not empty).
 */
export async function initBareRepo(gitDir: string, defaultBranch: string, files: Record<string, string>, author: GitPerson): Promise<string> {
  await mkdir(gitDir, { recursive: true });
  await git(gitDir, ['init', '--quiet', '--bare', `--initial-branch=${defaultBranch}`, '.']);
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'github-fake-index-'));
  try {
    const env = { GIT_INDEX_FILE: path.join(scratch, 'index') };
    for (const [file, content] of Object.entries(files)) {
      const blob = (await git(gitDir, ['hash-object', '-w', '--stdin'], { input: content })).trim();
      await git(gitDir, ['update-index', '--add', '--cacheinfo', `100644,${blob},${file}`], { env });
    }
    const tree = (await git(gitDir, ['write-tree'], { env })).trim();
    const sha = (await git(gitDir, ['commit-tree', tree, '-m', 'Initial commit'], { env: identityEnv(author, author) })).trim();
    await git(gitDir, ['update-ref', `refs/heads/${defaultBranch}`, sha, '0'.repeat(40)]);
    return sha;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The commit sha `rev` (a sha, branch, `heads/x`, tag) names in `gitDir`, or undefined if none. */
export async function resolveCommit(gitDir: string, rev: string): Promise<string | undefined> {
  if (rev.startsWith('-')) return undefined;
  try {
    return (await git(gitDir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`])).trim();
  } catch (err) {
    if (err instanceof GitCommandError) return undefined;
    throw err;
  }
}

/** The sha of branch `name` in `gitDir`, or undefined if there is no such branch. */
export function branchSha(gitDir: string, name: string): Promise<string | undefined> {
  return resolveCommit(gitDir, `refs/heads/${name}`);
}

/** Number of commits reachable from `head` and not from `base`. */
export async function commitsBetween(gitDir: string, base: string, head: string): Promise<number> {
  return Number((await git(gitDir, ['rev-list', '--count', `${base}..${head}`])).trim());
}

/** Subjects of the commits in `base..head`, oldest first. */
export async function commitSubjects(gitDir: string, base: string, head: string): Promise<string[]> {
  const out = await git(gitDir, ['log', '--reverse', '--format=%s', `${base}..${head}`]);
  return out.split('\n').filter(Boolean);
}

/** What `base...head` (from their merge base) changes: per file added/deleted lines (binary files count 0). */
export async function diffStat(gitDir: string, base: string, head: string): Promise<{ path: string; additions: number; deletions: number }[]> {
  const out = await git(gitDir, ['diff', '--numstat', '--no-renames', `${base}...${head}`]);
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [add = '0', del = '0', ...rest] = line.split('\t');
      return { path: rest.join('\t'), additions: Number(add) || 0, deletions: Number(del) || 0 };
    });
}

/** The first hunk of `base...head` for `file` (header and lines), or '' when the file is unchanged. */
export async function firstHunk(gitDir: string, base: string, head: string, file: string): Promise<string> {
  const out = await git(gitDir, ['diff', '--no-renames', `${base}...${head}`, '--', file]);
  const start = out.indexOf('\n@@');
  if (start < 0) return '';
  const next = out.indexOf('\n@@', start + 3);
  return out.slice(start + 1, next < 0 ? undefined : next).replace(/\n$/, '');
}

/** Number of lines of `file` at commit `rev`, or undefined if the file is not there. */
export async function lineCount(gitDir: string, rev: string, file: string): Promise<number | undefined> {
  try {
    const content = await git(gitDir, ['cat-file', 'blob', `${rev}:${file}`]);
    return content.length === 0 ? 0 : content.split('\n').length - (content.endsWith('\n') ? 1 : 0);
  } catch (err) {
    if (err instanceof GitCommandError) return undefined;
    throw err;
  }
}

/**
 * Reads commit `sha`.
 * @throws GitCommandError if it is not a commit.
 */
export async function readCommit(gitDir: string, sha: string): Promise<GitCommit> {
  const raw = await git(gitDir, ['cat-file', 'commit', sha]);
  const split = raw.indexOf('\n\n');
  const headers = raw.slice(0, split).split('\n');
  const message = raw.slice(split + 2);
  const person = (line: string): GitPerson => {
    const m = /^\w+ (.*) <(.*)> (\d+) ([+-]\d{4})$/.exec(line);
    if (!m) return { name: '', email: '', date: new Date(0).toISOString() };
    return { name: m[1] ?? '', email: m[2] ?? '', date: new Date(Number(m[3]) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') };
  };
  return {
    sha,
    tree: headers.find((h) => h.startsWith('tree '))?.slice(5) ?? '',
    parents: headers.filter((h) => h.startsWith('parent ')).map((h) => h.slice(7)),
    author: person(headers.find((h) => h.startsWith('author ')) ?? ''),
    committer: person(headers.find((h) => h.startsWith('committer ')) ?? ''),
    message,
  };
}

/** The tree of merging `head` into `base`, or `conflicts` (the conflicted paths) when they do not merge cleanly. */
export type MergeTree = { clean: true; tree: string } | { clean: false; conflicts: string[] };

/**
 * Merges `head` into `base` in memory (`git merge-tree --write-tree`); nothing is checked out or moved.
 * @throws GitCommandError for anything but a clean merge or conflicts.
 */
export async function mergeTree(gitDir: string, base: string, head: string): Promise<MergeTree> {
  try {
    const out = await git(gitDir, ['merge-tree', '--write-tree', '--name-only', '--no-messages', base, head]);
    return { clean: true, tree: out.split('\n')[0] ?? '' };
  } catch (err) {
    if (err instanceof GitCommandError && err.code === 1) {
      return { clean: false, conflicts: err.stdout.split('\n').slice(1).filter(Boolean) };
    }
    throw err;
  }
}

/**
 * Commits `tree` with `parents` and `message`, authored by `author`, committed by GitHub (as GitHub's merges are).
 * @returns the new commit's sha.
 */
export async function commitTree(gitDir: string, tree: string, parents: string[], message: string, author: GitPerson): Promise<string> {
  const args = ['commit-tree', tree, ...parents.flatMap((p) => ['-p', p])];
  const env = identityEnv(author, { ...GITHUB_COMMITTER, date: author.date });
  return (await git(gitDir, args, { input: message, env })).trim();
}

/**
 * Moves `refs/heads/<branch>` from `oldSha` to `newSha` only if it still is at `oldSha` (compare-and-swap).
 * @returns false when the branch moved in between (nothing changed), true when it was updated.
 */
export async function casBranch(gitDir: string, branch: string, newSha: string, oldSha: string): Promise<boolean> {
  try {
    await git(gitDir, ['update-ref', `refs/heads/${branch}`, newSha, oldSha]);
    return true;
  } catch (err) {
    if (err instanceof GitCommandError) return false;
    throw err;
  }
}
