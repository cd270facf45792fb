/**
 * The agent sandbox on Linux: bubblewrap (`bwrap`) shows the command the whole filesystem read-only, with only its
 * worktree, that worktree's own git metadata, a private /tmp and declared caches writable (DESIGN "Trust
 * boundaries"). The network stays reachable: agents call model APIs.
 */
import { execFile } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Git } from './git';
import { BOX_COUNTER } from './step-processes';

/** Name prefix of an agent run's private /tmp folder (created by the caller under the host's /tmp). */
export const PRIVATE_TMP_PREFIX = 'ratchet-agent-';

/**
 * The `TMPDIR` a boxed command gets: a folder of its private /tmp whose name no host /tmp entry can shadow (names
 * with {@link PRIVATE_TMP_PREFIX} are never bound back). Host /tmp entries stay visible read-only, so a tool that
 * keeps state in a fixed folder under `os.tmpdir()` (tsx's `/tmp/tsx-0`, say) must find a writable one here.
 * The caller creates it as `<tmpDir>/ratchet-agent-tmp`.
 */
export const BOXED_TMPDIR = '/tmp/ratchet-agent-tmp';

/** How long the trial run of bwrap may take, ms. */
const PROBE_TIMEOUT_MS = 5000;

/** What a boxed command may touch. Every path is absolute and canonical (no symlinks). */
export interface SandboxSpec {
  /** Working directory inside the sandbox; normally one of `writable`. */
  cwd: string;
  /** Folders the command may write, bound at the same path; each must exist. */
  writable: string[];
  /** A private folder of this run, mounted writable at /tmp (the host's /tmp is not visible, see {@link bwrapPrefix}). */
  tmpDir: string;
  /** Folders covered by an empty in-memory folder, so their content is absent inside; each must exist. */
  hidden?: string[];
  /**
   * Paths that must stay readable although they live under the host's /tmp (the agent's own program, a repository
   * in a temp folder); their top-level /tmp folder is bound back read-only. See {@link hostTmpEntries}.
   */
  visible?: string[];
  /**
   * Files or folders inside a writable folder that stay read-only (bound over themselves), e.g. the files that tie a
   * worktree to its repository ({@link gitPinnedPaths}); each must exist.
   */
  readOnly?: string[];
}

/**
 * The absolute path of a working `bwrap`: the first one on `PATH` (of `env`, default `process.env`), if it can run
 * `bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid -- /bin/true` here within 5 s.
 * @returns undefined when not on Linux, not installed, or refused (e.g. the kernel denies user namespaces).
 *   Never throws. Runs a process on every call: hold a {@link createSandboxProbe} to ask once.
 */
export async function findBwrap(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, 'bwrap');
    const executable = await fsp.access(candidate, fsp.constants.X_OK).then(() => true, () => false);
    if (!executable) continue;
    return (await works(candidate)) ? candidate : undefined;
  }
  return undefined;
}

function works(bwrap: string): Promise<boolean> {
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--', '/bin/true'];
  return new Promise((resolve) => {
    execFile(bwrap, args, { timeout: PROBE_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err) => resolve(err === null));
  });
}

/** Answers "is there a working bwrap here?" once per holder; see {@link createSandboxProbe}. */
export interface SandboxProbe {
  /** The path {@link findBwrap} found, or undefined; computed on the first call, the same promise after. */
  bwrap(): Promise<string | undefined>;
}

/**
 * A probe that runs {@link findBwrap} at most once. The worker makes one and passes it to the activities that run
 * agents (DESIGN "Shapes": no module-level caches of clients), so tests can make their own.
 */
export function createSandboxProbe(env: NodeJS.ProcessEnv = process.env): SandboxProbe {
  let found: Promise<string | undefined> | undefined;
  return {
    bwrap: () => (found ??= findBwrap(env)),
  };
}

/**
 * The argv that, followed by `['/bin/sh', '-c', command]`, runs a command boxed by `bwrap` as `spec` says. Mounts, in
 * order (a later mount covers an earlier one):
 * - `--ro-bind / /`: the whole filesystem, read-only; `--dev /dev`, `--proc /proc` with `--unshare-pid`, so other
 *   processes (the worker included, and its `/proc/<pid>/environ`) are not visible;
 * - `--tmpfs /tmp`, then `tmpDir` at /tmp. Paths under the host's /tmp would vanish with it, so each top-level
 *   folder of the host's /tmp that holds `cwd` or a `writable`, `hidden` or `readOnly` path is bound back read-only
 *   (e.g. a repository beside its worktrees under `/tmp/ratchet-demo-x/`; bwrap leaves an empty folder of that name
 *   in `tmpDir` as the mount point);
 * - each `writable` folder read-write, then each `readOnly` path, then an empty tmpfs on each `hidden` folder;
 * - `visible` paths under the host's /tmp are bound back read-only like the above, each only if it still exists when
 *   the box starts (`--ro-bind-try`: an entry listed a moment before may have vanished since).
 *
 * Also `--cap-drop ALL`: a worker running as root would otherwise keep every capability inside and could remount
 * the read-only filesystem writable. No `--new-session`: the command's process group must stay the one `runCommand`
 * kills (it already starts a new session). The network and the environment are not touched: the caller passes the
 * environment to spawn (and should set `TMPDIR` to /tmp or leave it unset, since the host's temp folder is not
 * writable inside).
 *
 * Nothing the command starts outlives it (step-processes.ts): bwrap's monitor exits as soon as the box's first
 * process does, and `--die-with-parent` makes its init (pid 1 of the box's namespace, which would otherwise wait for
 * every process left there) die with it, so the kernel kills whatever is left in the namespace, `setsid` children
 * and daemons included; no process can leave a pid namespace. The same flag ends the box when the worker dies. The
 * box's first process is `BOX_COUNTER`, which runs the command and reports on fd 3 how many processes it left.
 * @returns the argv to spawn, ending with `BOX_COUNTER`: append `/bin/sh`, `-c` and the command.
 */
export function bwrapPrefix(bwrap: string, spec: SandboxSpec): string[] {
  const hidden = spec.hidden ?? [];
  const readOnly = spec.readOnly ?? [];
  /** The top-level folders of the host's /tmp that hold `paths`. */
  const tops = (paths: readonly string[]): string[] =>
    unique(
      paths
        .map((p) => path.relative('/tmp', p).split(path.sep)[0])
        .filter((top) => top !== '' && top !== '..' && !path.isAbsolute(top))
        .map((top) => path.join('/tmp', top)),
    );
  // What the command needs must be there; a `visible` entry listed a moment ago may be gone by now (a SQLite journal,
  // another program's temp folder), and is then skipped (`--ro-bind-try`) rather than failing the run.
  const needed = tops([spec.cwd, ...spec.writable, ...readOnly, ...hidden]);
  const optional = tops(spec.visible ?? []).filter((p) => !needed.includes(p));
  const args = [
    bwrap,
    '--ro-bind', '/', '/',
    '--dev', '/dev',
    '--proc', '/proc',
    '--unshare-pid',
    '--die-with-parent',
    '--cap-drop', 'ALL',
    '--tmpfs', '/tmp',
    '--bind', spec.tmpDir, '/tmp',
  ];
  for (const p of needed) args.push('--ro-bind', p, p);
  for (const p of optional) args.push('--ro-bind-try', p, p);
  for (const p of spec.writable) args.push('--bind', p, p);
  for (const p of readOnly) args.push('--ro-bind', p, p);
  for (const p of hidden) args.push('--tmpfs', p);
  args.push('--chdir', spec.cwd, '--', ...BOX_COUNTER);
  return args;
}

/**
 * The git metadata a commit on `branch` in the linked worktree `worktree` writes, and no more:
 * - the worktree's own git dir (`git rev-parse --git-dir`, e.g. `<repo>/.git/worktrees/<name>`: index, HEAD's log),
 * - `<common>/objects`,
 * - `<common>/refs/heads/<folder of branch>` and `<common>/logs/refs/heads/<folder of branch>` (the branch's loose
 *   ref and its reflog; git writes a ref through a lock file renamed in the same folder, so the folder, not the file),
 *   both created if missing.
 *
 * Everything else of the repository (other branches such as `main`, config, hooks, info/, packed-refs) stays
 * read-only. Sibling branches in the same folder (`ratchet/<batchId>/*`) are writable too; git cannot update a ref
 * with less. Pin the files that tie the worktree to its branch with {@link gitPinnedPaths}.
 * @param branch e.g. `ratchet/<batchId>/<ticketId>`.
 * @returns canonical absolute folders, for {@link SandboxSpec.writable}.
 * @throws Error when `branch` has no folder (`main`: its folder would be all of refs/heads), has an empty, `.` or
 *   `..` segment, or `worktree` is a repository's main checkout rather than a linked worktree; `GitError` when
 *   `worktree` is not in a git repository.
 */
export async function gitWritableDirs(git: Git, worktree: string, branch: string): Promise<string[]> {
  const parts = branch.split('/');
  if (parts.length < 2 || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new Error(
      `gitWritableDirs: branch ${JSON.stringify(branch)} must look like "ratchet/<batchId>/<ticketId>": ` +
        'the sandbox makes its folder of refs/heads writable, and a branch without a folder would expose every branch',
    );
  }
  const { gitDir, commonDir } = await gitDirs(git, worktree);
  if (gitDir === commonDir) {
    throw new Error(`gitWritableDirs: ${worktree} is not a linked worktree (its git dir is the repository's own ${gitDir})`);
  }
  const folder = parts.slice(0, -1).join('/');
  const refs = path.join(commonDir, 'refs', 'heads', folder);
  const logs = path.join(commonDir, 'logs', 'refs', 'heads', folder);
  await Promise.all([fsp.mkdir(refs, { recursive: true }), fsp.mkdir(logs, { recursive: true })]);
  return Promise.all([gitDir, path.join(commonDir, 'objects'), refs, logs].map((p) => fsp.realpath(p)));
}

/**
 * The files that tie a linked worktree to its repository and branch, for {@link SandboxSpec.readOnly}: the
 * worktree's `.git` file and, in its git dir, `HEAD`, `commondir` and `gitdir`. Without the pins a boxed agent could
 * point HEAD at `refs/heads/main` (or `.git` at a repository of its own, with hooks) and ratchet's own git commands
 * in the worktree, which run outside the sandbox, would then move `main` (or run the agent's hooks).
 * @returns canonical absolute paths of those that exist.
 */
export async function gitPinnedPaths(git: Git, worktree: string): Promise<string[]> {
  const { gitDir } = await gitDirs(git, worktree);
  const candidates = [path.join(worktree, '.git'), ...['HEAD', 'commondir', 'gitdir'].map((f) => path.join(gitDir, f))];
  const found = await Promise.all(candidates.map((p) => fsp.realpath(p).catch(() => undefined)));
  return found.filter((p): p is string => p !== undefined);
}

async function gitDirs(git: Git, worktree: string): Promise<{ gitDir: string; commonDir: string }> {
  const out = (await git.run(worktree, ['rev-parse', '--git-dir', '--git-common-dir'])).out;
  const [gitDir, commonDir] = out.trim().split('\n').map((line) => path.resolve(worktree, line.trim()));
  return { gitDir, commonDir };
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

/**
 * The top-level entries (folders and files, not symlinks or sockets) of the host's /tmp, for
 * {@link SandboxSpec.visible}: inside the sandbox they stay readable, read-only, while new files in /tmp go to the
 * run's private folder. Without them, anything living under the host's /tmp (an agent script, a checkout of ratchet
 * itself, a cache) would vanish inside. Never throws; an unreadable /tmp gives none.
 */
export async function hostTmpEntries(): Promise<string[]> {
  const entries = await fsp.readdir('/tmp', { withFileTypes: true }).catch(() => []);
  // Other agent runs' private folders stay out: they are theirs alone.
  return entries
    .filter((e) => (e.isDirectory() || e.isFile()) && !e.name.startsWith(PRIVATE_TMP_PREFIX))
    .map((e) => path.join('/tmp', e.name));
}
