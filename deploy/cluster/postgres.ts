/**
 * PostgreSQL for the cluster: either a private instance this script runs (Debian's binaries, `initdb` into the
 * cluster's folder, loopback only, its own port, so a system PostgreSQL is never touched), or an existing server
 * named by environment variables. Either way the server connects as a `temporal` role that owns its databases.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findProgram, isExecutableFile, run, runOrThrow, tail } from './proc';
import type { PostgresTarget } from './server-config';

/** The role the Temporal server logs in as. */
export const TEMPORAL_ROLE = 'temporal';

/** OS user that runs a private instance when we are root (PostgreSQL refuses to run as root); Debian's package makes it. */
const OS_USER_WHEN_ROOT = 'postgres';

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * An existing PostgreSQL named by the environment, or undefined when `RATCHET_PG_HOST` is unset.
 * Variables: `RATCHET_PG_HOST`, `RATCHET_PG_PORT` (5432), `RATCHET_PG_USER` (temporal; needs CREATEDB, or the two
 * databases must exist), `RATCHET_PG_PASSWORD`, `RATCHET_PG_DATABASE` (temporal; visibility goes to
 * `<database>_visibility`).
 * @throws Error when `RATCHET_PG_PORT` is not a port number.
 */
export function externalPostgres(env: NodeJS.ProcessEnv = process.env): PostgresTarget | undefined {
  if (!env.RATCHET_PG_HOST) return undefined;
  const port = Number(env.RATCHET_PG_PORT || 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`RATCHET_PG_PORT=${env.RATCHET_PG_PORT} is not a port number; fix: e.g. RATCHET_PG_PORT=5432`);
  }
  const database = env.RATCHET_PG_DATABASE || 'temporal';
  return {
    host: env.RATCHET_PG_HOST,
    port,
    user: env.RATCHET_PG_USER || TEMPORAL_ROLE,
    password: env.RATCHET_PG_PASSWORD ?? '',
    database,
    visibilityDatabase: `${database}_visibility`,
  };
}

/** Compares `15` and `9.6` style version folder names, newest first. */
const newestFirst = (a: string, b: string): number => Number.parseFloat(b) - Number.parseFloat(a);

/**
 * Folder of PostgreSQL's server programs (`initdb`, `pg_ctl`, `psql`): `RATCHET_PG_BIN_DIR`, else the newest
 * `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu), else the folder of `initdb` on PATH.
 * @throws Error naming the fix when none is found.
 */
export function postgresBinDir(): string {
  const has = (dir: string): boolean => ['initdb', 'pg_ctl', 'psql'].every((p) => isExecutableFile(path.join(dir, p)));
  const override = process.env.RATCHET_PG_BIN_DIR;
  if (override) {
    if (has(override)) return path.resolve(override);
    throw new Error(`RATCHET_PG_BIN_DIR=${override} lacks initdb, pg_ctl or psql; fix: point it at PostgreSQL's bin folder`);
  }
  const debianRoot = '/usr/lib/postgresql';
  const versions = fs.existsSync(debianRoot) ? fs.readdirSync(debianRoot).sort(newestFirst) : [];
  for (const version of versions) {
    const dir = path.join(debianRoot, version, 'bin');
    if (has(dir)) return dir;
  }
  const initdb = findProgram('initdb');
  if (initdb && has(path.dirname(initdb))) return path.dirname(initdb);
  throw new Error('PostgreSQL binaries not found (no initdb/pg_ctl/psql in /usr/lib/postgresql/*/bin or on PATH); fix: ' +
    "'sudo apt-get install -y postgresql' (or pass --install-postgres), or use an existing server with RATCHET_PG_HOST " +
    '(and RATCHET_PG_PORT, RATCHET_PG_USER, RATCHET_PG_PASSWORD)');
}

/**
 * Installs Debian's PostgreSQL with apt-get (through sudo unless we are root). Debian's package also creates and
 * starts a system instance on 5432; the cluster does not use it.
 * @throws Error when apt-get fails or sudo is missing.
 */
export async function installPostgres(log: (line: string) => void): Promise<void> {
  const sudo = isRoot() ? undefined : findProgram('sudo');
  if (!isRoot() && !sudo) throw new Error("installing PostgreSQL needs root or sudo; fix: run 'apt-get install -y postgresql' as root");
  for (const args of [['update'], ['install', '-y', 'postgresql']]) {
    const argv = sudo ? ['apt-get', ...args] : args;
    log(`Running ${sudo ? 'sudo ' : ''}apt-get ${args.join(' ')}`);
    await runOrThrow(sudo ?? 'apt-get', argv, `apt-get ${args.join(' ')}`, 'install PostgreSQL by hand, or set RATCHET_PG_HOST',
      { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, onLine: (line) => log(`  ${line}`) });
  }
}

/** A private instance: where it lives and how it runs. */
export interface PrivatePostgres {
  /** PGDATA; also holds the socket and `server.log`. */
  dataDir: string;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** The file holding the `temporal` role's password (mode 0600). */
  passwordFile: string;
  /** Set when we are root: the OS user the instance runs as. */
  osUser?: string;
}

/** The private instance of the cluster in `clusterDir`, listening on `port`. */
export function privatePostgres(clusterDir: string, port: number): PrivatePostgres {
  return {
    dataDir: path.join(clusterDir, 'postgres'),
    port,
    passwordFile: path.join(clusterDir, 'postgres-password'),
    ...(isRoot() ? { osUser: OS_USER_WHEN_ROOT } : {}),
  };
}

/** True when `pg.dataDir` holds an initialised instance. */
export function isInitialised(pg: PrivatePostgres): boolean {
  return fs.existsSync(path.join(pg.dataDir, 'PG_VERSION'));
}

/** Runs one of PostgreSQL's programs as the instance's OS user. */
function pgRun(pg: PrivatePostgres, program: string, args: string[], input?: string): ReturnType<typeof run> {
  return run(path.join(postgresBinDir(), program), args, { asUser: pg.osUser, ...(input === undefined ? {} : { input }) });
}

/** True when the private instance runs (`pg_ctl status`). */
export async function privatePostgresRunning(pg: PrivatePostgres): Promise<boolean> {
  if (!isInitialised(pg)) return false;
  return (await pgRun(pg, 'pg_ctl', ['-D', pg.dataDir, 'status'])).code === 0;
}

/** Creates the data folder and runs initdb: peer login on the socket for the admin, passwords over TCP. */
async function initialise(pg: PrivatePostgres, log: (line: string) => void): Promise<void> {
  log(`Creating a private PostgreSQL instance in ${pg.dataDir} (initdb)`);
  fs.mkdirSync(pg.dataDir, { recursive: true, mode: 0o700 });
  if (pg.osUser) {
    const { uid, gid } = osUserIds(pg.osUser);
    fs.chownSync(pg.dataDir, uid, gid);
    if ((await run('test', ['-w', pg.dataDir], { asUser: pg.osUser })).code !== 0) {
      throw new Error(`user ${pg.osUser} (PostgreSQL refuses to run as root) cannot reach ${pg.dataDir}; fix: pass ` +
        '--dir with a folder every user may enter (default for root: /var/lib/ratchet/cluster-<port>), or run as a ' +
        'non-root user');
    }
  }
  const out = await pgRun(pg, 'initdb', ['-D', pg.dataDir, '-E', 'UTF8', '--no-locale', '--auth-local=peer', '--auth-host=scram-sha-256']);
  if (out.code !== 0) throw new Error(`initdb failed (exit ${out.code}):\n${tail(out.output)}\nfix: remove ${pg.dataDir} and try again`);
  // Our settings live in a file of their own, rewritten at every start, so a changed port needs no edit by hand.
  fs.appendFileSync(path.join(pg.dataDir, 'postgresql.conf'), "\n# ratchet cluster settings\ninclude_if_exists = 'ratchet.conf'\n");
}

/** uid and gid of an OS user, from /etc/passwd. */
function osUserIds(user: string): { uid: number; gid: number } {
  const passwd = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  const [, , uid, gid] = passwd?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(`no OS user '${user}' (PostgreSQL refuses to run as root); fix: 'apt-get install postgresql' creates it`);
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** The role's password: read from its file, or made and saved (0600) the first time. */
function rolePassword(pg: PrivatePostgres): string {
  if (fs.existsSync(pg.passwordFile)) return fs.readFileSync(pg.passwordFile, 'utf8').trim();
  const password = randomBytes(18).toString('hex');
  fs.writeFileSync(pg.passwordFile, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * Makes sure the private instance runs and has the `temporal` role (LOGIN CREATEDB, its password from
 * `pg.passwordFile`): initdb on first use, then `pg_ctl start`.
 * @returns where the Temporal server connects (databases `temporal` and `temporal_visibility`).
 * @throws Error when PostgreSQL's binaries are missing, initdb or the start fail (the message quotes the log), or the
 *   socket path would be too long.
 */
export async function startPrivatePostgres(pg: PrivatePostgres, log: (line: string) => void): Promise<PostgresTarget> {
  postgresBinDir(); // fail with the install hint before creating anything
  const socket = path.join(pg.dataDir, `.s.PGSQL.${pg.port}`);
  if (Buffer.byteLength(socket) > 100) {
    throw new Error(`the socket path ${socket} is too long for a Unix socket; fix: pass a shorter --dir`);
  }
  if (!isInitialised(pg)) await initialise(pg, log);
  const password = rolePassword(pg);
  if (!(await privatePostgresRunning(pg))) {
    const settings = `port = ${pg.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${pg.dataDir.replace(/'/g, "''")}'\n`;
    fs.writeFileSync(path.join(pg.dataDir, 'ratchet.conf'), settings);
    const logFile = path.join(pg.dataDir, 'server.log');
    log(`Starting PostgreSQL on 127.0.0.1:${pg.port} (data ${pg.dataDir}, log ${logFile})`);
    const started = await pgRun(pg, 'pg_ctl', ['-D', pg.dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
    if (started.code !== 0) {
      const serverLog = fs.existsSync(logFile) ? tail(fs.readFileSync(logFile, 'utf8')) : '(no log)';
      throw new Error(`PostgreSQL did not start (pg_ctl exit ${started.code}):\n${tail(started.output)}\n${serverLog}\n` +
        'fix: if the port is taken, pass --pg-port; see the log above');
    }
  }
  // Idempotent: creates the role once, and keeps its password equal to the file's on every start.
  const sql =
    `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${TEMPORAL_ROLE}') THEN ` +
    `CREATE ROLE ${TEMPORAL_ROLE} LOGIN CREATEDB; END IF; END $$;\n` +
    `ALTER ROLE ${TEMPORAL_ROLE} WITH LOGIN CREATEDB PASSWORD '${password}';\n`;
  const admin = pg.osUser ?? os.userInfo().username;
  const psql = await pgRun(pg, 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', pg.dataDir, '-p', String(pg.port), '-U', admin, '-d', 'postgres', '-f', '-'], sql);
  if (psql.code !== 0) throw new Error(`creating the ${TEMPORAL_ROLE} role failed (psql exit ${psql.code}):\n${tail(psql.output)}`);
  return { host: '127.0.0.1', port: pg.port, user: TEMPORAL_ROLE, password, database: 'temporal', visibilityDatabase: 'temporal_visibility' };
}

/**
 * Stops the private instance (`pg_ctl stop -m fast`: open sessions are cut, data is safe).
 * @returns true when it was running.
 * @throws Error when pg_ctl fails to stop a running instance.
 */
export async function stopPrivatePostgres(pg: PrivatePostgres): Promise<boolean> {
  if (!(await privatePostgresRunning(pg))) return false;
  const stopped = await pgRun(pg, 'pg_ctl', ['-D', pg.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
  if (stopped.code !== 0) throw new Error(`pg_ctl stop failed (exit ${stopped.code}):\n${tail(stopped.output)}`);
  return true;
}
