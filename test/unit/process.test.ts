import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { runCommand, stopStaleRun } from '../../activities/process';
import { Redactor } from '../../activities/redact';
import { waitUntil } from '../helpers/wait';

/** True while `pid` exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('runCommand', () => {
  let dir: string;
  let logPath: string;
  const leftovers: number[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-process-'));
    logPath = path.join(dir, 'logs', 'nested', 'run.log');
  });
  afterEach(() => {
    for (const pid of leftovers.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The first word of a pid file: a command's own pid file holds `<pid>`, runCommand's `<pgid> <mark>`. */
  const readPid = (file: string): number => Number(fs.readFileSync(file, 'utf8').trim().split(/\s+/)[0]);

  it('reports the exit code of a failing command without throwing', async () => {
    const r = await runCommand({ command: 'echo oops >&2; exit 7', cwd: dir, timeoutMs: 10_000, logPath });
    assert.equal(r.exitCode, 7);
    assert.equal(r.timedOut, false);
    assert.equal(r.aborted, false);
    assert.equal(r.tail, 'oops\n');
  });

  it('reports exit code 0 and the output of a successful command', async () => {
    const r = await runCommand({ command: 'echo hello', cwd: dir, timeoutMs: 10_000, logPath });
    assert.equal(r.exitCode, 0);
    assert.equal(r.tail, 'hello\n');
    assert.ok(r.ms >= 0);
  });

  it('runs in cwd with the extra environment on top of the process environment', async () => {
    const r = await runCommand({
      command: 'printf "%s|%s|%s" "$PWD" "$RATCHET_TEST_VAR" "$PATH"',
      cwd: dir,
      env: { RATCHET_TEST_VAR: 'forty-two' },
      timeoutMs: 10_000,
      logPath,
    });
    const [cwd, extra, inheritedPath] = r.tail.split('|');
    assert.equal(fs.realpathSync(cwd), fs.realpathSync(dir));
    assert.equal(extra, 'forty-two');
    assert.equal(inheritedPath, process.env.PATH);
  });

  it('with exactEnv the child sees exactly env and nothing of the worker environment', async () => {
    process.env.RATCHET_WORKER_ONLY = 'worker-secret';
    try {
      const r = await runCommand({
        command: 'env',
        cwd: dir,
        env: { PATH: '/usr/bin:/bin', RATCHET_TEST_VAR: 'forty-two' },
        exactEnv: true,
        timeoutMs: 10_000,
        logPath,
      });
      const names = r.tail.trim().split('\n').map((line) => line.split('=')[0]).sort();
      // PWD is the shell's own; RATCHET_STEP_RUN marks the run's processes (step-processes.ts).
      assert.deepEqual(names, ['PATH', 'PWD', 'RATCHET_STEP_RUN', 'RATCHET_TEST_VAR']);
      assert.ok(!r.tail.includes('worker-secret'));
    } finally {
      delete process.env.RATCHET_WORKER_ONLY;
    }
  });

  it('runs the command behind a prefix, says so in the log, and still kills the whole group on time-out', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    const prefix = ['/usr/bin/env', 'RATCHET_PREFIXED=yes'];
    const done = await runCommand({ command: 'echo "prefixed=$RATCHET_PREFIXED"', cwd: dir, timeoutMs: 10_000, logPath, prefix });
    assert.equal(done.exitCode, 0);
    assert.equal(done.tail, 'prefixed=yes\n');
    assert.match(fs.readFileSync(logPath, 'utf8'), /cwd=.* sandboxed by \/usr\/bin\/env\n=== sandbox: \/usr\/bin\/env RATCHET_PREFIXED=yes\n=== \$ echo/);

    const r = await runCommand({ command: `sleep 30 & echo $! > '${pidFile}'; sleep 30`, cwd: dir, timeoutMs: 300, logPath, prefix });
    const grandchild = readPid(pidFile);
    leftovers.push(grandchild);
    assert.equal(r.timedOut, true);
    assert.equal(alive(grandchild), false, 'the background sleep was killed');
  });

  it('rejects with the name of the prefix program when it cannot be started', async () => {
    await assert.rejects(
      runCommand({ command: 'true', cwd: dir, timeoutMs: 10_000, logPath, prefix: [path.join(dir, 'no-such-sandbox')] }),
      (err: Error) => err.message.includes('could not start') && err.message.includes('no-such-sandbox'),
    );
  });

  it('redacts secrets from the log, the stdout file and the tail', async () => {
    const secret = 'sk-test-abcdef0123456789';
    const stdoutPath = path.join(dir, 'out', 'stdout.txt');
    const r = await runCommand({
      command: `echo "key=$KEY"; echo "err $KEY" >&2; printf %s "$KEY" | cut -c1-9; echo ${secret}`,
      cwd: dir,
      env: { KEY: secret },
      timeoutMs: 10_000,
      logPath,
      stdoutPath,
      redact: new Redactor({ API_KEY: secret }),
    });
    assert.equal(r.exitCode, 0);
    const log = fs.readFileSync(logPath, 'utf8');
    const stdout = fs.readFileSync(stdoutPath, 'utf8');
    for (const text of [log, stdout, r.tail]) {
      assert.ok(!text.includes(secret), `the secret leaked into: ${text}`);
      assert.ok(text.includes('key=[redacted:API_KEY]'), text);
    }
    assert.match(log, /=== \$ .*; echo \[redacted:API_KEY\]\n/, 'the command in the header is redacted too');
    assert.ok(log.includes('err [redacted:API_KEY]'));
    assert.ok(stdout.includes('sk-test-a\n'), 'a fragment shorter than the secret is not a secret');
    assert.match(log, /=== exit 0 in \d+ ms\n$/);
  });

  it('redacts a secret that the start of the tail cuts instead of returning its end', async () => {
    const secret = 'sk-test-abcdef0123456789';
    const r = await runCommand({
      command: `printf '%s' '${secret}'; printf 'END'`,
      cwd: dir,
      timeoutMs: 10_000,
      logPath,
      tailBytes: 10,
      redact: new Redactor({ API_KEY: secret }),
    });
    assert.equal(r.tail, '[redacted:API_KEY]END');
  });

  it('shows the footer at once when a background child it keeps running holds the redacted log open', async () => {
    const pidFile = path.join(dir, 'service.pid');
    const r = await runCommand({
      command: `sleep 30 & echo $! > '${pidFile}'; echo "started with $KEY"`,
      cwd: dir,
      env: { KEY: 'sk-service-key' },
      timeoutMs: 20_000,
      keepRunning: true,
      logPath,
      redact: new Redactor({ SERVICE_KEY: 'sk-service-key' }),
    });
    leftovers.push(readPid(pidFile));
    assert.equal(r.tail, 'started with [redacted:SERVICE_KEY]\n');
    assert.match(fs.readFileSync(logPath, 'utf8'), /started with \[redacted:SERVICE_KEY\]\n\n=== exit 0 in \d+ ms\n$/);
  });

  it('appends stdout and stderr to the log after a header naming the command and cwd', async () => {
    await runCommand({ command: 'echo first', cwd: dir, timeoutMs: 10_000, logPath });
    await runCommand({ command: 'echo out; echo err >&2', cwd: dir, timeoutMs: 10_000, logPath });
    const log = fs.readFileSync(logPath, 'utf8');
    assert.match(log, /cwd=.*\n=== \$ echo first\nfirst\n/);
    assert.match(log, /=== \$ echo out; echo err >&2\n/);
    assert.ok(log.includes('out\n') && log.includes('err\n'));
    assert.match(log, /=== exit 0 in \d+ ms/);
  });

  it('writes stdout alone to stdoutPath when asked', async () => {
    const stdoutPath = path.join(dir, 'out', 'stdout.txt');
    await runCommand({ command: 'echo answer; echo noise >&2', cwd: dir, timeoutMs: 10_000, logPath, stdoutPath });
    assert.equal(fs.readFileSync(stdoutPath, 'utf8'), 'answer\n');
  });

  it('keeps only the last tailBytes of a large output', async () => {
    const r = await runCommand({
      command: "head -c 200000 /dev/zero | tr '\\0' a; printf END",
      cwd: dir,
      timeoutMs: 10_000,
      logPath,
      tailBytes: 100,
    });
    assert.equal(r.exitCode, 0);
    assert.equal(r.tail.length, 100);
    assert.equal(r.tail, 'a'.repeat(97) + 'END');
    assert.ok(fs.statSync(logPath).size > 200_000, 'the log keeps everything');
  });

  it('kills the whole process group, grandchildren included, on time-out', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    const r = await runCommand({
      command: `sleep 30 & echo $! > '${pidFile}'; sleep 30`,
      cwd: dir,
      timeoutMs: 300,
      logPath,
    });
    const grandchild = readPid(pidFile);
    leftovers.push(grandchild);
    assert.equal(r.timedOut, true);
    assert.equal(r.aborted, false);
    assert.equal(r.exitCode, null);
    assert.ok(r.ms < 5_000, `took ${r.ms} ms`);
    assert.equal(alive(grandchild), false, 'the background sleep was killed');
    assert.match(fs.readFileSync(logPath, 'utf8'), /timed out after 300 ms/);
  });

  it('escalates to SIGKILL when the process group ignores SIGTERM', async () => {
    const r = await runCommand({ command: "trap '' TERM; sleep 30", cwd: dir, timeoutMs: 200, logPath });
    assert.equal(r.timedOut, true);
    assert.ok(r.ms >= 3_000 && r.ms < 6_000, `took ${r.ms} ms`);
  });

  it('with keepRunning, returns when the shell exits although a background child holds stdout, and leaves it running', async () => {
    const pidFile = path.join(dir, 'service.pid');
    const r = await runCommand({
      command: `sleep 30 & echo $! > '${pidFile}'; echo started`,
      cwd: dir,
      timeoutMs: 20_000,
      keepRunning: true,
      logPath,
    });
    const service = readPid(pidFile);
    leftovers.push(service);
    assert.equal(r.exitCode, 0);
    assert.equal(r.timedOut, false);
    assert.equal(r.tail, 'started\n');
    assert.ok(r.ms < 3_000, `took ${r.ms} ms`);
    assert.equal(alive(service), true, 'a service started by the command is not killed');
    assert.equal(r.killed, 0);
  });

  it('kills the process group when the signal aborts, and says so', async () => {
    const controller = new AbortController();
    const r = await runCommand({
      command: 'sleep 30',
      cwd: dir,
      timeoutMs: 20_000,
      logPath,
      signal: controller.signal,
      tickMs: 20,
      onTick: () => controller.abort(),
    });
    assert.equal(r.aborted, true);
    assert.equal(r.timedOut, false);
    assert.equal(r.exitCode, null);
    assert.ok(r.ms < 5_000, `took ${r.ms} ms`);
  });

  it('does not start the command when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const marker = path.join(dir, 'ran');
    const r = await runCommand({ command: `touch '${marker}'`, cwd: dir, timeoutMs: 10_000, logPath, signal: controller.signal });
    assert.equal(r.aborted, true);
    assert.equal(fs.existsSync(marker), false);
  });

  it('calls onTick every tickMs while the command runs', async () => {
    let ticks = 0;
    await runCommand({ command: 'sleep 0.5', cwd: dir, timeoutMs: 10_000, logPath, tickMs: 50, onTick: () => ticks++ });
    assert.ok(ticks >= 3, `${ticks} ticks`);
  });

  it('records the process group in pidFile while running and removes it after, even for a command that exits at once', async () => {
    const pidFile = path.join(dir, 'run.pid');
    for (let i = 0; i < 20; i++) {
      const r = await runCommand({ command: 'true', cwd: dir, timeoutMs: 10_000, logPath, pidFile });
      assert.equal(r.exitCode, 0);
    }
    assert.equal(fs.existsSync(pidFile), false);
    const running = runCommand({ command: 'cat "$0" >/dev/null; sleep 0.5', cwd: dir, timeoutMs: 10_000, logPath, pidFile });
    const seen = await waitUntil('the pid file', async () => fs.existsSync(pidFile) && readPid(pidFile));
    assert.ok(seen > 1);
    await running;
    assert.equal(fs.existsSync(pidFile), false);
  });

  it('stopStaleRun kills a live process group recorded in a pid file, and leaves a dead one alone', async () => {
    const pidFile = path.join(dir, 'stale.pid');
    const stale = spawn('/bin/sh', ['-c', 'sleep 30 & sleep 30'], { detached: true, stdio: 'ignore' });
    const exited = once(stale, 'exit');
    fs.writeFileSync(pidFile, `${stale.pid}\n`);
    assert.equal(await stopStaleRun(pidFile), stale.pid);
    await exited;
    assert.equal(fs.existsSync(pidFile), false);
    fs.writeFileSync(pidFile, `${stale.pid}\n`);
    assert.equal(await stopStaleRun(pidFile), undefined);
  });

  it('throws a clear error when the working directory is missing', async () => {
    const missing = path.join(dir, 'no-such-folder');
    await assert.rejects(
      runCommand({ command: 'true', cwd: missing, timeoutMs: 10_000, logPath }),
      (err: Error) => err.message.includes('working directory does not exist') && err.message.includes(missing),
    );
  });

  it('fails the run, not the process, when the pid file cannot be written, and stops the command', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const unique = `pid-fault-${process.pid}-${Date.now()}`;
      const pidFile = path.join(dir, 'not-a-folder', 'agent.pid');
      fs.writeFileSync(path.join(dir, 'not-a-folder'), 'a file where a folder should be');
      await assert.rejects(
        runCommand({ command: `sleep 30; echo ${unique}`, cwd: dir, timeoutMs: 10_000, logPath, pidFile }),
        (err: Error) => /could not write the pid file .*not-a-folder\/agent\.pid: ENOTDIR/.test(err.message),
      );
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, []);
      const left = spawnSync('pgrep', ['-f', unique], { encoding: 'utf8' }).stdout.trim();
      assert.equal(left, '', 'the command was stopped');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
