/**
 * The sandbox on Linux: bubblewrap (`bwrap`) shows a command the whole filesystem read-only but for what its spec
 * hides and binds, a private /tmp, its own pid namespace and, unless the spec says `host`, its own network namespace
 * (none, or only the egress proxy's bridge: egress.ts). DESIGN "Trust boundaries"; box.ts says what each role gets.
 */
import { execFile } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { BOX_COUNTER, BRIDGE_PID_VAR } from '../step-processes';

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
  /** Folders covered by an empty read-only folder, so their content is absent inside; each must exist. */
  hidden?: string[];
  /**
   * Paths that must stay readable although they live under the host's /tmp (the agent's own program, a repository
   * in a temp folder); their top-level /tmp folder is bound back read-only. See {@link hostTmpEntries}.
   */
  visible?: string[];
  /**
   * Credentials covered last, after every bind (activities/box/credentials.ts): `files` by /dev/null, `folders` by an
   * empty read-only folder. Each must exist.
   */
  masked?: { files: string[]; folders: string[] };
  /** Host folders or files bound at another path inside (`src` shows at `dest`), after everything above. */
  binds?: { src: string; dest: string; writable: boolean }[];
  /**
   * The network: `host` (the worker's, as it is), `none` (a network namespace of its own with only loopback), or
   * `proxy`: none but a bridge from `127.0.0.1:<port>` to `socket` (the egress proxy's unix socket, a path inside the
   * box) run by `socat` (an absolute path on the host). Default `host`.
   */
  network?: 'host' | 'none' | { socat: string; socket: string; port: number };
}

/**
 * The absolute path of a working `bwrap`: the first one on `PATH` (of `env`, default `process.env`), if it can run
 * `bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid --unshare-net -- /bin/true` here within 5 s.
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
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--unshare-net', '--', '/bin/true'];
  return new Promise((resolve) => {
    execFile(bwrap, args, { timeout: PROBE_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err) => resolve(err === null));
  });
}

/** Answers "is there a working bwrap here?" (and socat, the network bridge) once per holder; see {@link createSandboxProbe}. */
export interface SandboxProbe {
  /** The path {@link findBwrap} found, or undefined; computed on the first call, the same promise after. */
  bwrap(): Promise<string | undefined>;
  /** The absolute path of `socat` on `PATH`, or undefined; computed on the first call, the same promise after. */
  socat(): Promise<string | undefined>;
}

/**
 * A probe that runs {@link findBwrap} and looks for socat at most once each. The worker makes one and passes it to
 * the activities that run boxed commands (DESIGN "Shapes": no module-level caches of clients), so tests can make
 * their own.
 */
export function createSandboxProbe(env: NodeJS.ProcessEnv = process.env): SandboxProbe {
  let found: Promise<string | undefined> | undefined;
  let socat: Promise<string | undefined> | undefined;
  return {
    bwrap: () => (found ??= findBwrap(env)),
    socat: () => (socat ??= onPath('socat', env)),
  };
}

/** The first executable `name` in a folder of `env.PATH`, or undefined. */
async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, name);
    if (await fsp.access(candidate, fsp.constants.X_OK).then(() => true, () => false)) return candidate;
  }
  return undefined;
}

/**
 * The argv that, followed by `['/bin/sh', '-c', command]`, runs a command boxed by `bwrap` as `spec` says. Mounts, in
 * order (a later mount covers an earlier one):
 * - `--ro-bind / /`: the whole filesystem, read-only; `--dev /dev`, `--proc /proc` with `--unshare-pid`, so other
 *   processes (the worker included, and its `/proc/<pid>/environ`) are not visible;
 * - `--tmpfs /tmp`, then `tmpDir` at /tmp. Paths under the host's /tmp would vanish with it, so each top-level
 *   folder of the host's /tmp that holds `cwd` or a `writable` or `hidden` path is bound back read-only
 *   (e.g. a repository beside its worktrees under `/tmp/ratchet-demo-x/`; bwrap leaves an empty folder of that name
 *   in `tmpDir` as the mount point);
 * - `visible` paths under the host's /tmp are bound back read-only like the above, each only if it still exists when
 *   the box starts (`--ro-bind-try`: an entry listed a moment before may have vanished since);
 * - an empty tmpfs on each `hidden` folder, then each `writable` folder read-write, each of
 *   `binds` at its `dest`, each `hidden` folder remounted read-only (not what was bound inside it), and last the
 *   `masked` credentials;
 * - with `network` other than `host`, `--unshare-net` (only loopback inside), and for a proxy the bridge (socat)
 *   started before the command.
 *
 * Also `--cap-drop ALL`: a worker running as root would otherwise keep every capability inside and could remount
 * the read-only filesystem writable. No `--new-session`: the command's process group must stay the one `runCommand`
 * kills (it already starts a new session). The environment is not touched: the caller passes the
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
  const binds = spec.binds ?? [];
  const network = spec.network ?? 'host';
  // A bind needs the folder it lands in, not its own path: one straight into the private /tmp needs nothing.
  const needed = tops([spec.cwd, ...spec.writable, ...hidden, ...binds.map((b) => path.dirname(b.dest))]);
  const optional = tops(spec.visible ?? []).filter((p) => !needed.includes(p));
  const args = [
    bwrap,
    '--ro-bind', '/', '/',
    '--dev', '/dev',
    '--proc', '/proc',
    '--unshare-pid',
    '--die-with-parent',
    '--cap-drop', 'ALL',
    ...(network === 'host' ? [] : ['--unshare-net']),
    '--tmpfs', '/tmp',
    '--bind', spec.tmpDir, '/tmp',
  ];
  for (const p of needed) args.push('--ro-bind', p, p);
  for (const p of optional) args.push('--ro-bind-try', p, p);
  for (const p of hidden) args.push('--tmpfs', p);
  for (const p of spec.writable) args.push('--bind', p, p);
  for (const b of binds) args.push(b.writable ? '--bind' : '--ro-bind', b.src, b.dest);
  // Hidden folders are read-only too (a tmpfs is writable): a write there fails as on the rest of the filesystem
  // instead of vanishing with the box. Not recursive: what is bound inside them keeps its own mode.
  for (const p of hidden) args.push('--remount-ro', p);
  for (const f of spec.masked?.files ?? []) args.push('--ro-bind', '/dev/null', f);
  for (const d of spec.masked?.folders ?? []) args.push('--tmpfs', d, '--remount-ro', d);
  args.push('--chdir', spec.cwd, '--');
  if (typeof network === 'object') {
    // The bridge starts first and its pid is handed to the counter, which does not count it (nor its children: one per
    // open connection) as a process the command left.
    const bridge = `${network.socat} -lf /dev/null TCP-LISTEN:${network.port},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${network.socket}`;
    args.push('/bin/sh', '-c', `${bridge} </dev/null >/dev/null 2>&1 & ${BRIDGE_PID_VAR}=$! exec "$@"`, 'ratchet-net');
  }
  args.push(...BOX_COUNTER);
  return args;
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
