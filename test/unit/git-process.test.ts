import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GitProcess } from '../../activities/git/process';
import { uniqueId } from '../helpers/temporal';
import { waitUntil } from '../helpers/wait';

/** Pids of live processes whose environment holds `marker` (a `NAME=value` pair). */
async function processesWith(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').includes(marker)) found.push(Number(entry));
  }
  return found;
}

describe('the git process', () => {
  let root: string;
  let gitProcess: GitProcess;
  const runGit = (dir: string, args: string[]): ReturnType<GitProcess['run']> => gitProcess.run(dir, args);
  const stopGitProcess = (): Promise<void> => gitProcess.stop();

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'ratchet-git-process-'));
    gitProcess = new GitProcess();
  });
  afterEach(async () => {
    await gitProcess.stop();
    await rm(root, { recursive: true, force: true });
  });

  it("returns git's exit code, stdout and stderr, and says when git could not run at all", async () => {
    await promisify(execFile)('git', ['init', '-q', '-b', 'main', root]);
    const ok = await runGit(root, ['rev-parse', '--show-toplevel']);
    assert.equal('code' in ok && ok.code, 0);
    assert.equal('code' in ok && ok.stdout.trim(), root);
    const bad = await runGit(root, ['rev-parse', '--verify', 'no-such-ref']);
    assert.ok('code' in bad, JSON.stringify(bad));
    assert.equal(bad.code, 128);
    assert.match(bad.stderr, /Needed a single revision/);
    const nowhere = await runGit(path.join(root, 'missing'), ['status']);
    assert.ok('failed' in nowhere, JSON.stringify(nowhere));
    assert.match(nowhere.failed, /does not exist/);
  });

  it("fails a command in flight when the process dies, and the next command starts a new one that the old one's end does not fail", async function () {
    this.timeout(30_000);
    await promisify(execFile)('git', ['init', '-q', root]);
    // A `git` that never answers, first on PATH for the next git process.
    const bin = path.join(root, 'bin');
    await mkdir(bin);
    await writeFile(path.join(bin, 'git'), '#!/bin/sh\nexec sleep 600\n');
    await chmod(path.join(bin, 'git'), 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `${bin}${path.delimiter}${saved ?? ''}`;
    let inFlight: ReturnType<typeof runGit>;
    try {
      await stopGitProcess();
      inFlight = runGit(root, ['status']);
    } finally {
      process.env.PATH = saved;
    }
    let settled = false;
    void inFlight.then(() => (settled = true));
    await waitUntil('the git process started with the shim on PATH', async () => (await processesWith(`PATH=${bin}${path.delimiter}${saved ?? ''}`)).length > 0);
    assert.equal(settled, false);
    // The next command goes to a new process while the old one is still exiting.
    const stopping = stopGitProcess();
    const next = runGit(root, ['rev-parse', '--git-dir']);
    await stopping;
    const outcome = await inFlight;
    assert.ok('failed' in outcome, JSON.stringify(outcome));
    assert.match(outcome.failed, /exited/);
    assert.deepEqual(await next, { code: 0, stdout: '.git\n', stderr: '' });
  });

  it("does not pass the worker's own GIT_* variables on to git, so they cannot redirect a command", async () => {
    await promisify(execFile)('git', ['init', '-q', '-b', 'main', root]);
    const saved = process.env.GIT_DIR;
    process.env.GIT_DIR = path.join(root, 'elsewhere.git');
    try {
      await stopGitProcess();
      const top = await runGit(root, ['rev-parse', '--show-toplevel']);
      assert.deepEqual(top, { code: 0, stdout: `${root}\n`, stderr: '' });
    } finally {
      if (saved === undefined) delete process.env.GIT_DIR;
      else process.env.GIT_DIR = saved;
    }
  });

  it('lets its parent exit when idle, and ends with it', async function () {
    this.timeout(60_000);
    const marker = `RATCHET_GIT_PROCESS_TEST=${uniqueId('parent')}`;
    const [name, value] = marker.split('=');
    // A parent that runs one git command and then has nothing left to do: it must exit by itself.
    const script = `new (require(${JSON.stringify(path.resolve(__dirname, '../../activities/git/process.ts'))}).GitProcess)().run(${JSON.stringify(root)}, ['--version']).then((o) => console.log(JSON.stringify(o)))`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
      env: { ...process.env, [name]: value },
      timeout: 30_000,
    });
    assert.match(JSON.parse(stdout).stdout, /^git version /);
    await waitUntil('the git process ended with its parent', async () => (await processesWith(marker)).length === 0);
  });
});
