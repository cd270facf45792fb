import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redactor } from '../../activities/redact';
import { pidFileOf, runStep } from '../../activities/run-step';

describe('runStep', () => {
  let dir: string;
  let logPath: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-run-step-'));
    logPath = path.join(dir, 'gate-lint.log');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('stops the run a dead worker left of the same step before it runs the command again', async () => {
    const stale = spawn('/bin/sh', ['-c', 'sleep 30 & sleep 30'], { detached: true, stdio: 'ignore' });
    const exited = once(stale, 'exit');
    fs.writeFileSync(path.join(dir, 'gate-lint.pid'), `${stale.pid}\n`);
    const r = await runStep({ command: 'echo again', cwd: dir, env: {}, redact: new Redactor({}), timeoutMs: 10_000, logPath, what: 'gate "lint"' });
    await exited;
    assert.equal(r.exitCode, 0);
    assert.equal(fs.existsSync(pidFileOf(logPath)), false, 'the pid file is removed once the run ended');
  });

  it('runs with exactly the environment given and redacts its secrets from the log and the tail', async () => {
    const secret = 'hunter2-very-secret';
    const r = await runStep({
      command: 'echo "token=$TOKEN home=${HOME:-none}"',
      cwd: dir,
      env: { TOKEN: secret },
      redact: new Redactor({ TOKEN: secret }),
      timeoutMs: 10_000,
      logPath,
      what: 'gate "lint"',
    });
    assert.equal(r.tail.trim(), 'token=[redacted:TOKEN] home=none');
    const log = fs.readFileSync(logPath, 'utf8');
    assert.ok(log.includes('token=[redacted:TOKEN]'));
    assert.ok(!log.includes(secret));
  });

  it('heartbeats while the command runs and throws, naming the step, when the run was stopped', async () => {
    const stop = new AbortController();
    const beats: unknown[] = [];
    let beat = (): void => undefined;
    const firstBeat = new Promise<void>((resolve) => (beat = resolve));
    const heartbeat = (details: unknown): void => {
      beats.push(details);
      beat();
    };
    const run = runStep({
      command: 'sleep 30',
      cwd: dir,
      env: {},
      redact: new Redactor({}),
      timeoutMs: 60_000,
      logPath,
      live: { signal: stop.signal, tickMs: 20, heartbeat },
      heartbeat: 'deploy',
      what: 'the deploy after T-1',
    });
    await firstBeat;
    stop.abort(new Error('the worker stops'));
    await assert.rejects(run, /the deploy after T-1 was stopped: the worker stops/);
    assert.equal(beats[0], 'deploy');
  });

  it('puts the pid file beside the log', () => {
    assert.equal(pidFileOf('/a/b/deploy.log'), '/a/b/deploy.pid');
    assert.equal(pidFileOf('/a/b/probe-x.log'), '/a/b/probe-x.pid');
  });
});
