/**
 * The git client of a worker: runs ratchet's git commands (in the git process: process.ts) and holds what the
 * commands of one worker share: a lock per repository and what it learned that does not change while it runs. Built
 * once by `createActivities` (activities/index.ts) and passed to every activity that runs git; the topic modules
 * beside this one (repository, worktrees, merges, remotes) take it as their first argument.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Mutex } from 'async-mutex';
import { GitError } from '../../workflows/errors';
import { recordLockWait } from '../context';
import { commandEnv } from '../env';
import { GitProcess } from './process';

/** Worker variables a git process that reaches a remote needs besides the commands' base ones: TLS and proxies. */
const NETWORK_ENV = ['SSL_CERT_FILE', 'SSL_CERT_DIR', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];

/**
 * The environment of a git process given `env`: the commands' allowlist (`commandEnv`: no editors, pagers or hooks),
 * the network variables, then `env`.
 */
function gitEnv(env: Record<string, string>): Record<string, string> {
  const network = Object.fromEntries(NETWORK_ENV.filter((n) => process.env[n] !== undefined).map((n) => [n, process.env[n] as string]));
  return commandEnv({ fromWorker: network, protocol: env });
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

/** Whether anything (a file, a folder, a dangling link) is at `p`. */
export async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

export class Git {
  /**
   * Serializes merges and worktree bookkeeping per repository (by its real path), within this worker process;
   * serialization across hosts is a lock workflow's (DESIGN.md "Scale-out").
   */
  private readonly repoLocks = new Map<string, Mutex>();
  /** Each repository's own git folder (canonical), by the repository's path: it does not change while ratchet runs. */
  private readonly commonDirs = new Map<string, string>();
  /**
   * Working trees found with the base checked out, by repository and base (`baseCheckout`, worktrees.ts); each is
   * checked before it is reused.
   */
  readonly baseCheckouts = new Map<string, string>();

  constructor(private readonly gitProcess: GitProcess = new GitProcess()) {}

  /**
   * Runs `git <args>` in `dir`. Exit codes listed in `ok` resolve with the code and stdout; anything else rejects
   * with a retryable `GitError` naming the command, the folder and git's own message. `env`, when given, is added to
   * the commands' allowlisted environment and is the command's whole environment with it; its values never appear
   * in the error.
   */
  async run(dir: string, args: string[], ok: number[] = [0], env?: Record<string, string>): Promise<{ code: number; out: string }> {
    const outcome = await this.gitProcess.run(dir, args, env ? gitEnv(env) : undefined);
    if ('code' in outcome && ok.includes(outcome.code)) return { code: outcome.code, out: outcome.stdout };
    const why = 'failed' in outcome ? outcome.failed : (outcome.stderr || outcome.stdout).trim();
    const code = 'code' in outcome ? outcome.code : undefined;
    throw new GitError(`git ${args.join(' ')} failed in ${dir}${code === undefined ? '' : ` (exit ${code})`}: ${why}`, false, code);
  }

  /** Runs `fn` holding `repo`'s lock; the wait is recorded as `ratchet_lock_wait_ms{lock="repo"}`. */
  async withRepoLock<T>(repo: string, fn: () => Promise<T>): Promise<T> {
    const key = await fs.realpath(repo);
    let lock = this.repoLocks.get(key);
    if (!lock) {
      lock = new Mutex();
      this.repoLocks.set(key, lock);
    }
    const asked = performance.now();
    return lock.runExclusive(() => {
      recordLockWait('repo', performance.now() - asked);
      return fn();
    });
  }

  /** The canonical path of `repo`'s git folder (its common dir, shared by its linked worktrees), asked once. */
  async commonDirOf(repo: string): Promise<string> {
    let dir = this.commonDirs.get(repo);
    if (dir === undefined) {
      dir = await canonical(path.resolve(repo, (await this.run(repo, ['rev-parse', '--git-common-dir'])).out.trim()));
      this.commonDirs.set(repo, dir);
    }
    return dir;
  }

  /** Ends the git process; the next command starts a new one with this process's environment as it is then. */
  stop(): Promise<void> {
    return this.gitProcess.stop();
  }
}
