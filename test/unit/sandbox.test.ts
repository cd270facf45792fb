import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commandEnv } from '../../activities/env';
import { Git } from '../../activities/git';
import { runCommand, type RunCommandResult } from '../../activities/process';
import {
  bwrapPrefix,
  createSandboxProbe,
  findBwrap,
  hostTmpEntries,
  type SandboxSpec,
} from '../../activities/box/sandbox';
import { BOX_COUNTER } from '../../activities/step-processes';
import { privateGitDir } from '../../activities/git/views';
import { waitUntil } from '../helpers/wait';

/** ratchet's git client, as a worker has one. */
const ratchetGit = new Git();

const BRANCH = 'ratchet/b1/t1';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' }).trim();
}

/** Live processes (zombies excluded) whose command line contains `needle`, or whose process group is `pgid`. */
function processes(match: { needle?: string; pgid?: number }): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if ((match.needle !== undefined && cmdline.includes(match.needle)) || Number(fields[2]) === match.pgid) {
        found.push(Number(entry));
      }
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

describe('findBwrap', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-bwrap-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('answers undefined when no bwrap is on PATH', async () => {
    assert.equal(await findBwrap({ PATH: dir }), undefined);
  });

  it('answers undefined when bwrap is installed but cannot make a sandbox here', async () => {
    const fake = path.join(dir, 'bwrap');
    fs.writeFileSync(fake, '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n', { mode: 0o755 });
    assert.equal(await findBwrap({ PATH: `relative/bin${path.delimiter}${dir}` }), undefined);
  });

  it('a probe asks once and gives every caller the same answer', async () => {
    const probe = createSandboxProbe({ PATH: dir });
    const first = probe.bwrap();
    assert.equal(probe.bwrap(), first);
    assert.equal(await first, undefined);
  });
});

describe('bwrapPrefix', () => {
  it('mounts the filesystem read-only, then /tmp, hidden folders, writable folders and binds, in that order', () => {
    const spec: SandboxSpec = {
      cwd: '/srv/wt/t1',
      writable: ['/srv/wt/t1'],
      tmpDir: '/srv/run/tmp',
      hidden: ['/srv/wt', '/srv/repo'],
      binds: [
        { src: '/srv/repo/.git/objects', dest: '/srv/repo/.git/objects', writable: false },
        { src: '/srv/run/gitfile', dest: '/srv/wt/t1/.git', writable: false },
      ],
      network: 'none',
    };
    assert.deepEqual(bwrapPrefix('/usr/bin/bwrap', spec), [
      '/usr/bin/bwrap',
      '--ro-bind', '/', '/',
      '--dev', '/dev',
      '--proc', '/proc',
      '--unshare-pid',
      '--die-with-parent',
      '--cap-drop', 'ALL',
      '--unshare-net',
      '--tmpfs', '/tmp',
      '--bind', '/srv/run/tmp', '/tmp',
      '--tmpfs', '/srv/wt',
      '--tmpfs', '/srv/repo',
      '--bind', '/srv/wt/t1', '/srv/wt/t1',
      '--ro-bind', '/srv/repo/.git/objects', '/srv/repo/.git/objects',
      '--ro-bind', '/srv/run/gitfile', '/srv/wt/t1/.git',
      '--remount-ro', '/srv/wt',
      '--remount-ro', '/srv/repo',
      '--chdir', '/srv/wt/t1',
      '--',
      ...BOX_COUNTER,
    ]);
  });

  it('with a proxy network, starts the bridge before the command and hands its pid to the counter', () => {
    const args = bwrapPrefix('/usr/bin/bwrap', { cwd: '/srv/wt', writable: [], tmpDir: '/srv/tmp', network: { socat: '/usr/bin/socat', socket: '/tmp/e.sock', port: 3128 } });
    assert.ok(args.includes('--unshare-net'));
    const shell = args.slice(args.indexOf('--') + 1);
    assert.match(shell[2], /^\/usr\/bin\/socat -lf \/dev\/null TCP-LISTEN:3128,bind=127\.0\.0\.1,fork,reuseaddr UNIX-CONNECT:\/tmp\/e\.sock .*& RATCHET_BOX_BRIDGE=\$! exec "\$@"$/);
    assert.deepEqual(shell.slice(4), BOX_COUNTER);
  });

  it('binds back, read-only, the folders under the host /tmp that the private /tmp would hide', () => {
    const args = bwrapPrefix('/usr/bin/bwrap', {
      cwd: '/tmp/demo/worktrees/t1',
      writable: ['/tmp/demo/worktrees/t1', '/tmp/other/cache'],
      tmpDir: '/tmp/demo/run/tmp',
    });
    const after = args.slice(args.indexOf('/tmp/demo/run/tmp') + 2);
    assert.deepEqual(after.slice(0, 6), ['--ro-bind', '/tmp/demo', '/tmp/demo', '--ro-bind', '/tmp/other', '/tmp/other']);
    assert.equal(args.filter((a) => a === '/tmpx').length, 0);
  });
});

describe('a command boxed by bwrap', function () {
  let bwrap: string;
  let base: string;
  let repo: string;
  let wt: string;
  let tmpDir: string;
  let spec: SandboxSpec;

  before(async function () {
    const found = await findBwrap();
    if (found === undefined) {
      console.warn('    sandbox tests skipped: no working bwrap on PATH (not Linux, not installed, or user namespaces refused)');
      this.skip();
    }
    bwrap = found;
  });

  beforeEach(async () => {
    // Under the host's /tmp on purpose: the private /tmp must not hide the repository beside the worktree.
    base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-sandbox-')));
    repo = path.join(base, 'repo');
    wt = path.join(base, 'worktrees', 't1');
    tmpDir = path.join(base, 'run', 'tmp');
    fs.mkdirSync(repo);
    fs.mkdirSync(tmpDir, { recursive: true });
    fs.mkdirSync(path.join(base, 'secrets'));
    fs.writeFileSync(path.join(base, 'secrets', 'token'), 'hidden\n');
    fs.writeFileSync(path.join(base, 'next.txt'), 'next\n');
    git(repo, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(repo, 'a.txt'), 'a\n');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'init');
    git(repo, 'worktree', 'add', '-q', '-b', BRANCH, wt);
    // The agent's view (activities/box/box.ts): the repository and the worktrees folder hidden, its worktree bound
    // back, git through a private git dir whose objects borrow the real store read-only.
    const view = await privateGitDir(ratchetGit, { worktree: wt, branch: BRANCH, commit: git(repo, 'rev-parse', 'main'), into: path.join(base, 'run', 'git'), inside: '/tmp/ratchet-git' });
    spec = {
      cwd: wt,
      writable: [wt],
      tmpDir,
      hidden: [repo, path.join(base, 'worktrees'), path.join(base, 'secrets')],
      binds: [
        { src: view.objects, dest: view.objects, writable: false },
        { src: view.gitDir, dest: '/tmp/ratchet-git', writable: true },
        { src: view.gitFile, dest: path.join(wt, '.git'), writable: false },
      ],
      network: 'none',
    };
  });
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  const boxed = (command: string, extra: { timeoutMs?: number; pidFile?: string } = {}): Promise<RunCommandResult> =>
    runCommand({
      command,
      cwd: wt,
      env: commandEnv({ protocol: { TMPDIR: '/tmp' } }),
      exactEnv: true,
      prefix: bwrapPrefix(bwrap, spec),
      timeoutMs: extra.timeoutMs ?? 20_000,
      logPath: path.join(base, 'logs', 'run.log'),
      pidFile: extra.pidFile,
    });

  it('writes inside its worktree; the repository beside it is hidden, its history readable through git', async () => {
    const r = await boxed(`echo made > made.txt && git log --format=%s && git status --porcelain && ls -A '${repo}' '${path.join(repo, '.git')}'`);
    assert.equal(r.exitCode, 0, r.tail);
    assert.equal(r.tail, `init\n?? made.txt\n${repo}:\n.git\n\n${path.join(repo, '.git')}:\nobjects\n`, 'git works on the private git dir; of the repository only its objects show');
    assert.equal(fs.readFileSync(path.join(wt, 'made.txt'), 'utf8'), 'made\n');
    assert.match(fs.readFileSync(path.join(base, 'logs', 'run.log'), 'utf8'), /sandboxed by .*bwrap\n=== sandbox: .*--unshare-pid/);
  });

  it("commits in its private git dir: the repository's branches, refs and object store do not change", async () => {
    const main = git(repo, 'rev-parse', 'main');
    const objects = () => git(repo, 'count-objects', '-v');
    const before = objects();
    const r = await boxed('echo work > work.txt && git add -A && git -c user.name=a -c user.email=a@b commit -q -m x && git log -1 --format=%s');
    assert.equal(r.exitCode, 0, r.tail);
    assert.equal(r.tail, 'x\n');
    assert.equal(git(repo, 'rev-parse', BRANCH), main, 'the real branch did not move');
    assert.equal(git(repo, 'rev-parse', 'main'), main);
    assert.equal(objects(), before, 'no object was written into the real store');
    assert.equal(fs.readFileSync(path.join(wt, 'work.txt'), 'utf8'), 'work\n', 'the files are what ratchet commits');
  });

  it("cannot rewrite an object of the repository's store, main, hooks, the worktree's .git, nor remount to do so", async () => {
    const main = git(repo, 'rev-parse', 'main');
    const blob = git(repo, 'rev-parse', 'main:a.txt');
    const loose = path.join(repo, '.git', 'objects', blob.slice(0, 2), blob.slice(2));
    const attempts = [
      `chmod u+w '${loose}'; printf x > '${loose}'`,
      `echo x > '${path.join(repo, 'a.txt')}'`,
      `echo x > '${path.join(base, 'next.txt')}'`,
      `echo 'exit 0' > '${path.join(repo, '.git', 'hooks', 'pre-commit')}'`,
      `echo 'gitdir: /elsewhere' > .git`,
      `mount -o remount,rw '${base}' && echo x > '${path.join(repo, 'a.txt')}'`,
    ];
    for (const attempt of attempts) {
      const r = await boxed(attempt);
      assert.notEqual(r.exitCode, 0, `${attempt} succeeded: ${r.tail}`);
      // Refused by the box: read-only, or hidden (the hooks folder is not there at all inside).
      assert.match(r.tail, /Read-only file system|Device or resource busy|Directory nonexistent|mount: .*: permission denied/, r.tail);
    }
    const moved = await boxed('git update-ref refs/heads/main HEAD && git symbolic-ref HEAD refs/heads/main');
    assert.equal(moved.exitCode, 0, 'refs are the private git dir\'s own');
    assert.equal(fs.readFileSync(path.join(repo, 'a.txt'), 'utf8'), 'a\n');
    assert.equal(fs.readFileSync(path.join(base, 'next.txt'), 'utf8'), 'next\n');
    assert.equal(git(repo, 'rev-parse', 'main'), main);
    assert.equal(fs.existsSync(path.join(repo, '.git', 'hooks', 'pre-commit')), false);
    assert.equal(git(wt, 'symbolic-ref', 'HEAD'), `refs/heads/${BRANCH}`);
    assert.match(fs.readFileSync(path.join(wt, '.git'), 'utf8'), /^gitdir: .*worktrees\/t1\n$/);
    execFileSync('git', ['fsck', '--strict'], { cwd: repo, stdio: 'pipe' });
  });

  it('reaches no network: not the Temporal frontend, nor any port of the worker', async () => {
    const http = await import('node:http');
    const server = http.createServer((_req, res) => res.end('worker port\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as import('node:net').AddressInfo).port;
    try {
      const probe = `node -e "require('http').get('http://127.0.0.1:${port}/',r=>{r.pipe(process.stdout)}).on('error',e=>{console.log('refused',e.code);process.exit(3)})"`;
      const control = await runCommand({ command: probe, cwd: wt, timeoutMs: 10_000, logPath: path.join(base, 'logs', 'control.log') });
      assert.equal(control.tail, 'worker port\n', 'without the box the port answers');
      const r = await boxed(probe);
      assert.equal(r.exitCode, 3, r.tail);
      assert.match(r.tail, /refused ECONNREFUSED/);
    } finally {
      server.close();
    }
  });

  it('sees its private tmpDir at /tmp and nothing else of the host /tmp', async () => {
    fs.writeFileSync(path.join(tmpDir, 'seed'), 'seed\n');
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-outside-'));
    try {
      const r = await boxed(`cat /tmp/seed && echo inside > /tmp/inside && test ! -e '${outside}' && echo "TMPDIR=$TMPDIR"`);
      assert.equal(r.exitCode, 0, r.tail);
      assert.equal(r.tail, 'seed\nTMPDIR=/tmp\n');
      assert.equal(fs.readFileSync(path.join(tmpDir, 'inside'), 'utf8'), 'inside\n');
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('keeps the host /tmp entries it is given visible, read-only, beside its private files', async () => {
    const tool = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-tool-'));
    try {
      fs.writeFileSync(path.join(tool, 'agent.sh'), 'echo "tool ran"\n');
      spec = { ...spec, visible: await hostTmpEntries() };
      assert.ok(spec.visible?.includes(tool));
      const r = await boxed(`sh '${path.join(tool, 'agent.sh')}' && echo new > /tmp/new && ! echo x 2>/dev/null > '${path.join(tool, 'x')}'`);
      assert.equal(r.exitCode, 0, r.tail);
      assert.equal(r.tail, 'tool ran\n');
      assert.equal(fs.existsSync(path.join(tool, 'x')), false);
      assert.equal(fs.readFileSync(path.join(tmpDir, 'new'), 'utf8'), 'new\n');
    } finally {
      fs.rmSync(tool, { recursive: true, force: true });
    }
  });

  it('runs when a host /tmp entry it was given vanished before the box started (a journal file, a test folder)', async () => {
    const gone = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-gone-'));
    spec = { ...spec, visible: await hostTmpEntries() };
    assert.ok(spec.visible?.includes(gone));
    fs.rmSync(gone, { recursive: true, force: true });
    const r = await boxed(`echo ran && test ! -e '${gone}'`);
    assert.equal(r.exitCode, 0, r.tail);
    assert.equal(r.tail, 'ran\n');
  });

  it('does not see what a hidden folder holds', async () => {
    const r = await boxed(`ls -A '${path.join(base, 'secrets')}'; cat '${path.join(base, 'secrets', 'token')}'`);
    assert.notEqual(r.exitCode, 0);
    assert.ok(!r.tail.includes('hidden'), r.tail);
    assert.equal(fs.readFileSync(path.join(base, 'secrets', 'token'), 'utf8'), 'hidden\n');
  });

  it('is killed with every process it started when it runs past its time-out', async () => {
    const marker = `ratchet-sandbox-marker-${process.pid}-${Date.now()}`;
    const pidFile = path.join(base, 'run.pid');
    // 5 s: the process group is looked at while the box runs, and a 2 s time-out could end it first on a busy machine.
    const running = boxed(`sh -c 'sleep 30; : ${marker}' & sleep 30`, { timeoutMs: 5000, pidFile });
    const [inner] = await waitUntil('the background process inside the sandbox', async () => {
      const found = processes({ needle: `: ${marker}` });
      return found.length > 0 && found;
    }, { timeoutMs: 10_000, everyMs: 20 });
    // The pid file is written asynchronously beside the spawn: wait for the pid in it, not for the file.
    const pgid = await waitUntil('the pid file to name the process group', async () => Number(fs.readFileSync(pidFile, 'utf8').split(' ')[0]) || false, { timeoutMs: 10_000, everyMs: 20 });
    assert.ok(processes({ pgid }).length >= 3, 'bwrap, the shell and its children share one process group');
    const r = await running;
    assert.equal(r.timedOut, true);
    assert.ok(r.ms < 11_000, `took ${r.ms} ms`);
    assert.deepEqual(processes({ needle: marker }), [], `process ${inner} outlived the time-out`);
    assert.deepEqual(processes({ pgid }), [], 'nothing of the process group is left');
  });

  it("cannot read another process's environment, the worker's included", async () => {
    const canary = `canary-${Date.now()}`;
    const other = spawn('sleep', ['30'], { env: { RATCHET_CANARY: canary }, stdio: 'ignore' });
    try {
      const read = `cat /proc/${other.pid}/environ /proc/${process.pid}/environ | tr '\\0' '\\n'`;
      const control = await runCommand({ command: read, cwd: wt, timeoutMs: 10_000, logPath: path.join(base, 'logs', 'control.log') });
      assert.ok(control.tail.includes(canary), 'without the sandbox the environment is readable');
      const r = await boxed(`echo ran; test -e /proc/${other.pid} && echo visible; ${read}; grep -l ${canary.slice(0, 6)} /proc/*/environ`);
      assert.match(r.tail, /^ran\n/);
      assert.ok(!r.tail.includes('visible'), 'other processes are not even listed');
      assert.ok(!r.tail.includes(canary), r.tail);
    } finally {
      other.kill('SIGKILL');
    }
  });
});
