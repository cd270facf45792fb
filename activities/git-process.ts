/**
 * Where ratchet's git commands are started: a small child process of the process that runs activities, which starts
 * each `git` through simple-git and sends back its exit code and output over Node's IPC channel.
 *
 * Why a process of its own: Node starts a child with fork() then exec() on the event loop's thread (libuv's
 * `uv_spawn`), and fork() copies the page tables of the whole parent, so each start blocks the parent's event loop
 * for a time that grows with its resident memory (nodejs/node#14917; libuv/libuv#1715). Measured here (Node 20,
 * `npm run bench:scale`): the activities process (~150-230 MB RSS, the Temporal worker's native core and its
 * modules) spent 40% of its wall time inside `spawn`, ~9 ms a git command and ~35 of them a ticket, against ~1.7 ms
 * a start from a bare Node process. This child loads simple-git and nothing of Temporal.
 *
 * The child starts on the first command, with the environment this process has then (git inherits it unless a
 * command gives its own), and exits with its parent (its IPC channel closes). A command in flight when the child
 * dies fails (`{ failed }`), and the next one starts a new child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { GitError as SimpleGitError, simpleGit } from 'simple-git';

/** Author and committer of what ratchet commits, passed with `-c` so no global git identity is needed. */
const IDENTITY = ['user.name=ratchet', 'user.email=ratchet@localhost'];

/** One git command: `git <args>` in `dir`, with `env` as its whole environment when given (else the worker's). */
interface GitRequest {
  id: number;
  dir: string;
  args: string[];
  env?: Record<string, string>;
}

/**
 * How a git command ended: its exit code and output (stdout and stderr as UTF-8 text), or `failed` when git could not
 * be run at all (no such folder, no git binary, the child process died): simple-git's or Node's message.
 */
export type GitOutcome = { code: number; stdout: string; stderr: string } | { failed: string };

type GitReply = GitOutcome & { id: number };

// ---- the parent side --------------------------------------------------------------------------------------------

/** The running git process and the commands sent to it that have not been answered, by request id. */
interface GitChild {
  process: ChildProcess;
  pending: Map<number, (outcome: GitOutcome) => void>;
}

let child: GitChild | undefined;
let nextId = 1;

function started(): GitChild {
  if (child?.process.connected) return child;
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
    if (child === self) child = undefined;
    for (const [id, settle] of self.pending) {
      self.pending.delete(id);
      settle({ failed: `the git process ${c.pid ?? ''} ${why} before the command ended` });
    }
  };
  c.on('exit', (code, signal) => gone(`exited (${signal ?? code})`));
  c.on('error', (err) => gone(`failed: ${err.message}`));
  // Only commands in flight keep the parent alive (see runGit), not the idle child.
  c.unref();
  c.channel?.unref();
  child = self;
  return self;
}

/**
 * Ends the git process (commands in flight then fail); the next command starts a new one with this process's
 * environment as it is then. For tests that put another `git` on PATH.
 * @returns when the process has exited.
 */
export async function stopGitProcess(): Promise<void> {
  const c = child?.process;
  child = undefined;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  if (c.connected) c.disconnect();
  else c.kill();
  await exited;
}

/**
 * Runs `git <args>` in `dir` (with `-c user.name=ratchet -c user.email=ratchet@localhost`) in the git process,
 * starting it on first use. `env`, when given, is the command's whole environment (and allows simple-git's
 * `GIT_CONFIG_COUNT`, which ratchet's remote authentication uses); without it git gets the worker's environment.
 * @returns how the command ended; never rejects.
 */
export function runGit(dir: string, args: string[], env?: Record<string, string>): Promise<GitOutcome> {
  return new Promise((resolve) => {
    let c: GitChild;
    try {
      c = started();
    } catch (err) {
      resolve({ failed: `the git process could not start: ${(err as Error).message}` });
      return;
    }
    const id = nextId++;
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

// ---- the child side ---------------------------------------------------------------------------------------------

/** A git process that exited non-zero; simple-git rejects with it so the exit code and stdout reach the reply. */
class ExitError extends SimpleGitError {
  constructor(
    readonly exitCode: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(undefined, (stderr || stdout).trim());
  }
}

/**
 * simple-git's completion detection (its `completionDetectionPlugin`, 3.x and 4.x alike) waits a fixed 50 ms after a
 * git process exits when that process printed nothing, whatever the `completion` option says. Most of ratchet's git
 * commands are quiet (update-ref, worktree add, merge-base, diff --quiet), ~9 per ticket and most under the repository
 * lock, so the wait dominated (measured: 55 ms vs 3 ms per `update-ref`). The plugin counts any `data` event on
 * stdout as output, so this output handler marks the end of stdout as an empty chunk: the result resolves when the
 * process closes, with the same bytes. Handed to simple-git's public `outputHandler`.
 */
function noQuietWait(_command: string, stdout: NodeJS.ReadableStream): void {
  stdout.once('end', () => stdout.emit('data', Buffer.alloc(0)));
}

async function serve({ id, dir, args, env }: GitRequest): Promise<GitReply> {
  try {
    const git = simpleGit({
      baseDir: dir,
      config: IDENTITY,
      // simple-git only rejects when stderr is non-empty, but `merge-base --is-ancestor` and a conflicted merge exit
      // non-zero quietly: reject on every non-zero exit and let the caller name the codes it expects.
      errors: (error, result) =>
        result.exitCode === 0
          ? error
          : new ExitError(result.exitCode, Buffer.concat(result.stdOut).toString(), Buffer.concat(result.stdErr).toString()),
      // ratchet's own `GIT_CONFIG_COUNT` (remoteAuthEnv) is the one unsafe setting it uses, and only with `env`.
      ...(env ? { unsafe: { allowUnsafeConfigEnvCount: true } } : {}),
    }).outputHandler(noQuietWait);
    if (env) git.env(env);
    return { id, code: 0, stdout: await git.raw(args), stderr: '' };
  } catch (err) {
    if (err instanceof ExitError) return { id, code: err.exitCode, stdout: err.stdout, stderr: err.stderr };
    return { id, failed: err instanceof Error ? err.message : String(err) };
  }
}

if (require.main === module) {
  process.on('message', (request: GitRequest) => {
    void serve(request).then((reply) => process.send?.(reply));
  });
  // The parent is gone (its channel closed): nothing more will come.
  process.on('disconnect', () => process.exit(0));
}
