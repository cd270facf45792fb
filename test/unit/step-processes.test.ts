import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runAgentStep } from '../../activities/agent-step';
import { commandAgent } from '../../activities/agents/command';
import { Git, prepareWorktree } from '../../activities/git';
import { runCommand, stopStaleRun } from '../../activities/process';
import { Redactor } from '../../activities/redact';
import { runStep } from '../../activities/run-step';
import { bwrapPrefix, createSandboxProbe, findBwrap } from '../../activities/box/sandbox';
import { STEP_MARK_VAR } from '../../activities/step-processes';
import { validate } from '../../activities/validate';
import { verifyLive } from '../../activities/verify-live';
import type { AgentConfig, RepoRef, Ticket } from '../../workflows/types';
import { waitUntil } from '../helpers/wait';

/** Live processes (zombies excluded) that run `sleep <arg>`. */
function running(arg: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8') === `sleep\0${arg}\0`) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

let serial = 0;
/** A `sleep` argument no other process has: 1000 s and a unique fraction, so a test finds its own sleeps by it. */
const uniqueSleep = (): string => `1000.${process.pid}${String(++serial).padStart(3, '0')}${Date.now() % 1000}`;

/**
 * A command that leaves three processes running and exits 0: a `nohup` daemon, a child its bash disowned, and a
 * `setsid` child (a session and process group of its own).
 */
const leaveThree = (sleep: string): string =>
  `nohup sleep ${sleep} >/dev/null 2>&1 & bash -c 'sleep ${sleep} >/dev/null 2>&1 & disown'; setsid sleep ${sleep} >/dev/null 2>&1 & echo started`;

describe('nothing a step starts outlives the step', function () {
  this.timeout(60_000);
  let dir: string;
  let logPath: string;
  let bwrap: string | undefined;
  const needles: string[] = [];

  before(async () => {
    bwrap = await findBwrap();
    if (bwrap === undefined) console.warn('    box cases skipped: no working bwrap on PATH');
  });
  beforeEach(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-step-processes-')));
    logPath = path.join(dir, 'logs', 'gate.log');
  });
  afterEach(() => {
    // A failed test must not leave its sleeps behind either.
    for (const pid of needles.splice(0).flatMap(running)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const sleepArg = (): string => {
    const s = uniqueSleep();
    needles.push(s);
    return s;
  };
  /** The box, as `bwrapPrefix` makes it for an agent, over the test's folder; undefined where bwrap does not work. */
  const box = (): string[] => {
    const tmpDir = path.join(dir, 'box-tmp');
    fs.mkdirSync(tmpDir, { recursive: true });
    return bwrapPrefix(bwrap as string, { cwd: dir, writable: [dir], tmpDir });
  };
  const modes = [
    { name: 'with the box off', prefix: (): string[] | undefined => undefined },
    { name: 'in the box', prefix: (): string[] | undefined => box() },
  ];

  for (const mode of modes) {
    describe(mode.name, () => {
      beforeEach(function () {
        if (mode.name === 'in the box' && bwrap === undefined) this.skip();
      });

      for (const exit of [0, 1]) {
        it(`kills a daemon, a disowned child and a setsid child left by a step that exits ${exit}, and counts them`, async () => {
          const sleep = sleepArg();
          const r = await runStep({
            command: `${leaveThree(sleep)}; exit ${exit}`,
            cwd: dir,
            env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
            prefix: mode.prefix(),
            redact: new Redactor({}),
            timeoutMs: 20_000,
            logPath,
            what: 'gate "leaves"',
          });
          assert.equal(r.exitCode, exit, r.tail);
          assert.equal(r.tail, 'started\n');
          assert.deepEqual(running(sleep), [], 'nothing the step started is still running when it has returned');
          assert.equal(r.killed, 3);
          assert.match(fs.readFileSync(logPath, 'utf8'), new RegExp(`=== exit ${exit} in \\d+ ms; killed 3 processes it left running\\n$`));
        });
      }

      it('kills a double-forked daemon: a setsid grandchild whose parent exited at once', async () => {
        const sleep = sleepArg();
        const started = 'daemon.started';
        const r = await runCommand({
          command: `(setsid sh -c 'sleep ${sleep} >/dev/null 2>&1 & echo $! > ${started}' &); while [ ! -s ${started} ]; do sleep 0.01; done`,
          cwd: dir,
          prefix: mode.prefix(),
          timeoutMs: 20_000,
          logPath,
        });
        assert.equal(r.exitCode, 0, r.tail);
        assert.deepEqual(running(sleep), []);
        // The daemon, and its parent when it had not finished exiting yet.
        assert.ok(r.killed >= 1 && r.killed <= 2, `killed ${r.killed}`);
      });

      it('kills what is still running when the step times out, its children and their setsid child included', async () => {
        const sleep = sleepArg();
        const r = await runCommand({
          command: `nohup sleep ${sleep} >/dev/null 2>&1 & setsid sleep ${sleep} >/dev/null 2>&1 & echo started; sleep ${sleep}`,
          cwd: dir,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
          exactEnv: true,
          prefix: mode.prefix(),
          timeoutMs: 1500,
          logPath,
        });
        assert.equal(r.timedOut, true);
        assert.equal(r.tail, 'started\n');
        assert.deepEqual(running(sleep), []);
        assert.ok(r.ms < 8_000, `took ${r.ms} ms`);
        assert.equal(r.killed, 3, 'the two background sleeps and the one the shell waited for; not the shell itself');
        assert.match(fs.readFileSync(logPath, 'utf8'), /=== timed out after 1500 ms in \d+ ms; killed 3 processes it started\n$/);
      });

      it('kills everything when the step is cancelled while its children run', async () => {
        const sleep = sleepArg();
        const stop = new AbortController();
        const run = runCommand({
          command: `setsid sleep ${sleep} >/dev/null 2>&1 & sleep ${sleep}`,
          cwd: dir,
          prefix: mode.prefix(),
          timeoutMs: 30_000,
          logPath,
          signal: stop.signal,
        });
        await waitUntil('both sleeps to run', async () => running(sleep).length === 2, { timeoutMs: 10_000, everyMs: 20 });
        stop.abort();
        const r = await run;
        assert.equal(r.aborted, true);
        assert.deepEqual(running(sleep), []);
        assert.equal(r.killed, 2);
      });
    });
  }

  it('leaves the processes of another step alone, even one in the same worker and folder', async () => {
    const theirs = sleepArg();
    const mine = sleepArg();
    const stop = new AbortController();
    const other = runCommand({ command: `setsid sleep ${theirs} >/dev/null 2>&1 & sleep ${theirs}`, cwd: dir, timeoutMs: 30_000, logPath: path.join(dir, 'other.log'), signal: stop.signal });
    await waitUntil('the other step to run', async () => running(theirs).length === 2, { timeoutMs: 10_000, everyMs: 20 });
    const r = await runCommand({ command: leaveThree(mine), cwd: dir, timeoutMs: 20_000, logPath });
    assert.equal(r.killed, 3);
    assert.equal(running(theirs).length, 2, "the other step's processes still run");
    stop.abort();
    assert.equal((await other).killed, 2);
  });

  it('keeps what a deploy starts running (keepRunning), and still kills it on a time-out', async () => {
    const service = sleepArg();
    const r = await runCommand({ command: `setsid sleep ${service} >/dev/null 2>&1 &`, cwd: dir, timeoutMs: 20_000, keepRunning: true, logPath });
    assert.equal(r.killed, 0);
    await waitUntil('the service to outlive the deploy', async () => running(service).length === 1, { timeoutMs: 10_000, everyMs: 20 });
    const late = sleepArg();
    const t = await runCommand({ command: `setsid sleep ${late} >/dev/null 2>&1 & sleep ${late}`, cwd: dir, timeoutMs: 500, keepRunning: true, logPath });
    assert.equal(t.timedOut, true);
    assert.deepEqual(running(late), []);
  });

  it("stops a dead worker's orphans by the mark in the pid file, setsid children included", async () => {
    const sleep = sleepArg();
    const mark = 'stale-run-mark';
    const pidFile = path.join(dir, 'gate.pid');
    // What a worker killed mid-run leaves: its step's shell gone, a setsid child of it running on, marked.
    const shell = spawn('/bin/sh', ['-c', `setsid sleep ${sleep} >/dev/null 2>&1 &`], { env: { ...process.env, [STEP_MARK_VAR]: mark }, detached: true, stdio: 'ignore' });
    await once(shell, 'exit');
    await waitUntil('the orphan to run', async () => running(sleep).length === 1, { timeoutMs: 10_000, everyMs: 20 });
    fs.writeFileSync(pidFile, `${shell.pid} ${mark}\n`);
    assert.equal(await stopStaleRun(pidFile), shell.pid);
    assert.deepEqual(running(sleep), []);
    assert.equal(fs.existsSync(pidFile), false);
  });

  describe('where step results are reported', () => {
    const git = new Git();
    let ref: RepoRef;

    beforeEach(() => {
      const repo = path.join(dir, 'repo');
      fs.mkdirSync(repo);
      const g = (...args: string[]): string => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, encoding: 'utf8' }).trim();
      g('init', '-q', '-b', 'main');
      fs.writeFileSync(path.join(repo, 'a.txt'), 'a\n');
      g('add', '-A');
      g('commit', '-q', '-m', 'init');
      ref = { batchId: 'b1', repo, baseBranch: 'main', worktreesDir: path.join(dir, 'worktrees'), artifactsDir: path.join(dir, 'artifacts') };
    });

    const ticket: Ticket = { id: 't1', title: 't1', body: '', acceptance: [], dependsOn: [], kind: 'feature', probes: [], allowPaths: [], state: 'in-progress' };

    it("a gate's result counts what it left running, and its tail tells the next attempt", async () => {
      const wt = await prepareWorktree(git, { repo: ref.repo, worktreesDir: ref.worktreesDir, branch: 'ratchet/b1/t1', base: 'main', name: 'b1-t1' });
      fs.writeFileSync(path.join(wt.path, 'b.txt'), 'b\n');
      execFileSync('git', ['add', 'b.txt'], { cwd: wt.path });
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'b'], { cwd: wt.path });
      const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: wt.path, encoding: 'utf8' }).trim();
      const sleep = sleepArg();
      const result = await validate(
        {
          ref,
          ticket,
          attempt: 1,
          worktree: wt.path,
          baseCommit: wt.baseCommit,
          commit,
          gates: [{ name: 'leaves', command: leaveThree(sleep), timeoutMs: 20_000, files: [], tests: [], envFrom: [] }],
          protectedPaths: [],
          setup: [],
          agentEnv: { env: {}, envFrom: [] },
          secrets: [],
        },
        { env: process.env, git, sandbox: createSandboxProbe() },
      );
      assert.equal(result.passed, true, JSON.stringify(result));
      assert.equal(result.gates[0].killed, 3);
      assert.match(result.gates[0].tail, /\[ratchet\] the gate left 3 processes running .*killed when it ended/);
      assert.deepEqual(running(sleep), []);
    });

    it("a command probe's result counts what it left running", async () => {
      const sleep = sleepArg();
      const r = await verifyLive(
        { ref, ticketId: 't1', probes: [{ kind: 'command', name: 'leaves', command: leaveThree(sleep), timeoutMs: 20_000, files: [] }], secrets: [] },
        { env: process.env, git },
      );
      assert.equal(r.passed, true, JSON.stringify(r));
      assert.equal(r.probes[0].killed, 3);
      assert.deepEqual(running(sleep), []);
    });

    for (const sandbox of ['none', undefined] as const) {
      it(`an agent run counts what it and the setup steps before it left running (${sandbox === 'none' ? 'box off' : 'boxed where bubblewrap works'})`, async () => {
        const sleep = sleepArg();
        const agent: AgentConfig = { command: `setsid sleep ${sleep} >/dev/null 2>&1 & echo done`, timeoutMs: 20_000, env: {}, envFrom: [], cacheDirs: [], ...(sandbox ? { sandbox } : {}) };
        const step = await runAgentStep(
          commandAgent(agent),
          { ref, ticketId: 't1', agent, setup: [{ command: `nohup sleep ${sleep} >/dev/null 2>&1 &`, timeoutMs: 20_000 }], secrets: [], role: 'implement', attempt: 1, prompt: 'do it' },
          { env: process.env, sandbox: createSandboxProbe(), git },
        );
        assert.equal(step.run.exitCode, 0, step.run.summary);
        assert.equal(fs.readFileSync(step.run.transcriptPath, 'utf8').includes('sandboxed by'), sandbox === undefined && bwrap !== undefined);
        assert.equal(step.run.killed, 2);
        assert.match(step.run.summary, /\[ratchet\] the agent left 1 process running/);
        assert.deepEqual(running(sleep), []);
      });
    }

    it('never runs an agent unboxed because bubblewrap is missing: unset sandbox fails naming the fix, only "none" runs unboxed', async () => {
      const agent: AgentConfig = { command: 'echo ran > ran.txt', timeoutMs: 20_000, env: {}, envFrom: [], cacheDirs: [] };
      const input = { ref, ticketId: 't1', agent, setup: [], secrets: [], role: 'implement' as const, attempt: 1, prompt: 'do it' };
      const noBwrap = { bwrap: async () => undefined, socat: async () => undefined };
      await assert.rejects(runAgentStep(commandAgent(agent), input, { env: process.env, sandbox: noBwrap, git }), (err: Error) => {
        assert.equal(err.name, 'ConfigError');
        assert.match(err.message, /the agent runs boxed \(field "agent\.sandbox" is not "none"\) but bubblewrap does not work.*apt-get install bubblewrap.*"none"/);
        return true;
      });
      const unboxed = { ...agent, sandbox: 'none' as const };
      const step = await runAgentStep(commandAgent(unboxed), { ...input, agent: unboxed }, { env: process.env, sandbox: noBwrap, git });
      assert.equal(step.run.exitCode, 0, 'sandbox "none", written on purpose, runs unboxed');
    });
  });
});
