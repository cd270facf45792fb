import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, readFile, realpath, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import {
  assertGitRepo,
  baseCheckout,
  commitAll,
  ensureExcluded,
  fetchBranch,
  Git,
  hasCommit,
  headOf,
  mergeBranch,
  parseMergeTree,
  parseWorktreeList,
  POOL_DIR,
  prepareWorktree,
  pushCommit,
  releaseWorktree,
  remoteAuthEnv,
  removeWorktree,
} from '../../activities/git';
import { ConfigError, GitError } from '../../workflows/errors';

/** ratchet's git client, as a worker has one (its git process, repository locks and caches). */
const ratchetGit = new Git();
const stopGitProcess = (): Promise<void> => ratchetGit.stop();

/** A git client for test setup; the identity comes with -c so the repos carry no identity of their own. */
const git = (dir: string): SimpleGit =>
  simpleGit({ baseDir: dir, config: ['user.name=test', 'user.email=test@example.invalid', 'commit.gpgsign=false'] });

/** Whether git lists `branch` among the branches merged into `base`. */
const mergedInto = async (repo: string, branch: string, base: string): Promise<boolean> =>
  (await git(repo).raw(['branch', '--merged', base, '--format=%(refname:short)'])).split('\n').includes(branch);

const exists = (p: string): Promise<boolean> => access(p).then(
  () => true,
  () => false,
);

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const LONG_AGO = new Date('2001-01-01T00:00:00Z');
/** Dates `file` long ago: it keeps that date only as long as nothing writes it again. */
const markOld = (file: string): Promise<void> => utimes(file, LONG_AGO, LONG_AGO);
const untouched = async (file: string): Promise<boolean> => (await stat(file)).mtimeMs === LONG_AGO.getTime();

/**
 * Puts a `git` first on PATH that, the first time it is called with `trigger` among its arguments, runs `move` (a
 * shell command, with `$GIT` the real git) before running the real git: someone else moving the base at that moment.
 * Returns a function that restores PATH.
 */
async function gitThatMovesFirst(dir: string, trigger: string, move: string): Promise<() => Promise<void>> {
  const real = execFileSync('sh', ['-c', 'command -v git']).toString().trim();
  const bin = path.join(dir, 'shim-bin');
  await mkdir(bin, { recursive: true });
  const script = [
    '#!/bin/sh',
    `GIT='${real}'`,
    'for a in "$@"; do',
    `  if [ "$a" = '${trigger}' ] && mkdir '${path.join(dir, 'shim-fired')}' 2>/dev/null; then (${move}) >&2; break; fi`,
    'done',
    'exec "$GIT" "$@"',
    '',
  ].join('\n');
  await writeFile(path.join(bin, 'git'), script);
  await chmod(path.join(bin, 'git'), 0o755);
  const saved = process.env.PATH;
  process.env.PATH = `${bin}${path.delimiter}${saved ?? ''}`;
  // git runs in a process of its own that keeps the environment it started with: a new one sees the shim.
  await stopGitProcess();
  return async () => {
    process.env.PATH = saved;
    await stopGitProcess();
  };
}

describe('git activities', () => {
  let root: string;
  let repo: string;
  let worktreesDir: string;

  /** Commits `files` on the current branch of `dir`; returns the new HEAD. */
  async function commitFiles(dir: string, files: Record<string, string>, message = 'change'): Promise<string> {
    for (const [file, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), content);
    }
    await git(dir).add('.');
    await git(dir).commit(message);
    return (await git(dir).revparse(['HEAD'])).trim();
  }

  /** A ticket branch `branch` with `files` committed on it, through the activities. */
  async function ticketBranch(branch: string, files: Record<string, string>): Promise<string> {
    const wt = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch, base: 'main', name: branch.replace(/\//g, '-') });
    for (const [file, content] of Object.entries(files)) await writeFile(path.join(wt.path, file), content);
    await commitAll(ratchetGit, wt.path, `work on ${branch}`, wt.baseCommit);
    return wt.path;
  }

  const tip = async (ref = 'main'): Promise<string> => (await git(repo).revparse([ref])).trim();
  const status = async (dir: string): Promise<string> => git(dir).raw(['status', '--porcelain']);

  beforeEach(async () => {
    root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'ratchet-git-')));
    repo = path.join(root, 'repo');
    worktreesDir = path.join(root, 'worktrees');
    await mkdir(repo);
    await git(repo).init(['-b', 'main']);
    await commitFiles(repo, { 'README.md': 'hello\n', 'src/app.txt': 'one\ntwo\nthree\n' }, 'first');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  describe('taking an attempt over on another host', () => {
    it("pushes an attempt's commit to origin, where a clone that lacks it fetches it and makes the ticket's worktree at it", async () => {
      const origin = path.join(root, 'origin.git');
      execFileSync('git', ['clone', '--quiet', '--bare', repo, origin]);
      const other = path.join(root, 'other');
      execFileSync('git', ['clone', '--quiet', origin, other]);
      const wt = await ticketBranch('ratchet/b1/T1', { 'feature.txt': 'done\n' });
      const commit = await headOf(ratchetGit, wt, 'HEAD');
      await pushCommit(ratchetGit, { repo, remote: origin, commit, branch: 'ratchet/b1/T1' });

      assert.equal(await hasCommit(ratchetGit, other, commit), false, 'the other clone has not seen the attempt');
      await fetchBranch(ratchetGit, { repo: other, remote: 'origin', branch: 'ratchet/b1/T1' });
      assert.equal(await hasCommit(ratchetGit, other, commit), true);
      const taken = await prepareWorktree(ratchetGit, { repo: other, worktreesDir: path.join(root, 'other-worktrees'), branch: 'ratchet/b1/T1', base: commit, name: 'b1-T1' });
      assert.equal(await headOf(ratchetGit, taken.path, 'HEAD'), commit, 'the worktree made again is at the attempt');
      assert.equal(await readFile(path.join(taken.path, 'feature.txt'), 'utf8'), 'done\n');
      assert.equal((await git(taken.path).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'ratchet/b1/T1');
    });

    it("gives git a remote's token through its environment only, and refuses a remote git would read as an option", async () => {
      const env = remoteAuthEnv('https://git.example.com/acme/shop.git', 'tok-secret');
      const { out } = await ratchetGit.run(repo, ['config', '--get-regexp', '^http\\.'], [0], env);
      assert.equal(out.trim(), `http.https://git.example.com/.extraheader AUTHORIZATION: basic ${Buffer.from('x-access-token:tok-secret').toString('base64')}`);
      const wt = await ticketBranch('ratchet/b1/T2', { 'feature.txt': 'done\n' });
      const commit = await headOf(ratchetGit, wt, 'HEAD');
      await assert.rejects(
        pushCommit(ratchetGit, { repo, remote: '--upload-pack=touch pwned', commit, branch: 'ratchet/b1/T2' }),
        (err: unknown) => err instanceof GitError && err.nonRetryable && /read it as an option/.test(err.message),
      );
    });
  });

  describe('prepareWorktree', () => {
    it('creates a worktree on the ticket branch at the current tip of the base', async () => {
      const tipBefore = await commitFiles(repo, { 'later.txt': 'x' }, 'second');
      const wt = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' });
      assert.equal(wt.path, path.join(worktreesDir, 'b1-T1'));
      assert.equal(wt.baseCommit, tipBefore);
      assert.equal((await git(wt.path).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'ratchet/b1/T1');
      assert.equal((await git(wt.path).revparse(['HEAD'])).trim(), tipBefore);
      assert.ok(await exists(path.join(wt.path, 'later.txt')));
    });

    it('gives a clean fresh worktree when re-prepared after a crashed attempt', async () => {
      const opts = { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' };
      const first = await prepareWorktree(ratchetGit, opts);
      await commitFiles(first.path, { 'half-done.txt': 'agent commit' });
      await writeFile(path.join(first.path, 'junk.txt'), 'junk');
      await writeFile(path.join(first.path, 'README.md'), 'scribbled\n');

      const second = await prepareWorktree(ratchetGit, opts);
      assert.equal(second.path, first.path);
      assert.equal(second.baseCommit, await tip());
      assert.equal((await git(second.path).revparse(['HEAD'])).trim(), await tip());
      assert.equal(await status(second.path), '');
      assert.equal(await readFile(path.join(second.path, 'README.md'), 'utf8'), 'hello\n');
      assert.equal(await exists(path.join(second.path, 'junk.txt')), false);
    });

    it('replaces a leftover folder at the worktree path that git no longer knows', async () => {
      await mkdir(path.join(worktreesDir, 'b1-T1'), { recursive: true });
      await writeFile(path.join(worktreesDir, 'b1-T1', 'junk.txt'), 'junk');
      const wt = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' });
      assert.equal(await status(wt.path), '');
      assert.equal(await exists(path.join(wt.path, 'junk.txt')), false);
    });

    it('takes the branch over from another worktree that holds it', async () => {
      const old = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'old' });
      const wt = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'new' });
      assert.equal((await git(wt.path).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'ratchet/b1/T1');
      assert.equal(await exists(old.path), false);
      const listed = parseWorktreeList(await git(repo).raw(['worktree', 'list', '--porcelain']));
      assert.deepEqual(listed.map((w) => w.path), [repo, wt.path]);
    });

    it('keeps what a process still running in the old worktree writes out of the fresh one', async function () {
      const opts = { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' };
      const first = await prepareWorktree(ratchetGit, opts);
      const ticks = path.join(root, 'ticks');
      // Writes as fast as it can, so it keeps refilling the folder while git deletes it.
      const loop = 'while :; do for i in 1 2 3 4 5 6 7 8 9; do echo x > junk$i.txt; done; echo x >> "$TICKS"; done';
      const orphan = spawn('sh', ['-c', loop], {
        cwd: first.path,
        env: { ...process.env, TICKS: ticks },
        stdio: 'ignore',
      });
      const count = async (): Promise<number> => (await readFile(ticks, 'utf8').catch(() => '')).length;
      try {
        await until(async () => (await count()) > 2, 'the orphan to start writing');
        const second = await prepareWorktree(ratchetGit, opts);
        const seen = await count();
        await until(async () => (await count()) > seen + 10, 'the orphan to keep writing');
        assert.equal(await exists(path.join(second.path, 'junk1.txt')), false);
        assert.equal(await status(second.path), '');
      } finally {
        orphan.kill();
      }
    });

    it('reuses the ticket\'s worktree for the next attempt: re-cut from the new base tip, nothing of the earlier one left', async () => {
      await commitFiles(repo, { '.gitignore': 'node_modules/\ndist/\n' }, 'ignore build output');
      const opts = { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' };
      const first = await prepareWorktree(ratchetGit, opts);
      await commitFiles(first.path, { 'half-done.txt': 'agent commit', 'src/app.txt': 'agent edit\n' });
      await writeFile(path.join(first.path, 'README.md'), 'scribbled\n');
      await writeFile(path.join(first.path, 'junk.txt'), 'junk');
      await mkdir(path.join(first.path, 'node_modules', 'pkg'), { recursive: true });
      await writeFile(path.join(first.path, 'node_modules', 'pkg', 'index.js'), 'x');
      await mkdir(path.join(first.path, 'dist'));
      await writeFile(path.join(first.path, 'dist', 'out.js'), 'x');
      await markOld(path.join(first.path, '.gitignore'));
      const newTip = await commitFiles(repo, { 'later.txt': 'x' }, 'the base moves on');

      const second = await prepareWorktree(ratchetGit, opts);
      assert.deepEqual(second, { path: first.path, baseCommit: newTip });
      assert.equal((await git(second.path).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'ratchet/b1/T1');
      assert.equal(await tip('ratchet/b1/T1'), newTip);
      assert.equal(await git(second.path).raw(['status', '--porcelain', '--ignored']), '');
      assert.equal(await readFile(path.join(second.path, 'README.md'), 'utf8'), 'hello\n');
      assert.equal(await readFile(path.join(second.path, 'src/app.txt'), 'utf8'), 'one\ntwo\nthree\n');
      assert.ok(await exists(path.join(second.path, 'later.txt')));
      for (const gone of ['half-done.txt', 'junk.txt', 'node_modules', 'dist']) assert.equal(await exists(path.join(second.path, gone)), false, gone);
      assert.ok(await untouched(path.join(second.path, '.gitignore')), 'a file the new base did not change is not written again');
      const listed = parseWorktreeList(await git(repo).raw(['worktree', 'list', '--porcelain']));
      assert.deepEqual(listed.map((w) => w.path), [repo, second.path]);
    });

    it('restores files an earlier attempt hid from git with index flags', async () => {
      const opts = { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' };
      const first = await prepareWorktree(ratchetGit, opts);
      await writeFile(path.join(first.path, 'README.md'), 'hidden edit\n');
      await writeFile(path.join(first.path, 'src/app.txt'), 'hidden too\n');
      await git(first.path).raw(['update-index', '--assume-unchanged', 'README.md']);
      await git(first.path).raw(['update-index', '--skip-worktree', 'src/app.txt']);
      assert.equal(await status(first.path), '', 'git no longer sees the edits');

      const second = await prepareWorktree(ratchetGit, opts);
      assert.equal(await readFile(path.join(second.path, 'README.md'), 'utf8'), 'hello\n');
      assert.equal(await readFile(path.join(second.path, 'src/app.txt'), 'utf8'), 'one\ntwo\nthree\n');
      assert.deepEqual((await git(second.path).raw(['ls-files', '-v'])).trim().split('\n'), ['H README.md', 'H src/app.txt']);
    });

    it('replaces a worktree the earlier attempt switched to another branch', async () => {
      const opts = { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' };
      const first = await prepareWorktree(ratchetGit, opts);
      await git(first.path).checkout(['-b', 'agent/own']);
      await writeFile(path.join(first.path, 'junk.txt'), 'junk');
      await markOld(path.join(first.path, 'README.md'));

      const second = await prepareWorktree(ratchetGit, opts);
      assert.equal((await git(second.path).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'ratchet/b1/T1');
      assert.equal(await status(second.path), '');
      assert.equal(await exists(path.join(second.path, 'junk.txt')), false);
      assert.equal(await untouched(path.join(second.path, 'README.md')), false, 'a fresh checkout');
      assert.ok(await headOf(ratchetGit, repo, 'agent/own'), 'the branch it made stays');
    });

    it('replaces a registered worktree whose link to the repository is broken', async () => {
      const opts = { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' };
      const first = await prepareWorktree(ratchetGit, opts);
      await writeFile(path.join(first.path, '.git'), 'gitdir: /nowhere\n');

      const second = await prepareWorktree(ratchetGit, opts);
      assert.equal((await git(second.path).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'ratchet/b1/T1');
      assert.equal(await status(second.path), '');
      const listed = parseWorktreeList(await git(repo).raw(['worktree', 'list', '--porcelain']));
      assert.deepEqual(listed.map((w) => w.path), [repo, second.path]);
    });
  });

  describe('commitAll', () => {
    it('commits every change and counts the files that differ from the base', async () => {
      const wt = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' });
      await writeFile(path.join(wt.path, 'README.md'), 'changed\n');
      await writeFile(path.join(wt.path, 'new-a.txt'), 'a');
      await mkdir(path.join(wt.path, 'deep', 'er'), { recursive: true });
      await writeFile(path.join(wt.path, 'deep', 'er', 'new-b.txt'), 'b');

      const result = await commitAll(ratchetGit, wt.path, 'ratchet: T1 attempt 1', wt.baseCommit);
      assert.equal(result.filesChanged, 3);
      assert.equal(result.commit, (await git(wt.path).revparse(['HEAD'])).trim());
      assert.equal(await status(wt.path), '');
      const log = await git(wt.path).log({ maxCount: 1 });
      assert.equal(log.latest?.author_name, 'ratchet');
      assert.equal(log.latest?.author_email, 'ratchet@localhost');
      assert.equal(log.latest?.message, 'ratchet: T1 attempt 1');
    });

    it('returns the commit the agent made itself when the tree is clean', async () => {
      const wt = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' });
      const agentCommit = await commitFiles(wt.path, { 'by-agent.txt': 'x' });
      assert.deepEqual(await commitAll(ratchetGit, wt.path, 'unused', wt.baseCommit), { commit: agentCommit, filesChanged: 1 });
    });

    it('returns no commit when the agent changed nothing', async () => {
      const wt = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' });
      assert.deepEqual(await commitAll(ratchetGit, wt.path, 'unused', wt.baseCommit), { commit: undefined, filesChanged: 0 });
    });

    it('commits with no git identity configured anywhere', async () => {
      const saved = { HOME: process.env.HOME, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME };
      const home = path.join(root, 'home');
      await mkdir(home);
      const wt = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' });
      process.env.HOME = home;
      process.env.XDG_CONFIG_HOME = home;
      try {
        await writeFile(path.join(wt.path, 'new.txt'), 'x');
        const result = await commitAll(ratchetGit, wt.path, 'no identity', wt.baseCommit);
        assert.equal(result.filesChanged, 1);
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    });
  });

  describe('mergeBranch', () => {
    const merge = (branch: string) =>
      mergeBranch(ratchetGit, { repo, base: 'main', branch, message: `ratchet: merge ${branch}`, worktreesDir });

    it('lands exactly one merge commit, and a second call reports alreadyMerged without a new commit', async () => {
      const before = await tip();
      await ticketBranch('ratchet/b1/T1', { 'feature.txt': 'on\n' });
      assert.equal(await mergedInto(repo, 'ratchet/b1/T1', 'main'), false);

      const first = await merge('ratchet/b1/T1');
      const after = await tip();
      assert.deepEqual(first, { merged: true, alreadyMerged: false, commit: after });
      const parents = (await git(repo).raw(['rev-list', '--parents', '-n', '1', 'main'])).trim().split(' ');
      assert.deepEqual(parents, [after, before, await tip('ratchet/b1/T1')]);
      assert.equal((await git(repo).log({ maxCount: 1 })).latest?.message, 'ratchet: merge ratchet/b1/T1');
      assert.equal(await readFile(path.join(repo, 'feature.txt'), 'utf8'), 'on\n');
      assert.equal(await mergedInto(repo, 'ratchet/b1/T1', 'main'), true);

      const second = await merge('ratchet/b1/T1');
      assert.deepEqual(second, { merged: true, alreadyMerged: true, commit: after });
      assert.equal(await tip(), after);
    });

    it('returns the conflicting paths and leaves the base unchanged and clean', async () => {
      await ticketBranch('ratchet/b1/A', { 'src/app.txt': 'one\nTWO from A\nthree\n' });
      await ticketBranch('ratchet/b1/B', { 'src/app.txt': 'one\nTWO from B\nthree\n', 'other.txt': 'b' });
      assert.equal((await merge('ratchet/b1/A')).merged, true);
      const before = await tip();

      const result = await merge('ratchet/b1/B');
      assert.deepEqual(result, { merged: false, alreadyMerged: false, conflict: ['src/app.txt'] });
      assert.equal(await tip(), before);
      assert.equal(await status(repo), '');
      assert.equal(await exists(path.join(repo, '.git', 'MERGE_HEAD')), false);
      assert.equal(await readFile(path.join(repo, 'src/app.txt'), 'utf8'), 'one\nTWO from A\nthree\n');
    });

    it('merges while the base checkout has uncommitted changes in files the merge does not touch', async () => {
      await commitFiles(repo, { 'tickets/T1.yaml': 'state: todo\n' });
      await ticketBranch('ratchet/b1/T1', { 'feature.txt': 'on\n' });
      await writeFile(path.join(repo, 'tickets/T1.yaml'), 'state: in-progress\n');
      await writeFile(path.join(repo, 'notes.txt'), 'untracked');

      const result = await merge('ratchet/b1/T1');
      assert.equal(result.merged, true);
      assert.equal(result.commit, await tip());
      assert.equal(await readFile(path.join(repo, 'tickets/T1.yaml'), 'utf8'), 'state: in-progress\n');
      assert.equal(await readFile(path.join(repo, 'notes.txt'), 'utf8'), 'untracked');
      assert.equal(await readFile(path.join(repo, 'feature.txt'), 'utf8'), 'on\n');
    });

    it('reports an uncommitted change in a file the merge would write as a conflict, keeping the change', async () => {
      await ticketBranch('ratchet/b1/T1', { 'README.md': 'from the branch\n' });
      await writeFile(path.join(repo, 'README.md'), 'local edit\n');
      const before = await tip();

      assert.deepEqual(await merge('ratchet/b1/T1'), { merged: false, alreadyMerged: false, conflict: ['README.md'] });
      assert.equal(await tip(), before);
      assert.equal(await readFile(path.join(repo, 'README.md'), 'utf8'), 'local edit\n');
    });

    it('moves a base checked out nowhere by compare-and-swap, making no checkout', async () => {
      const before = await tip();
      await ticketBranch('ratchet/b1/T1', { 'feature.txt': 'on\n' });
      await git(repo).checkout(['-b', 'person/elsewhere']);

      const result = await merge('ratchet/b1/T1');
      const after = await tip('main');
      assert.deepEqual(result, { merged: true, alreadyMerged: false, commit: after });
      const parents = (await git(repo).raw(['rev-list', '--parents', '-n', '1', 'main'])).trim().split(' ');
      assert.deepEqual(parents, [after, before, await tip('ratchet/b1/T1')]);
      assert.equal(await git(repo).show(['main:feature.txt']), 'on\n');
      assert.equal((await git(repo).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'person/elsewhere');
      assert.equal(await exists(path.join(repo, 'feature.txt')), false);
      assert.equal(await status(repo), '');
      const listed = parseWorktreeList(await git(repo).raw(['worktree', 'list', '--porcelain']));
      assert.deepEqual(listed.filter((w) => w.branch === 'main'), []);
      assert.equal(await exists(path.join(worktreesDir, '_base-main')), false);
    });

    /** Merges ratchet/b1/T1 while a git shim runs `move` just before ratchet's first git call with `trigger`. */
    async function mergeWhileBaseMoves(trigger: string, move: string) {
      const restore = await gitThatMovesFirst(root, trigger, move);
      try {
        return await merge('ratchet/b1/T1');
      } finally {
        await restore();
      }
    }

    it('computes the merge again when the base moves before its update-ref, landing both', async () => {
      await ticketBranch('ratchet/b1/T1', { 'feature.txt': 'on\n' });
      await ticketBranch('person/other', { 'other.txt': 'theirs\n' });
      const theirs = await tip('person/other');
      await git(repo).checkout(['-b', 'person/elsewhere']);
      const result = await mergeWhileBaseMoves('update-ref', `"$GIT" -C '${repo}' update-ref refs/heads/main ${theirs}`);
      assert.ok(await exists(path.join(root, 'shim-fired')), 'the base moved in between');
      assert.deepEqual(result, { merged: true, alreadyMerged: false, commit: await tip('main') });
      const parents = (await git(repo).raw(['rev-list', '--parents', '-n', '1', 'main'])).trim().split(' ');
      assert.deepEqual(parents.slice(1), [theirs, await tip('ratchet/b1/T1')]);
      assert.equal(await git(repo).show(['main:feature.txt']), 'on\n');
      assert.equal(await git(repo).show(['main:other.txt']), 'theirs\n');
    });

    it('computes the merge again when someone commits in the base checkout meanwhile, landing both there', async () => {
      await ticketBranch('ratchet/b1/T1', { 'feature.txt': 'on\n' });
      const commit = `cd '${repo}' && echo mine > person.txt && "$GIT" add person.txt && "$GIT" -c user.name=p -c user.email=p@example.invalid commit -q -m person`;
      const result = await mergeWhileBaseMoves('--ff-only', commit);
      assert.ok(await exists(path.join(root, 'shim-fired')), 'the base moved in between');
      assert.deepEqual(result, { merged: true, alreadyMerged: false, commit: await tip('main') });
      const parents = (await git(repo).raw(['rev-list', '--parents', '-n', '1', 'main'])).trim().split(' ');
      assert.equal((await git(repo).raw(['log', '-1', '--format=%s', parents[1]])).trim(), 'person');
      assert.equal(parents[2], await tip('ratchet/b1/T1'));
      assert.equal(await readFile(path.join(repo, 'feature.txt'), 'utf8'), 'on\n');
      assert.equal(await readFile(path.join(repo, 'person.txt'), 'utf8'), 'mine\n');
      assert.equal(await status(repo), '');
    });

    it('leaves every ref, the index and the files as they were on a conflict', async () => {
      await ticketBranch('ratchet/b1/A', { 'src/app.txt': 'from A\n' });
      await ticketBranch('ratchet/b1/B', { 'src/app.txt': 'from B\n' });
      assert.equal((await merge('ratchet/b1/A')).merged, true);
      await writeFile(path.join(repo, 'README.md'), 'local edit\n');
      await writeFile(path.join(repo, 'notes.txt'), 'untracked');
      const snapshot = async () => ({
        refs: await git(repo).raw(['for-each-ref', '--format=%(refname) %(objectname)']),
        head: await git(repo).raw(['symbolic-ref', 'HEAD']),
        index: await git(repo).raw(['ls-files', '--stage']),
        status: await status(repo),
        files: await Promise.all(['README.md', 'notes.txt', 'src/app.txt'].map((f) => readFile(path.join(repo, f), 'utf8'))),
      });
      const before = await snapshot();

      assert.deepEqual(await merge('ratchet/b1/B'), { merged: false, alreadyMerged: false, conflict: ['src/app.txt'] });
      assert.deepEqual(await snapshot(), before);
    });

    it('brings a base worktree made for deploys forward, writing only the merged files', async () => {
      await ticketBranch('ratchet/b1/T1', { 'feature.txt': 'on\n', 'src/app.txt': 'one\ntwo\nthree\nfour\n' });
      await git(repo).checkout(['-b', 'person/elsewhere']);
      const checkout = await baseCheckout(ratchetGit, repo, 'main', worktreesDir);
      await markOld(path.join(checkout, 'README.md'));
      await writeFile(path.join(checkout, 'deploy.log'), 'untracked');

      const result = await merge('ratchet/b1/T1');
      assert.equal(result.commit, await tip('main'));
      assert.equal((await git(checkout).revparse(['HEAD'])).trim(), result.commit);
      assert.equal(await readFile(path.join(checkout, 'feature.txt'), 'utf8'), 'on\n');
      assert.equal(await readFile(path.join(checkout, 'src/app.txt'), 'utf8'), 'one\ntwo\nthree\nfour\n');
      assert.equal(await status(checkout), '?? deploy.log\n');
      assert.ok(await untouched(path.join(checkout, 'README.md')));
    });

    it('brings every checkout of the base forward, also a second one made with worktree add --force', async () => {
      await ticketBranch('ratchet/b1/T1', { 'feature.txt': 'on\n' });
      const second = path.join(worktreesDir, 'second-main');
      await git(repo).raw(['worktree', 'add', '--force', second, 'main']);
      await writeFile(path.join(second, 'notes.txt'), 'untracked');

      const result = await merge('ratchet/b1/T1');
      assert.equal(result.commit, await tip('main'));
      for (const dir of [repo, second]) assert.equal(await readFile(path.join(dir, 'feature.txt'), 'utf8'), 'on\n', dir);
      assert.equal(await status(repo), '');
      assert.equal(await status(second), '?? notes.txt\n');
    });

    it('refuses when the deploy worktree has a local change in a file the merge would write, keeping it', async () => {
      await ticketBranch('ratchet/b1/T1', { 'src/app.txt': 'one\ntwo\nthree\nfour\n' });
      await git(repo).checkout(['-b', 'person/elsewhere']);
      const checkout = await baseCheckout(ratchetGit, repo, 'main', worktreesDir);
      await writeFile(path.join(checkout, 'src/app.txt'), 'hand-patched on the server\n');
      const before = await tip();

      assert.deepEqual(await merge('ratchet/b1/T1'), { merged: false, alreadyMerged: false, conflict: ['src/app.txt'] });
      assert.equal(await tip(), before);
      assert.equal((await git(checkout).revparse(['HEAD'])).trim(), before);
      assert.equal(await readFile(path.join(checkout, 'src/app.txt'), 'utf8'), 'hand-patched on the server\n');
    });
  });

  describe('baseCheckout', () => {
    it('is the main working tree when base is checked out there', async () => {
      assert.equal(await baseCheckout(ratchetGit, repo, 'main', worktreesDir), repo);
    });

    it('creates a worktree on base once, and reuses it', async () => {
      await git(repo).checkout(['-b', 'other']);
      const first = await baseCheckout(ratchetGit, repo, 'main', worktreesDir);
      assert.equal(first, path.join(worktreesDir, '_base-main'));
      assert.equal((await git(first).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'main');
      assert.equal(await baseCheckout(ratchetGit, repo, 'main', worktreesDir), first);
    });

    it('looks again when the checkout it found no longer holds base, or is gone', async () => {
      assert.equal(await baseCheckout(ratchetGit, repo, 'main', worktreesDir), repo);
      await git(repo).checkout(['-b', 'other']);
      const made = await baseCheckout(ratchetGit, repo, 'main', worktreesDir);
      assert.equal(made, path.join(worktreesDir, '_base-main'), 'the main working tree left main: a worktree on main instead');
      await rm(made, { recursive: true, force: true });
      await git(repo).raw(['worktree', 'prune']);
      assert.equal(await baseCheckout(ratchetGit, repo, 'main', worktreesDir), made, 'made again once deleted');
      assert.equal((await git(made).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'main');
    });
  });

  describe('the worktree pool', () => {
    /** Ticket A's worktree with everything an attempt may leave: a commit, an edit, an untracked and an ignored file. */
    async function usedWorktree(): Promise<string> {
      await writeFile(path.join(repo, '.gitignore'), 'build/\n');
      await commitFiles(repo, { '.gitignore': 'build/\n' }, 'ignore build');
      const a = await ticketBranch('ratchet/b1/A', { 'a.txt': 'from A\n' });
      await writeFile(path.join(a, 'README.md'), 'edited by A\n');
      await writeFile(path.join(a, 'untracked.txt'), 'A was here\n');
      await mkdir(path.join(a, 'build'));
      await writeFile(path.join(a, 'build', 'out.bin'), 'A built this\n');
      return a;
    }

    const pooled = async (): Promise<string[]> =>
      parseWorktreeList(await git(repo).raw(['worktree', 'list', '--porcelain']))
        .filter((w) => path.dirname(w.path) === path.join(worktreesDir, POOL_DIR))
        .map((w) => path.basename(w.path));

    it("a merged ticket's worktree waits in the pool, detached, and its branch is free again", async () => {
      const a = await usedWorktree();
      await releaseWorktree(ratchetGit, repo, worktreesDir, a, path.join(worktreesDir, 'never-made'));
      assert.equal(await exists(a), false);
      assert.deepEqual(await pooled(), ['ratchet-b1-A']);
      const listed = parseWorktreeList(await git(repo).raw(['worktree', 'list', '--porcelain']));
      assert.equal(listed.find((w) => w.path.endsWith('ratchet-b1-A'))?.detached, true);
      // The branch can be checked out again (a later attempt of the ticket, or a person).
      const again = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/A', base: 'main', name: 'a-again' });
      assert.equal((await git(again.path).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'ratchet/b1/A');
    });

    it("the next ticket's worktree is the pooled one reset in place: nothing of the earlier ticket, files it left alone untouched", async () => {
      const a = await usedWorktree();
      const untouched = (await stat(path.join(a, 'src', 'app.txt'))).ino;
      await releaseWorktree(ratchetGit, repo, worktreesDir, a);
      const b = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/B', base: 'main', name: 'ratchet-b1-B' });
      assert.equal(b.path, path.join(worktreesDir, 'ratchet-b1-B'));
      assert.deepEqual(await pooled(), [], 'taken from the pool');
      assert.equal((await stat(path.join(b.path, 'src', 'app.txt'))).ino, untouched, 'reset in place, not checked out anew');
      assert.equal(b.baseCommit, await tip());
      assert.equal((await git(b.path).revparse(['--abbrev-ref', 'HEAD'])).trim(), 'ratchet/b1/B');
      assert.equal((await git(b.path).revparse(['HEAD'])).trim(), await tip());
      assert.equal(await readFile(path.join(b.path, 'README.md'), 'utf8'), 'hello\n');
      for (const left of ['a.txt', 'untracked.txt', 'build']) assert.equal(await exists(path.join(b.path, left)), false, `${left} is gone`);
      assert.equal(await status(b.path), '');
    });

    it('a worktree a process still works in is removed, not pooled', async () => {
      const a = await usedWorktree();
      const child = spawn('sleep', ['30'], { cwd: a, stdio: 'ignore' });
      try {
        await releaseWorktree(ratchetGit, repo, worktreesDir, a);
      } finally {
        child.kill('SIGKILL');
      }
      assert.deepEqual(await pooled(), []);
      assert.equal(await exists(a), false);
    });
  });

  describe('removeWorktree', () => {
    it('removes a worktree and is a no-op the second time', async () => {
      const wt = await prepareWorktree(ratchetGit, { repo, worktreesDir, branch: 'ratchet/b1/T1', base: 'main', name: 'b1-T1' });
      await writeFile(path.join(wt.path, 'junk.txt'), 'junk');
      await removeWorktree(ratchetGit, repo, wt.path);
      await removeWorktree(ratchetGit, repo, wt.path);
      assert.equal(await exists(wt.path), false);
      const listed = parseWorktreeList(await git(repo).raw(['worktree', 'list', '--porcelain']));
      assert.deepEqual(listed.map((w) => w.path), [repo]);
      assert.ok(await headOf(ratchetGit, repo, 'ratchet/b1/T1'), 'the branch stays');
    });

    it('removes several worktrees in one call, also when one of them is not there', async () => {
      const a = await ticketBranch('ratchet/b1/A', { 'a.txt': 'a' });
      const b = await ticketBranch('ratchet/b1/B', { 'b.txt': 'b' });
      await removeWorktree(ratchetGit, repo, a, path.join(worktreesDir, 'never-made'), b);
      assert.equal(await exists(a), false);
      assert.equal(await exists(b), false);
      const listed = parseWorktreeList(await git(repo).raw(['worktree', 'list', '--porcelain']));
      assert.deepEqual(listed.map((w) => w.path), [repo]);
    });

    it('refuses to remove the main working tree', async () => {
      await assert.rejects(removeWorktree(ratchetGit, repo, repo), /main working tree/);
      assert.ok(await exists(path.join(repo, 'README.md')));
    });
  });

  describe('ensureExcluded', () => {
    it('hides ratchet folders inside the repository from git status, writing each pattern once', async () => {
      await mkdir(path.join(repo, '.ratchet', 'worktrees', 'x'), { recursive: true });
      await writeFile(path.join(repo, '.ratchet', 'worktrees', 'x', 'f'), 'f');
      await ensureExcluded(ratchetGit, repo, ['.ratchet/worktrees', path.join(repo, '.ratchet', 'artifacts'), '../outside']);
      await ensureExcluded(ratchetGit, repo, ['.ratchet/worktrees']);
      const exclude = await readFile(path.join(repo, '.git', 'info', 'exclude'), 'utf8');
      assert.equal(exclude.split('\n').filter((l) => l === '/.ratchet/worktrees/').length, 1);
      assert.ok(exclude.includes('/.ratchet/artifacts/\n'));
      assert.ok(!exclude.includes('outside'));
      assert.equal(await status(repo), '');
    });

    it('hides the tracker\'s state records but not the ticket files next to them', async () => {
      await mkdir(path.join(repo, '.ratchet', 'tickets'), { recursive: true });
      await writeFile(path.join(repo, '.ratchet', 'tickets', 'a.yaml'), 'id: a\ntitle: a\n');
      await writeFile(path.join(repo, '.ratchet', 'tickets', 'a.state'), 'state: done\n');
      await ensureExcluded(ratchetGit, repo, [], [{ folder: '.ratchet/tickets', glob: '*.state' }]);
      assert.equal((await status(repo)).trim(), '?? .ratchet/');
      await git(repo).add('.');
      assert.equal((await status(repo)).trim(), 'A  .ratchet/tickets/a.yaml');
    });
  });

  describe('assertGitRepo', () => {
    const rejectsWith = (p: Promise<void>, message: string) =>
      assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.nonRetryable, true);
        assert.equal(err.message, message);
        return true;
      });

    it('accepts a repository with the base branch', async () => {
      await assertGitRepo(ratchetGit, repo, 'main');
    });

    it('rejects a relative repo path', async () => {
      await rejectsWith(
        assertGitRepo(ratchetGit, 'some/repo', 'main'),
        `field "repo" is "some/repo": not an absolute path; fix: give the full path, such as ${path.resolve('some/repo')}`,
      );
    });

    it('rejects a repo folder that does not exist', async () => {
      const missing = path.join(root, 'nope');
      await rejectsWith(assertGitRepo(ratchetGit, missing, 'main'), `field "repo" is "${missing}": no such folder; fix: create it or correct the path`);
    });

    it('rejects a folder that is not a git repository', async () => {
      const plain = path.join(root, 'plain');
      await mkdir(plain);
      await rejectsWith(
        assertGitRepo(ratchetGit, plain, 'main'),
        `field "repo" is "${plain}": not a git repository; fix: run git init there or point repo at a clone`,
      );
    });

    it('rejects a folder inside a repository, which would merge into the enclosing one', async () => {
      const inner = path.join(repo, 'sub');
      await mkdir(inner);
      await rejectsWith(
        assertGitRepo(ratchetGit, inner, 'main'),
        `field "repo" is "${inner}": a folder inside the git repository ${repo}, not its top level (merges would land in ` +
          `that repository); fix: set repo to ${repo}, or make the folder a repository of its own (git init)`,
      );
    });

    it('rejects a base branch that does not exist, listing the branches there are', async () => {
      await rejectsWith(
        assertGitRepo(ratchetGit, repo, 'develop'),
        `field "baseBranch" is "develop": no such local branch in ${repo} (local branches are main); ` +
          'fix: set baseBranch to an existing branch or create it (git branch develop)',
      );
    });
  });

  describe('parseMergeTree', () => {
    it('reads the tree of a clean merge', () => {
      assert.deepEqual(parseMergeTree('aaa\0'), { tree: 'aaa', conflicted: [] });
    });

    it('reads each conflicted path once', () => {
      const out = ['bbb', 'a.txt', 'b.txt', '', '1', 'a.txt', 'Auto-merging', 'Auto-merging a.txt\n', '1', 'a.txt', 'CONFLICT (contents)', 'Merge conflict in a.txt\n', ''];
      assert.deepEqual(parseMergeTree(out.join('\0')), { tree: 'bbb', conflicted: ['a.txt', 'b.txt'] });
    });

    it('takes the paths of CONFLICT messages when a conflict lists no file', () => {
      const out = ['ccc', '', '1', 'z.txt', 'Auto-merging', 'Auto-merging z.txt\n', '2', 'x/a', 'y/a', 'CONFLICT (directory rename split)', 'unclear where a goes\n', ''];
      assert.deepEqual(parseMergeTree(out.join('\0')), { tree: 'ccc', conflicted: ['x/a', 'y/a'] });
    });
  });

  describe('parseWorktreeList', () => {
    it('reads main, linked, detached and prunable entries', () => {
      const text = [
        'worktree /r',
        'HEAD aaa',
        'branch refs/heads/main',
        '',
        'worktree /w/one',
        'HEAD bbb',
        'detached',
        '',
        'worktree /w/gone',
        'HEAD ccc',
        'branch refs/heads/ratchet/b/T',
        'prunable gitdir file points to non-existent location',
        '',
      ].join('\n');
      assert.deepEqual(parseWorktreeList(text), [
        { path: '/r', head: 'aaa', branch: 'main', bare: false, detached: false, prunable: false },
        { path: '/w/one', head: 'bbb', bare: false, detached: true, prunable: false },
        { path: '/w/gone', head: 'ccc', branch: 'ratchet/b/T', bare: false, detached: false, prunable: true },
      ]);
    });
  });
});
