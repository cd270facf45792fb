/**
 * A real Temporal cluster on this host, not the CLI's dev server: the pinned Temporal server (see binaries.ts) with
 * its default and visibility stores on PostgreSQL (a private instance, or an existing server: see postgres.ts),
 * every service in one background process bound to 127.0.0.1, the namespace and ratchet's search attributes
 * registered. `npm run cluster -- up|down|status [--port 7233]`; `setup --address host:port` prepares a server run
 * elsewhere (docker compose, Kubernetes). See deploy/cluster/README.md.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import YAML from 'yaml';
import { parseAddress } from '../address';
import { ensureSearchAttributes } from '../dev-server';
import { ratchetCacheDir } from '../temporal-cli';
import { resolveServerBinaries, resolveUiServer, TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION, type ServerBinaries } from './binaries';
import {
  externalPostgres,
  installPostgres,
  isInitialised,
  postgresBinDir,
  privatePostgres,
  privatePostgresRunning,
  startPrivatePostgres,
  stopPrivatePostgres,
  type PrivatePostgres,
} from './postgres';
import { daemonPid, isAlive, run, signalGroup, startDaemon, stopDaemon, tail, type Daemon } from './proc';
import { serverConfigYaml, serverPorts, type PostgresTarget, type ServerPorts } from './server-config';

/** Frontend port when none is given: Temporal's usual 7233 (client/demo/cluster-demo.ts uses 7333, next to a dev server). */
export const DEFAULT_CLUSTER_PORT = 7233;
/** How long `up` waits for the server to answer and to take the namespace and search attributes, ms. */
const READY_TIMEOUT_MS = 120_000;
/** How long `down` waits after SIGTERM before SIGKILL, ms. */
const STOP_GRACE_MS = 20_000;
/** The name of the server's config (`config/<env>.yaml` under the cluster folder). */
const CONFIG_ENV = 'ratchet';
/** gRPC status code of "not found". */
const GRPC_NOT_FOUND = 5;

/** Options shared by {@link clusterUp}, {@link clusterDown} and {@link clusterStatus}. */
export interface ClusterOptions {
  /** Frontend gRPC port on 127.0.0.1; the server also takes the next 10 ports. Default 7233. */
  port?: number;
  /** The cluster's folder (config, logs, pid file, private PostgreSQL); default {@link defaultClusterDir}. */
  dir?: string;
  /** Port of the private PostgreSQL; default frontend port + 48000 (55233 for 7233). */
  pgPort?: number;
  /** Namespace to create and register the search attributes in; default $TEMPORAL_NAMESPACE or `default`. */
  namespace?: string;
  /** Retention of closed workflows in a namespace this creates, days; default 3. */
  retentionDays?: number;
  /** Install Debian's PostgreSQL with apt-get when its binaries are missing (opt-in: it changes the system). */
  installPostgres?: boolean;
  /**
   * Also run the Web UI (its server built from the Go module proxy like the Temporal server) on 127.0.0.1, port
   * frontend + 1000: where `ratchet` points its Web UI links for that address (8233 for 7233, as the dev server).
   */
  ui?: boolean;
  /** Receives progress lines; default stderr. */
  log?: (line: string) => void;
}

/**
 * The default cluster folder for a frontend port: `$RATCHET_CLUSTER_DIR`, else `<ratchetCacheDir>/cluster-<port>`; for
 * root `/var/lib/ratchet/cluster-<port>`, since PostgreSQL then runs as user `postgres`, which cannot enter `/root`.
 */
export function defaultClusterDir(port: number): string {
  if (process.env.RATCHET_CLUSTER_DIR) return path.resolve(process.env.RATCHET_CLUSTER_DIR);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return isRoot ? path.join('/var/lib/ratchet', `cluster-${port}`) : path.join(ratchetCacheDir(), `cluster-${port}`);
}

/** Where everything of one cluster is. */
interface Layout {
  address: string;
  namespace: string;
  ports: ServerPorts;
  dir: string;
  configFile: string;
  server: Daemon;
  ui: Daemon & { port: number; root: string };
  /** The private instance; undefined when RATCHET_PG_HOST names an existing server. */
  privatePg?: PrivatePostgres;
  externalPg?: PostgresTarget;
}

function layout(opts: ClusterOptions): Layout {
  const port = opts.port ?? DEFAULT_CLUSTER_PORT;
  const ports = serverPorts(port);
  const dir = path.resolve(opts.dir ?? defaultClusterDir(port));
  const externalPg = externalPostgres();
  return {
    address: `127.0.0.1:${port}`,
    namespace: opts.namespace || process.env.TEMPORAL_NAMESPACE || 'default',
    ports,
    dir,
    configFile: path.join(dir, 'config', `${CONFIG_ENV}.yaml`),
    server: { name: 'temporal-server', pidFile: path.join(dir, 'temporal-server.pid'), logFile: path.join(dir, 'temporal-server.log') },
    ui: {
      name: 'temporal-ui-server',
      pidFile: path.join(dir, 'temporal-ui.pid'),
      logFile: path.join(dir, 'temporal-ui.log'),
      port: port + 1000,
      root: path.join(dir, 'ui'),
    },
    ...(externalPg ? { externalPg } : { privatePg: privatePostgres(dir, opts.pgPort ?? port + 48_000) }),
  };
}

/** True when something accepts TCP connections on host:port within 1 s. */
function tcpOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Creates the two databases if missing and brings their schemas to the release's newest version with
 * temporal-sql-tool (setup-schema 0.0, then update-schema from the release's versioned folders). Idempotent.
 */
async function setUpSchemas(bin: ServerBinaries, pg: PostgresTarget, log: (line: string) => void): Promise<void> {
  const base = ['--plugin', 'postgres12', '--ep', pg.host, '-p', String(pg.port), '-u', pg.user];
  const env = { ...process.env, SQL_PASSWORD: pg.password }; // not on the command line, where `ps` shows it
  for (const [db, kind] of [[pg.database, 'temporal'], [pg.visibilityDatabase, 'visibility']] as const) {
    const sqlTool = async (args: string[], tolerate?: RegExp): Promise<void> => {
      const { code, output } = await run(bin.sqlTool, [...base, '--db', db, ...args], { env });
      if (code !== 0 && !(tolerate && tolerate.test(output))) {
        throw new Error(`temporal-sql-tool ${args[0]} of database ${db} on ${pg.host}:${pg.port} failed (exit ${code}):\n` +
          `${tail(output)}\nfix: check that PostgreSQL answers there and that role ${pg.user} may create databases`);
      }
    };
    await sqlTool(['create-database'], /already exists/i);
    await sqlTool(['setup-schema', '-v', '0.0']);
    await sqlTool(['update-schema', '-d', path.join(bin.schemaDir, kind, 'versioned')]);
  }
  log(`Schemas of ${pg.database} and ${pg.visibilityDatabase} are at ${TEMPORAL_SERVER_VERSION}'s newest version`);
}

/** Calls `fn` every second until it resolves or `deadline` (ms since epoch) passes; then throws its last error. */
async function retryUntil<T>(deadline: number, what: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      await sleep(1_000);
    }
  }
}

/** Registers `namespace` unless it exists. */
async function ensureNamespace(connection: Connection, namespace: string, retentionDays: number, log: (line: string) => void): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return;
  } catch (err) {
    if ((err as { code?: number }).code !== GRPC_NOT_FOUND) throw err;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(`${retentionDays} days`),
      description: 'created by ratchet deploy/cluster',
    });
    log(`Registered namespace '${namespace}' (retention ${retentionDays} days)`);
  } catch (err) {
    if (!/already (exists|registered)/i.test(err instanceof Error ? err.message : String(err))) throw err;
  }
}

/**
 * Starts the Web UI server for the cluster unless it runs: config `ui/config/ratchet.yaml` (frontend address, port,
 * loopback only, default namespace), log and pid file in the cluster folder.
 * @returns its base URL.
 * @throws Error when it cannot be built, or does not listen within 30 s (the message quotes its log).
 */
async function ensureUi(l: Layout, log: (line: string) => void): Promise<string> {
  const url = `http://127.0.0.1:${l.ui.port}`;
  if (daemonPid(l.ui) !== undefined) return url;
  if (await tcpOpen(l.ui.port)) throw new Error(`something else listens on 127.0.0.1:${l.ui.port}; fix: stop it, or run without --ui`);
  const bin = await resolveUiServer({ log });
  const config = { temporalGrpcAddress: l.address, host: '127.0.0.1', port: l.ui.port, enableUi: true, defaultNamespace: l.namespace };
  fs.mkdirSync(path.join(l.ui.root, 'config'), { recursive: true });
  fs.writeFileSync(path.join(l.ui.root, 'config', `${CONFIG_ENV}.yaml`), YAML.stringify(config));
  const pid = startDaemon(l.ui, bin, ['--root', l.ui.root, '--config', 'config', '--env', CONFIG_ENV, 'start'], l.ui.root);
  const deadline = Date.now() + 30_000;
  while (!(await tcpOpen(l.ui.port))) {
    if (!isAlive(pid) || Date.now() > deadline) {
      signalGroup(pid, 'SIGKILL');
      throw new Error(`the Web UI server did not listen on ${url}. Log tail (${l.ui.logFile}):\n${tail(fs.readFileSync(l.ui.logFile, 'utf8'))}`);
    }
    await sleep(300);
  }
  log(`Web UI ${TEMPORAL_UI_VERSION} at ${url} (pid ${pid}; log ${l.ui.logFile})`);
  return url;
}

/** What {@link clusterUp} brought up. */
export interface ClusterInfo {
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  dir: string;
  /** The server's pid. */
  pid: number;
  /** True when this call started the server; false when it was already running. */
  started: boolean;
  /** Where the stores are, e.g. `private PostgreSQL 127.0.0.1:55233`. */
  postgres: string;
  serverLog: string;
  configFile: string;
  /** Base URL of the Web UI, when `ui` was asked for. */
  uiUrl?: string;
}

/**
 * Brings the cluster up, or checks that it is: builds or finds the server, starts or finds PostgreSQL, sets up the
 * schemas, writes the config, starts the server in the background (log and pid file in the cluster folder), waits
 * until the frontend answers, creates the namespace if missing and registers ratchet's search attributes.
 * @returns the address, the namespace, the folder, the server's pid and whether it was started here.
 * @throws Error naming the fix when the port is taken by another process, Go or PostgreSQL is missing, a schema step
 *   fails, or the server exits or does not get ready within 120 s (the message quotes its log); a server this call
 *   started is stopped again.
 */
export async function clusterUp(opts: ClusterOptions = {}): Promise<ClusterInfo> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const l = layout(opts);
  fs.mkdirSync(l.dir, { recursive: true });
  let pid = daemonPid(l.server);
  const started = pid === undefined;
  let postgres: string;
  if (pid !== undefined) {
    log(`Temporal server already runs (pid ${pid}) at ${l.address}`);
    postgres = l.externalPg ? `PostgreSQL ${l.externalPg.host}:${l.externalPg.port}` : `private PostgreSQL in ${l.privatePg!.dataDir}`;
  } else {
    if (await tcpOpen(l.ports.frontend)) {
      throw new Error(`something else listens on ${l.address} (a dev server?); fix: stop it or pass --port, ` +
        'e.g. --port 7333 (the server also takes the next 10 ports)');
    }
    const bin = await resolveServerBinaries({ log });
    let pg: PostgresTarget;
    if (l.externalPg) {
      pg = l.externalPg;
      postgres = `PostgreSQL ${pg.host}:${pg.port} (RATCHET_PG_HOST)`;
    } else {
      if (opts.installPostgres) {
        try {
          postgresBinDir();
        } catch {
          await installPostgres(log);
        }
      }
      pg = await startPrivatePostgres(l.privatePg!, log);
      postgres = `private PostgreSQL 127.0.0.1:${pg.port} (${l.privatePg!.dataDir})`;
    }
    await setUpSchemas(bin, pg, log);

    fs.mkdirSync(path.dirname(l.configFile), { recursive: true });
    fs.writeFileSync(l.configFile, serverConfigYaml({ ports: l.ports, postgres: pg }), { mode: 0o600 });
    // --allow-no-auth: no authorizer, as the server only listens on 127.0.0.1.
    const args = ['--root', l.dir, '--config', 'config', '--env', CONFIG_ENV, '--allow-no-auth', 'start'];
    pid = startDaemon(l.server, bin.server, args, l.dir);
    log(`Started Temporal server ${TEMPORAL_SERVER_VERSION} (pid ${pid}) on ${l.address}; log ${l.server.logFile}`);
  }

  const startedPid = pid;
  try {
    await prepareServer({
      address: l.address,
      namespace: l.namespace,
      retentionDays: opts.retentionDays,
      log,
      alive: () => isAlive(startedPid),
    });
  } catch (err) {
    if (started) {
      signalGroup(startedPid, 'SIGKILL');
      fs.rmSync(l.server.pidFile, { force: true });
    }
    const logTail = fs.existsSync(l.server.logFile) ? tail(fs.readFileSync(l.server.logFile, 'utf8'), 20) : '(no log)';
    throw new Error(`${err instanceof Error ? err.message : String(err)}. Log tail (${l.server.logFile}):\n${logTail}`, { cause: err });
  }
  const uiUrl = opts.ui ? await ensureUi(l, log) : undefined;
  return {
    address: l.address,
    namespace: l.namespace,
    dir: l.dir,
    pid: startedPid,
    started,
    postgres,
    serverLog: l.server.logFile,
    configFile: l.configFile,
    ...(uiUrl ? { uiUrl } : {}),
  };
}

/** Options of {@link prepareServer}. */
export interface PrepareOptions {
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  /** Retention of a namespace this creates, days; default 3. */
  retentionDays?: number;
  /** How long to wait for the server and its caches, ms; default 120 000. */
  timeoutMs?: number;
  log: (line: string) => void;
  /** False when the server process is known to be gone: stop waiting at once. Default: always true. */
  alive?: () => boolean;
}

/**
 * Makes a Temporal server ready for ratchet, whoever runs it (this script, docker compose, a Helm release): waits
 * until the frontend answers, creates the namespace if missing, registers ratchet's search attributes and waits until
 * a query on them works (a new namespace reaches the services' caches only after some seconds).
 * @returns the server's version.
 * @throws Error when the server does not answer or the steps do not succeed within the time-out, or `alive()` turns
 *   false; the message names the step.
 */
export async function prepareServer(opts: PrepareOptions): Promise<string> {
  const t0 = Date.now();
  const deadline = t0 + (opts.timeoutMs ?? READY_TIMEOUT_MS);
  const alive = opts.alive ?? (() => true);
  let connection: Connection | undefined;
  while (!connection) {
    if (!alive()) throw new Error(`the Temporal server exited before answering on ${opts.address}`);
    if (Date.now() > deadline) throw new Error(`no Temporal server answered on ${opts.address} within ${(deadline - t0) / 1000} s`);
    connection = await Connection.connect({ address: opts.address, connectTimeout: 2_000 }).catch(() => undefined);
    if (!connection) await sleep(500);
  }
  const c = connection;
  try {
    await retryUntil(deadline, `creating namespace ${opts.namespace}`, () =>
      ensureNamespace(c, opts.namespace, opts.retentionDays ?? 3, opts.log));
    await retryUntil(deadline, `registering ratchet's search attributes in ${opts.namespace}`, () =>
      ensureSearchAttributes(c, opts.namespace));
    // Ready means a query on the attributes works, as ratchet's workers and `temporal workflow list` will use them.
    await retryUntil(deadline, 'querying by RatchetBatch', () =>
      c.workflowService.listWorkflowExecutions({ namespace: opts.namespace, query: 'RatchetBatch = "ready-check"', pageSize: 1 }));
    const { serverVersion } = await c.workflowService.getClusterInfo({});
    opts.log(`Temporal server ${serverVersion} ready at ${opts.address} (namespace ${opts.namespace}, search attributes ` +
      `registered) after ${Date.now() - t0} ms`);
    return serverVersion;
  } finally {
    await c.close();
  }
}

/**
 * Stops the cluster's Web UI and server (SIGTERM to each process group, SIGKILL after 20 s) and its private
 * PostgreSQL; an existing PostgreSQL named by RATCHET_PG_HOST is never touched. Data stays in the cluster folder.
 * @returns one line per thing stopped or found already stopped.
 * @throws Error when pg_ctl cannot stop a running private instance.
 */
export async function clusterDown(opts: ClusterOptions = {}): Promise<string[]> {
  const l = layout(opts);
  const lines: string[] = [];
  if (fs.existsSync(l.ui.pidFile)) lines.push(`Web UI: ${await stopDaemon(l.ui, STOP_GRACE_MS)}`);
  lines.push(`Temporal server: ${await stopDaemon(l.server, STOP_GRACE_MS)} (${l.dir})`);
  if (l.privatePg && isInitialised(l.privatePg)) {
    const stopped = await stopPrivatePostgres(l.privatePg);
    lines.push(`PostgreSQL: ${stopped ? 'stopped' : 'not running'} (private, ${l.privatePg.dataDir}); data kept`);
  } else if (l.externalPg) {
    lines.push(`PostgreSQL: ${l.externalPg.host}:${l.externalPg.port} left as it is (RATCHET_PG_HOST)`);
  }
  return lines;
}

/** What runs, as {@link clusterStatus} sees it. */
export interface ClusterStatus {
  address: string;
  dir: string;
  server: { running: boolean; pid?: number; answering: boolean; version?: string };
  /** The Web UI `up --ui` starts; `url` is set while it runs. */
  ui: { running: boolean; url?: string };
  postgres: { kind: 'private' | 'external'; running: boolean; where: string };
}

/**
 * Tells what runs: the server (pid file, process, frontend answering and its version) and PostgreSQL.
 * @returns the status; never throws for a stopped or missing cluster.
 */
export async function clusterStatus(opts: ClusterOptions = {}): Promise<ClusterStatus> {
  const l = layout(opts);
  const pid = daemonPid(l.server);
  const uiRunning = daemonPid(l.ui) !== undefined;
  let version: string | undefined;
  if (await tcpOpen(l.ports.frontend)) {
    const connection = await Connection.connect({ address: l.address, connectTimeout: 2_000 }).catch(() => undefined);
    if (connection) {
      version = await connection.workflowService.getClusterInfo({}).then((i) => i.serverVersion, () => undefined);
      await connection.close();
    }
  }
  const postgres: ClusterStatus['postgres'] = l.externalPg
    ? { kind: 'external', running: await tcpOpen(l.externalPg.port, l.externalPg.host), where: `${l.externalPg.host}:${l.externalPg.port}` }
    : { kind: 'private', running: await privatePostgresRunning(l.privatePg!).catch(() => false), where: `127.0.0.1:${l.privatePg!.port} (${l.privatePg!.dataDir})` };
  return {
    address: l.address,
    dir: l.dir,
    server: { running: pid !== undefined, ...(pid === undefined ? {} : { pid }), answering: version !== undefined, ...(version ? { version } : {}) },
    ui: { running: uiRunning, ...(uiRunning ? { url: `http://127.0.0.1:${l.ui.port}` } : {}) },
    postgres,
  };
}

function portOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new InvalidArgumentError('expected a port number 1-65535');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

/** Lines telling how to use a running cluster. */
function usageHint(address: string, namespace: string, uiUrl: string | undefined): string[] {
  const ns = namespace === 'default' ? '' : ` --namespace ${namespace}`;
  const { port } = parseAddress(address);
  const portArg = port === DEFAULT_CLUSTER_PORT ? '' : ` --port ${port}`;
  return [
    `Workers:  npx ratchet --address ${address}${ns} worker      (or TEMPORAL_ADDRESS=${address} npm run worker; one per terminal or host)`,
    `Batches:  npx ratchet --address ${address}${ns} start batch.json`,
    `CLI:      temporal --address ${address} workflow list --query 'RatchetBatch="<batchId>"'`,
    uiUrl ? `Web UI:   ${uiUrl}` : `Web UI:   none; npm run cluster --${portArg} up --ui starts one (see deploy/cluster/README.md)`,
    `Stop it:  npm run cluster --${portArg} down`,
  ];
}

/** The `cluster` command: up, setup, down, status. */
function buildProgram(): Command {
  const program = new Command('cluster')
    .description(`A real Temporal server (${TEMPORAL_SERVER_VERSION}) on PostgreSQL on this host, bound to 127.0.0.1`)
    .option('--port <n>', `frontend gRPC port; the server also takes the next 10 ports (default ${DEFAULT_CLUSTER_PORT})`, portOption)
    .option('--dir <path>', 'cluster folder (default $RATCHET_CLUSTER_DIR, else ~/.cache/ratchet/cluster-<port>; for root /var/lib/ratchet/cluster-<port>)')
    .option('--pg-port <n>', 'port of the private PostgreSQL (default: frontend port + 48000)', portOption)
    .option('--namespace <name>', 'namespace to create and register search attributes in (default $TEMPORAL_NAMESPACE or "default")')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', `
Environment:
  RATCHET_PG_HOST, RATCHET_PG_PORT, RATCHET_PG_USER, RATCHET_PG_PASSWORD, RATCHET_PG_DATABASE
                      use this existing PostgreSQL instead of a private one (the user needs CREATEDB)
  RATCHET_PG_BIN_DIR  PostgreSQL's bin folder (default: newest /usr/lib/postgresql/*/bin)
  RATCHET_CACHE_DIR   where the server build is cached (default ~/.cache/ratchet)`);
  const common = (): ClusterOptions => program.opts<ClusterOptions>();
  const out = (line: string): void => void process.stdout.write(`${line}\n`);

  program
    .command('up')
    .description('build or find the server, start PostgreSQL and the server, create the namespace and search attributes')
    .option('--install-postgres', "install Debian's PostgreSQL with apt-get (sudo unless root) when it is missing")
    .option('--retention-days <n>', 'retention of a namespace this creates, days (default 3)', positiveInt)
    .option('--ui', `also run the Web UI (${TEMPORAL_UI_VERSION}, built with Go) on 127.0.0.1, port frontend + 1000`)
    .action(async (o: { installPostgres?: boolean; retentionDays?: number; ui?: boolean }) => {
      const info = await clusterUp({ ...common(), ...o });
      out(`Temporal ${info.started ? 'started' : 'already running'} at ${info.address} (pid ${info.pid}), namespace ${info.namespace}`);
      out(`Stores:   ${info.postgres}`);
      out(`Folder:   ${info.dir} (config ${path.relative(info.dir, info.configFile)}, log ${path.relative(info.dir, info.serverLog)})`);
      for (const line of usageHint(info.address, info.namespace, info.uiUrl)) out(line);
    });

  program
    .command('setup')
    .description('make a Temporal server run elsewhere (docker compose, a Helm release) ready for ratchet: ' +
      'create the namespace if missing and register the search attributes')
    .option('--address <host:port>', 'its frontend (default $TEMPORAL_ADDRESS)')
    .option('--retention-days <n>', 'retention of a namespace this creates, days (default 3)', positiveInt)
    .action(async (o: { address?: string; retentionDays?: number }) => {
      const address = o.address || process.env.TEMPORAL_ADDRESS;
      if (!address) throw new InvalidArgumentError('no server: pass --address host:port or set TEMPORAL_ADDRESS');
      const namespace = common().namespace || process.env.TEMPORAL_NAMESPACE || 'default';
      await prepareServer({ address, namespace, retentionDays: o.retentionDays, log: out });
    });

  program
    .command('down')
    .description('stop the Web UI, the server and the private PostgreSQL (data is kept)')
    .action(async () => {
      for (const line of await clusterDown(common())) out(line);
    });

  program
    .command('status')
    .description('say what runs')
    .action(async () => {
      const s = await clusterStatus(common());
      const server = s.server.running
        ? `running (pid ${s.server.pid}), ${s.server.answering ? `answering, version ${s.server.version}` : 'not answering yet'}`
        : s.server.answering ? `not ours, but a Temporal server ${s.server.version} answers there` : 'not running';
      out(`Temporal server at ${s.address}: ${server}`);
      out(`Web UI: ${s.ui.running ? `running, ${s.ui.url}` : 'not running'}`);
      out(`PostgreSQL (${s.postgres.kind}) ${s.postgres.where}: ${s.postgres.running ? 'running' : 'not running'}`);
      out(`Folder: ${s.dir}`);
      process.exitCode = s.server.running && s.server.answering ? 0 : 1;
    });
  return program;
}

if (require.main === module) {
  buildProgram().parseAsync(process.argv).catch((err: unknown) => {
    console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
