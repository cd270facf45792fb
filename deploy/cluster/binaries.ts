/**
 * The Temporal server, its SQL schema tool and its PostgreSQL schema files, pinned to one server release and built
 * from the Go module proxy into ratchet's cache (next to the Temporal CLI's): `go install` of `cmd/server` and
 * `cmd/tools/sql` of `go.temporal.io/server`, whose go.mod has no `replace` directive at this version, so `go install`
 * accepts it. The Web UI's server (`github.com/temporalio/ui-server/v2`, the UI the CLI's dev server embeds, assets
 * included) is built the same way on request. Later runs find the cached builds and need no Go.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ratchetCacheDir } from '../temporal-cli';
import { findProgram, isExecutableFile, runOrThrow } from './proc';

/** Pinned server release; the schema files and both binaries come from this module version. */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';

const MODULE = 'go.temporal.io/server';

/** Pinned Web UI server: the version the pinned Temporal CLI (v1.5.1) embeds, and the image docker-compose.yml runs. */
export const TEMPORAL_UI_VERSION = 'v2.42.1';

const UI_PACKAGE = 'github.com/temporalio/ui-server/v2/cmd/server';

/** What a cluster needs from the server release; all paths absolute. */
export interface ServerBinaries {
  /** The server (`temporal-server`), all services in one process. */
  server: string;
  /** `temporal-sql-tool`: creates databases and applies versioned schema updates. */
  sqlTool: string;
  /** `schema/postgresql/v12` of the release: `temporal/versioned` and `visibility/versioned` live below it. */
  schemaDir: string;
}

/** `<ratchetCacheDir>/temporal-server/<version>`: where the build and the schema files are kept. */
export function serverCacheDir(): string {
  return path.join(ratchetCacheDir(), 'temporal-server', TEMPORAL_SERVER_VERSION);
}

/** Packages to build, by the name the cached binary gets. */
const PROGRAMS = [
  { name: 'temporal-server', pkg: 'cmd/server' },
  { name: 'temporal-sql-tool', pkg: 'cmd/tools/sql' },
] as const;

const noGo = (what: string): string =>
  `Go not found (neither on PATH nor in /usr/local/go/bin) to build ${what}; fix: install Go >= 1.22 ` +
  "('apt-get install golang-go', or a go.dev release in /usr/local/go) and run this again (the modules need Go 1.25, " +
  'which Go fetches through the module proxy unless GOTOOLCHAIN=local)';

/** `<ratchetCacheDir>/temporal-ui/<version>`: where the Web UI server is built. */
export function uiCacheDir(): string {
  return path.join(ratchetCacheDir(), 'temporal-ui', TEMPORAL_UI_VERSION);
}

/** The `go` binary: on PATH, else /usr/local/go/bin. @throws Error naming the fix when there is none. */
function goBinary(what: string): string {
  const go = findProgram('go', ['/usr/local/go/bin']);
  if (!go) throw new Error(noGo(what));
  return go;
}

/**
 * `go install <pkg>@<version>` into a scratch GOBIN, then moved to `<dir>/<name>` (GOBIN names a binary after its
 * package folder, `server` or `sql`; the move also keeps a half-built binary from passing for a complete one).
 * @throws Error quoting the build's last lines when it fails.
 */
async function goInstall(target: string, name: string, dir: string, log: (line: string) => void): Promise<void> {
  const go = goBinary(`${name} into ${dir}`);
  fs.mkdirSync(dir, { recursive: true });
  const scratch = fs.mkdtempSync(path.join(dir, '.build-'));
  try {
    log(`Building ${name} with 'go install ${target}' (minutes the first time; cached afterwards)`);
    await runOrThrow(go, ['install', target], `go install ${target}`,
      'check that the Go module proxy answers (GOPROXY) and that Go >= 1.22 is installed', {
        env: { ...process.env, GOBIN: scratch },
        onLine: (line) => log(`  ${line}`),
      });
    const [built] = fs.readdirSync(scratch);
    fs.renameSync(path.join(scratch, built), path.join(dir, name));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Returns the pinned Web UI server (`temporal-ui-server`), building it when the cache lacks it.
 * @throws Error when it is missing and cannot be built (no Go, or `go install` failed).
 */
export async function resolveUiServer(opts: { log?: (line: string) => void } = {}): Promise<string> {
  const bin = path.join(uiCacheDir(), 'temporal-ui-server');
  if (isExecutableFile(bin)) return bin;
  await goInstall(`${UI_PACKAGE}@${TEMPORAL_UI_VERSION}`, 'temporal-ui-server', uiCacheDir(), opts.log ?? ((line) => process.stderr.write(`${line}\n`)));
  return bin;
}

/** The cached paths, whether or not they exist yet. */
function cachedPaths(): ServerBinaries {
  const dir = serverCacheDir();
  return {
    server: path.join(dir, 'temporal-server'),
    sqlTool: path.join(dir, 'temporal-sql-tool'),
    schemaDir: path.join(dir, 'schema', 'postgresql', 'v12'),
  };
}

/** Copies a folder tree of (read-only, in the module cache) files as plain writable files. */
function copyTree(from: string, to: string): void {
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) {
      fs.mkdirSync(dst, { recursive: true });
      copyTree(src, dst);
    } else if (entry.isFile()) {
      fs.writeFileSync(dst, fs.readFileSync(src));
    }
  }
}

/**
 * Returns the pinned server, SQL tool and schema folder, building what the cache lacks (one `go install` at a time;
 * the first build takes several minutes).
 * @param opts.build - false forbids building (default: allowed).
 * @param opts.log - receives progress lines (default: stderr).
 * @throws Error when something is missing and cannot be built (no Go, or `go install` failed); the message says what
 *   to do.
 */
export async function resolveServerBinaries(
  opts: { build?: boolean; log?: (line: string) => void } = {},
): Promise<ServerBinaries> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const want = cachedPaths();
  const missing = PROGRAMS.filter(({ name }) => !isExecutableFile(path.join(serverCacheDir(), name)));
  const schemaMissing = !fs.existsSync(path.join(want.schemaDir, 'temporal', 'versioned'));
  if (missing.length === 0 && !schemaMissing) return want;
  if (opts.build === false) {
    throw new Error(`Temporal server ${TEMPORAL_SERVER_VERSION} is not built in ${serverCacheDir()}; fix: run ` +
      '`npm run cluster -- up` once with Go installed');
  }

  for (const { name, pkg } of missing) await goInstall(`${MODULE}/${pkg}@${TEMPORAL_SERVER_VERSION}`, name, serverCacheDir(), log);
  if (schemaMissing) {
    const json = await runOrThrow(goBinary(`the schema files into ${serverCacheDir()}`), ['mod', 'download', '-json', `${MODULE}@${TEMPORAL_SERVER_VERSION}`],
      `go mod download ${MODULE}@${TEMPORAL_SERVER_VERSION}`, 'check that the Go module proxy answers (GOPROXY)');
    const moduleDir = (JSON.parse(json) as { Dir?: string }).Dir;
    const from = moduleDir && path.join(moduleDir, 'schema', 'postgresql', 'v12');
    if (!from || !fs.existsSync(from)) {
      throw new Error(`schema/postgresql/v12 not found in the module source of ${MODULE}@${TEMPORAL_SERVER_VERSION} ` +
        `(${moduleDir ?? 'no Dir reported'}); fix: run 'go clean -modcache' and try again`);
    }
    log(`Copying the PostgreSQL schema files of ${TEMPORAL_SERVER_VERSION} from ${from}`);
    // Copied aside first: a half-copied folder must not pass for a complete one on the next run.
    const copy = fs.mkdtempSync(path.join(serverCacheDir(), '.schema-'));
    try {
      copyTree(from, copy);
      fs.rmSync(want.schemaDir, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(want.schemaDir), { recursive: true });
      fs.renameSync(copy, want.schemaDir);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }
  return want;
}
