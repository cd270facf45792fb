/**
 * Starts (or reuses) the Temporal CLI dev server and makes sure ratchet's search attributes exist on it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { TypedSearchAttributes, type SearchAttributeType } from '@temporalio/common';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { DEFAULT_ADDRESS, DEFAULT_PORT, formatAddress, parseAddress as parseHostPort, type HostPort } from './address';
import { ratchetCacheDir, resolveTemporalCli } from './temporal-cli';

export { DEFAULT_ADDRESS } from './address';
export const DEFAULT_UI_PORT = 8233;
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

/** Options for {@link ensureDevServer}. */
export interface DevServerOptions {
  /** host:port of the frontend; default 127.0.0.1:7233. */
  address?: string;
  /** Web UI port; default 8233. */
  uiPort?: number;
  /** SQLite file that persists history; default `<ratchetCacheDir>/dev-server.sqlite`. */
  dbFile?: string;
  /** Keep history in memory only, as tests do (`dbFile` is then unused; the server writes to this process's output). Default false. */
  inMemory?: boolean;
  /** Start no Web UI (`uiPort` is then unused). Default false. */
  headless?: boolean;
  /**
   * Tie the server to this process: not detached, and killed when this process exits (tests). Default false: the
   * server is detached and outlives this process (`ratchet server`, `ratchet demo`).
   */
  attached?: boolean;
  /** Receives progress lines; default: stderr. */
  log?: (line: string) => void;
  /** Namespace the search attributes are registered in; default 'default'. */
  namespace?: string;
}

/** A running dev server. */
export interface DevServer {
  /** host:port of the frontend. */
  address: string;
  /** Base URL of the Web UI, e.g. http://127.0.0.1:8233. */
  uiUrl: string;
  /** True when this call spawned the server; false when it reused one already answering. */
  started: boolean;
  /** Path of the server's log file, when this call started it. */
  logFile?: string;
  /** Resolves when the server this call started exits, however it ends; never resolves for a reused server. */
  exited: Promise<void>;
  /**
   * Stops the server this call started (SIGTERM, then SIGKILL after 5 s; an in-memory server, with nothing to flush, is
   * SIGKILLed at once); a no-op for a reused server.
   */
  stop(): Promise<void>;
}

/**
 * Link to a workflow in the Web UI.
 * @returns `<uiUrl>/namespaces/<ns>/workflows/<url-encoded workflowId>`.
 */
export function uiLink(uiUrl: string, workflowId: string, namespace = 'default'): string {
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/** Splits a Temporal address; no port means 7233, as the SDK reads it. @throws BadInputError naming the value and the fix. */
function parseAddress(address: string): HostPort {
  return parseHostPort(address, { source: 'Temporal address', defaultPort: DEFAULT_PORT });
}

/** True when something accepts TCP connections on host:port within timeoutMs. */
function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A Connection if a Temporal frontend answers getSystemInfo on address within timeoutMs, else undefined. */
async function tryConnect(address: string, timeoutMs: number): Promise<Connection | undefined> {
  const { host, port } = parseAddress(address);
  if (!(await tcpOpen(host, port, timeoutMs))) return undefined;
  try {
    return await Connection.connect({ address, connectTimeout: timeoutMs });
  } catch {
    return undefined;
  }
}

type IndexedValueType = NonNullable<ReturnType<typeof encodeSearchAttributeIndexedValueType>>;

/** The operator service's enum value for a search attribute type. */
function indexedType(type: SearchAttributeType): IndexedValueType {
  const encoded = encodeSearchAttributeIndexedValueType(type);
  if (encoded === undefined) throw new Error(`Unknown search attribute type ${type}`);
  return encoded;
}

/**
 * Registers ratchet's search attributes in `namespace` if missing, through the operator service (any Temporal server:
 * this dev server, or a real cluster, see deploy/cluster).
 * @throws Error if one exists with another type, or the operator service refuses.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing: Record<string, IndexedValueType> = {};
  for (const { name, type } of SEARCH_ATTRIBUTES) {
    const want = indexedType(type);
    const have = customAttributes[name];
    if (have === undefined) missing[name] = want;
    else if (have !== want) {
      throw new Error(`Search attribute ${name} exists in namespace '${namespace}' with another type ` +
        `(want ${TypedSearchAttributes.toMetadataType(type)}); use a fresh dev-server db or another namespace.`);
    }
  }
  if (Object.keys(missing).length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  } catch (err) {
    // Another process may have registered them between our list and add.
    if (!/already exists/i.test(err instanceof Error ? err.message : String(err))) throw err;
  }
}

function readTail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log output)';
  }
}

/**
 * Stops the server: SIGTERM (to its process group when `group`: a detached server leads one), then SIGKILL if it has
 * not exited after `graceMs` (default STOP_GRACE_MS); with `graceMs` 0, SIGKILL at once.
 * @returns once the server has exited.
 */
async function killServer(child: ChildProcess, group = true, graceMs = STOP_GRACE_MS): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  // The child is unref'd; until it has exited, it must keep this process alive. Else a caller with nothing else
  // pending (a bench after its last run) ended at this await, silently and with exit code 0.
  child.ref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals): void => {
    try {
      // Negative pid: the whole group, when the server was spawned detached as a group leader; else the server alone.
      process.kill(process.platform === 'win32' || !group ? child.pid! : -child.pid!, sig);
    } catch {
      // Already gone.
    }
  };
  if (graceMs <= 0) {
    signal('SIGKILL');
    return exited;
  }
  signal('SIGTERM');
  const ac = new AbortController();
  const timedOut = await Promise.race([
    exited.then(() => false),
    sleep(graceMs, true, { signal: ac.signal }).catch(() => false),
  ]);
  ac.abort();
  if (timedOut) {
    signal('SIGKILL');
    await exited;
  }
}

/**
 * Server settings ratchet's dev servers start with (Temporal's dynamic config; a server of your own wants the same,
 * see docs/operating.md "A worker that freezes"). A worker frozen by SIGSTOP, a VM pause or a long GC keeps its TCP
 * connection, and the server hands workflow and activity tasks to the long polls it left open, each lost until its
 * time-out. With these the server pings a connection silent for 3 s and closes it when no answer comes in 3 s more,
 * which ends the frozen worker's polls: its tasks go to live workers within one workflow task time-out (10 s).
 * A live worker answers the pings from the SDK's own connection thread, even while its event loop is busy.
 */
export const SERVER_DYNAMIC_CONFIG: Readonly<Record<string, string>> = {
  'frontend.keepAliveTime': '3s',
  'frontend.keepAliveTimeout': '3s',
};

/**
 * Makes sure a Temporal dev server answers on `opts.address` and has ratchet's search attributes.
 *
 * Reuses a server already answering there (started=false, stop() is a no-op); otherwise spawns
 * `temporal server start-dev` detached (so it can outlive this process), logging to `<db name>.log` next to the db.
 * @returns the server's address, Web UI URL, whether it was started here, exited, and stop().
 * @throws BadInputError if `opts.address` is not host:port. Error if the port is taken by something that is not
 *   Temporal, no CLI can be resolved (see resolveTemporalCli), the server exits or does not answer within 60 s (the
 *   message quotes the log tail), the namespace does not exist on a reused server, or a search attribute exists there
 *   with another type.
 */
export async function ensureDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const address = opts.address ?? DEFAULT_ADDRESS;
  const uiPort = opts.uiPort ?? DEFAULT_UI_PORT;
  const namespace = opts.namespace ?? 'default';
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { host, port } = parseAddress(address);
  const uiHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const uiUrl = `http://${formatAddress({ host: uiHost, port: uiPort })}`;

  const existing = await tryConnect(address, 2_000);
  if (existing) {
    try {
      await ensureSearchAttributes(existing, namespace);
    } finally {
      await existing.close();
    }
    log(`Reusing Temporal server at ${address}`);
    return { address, uiUrl, started: false, exited: new Promise<void>(() => {}), stop: async () => {} };
  }
  if (await tcpOpen(host, port, 1_000)) {
    throw new Error(`Something listens on ${address} but does not answer as a Temporal frontend; ` +
      'stop it or pick another address.');
  }

  const bin = await resolveTemporalCli({ log });
  const dbFile = opts.inMemory ? undefined : path.resolve(opts.dbFile ?? path.join(ratchetCacheDir(), 'dev-server.sqlite'));
  if (dbFile) fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const logFile = dbFile && path.join(path.dirname(dbFile), `${path.basename(dbFile, path.extname(dbFile))}.log`);
  const args = [
    'server', 'start-dev',
    '--ip', host, '--port', String(port),
    ...(opts.headless ? ['--headless'] : ['--ui-port', String(uiPort)]),
    ...(dbFile ? ['--db-filename', dbFile] : []), '--log-level', 'warn',
    ...(namespace === 'default' ? [] : ['--namespace', namespace]),
    ...SEARCH_ATTRIBUTES.flatMap(({ name, type }) =>
      ['--search-attribute', `${name}=${TypedSearchAttributes.toMetadataType(type)}`]),
    ...Object.entries(SERVER_DYNAMIC_CONFIG).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
  ];
  const fd = logFile ? fs.openSync(logFile, 'a') : undefined;
  let child: ChildProcess;
  try {
    if (fd !== undefined) fs.writeSync(fd, `\n# ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
    // In memory there is no log file: the server's warnings go to this process's output, as the SDK's test server's do.
    const out = fd ?? 'inherit';
    child = spawn(bin, args, { detached: !opts.attached, stdio: ['ignore', out, out] });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  child.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (opts.attached) {
    // An attached server must not outlive this process, even one that ends without stopping it.
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    void exited.then(() => process.off('exit', killOnExit));
  }
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  log(`Starting Temporal dev server on ${address} (${opts.headless ? 'no UI' : `UI ${uiUrl}`}, ${dbFile ? `db ${dbFile}, log ${logFile}` : 'in memory'})`);

  const t0 = Date.now();
  let delayMs = 100;
  let connection: Connection | undefined;
  while (!connection) {
    if (spawnError) throw new Error(`Could not run ${bin}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Temporal dev server exited (${child.exitCode ?? child.signalCode}) before answering on ` +
        `${address}.${logFile ? ` Log tail (${logFile}):\n${readTail(logFile)}` : ''}`);
    }
    if (Date.now() - t0 > READY_TIMEOUT_MS) {
      await killServer(child, !opts.attached);
      throw new Error(`Temporal dev server did not answer on ${address} within ${READY_TIMEOUT_MS / 1000} s.` +
        (logFile ? ` Log tail (${logFile}):\n${readTail(logFile)}` : ''));
    }
    await sleep(delayMs);
    delayMs = Math.min(delayMs * 2, 1_000);
    connection = await tryConnect(address, 2_000);
  }
  try {
    await ensureSearchAttributes(connection, namespace);
  } catch (err) {
    await killServer(child, !opts.attached);
    throw err;
  } finally {
    await connection.close();
  }
  log(`Temporal dev server ready on ${address} after ${Date.now() - t0} ms (pid ${child.pid})`);
  // In memory there is nothing to flush: a graceful stop (~2 s) would only make every test suite wait.
  const graceMs = dbFile ? STOP_GRACE_MS : 0;
  return { address, uiUrl, started: true, logFile, exited, stop: () => killServer(child, !opts.attached, graceMs) };
}

/**
 * Runs the dev server in the foreground (`ratchet server`) until SIGINT/SIGTERM, then stops it if started here.
 * @param opts - as for {@link ensureDevServer}.
 * @throws as {@link ensureDevServer}.
 */
export async function runDevServerForeground(opts: DevServerOptions = {}): Promise<void> {
  const server = await ensureDevServer(opts);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  log(`Temporal at ${server.address}, Web UI ${server.uiUrl}. Ctrl-C to ${server.started ? 'stop' : 'exit'}.`);
  // Keeps the event loop alive: the server child is unref'd.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const signal = await Promise.race([
    new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    }),
    server.exited.then(() => undefined),
  ]);
  clearInterval(keepAlive);
  if (signal === undefined) {
    throw new Error(`The Temporal dev server exited on its own; see ${server.logFile ?? 'its log'}.`);
  }
  log(`Received ${signal}; ${server.started ? 'stopping the dev server' : 'leaving the reused server running'}.`);
  await server.stop();
}

if (require.main === module) {
  runDevServerForeground().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
