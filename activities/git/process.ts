/**
 * Where ratchet's git commands are started: a small child process of the process that runs activities, which starts
 * each `git` and sends back its exit code and output over Node's IPC channel.
 *
 * Why a process of its own: Node starts a child with fork() then exec() on the event loop's thread (libuv's
 * `uv_spawn`), and fork() copies the page tables of the whole parent, so each start blocks the parent's event loop
 * for a time that grows with its resident memory (nodejs/node#14917; libuv/libuv#1715). Measured here (Node 20,
 * `npm run bench:scale`): the activities process (~150-230 MB RSS, the Temporal worker's native core and its
 * modules) spent 40% of its wall time inside `spawn`, ~9 ms a git command and ~35 of them a ticket, against ~1.7 ms
 * a start from a bare Node process. This child loads nothing but Node's `child_process`.
 *
 * Why plain `spawn` and not simple-git: ratchet needs from a git command its exit code, stdout and stderr, whatever
 * the code (`merge-base --is-ancestor` and a conflicted `merge-tree` exit 1 quietly), at once, with the environment
 * ratchet built. simple-git 4 gives none of these by its public API: it rejects non-zero exits with a message only
 * (keeping the code took subclassing its `GitError`, which it otherwise wraps), waits a fixed 50 ms after a quiet
 * command (its completion plugin; avoiding it took faking an output event: 55 ms against 3 ms an `update-ref`), and
 * its environment guard refuses the `GIT_CONFIG_*` variables ratchet's remote authentication sets (`remoteAuthEnv`).
 * What its guard protects against is kept here by construction: arguments are an array with no shell, every
 * argument is written by ratchet (a remote is checked not to be an option: remotes.ts), an explicit environment is
 * the commands' allowlist (env.ts `commandEnv`) plus ratchet's own variables, git's `GIT_*` variables of the worker
 * are not passed on (a `GIT_DIR` of the worker's must not redirect a command), and git's own protocol policy
 * (`ext::` never allowed) is left as it is. simple-git remains a test dependency, for fixtures.
 *
 * The child starts on the first command, with the environment this process has then (git inherits it, less `GIT_*`,
 * unless a command gives its own), and exits with its parent (its IPC channel closes). A command in flight when the
 * child dies fails (`{ failed }`), and the next one starts a new child.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Author and committer of what ratchet commits, passed with `-c` so no global git identity is needed. */
const IDENTITY = ['-c', 'user.name=ratchet', '-c', 'user.email=ratchet@localhost'];

/** One git command: `git <args>` in `dir`, with `env` as its whole environment when given (else the worker's). */
interface GitRequest {
  id: number;
  dir: string;
  args: string[];
  env?: Record<string, string>;
}

/**
 * How a git command ended: its exit code and output (stdout and stderr as UTF-8 text), or `failed` when git could not
 * be run at all (no such folder, no git binary, killed by a signal, the child process died): what went wrong.
 */
export type GitOutcome = { code: number; stdout: string; stderr: string } | { failed: string };

type GitReply = GitOutcome & { id: number };

// ---- the parent side --------------------------------------------------------------------------------------------

/** One running git process and the commands sent to it that have not been answered, by request id. */
interface GitChild {
  process: ChildProcess;
  pending: Map<number, (outcome: GitOutcome) => void>;
}

/**
 * The client of a git process: starts it on first use, sends it commands and hands back their outcomes. One per
 * {@link Git} (activities/git/git.ts); its child is the instance's, not the module's.
 */
export class GitProcess {
  private child: GitChild | undefined;
  private nextId = 1;

  /**
   * Runs `git <args>` in `dir` (with `-c user.name=ratchet -c user.email=ratchet@localhost`) in the git process,
   * starting it on first use. `env`, when given, is the command's whole environment; without it git gets the
   * worker's, less git's own `GIT_*` variables.
   * @returns how the command ended; never rejects.
   */
  run(dir: string, args: string[], env?: Record<string, string>): Promise<GitOutcome> {
    return new Promise((resolve) => {
      let c: GitChild;
      try {
        c = this.started();
      } catch (err) {
        resolve({ failed: `the git process could not start: ${(err as Error).message}` });
        return;
      }
      const id = this.nextId++;
      c.pending.set(id, resolve);
      c.process.channel?.ref();
      const request: GitRequest = { id, dir, args, ...(env ? { env } : {}) };
      c.process.send(request, (err) => {
        if (!err || !c.pending.has(id)) return;
        c.pending.delete(id);
        if (c.pending.size === 0) c.process.channel?.unref();
        resolve({ failed: `the git process did not take the command: ${err.message}` });
      });
    });
  }

  /**
   * Ends the git process (commands in flight then fail); the next command starts a new one with this process's
   * environment as it is then (tests put another `git` on PATH so).
   * @returns when the process has exited.
   */
  async stop(): Promise<void> {
    const c = this.child?.process;
    this.child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    if (c.connected) c.disconnect();
    else c.kill();
    await exited;
  }

  private started(): GitChild {
    if (this.child?.process.connected) return this.child;
    // tsx's CommonJS hook, as the activities process itself is run (workers/activities-process.ts). A young generation
    // of 1 MB (V8's semi-space; default 16): the process only makes short-lived strings, and under 16 commands at once
    // it grew from ~55 to ~105 MB RSS with the default against ~78 with this, at the same speed (measured, 1,600 commands).
    const c = fork(__filename, [], {
      env: process.env,
      execArgv: ['--max-semi-space-size=1', '--require', require.resolve('tsx/cjs')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // Each process answers only what was sent to it: a process that died fails its own commands, not a successor's.
    const self: GitChild = { process: c, pending: new Map() };
    c.on('message', (reply: GitReply) => {
      const settle = self.pending.get(reply.id);
      self.pending.delete(reply.id);
      if (self.pending.size === 0) c.channel?.unref();
      const { id: _, ...outcome } = reply;
      settle?.(outcome);
    });
    const gone = (why: string): void => {
      if (this.child === self) this.child = undefined;
      for (const [id, settle] of self.pending) {
        self.pending.delete(id);
        settle({ failed: `the git process ${c.pid ?? ''} ${why} before the command ended` });
      }
    };
    c.on('exit', (code, signal) => gone(`exited (${signal ?? code})`));
    c.on('error', (err) => gone(`failed: ${err.message}`));
    // Only commands in flight keep the parent alive (see run), not the idle child.
    c.unref();
    c.channel?.unref();
    this.child = self;
    return self;
  }
}

// ---- the child side ---------------------------------------------------------------------------------------------

/** The worker's environment less git's own variables: a command without an environment of its own gets this. */
function inherited(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^GIT_/i.test(name)));
}

/** Runs one request's git and collects its output; never rejects. */
function serve({ id, dir, args, env }: GitRequest): Promise<GitReply> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const git = spawn('git', [...IDENTITY, ...args], { cwd: dir, env: env ?? inherited(), stdio: ['ignore', 'pipe', 'pipe'] });
    git.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    git.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    // 'error' without 'close' when git could not be started (no such folder: ENOENT on the cwd, or no git binary).
    git.once('error', (e: NodeJS.ErrnoException) => {
      const missing = e.code === 'ENOENT' && !existsSync(dir);
      resolve({ id, failed: missing ? `the folder ${dir} does not exist` : `git could not be started in ${dir}: ${e.message}` });
    });
    git.once('close', (code, signal) => {
      if (code === null) resolve({ id, failed: `git ${args[0] ?? ''} was killed by ${signal ?? 'a signal'}` });
      else resolve({ id, code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

if (require.main === module) {
  process.on('message', (request: GitRequest) => {
    void serve(request).then((reply) => process.send?.(reply));
  });
  // The parent is gone (its channel closed): nothing more will come.
  process.on('disconnect', () => process.exit(0));
}
