/**
 * Finds (or builds) the Temporal CLI binary that runs the dev server.
 *
 * Order, from DESIGN.md "Running Temporal here": `TEMPORAL_CLI_PATH`, `temporal` on PATH, a cached build, then
 * `go install` into the cache. No internet download happens here: these machines only reach the Go module proxy.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TemporalCliNotFoundError } from '../workflows/errors';

/** Pinned CLI version: tags after v1.5.1 carry a `replace` directive that `go install` refuses. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

const MODULE = 'github.com/temporalio/cli/cmd/temporal';
const EXE = process.platform === 'win32' ? 'temporal.exe' : 'temporal';

/**
 * ratchet's cache folder: `RATCHET_CACHE_DIR`, else `${XDG_CACHE_HOME or ~/.cache}/ratchet`.
 * @returns an absolute path; the folder may not exist yet.
 */
export function ratchetCacheDir(): string {
  const override = process.env.RATCHET_CACHE_DIR;
  if (override) return path.resolve(override);
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg ? path.resolve(xdg) : path.join(os.homedir(), '.cache'), 'ratchet');
}

/** Folder the pinned CLI is built into (used as GOBIN): `<ratchetCacheDir>/temporal-cli/<version>`. */
export function temporalCliCacheDir(): string {
  return path.join(ratchetCacheDir(), 'temporal-cli', TEMPORAL_CLI_VERSION);
}

/** Absolute path where a cached build of the pinned CLI lives (it may not exist). */
export function cachedTemporalCliPath(): string {
  return path.join(temporalCliCacheDir(), EXE);
}

/** True when `file` is a regular file this process may execute (also used by deploy/cluster). */
export function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** First executable `name` on PATH, as an absolute path, or undefined. */
function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

const notFoundMessage = (reason: string): string =>
  `Temporal CLI not found (${reason}). Do one of:\n` +
  `  - set TEMPORAL_CLI_PATH to an existing 'temporal' binary;\n` +
  `  - install the Temporal CLI: 'brew install temporal', or 'curl -sSf https://temporal.download/cli.sh | sh' ` +
  `and put it on PATH;\n` +
  `  - install Go >= 1.22 and put 'go' on PATH, so ratchet can build it into ${temporalCliCacheDir()} ` +
  `(go install ${MODULE}@${TEMPORAL_CLI_VERSION}; its go.mod needs Go 1.25, which Go >= 1.21 fetches by itself ` +
  `through the module proxy unless GOTOOLCHAIN=local).`;

/** Runs `go install` for the pinned CLI with GOBIN=dir, streaming its output lines to `log`. */
async function goInstall(goBin: string, dir: string, log: (line: string) => void): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const args = ['install', `${MODULE}@${TEMPORAL_CLI_VERSION}`];
  log(`Building Temporal CLI ${TEMPORAL_CLI_VERSION} with '${goBin} ${args.join(' ')}' into ${dir}; ` +
    'this takes a few minutes the first time, later runs reuse the build.');
  const tail: string[] = [];
  const child = spawn(goBin, args, {
    env: { ...process.env, GOBIN: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 20) tail.shift();
      log(line);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) {
    throw new Error(`'go install ${MODULE}@${TEMPORAL_CLI_VERSION}' failed (exit ${code}). Last output:\n` +
      `${tail.join('\n')}\n${notFoundMessage('the build failed')}`);
  }
}

/**
 * Returns an absolute path to a `temporal` binary, building the pinned version with Go when nothing else is found.
 * @param opts.build - false forbids running `go install` (default: allowed).
 * @param opts.log - receives progress lines (default: written to stderr).
 * @throws Error if `TEMPORAL_CLI_PATH` is set but not an executable file, or if `go install` fails.
 * @throws TemporalCliNotFoundError if no binary is found and none can be built; the message says what to install.
 */
export async function resolveTemporalCli(
  opts: { build?: boolean; log?: (line: string) => void } = {},
): Promise<string> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    const resolved = path.resolve(fromEnv);
    if (!isExecutableFile(resolved)) {
      throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file; fix or unset TEMPORAL_CLI_PATH.`);
    }
    return resolved;
  }

  const onPath = findOnPath(EXE);
  if (onPath) return onPath;

  const cached = cachedTemporalCliPath();
  if (isExecutableFile(cached)) return cached;

  if (opts.build === false) throw new TemporalCliNotFoundError(notFoundMessage('building is disabled'));
  const goBin = findOnPath(process.platform === 'win32' ? 'go.exe' : 'go');
  if (!goBin) throw new TemporalCliNotFoundError(notFoundMessage("no 'go' on PATH to build it"));

  await goInstall(goBin, temporalCliCacheDir(), log);
  if (!isExecutableFile(cached)) {
    throw new Error(`'go install' succeeded but ${cached} is missing; is GOBIN honoured by this Go (GOOS/GOARCH set)?`);
  }
  log(`Temporal CLI ready: ${cached}`);
  return cached;
}

// `npx tsx deploy/temporal-cli.ts [--no-build]` prints the resolved path on stdout; progress goes to stderr.
if (require.main === module) {
  resolveTemporalCli({ build: !process.argv.includes('--no-build') }).then(
    (bin) => process.stdout.write(`${bin}\n`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
