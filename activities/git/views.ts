/**
 * What a box sees of git (issue 25): never the repository's own metadata.
 * - {@link exportTree}: a gate's checkout, the committed tree and nothing else (no `.git`, no index, no untracked or
 *   ignored file), so what is validated is the commit.
 * - {@link privateGitDir}: the agent's repository, a private git dir whose objects borrow the real store read-only
 *   (an alternate), so the agent can run git as usual while nothing it writes reaches the user's repository.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Git } from './git';
import { nulList } from './parse';

/**
 * Writes the tree of `commit` into `dir`, emptied first (created if missing): the committed files with
 * `.gitattributes` as committed, through a throwaway index beside `dir`, so nothing of any worktree's index, stat
 * data or skip-worktree bits takes part. With `overlay`, the files `overlay.paths` of `overlay.commit` are then
 * written over it and `overlay.removed` deleted (a bug ticket's test files on the base's code: FAIL_TO_PASS).
 * @param dir absolute; its parent must exist.
 * @throws GitError when `commit` (or `overlay.commit`) is not in `repo`.
 */
export async function exportTree(
  git: Git,
  repo: string,
  dir: string,
  commit: string,
  overlay?: { commit: string; paths: string[]; removed: string[] },
): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const index = `${dir}.index`;
  try {
    const env = { GIT_INDEX_FILE: index };
    await git.run(repo, ['read-tree', commit], [0], env);
    await git.run(repo, ['checkout-index', '--all', '--force', `--prefix=${dir}/`], [0], env);
    if (overlay?.paths.length) {
      await git.run(repo, ['read-tree', overlay.commit], [0], env);
      await git.run(repo, ['checkout-index', '--force', `--prefix=${dir}/`, '--', ...overlay.paths], [0], env);
    }
    for (const p of overlay?.removed ?? []) await fs.rm(path.join(dir, p), { force: true });
  } finally {
    await fs.rm(index, { force: true });
  }
}

/** The git dir an agent's box sees, built by {@link privateGitDir}. */
export interface PrivateGitDir {
  /** The private git dir on the host. */
  gitDir: string;
  /** A file holding `gitdir: <inside>`: bound over the worktree's `.git` inside the box. */
  gitFile: string;
  /** The real object store (canonical), to show read-only at the same path inside the box. */
  objects: string;
}

/**
 * Makes a private git dir for a box at `into` (its host path; `inside` is where the box sees it) for the linked
 * worktree `worktree` on `branch`: its own config (the repository's `user.name`/`user.email` copied), HEAD on
 * `branch` at `commit`, a copy of the worktree's index (ratchet's, made just before: its stat data saves rehashing),
 * its own empty object store with the real one as an alternate, and no hooks. Whatever the agent then commits, resets
 * or repacks stays there; ratchet commits the worktree's files itself, with its own index (`commitAll`).
 * @throws GitError when `worktree` is not a git worktree.
 */
export async function privateGitDir(
  git: Git,
  opts: { worktree: string; branch: string; commit: string; into: string; inside: string },
): Promise<PrivateGitDir> {
  const { worktree, into } = opts;
  const [ownGitDir, common] = (await git.run(worktree, ['rev-parse', '--absolute-git-dir', '--git-common-dir'])).out.trim().split('\n');
  const objects = await fs.realpath(path.resolve(worktree, common, 'objects'));
  const identity = nulList((await git.run(worktree, ['config', '-z', '--get-regexp', '^user\\.(name|email)$'], [0, 1])).out);
  await fs.rm(into, { recursive: true, force: true });
  await fs.mkdir(path.join(into, 'objects', 'info'), { recursive: true });
  await fs.mkdir(path.join(into, 'refs', 'heads', path.dirname(opts.branch)), { recursive: true });
  await fs.mkdir(path.join(into, 'refs', 'tags'), { recursive: true });
  await fs.writeFile(path.join(into, 'objects', 'info', 'alternates'), `${objects}\n`);
  await fs.writeFile(path.join(into, 'refs', 'heads', opts.branch), `${opts.commit}\n`);
  await fs.writeFile(path.join(into, 'HEAD'), `ref: refs/heads/${opts.branch}\n`);
  const user = identity.map((entry) => {
    const [key, ...value] = entry.split('\n');
    return `\t${key.slice('user.'.length)} = ${JSON.stringify(value.join('\n'))}\n`;
  });
  await fs.writeFile(
    path.join(into, 'config'),
    '[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tlogallrefupdates = true\n' + (user.length ? `[user]\n${user.join('')}` : ''),
  );
  await fs.copyFile(path.join(ownGitDir, 'index'), path.join(into, 'index')).catch(() => undefined);
  const gitFile = `${into}.gitfile`;
  await fs.writeFile(gitFile, `gitdir: ${opts.inside}\n`);
  return { gitDir: into, gitFile, objects };
}
