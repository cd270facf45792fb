/**
 * Remotes: pushing an attempt's commit so another host can take it over or a pull request can show it, fetching it
 * back, and bringing the local base up to a remote's after a pull request merged there. Remote credentials travel in
 * the git process's environment only ({@link remoteAuthEnv}). Every function but that one takes the worker's
 * {@link Git} first.
 */
import { GitError } from '../../workflows/errors';
import type { Git } from './git';
import { advanceBase, MERGE_TRIES } from './merges';
import { headOf, isAncestor } from './repository';

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
 * Refuses a remote git would read as an option (`--upload-pack=...`): remotes come from the batch file and the forge,
 * and git runs without simple-git's argument checks (process.ts).
 * @throws GitError (non-retryable) naming the remote.
 */
function assertRemote(remote: string): void {
  if (remote.startsWith('-')) throw new GitError(`remote ${JSON.stringify(remote)} starts with "-": git would read it as an option; fix: give a URL or a path`, true);
}

/**
 * Pushes `commit` to `refs/heads/<branch>` of `remote` (a URL or a path), replacing what the branch held there: each
 * attempt's branch is cut fresh, so its pull request shows that attempt. Hooks are not run. Idempotent.
 * @throws GitError (retryable) when git cannot reach the remote, (non-retryable) for a remote that reads as an option; the message never carries `env`'s values.
 */
export async function pushCommit(git: Git, opts: { repo: string; remote: string; commit: string; branch: string; env?: Record<string, string> }): Promise<void> {
  assertRemote(opts.remote);
  await git.run(opts.repo, ['push', '--force', '--no-verify', '--quiet', opts.remote, `${opts.commit}:refs/heads/${opts.branch}`], [0], opts.env);
}

/**
 * Fetches `refs/heads/<branch>` from `remote` (a name of the repository's or a URL) into `repo`'s object store,
 * without moving any local ref: a worker taking over another's attempt gets its commit so.
 * @throws GitError (retryable) when git cannot reach the remote or the remote has no such branch; (non-retryable) for a
 *   remote that reads as an option.
 */
export async function fetchBranch(git: Git, opts: { repo: string; remote: string; branch: string; env?: Record<string, string> }): Promise<void> {
  assertRemote(opts.remote);
  await git.run(opts.repo, ['fetch', '--quiet', '--no-tags', opts.remote, `refs/heads/${opts.branch}`], [0], opts.env);
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
export async function syncBase(git: Git, opts: { repo: string; remote: string; base: string; commit: string; env?: Record<string, string> }): Promise<string> {
  const { repo, base } = opts;
  assertRemote(opts.remote);
  return git.withRepoLock(repo, async () => {
    for (let tries = 0; tries < MERGE_TRIES; tries++) {
      await git.run(repo, ['fetch', '--quiet', '--no-tags', opts.remote, `refs/heads/${base}`], [0], opts.env);
      const fetched = await headOf(git, repo, 'FETCH_HEAD');
      if (!(await isAncestor(git, repo, opts.commit, fetched))) throw new GitError(`${opts.remote} ${base} (${fetched}) does not contain ${opts.commit} yet`);
      const from = await headOf(git, repo, `refs/heads/${base}`);
      if (await isAncestor(git, repo, fetched, from)) return from;
      if (!(await isAncestor(git, repo, from, fetched))) {
        throw new GitError(`the local ${base} (${from}) has commits that ${opts.remote} lacks; fix: push or drop them, then resume`, true);
      }
      const landed = await advanceBase(git, repo, base, from, fetched, fetched);
      if (landed === true) return fetched;
      if (landed !== 'again') throw new GitError(`a checkout of ${base} has local changes in ${landed.join(', ')}; fix: commit or stash them`, true);
    }
    throw new GitError(`${base} kept moving while it was brought up to ${opts.remote} in ${repo}; the retry tries again`);
  });
}
