/**
 * One box for every run of agent-written code (issue 25): the agent, the harness's setup steps, the gates and the
 * regression guard's runs all go through {@link openBox}, which gives bubblewrap's prefix, the environment that goes
 * with it and the egress proxy. What a role sees:
 * - **hidden** (an empty folder inside): the repository's own checkout and git metadata, the worktrees folder, the
 *   artifacts folder (transcripts, the guard's cached base results), so no run reads the tracker, another ticket's
 *   worktree or a result it could forge;
 * - **bound back**: its own checkout at the path it names (a gate's export shows at the ticket's worktree path, the
 *   same for base and branch runs), the real object store read-only for an agent's private git dir;
 * - **network**: none but the egress proxy's bridge, and only when the role's domain list is not empty;
 * - **covered**: the worker's credential files (`~/.git-credentials`, `~/.ssh`, its mTLS key...: credentials.ts);
 * - everything else read-only, a private /tmp, its own pid namespace, no capabilities (sandbox.ts).
 */
import { mkdir, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../workflows/errors';
import { credentialPaths } from './credentials';
import { BOX_PROXY_PORT, EGRESS_SOCKET_NAME, proxyEnv, startEgress, type Egress } from './egress';
import { bwrapPrefix, BOXED_TMPDIR, hostTmpEntries, PRIVATE_TMP_PREFIX, type SandboxProbe, type SandboxSpec } from './sandbox';

/** What one boxed run may see and reach; every path absolute. */
export interface BoxSpec {
  /** Working directory inside the box. */
  cwd: string;
  /** Folders writable at their own path (the agent's worktree, cache folders); each must exist. */
  writable: string[];
  /** Folders hidden behind an empty one (see the module's doc); those that do not exist are skipped. */
  hidden: string[];
  /** Host paths shown at another path inside, after the hidden ones. */
  binds: { src: string; dest: string; writable: boolean }[];
  /** Domains the run may reach through the egress proxy; empty: no network at all. */
  network: readonly string[];
  /** Names the role in errors: `the agent`, `gate "test"`. */
  what: string;
  /** The worker's environment: whose credential files the box covers (credentials.ts). */
  workerEnv: NodeJS.ProcessEnv;
}

/** A box ready for one or more runs; {@link OpenBox.close} it after the last. */
export interface OpenBox {
  /** The argv to put before `/bin/sh -c <command>` (`runCommand`'s `prefix`). */
  prefix: string[];
  /** Add to the run's environment: `TMPDIR` inside the box, and the proxy variables when it has network. */
  env: Record<string, string>;
  /** The private /tmp on the host (gone after close). */
  tmpDir: string;
  /** What the box's runs tried to reach and were refused (`host:port`), so far. */
  refused(): string[];
  /** Stops the egress proxy and deletes the private /tmp. Idempotent. */
  close(): Promise<void>;
}

/** The folders of a batch that no box sees (see the module's doc): canonical, those that exist. */
export async function hiddenFolders(ref: { repo: string; worktreesDir: string; artifactsDir: string }): Promise<string[]> {
  const found = await Promise.all([ref.repo, ref.worktreesDir, ref.artifactsDir].map((p) => realpath(p).catch(() => undefined)));
  return [...new Set(found.filter((p): p is string => p !== undefined))];
}

/**
 * The batch's cache folders (`agent.cacheDirs`), canonical.
 * @throws ConfigError naming the fix when one is not a folder on this worker.
 */
export async function cacheFolders(dirs: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const dir of dirs) {
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) {
      throw new ConfigError(`field "agent.cacheDirs" names ${dir}, which is not a folder on this worker; fix: create it (mkdir -p ${dir}) or remove it`);
    }
    found.push(await realpath(dir));
  }
  return found;
}

/**
 * A line for a run's tail naming what its box refused to let it reach (`host:port`, each once), or '' when nothing.
 * @param field the batch file's field that would allow it, e.g. `agent.network`.
 */
export function refusedLine(refused: readonly string[], field: string): string {
  return refused.length ? `\n[ratchet] the box refused to connect to: ${[...new Set(refused)].join(', ')} (allowed: field "${field}")` : '';
}

/**
 * Opens a box as `spec` says: a private /tmp (with the folder `TMPDIR` names inside), the egress proxy when
 * `spec.network` is not empty, and bubblewrap's argv.
 * @throws ConfigError naming the fix when bubblewrap does not work on this worker, or the box needs network and
 *   `socat` is not installed.
 */
export async function openBox(probe: SandboxProbe, spec: BoxSpec): Promise<OpenBox> {
  const bwrap = await probe.bwrap();
  if (!bwrap) {
    throw new ConfigError(
      `${spec.what} runs boxed (field "agent.sandbox" is not "none") but bubblewrap does not work on this worker's host; fix: ` +
        'install it (Debian/Ubuntu: apt-get install bubblewrap) and allow unprivileged user namespaces, or set agent.sandbox ' +
        'to "none" to run agents, setup steps and gates unboxed on purpose',
    );
  }
  const socat = spec.network.length ? await probe.socat() : undefined;
  if (spec.network.length && !socat) {
    throw new ConfigError(
      `${spec.what} may reach ${spec.network.join(', ')} but socat, which bridges the box to ratchet's egress proxy, is not ` +
        'installed on this worker; fix: install it (Debian/Ubuntu: apt-get install socat), or empty that network list',
    );
  }
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), PRIVATE_TMP_PREFIX));
  let egress: Egress | undefined;
  try {
    await mkdir(path.join(tmpDir, path.basename(BOXED_TMPDIR)));
    if (socat) egress = await startEgress(path.join(tmpDir, EGRESS_SOCKET_NAME), spec.network);
    const hidden = (await Promise.all(spec.hidden.map(async (p) => ((await stat(p).then((s) => s.isDirectory(), () => false)) ? p : undefined)))).filter(
      (p): p is string => p !== undefined,
    );
    const sandbox: SandboxSpec = {
      cwd: spec.cwd,
      writable: spec.writable,
      tmpDir,
      hidden,
      binds: spec.binds,
      visible: (await hostTmpEntries()).filter((p) => p !== tmpDir),
      network: socat ? { socat, socket: path.join('/tmp', EGRESS_SOCKET_NAME), port: BOX_PROXY_PORT } : 'none',
      masked: await credentialPaths(spec.workerEnv),
    };
    const prefix = bwrapPrefix(bwrap, sandbox);
    const env = { TMPDIR: BOXED_TMPDIR, ...(egress ? proxyEnv() : {}) };
    let closed: Promise<void> | undefined;
    const open = egress;
    return {
      prefix,
      env,
      tmpDir,
      refused: () => [...(open?.refused ?? [])],
      close: () => (closed ??= (async () => {
        await open?.close();
        await rm(tmpDir, { recursive: true, force: true });
      })()),
    };
  } catch (err) {
    await egress?.close();
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
}
