import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AgentTask } from '../../activities/agents/agent';
import { commandAgent } from '../../activities/agents/command';
import { demoAgentCommand } from '../../activities/agents/demo-agent-command';
import type { AgentConfig } from '../../workflows/types';

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

describe('agents', () => {
  let dir: string;
  let worktree: string;
  let artifacts: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-agents-'));
    worktree = path.join(dir, 'worktree');
    artifacts = path.join(dir, 'artifacts');
    fs.mkdirSync(worktree);
    fs.mkdirSync(artifacts);
    fs.writeFileSync(path.join(artifacts, 'prompt.md'), '# Ticket greet: say hello\n\nAcceptance: ...\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const task = (over: Partial<AgentTask> = {}): AgentTask => ({
    role: 'implement',
    cwd: worktree,
    promptFile: path.join(artifacts, 'prompt.md'),
    resultFile: path.join(artifacts, 'result.json'),
    transcriptPath: path.join(artifacts, 'attempt', 'transcript.log'),
    env: { RATCHET_TICKET_ID: 'greet', RATCHET_ATTEMPT: '1' },
    timeoutMs: 30_000,
    ...over,
  });
  const config = (command: string, env: Record<string, string> = {}): AgentConfig => ({ command, timeoutMs: 30_000, env, envFrom: [], cacheDirs: [] });

  describe('commandAgent', () => {
    /** A node script that dumps what the protocol gave it to the result file. */
    const dumpEnv = (): string => {
      const script = path.join(dir, 'dump-env.js');
      fs.writeFileSync(script, `
        const fs = require('fs');
        const e = process.env;
        fs.writeFileSync(e.RATCHET_RESULT_FILE, JSON.stringify({
          role: e.RATCHET_ROLE, promptFile: e.RATCHET_PROMPT_FILE, resultFile: e.RATCHET_RESULT_FILE,
          ticket: e.RATCHET_TICKET_ID, attempt: e.RATCHET_ATTEMPT, fromConfig: e.FROM_CONFIG, cwd: process.cwd(),
          workerOnly: e.RATCHET_TEST_WORKER_ONLY ?? null,
        }));
        console.log('agent says hello');
      `);
      return `${q(process.execPath)} ${q(script)}`;
    };

    it('gives the command exactly the task environment plus the protocol paths, in the worktree, and parses its result file', async () => {
      const agent = commandAgent(config(dumpEnv()));
      const t = task({ role: 'plan', env: { ...task().env, FROM_CONFIG: 'yes', RATCHET_ROLE: 'overridden-by-protocol' } });
      process.env.RATCHET_TEST_WORKER_ONLY = 'must not leak';
      const run = await agent.run(t, {}).finally(() => delete process.env.RATCHET_TEST_WORKER_ONLY);
      assert.equal(run.exitCode, 0);
      assert.equal(run.timedOut, false);
      assert.deepEqual(run.result, {
        role: 'plan',
        promptFile: t.promptFile,
        resultFile: t.resultFile,
        ticket: 'greet',
        attempt: '1',
        fromConfig: 'yes',
        cwd: fs.realpathSync(worktree),
        workerOnly: null,
      });
    });

    it('writes the transcript and returns its tail as the summary', async () => {
      const run = await commandAgent(config(dumpEnv())).run(task(), {});
      assert.equal(run.transcriptPath, task().transcriptPath);
      assert.match(fs.readFileSync(run.transcriptPath, 'utf8'), /agent says hello/);
      assert.equal(run.summary, 'agent says hello\n');
    });

    it('deletes a stale result file before the run', async () => {
      const t = task();
      fs.writeFileSync(t.resultFile, JSON.stringify({ summary: 'from an earlier run' }));
      const run = await commandAgent(config('true')).run(t, {});
      assert.equal(run.result, undefined);
      assert.equal(fs.existsSync(t.resultFile), false);
    });

    it('ignores a result file that is not JSON and says so in the summary', async () => {
      const run = await commandAgent(config('echo "not json" > "$RATCHET_RESULT_FILE"')).run(task(), {});
      assert.equal(run.exitCode, 0);
      assert.equal(run.result, undefined);
      assert.match(run.summary, /result file ignored/);
    });

    it('reports a non-zero exit with the output tail', async () => {
      const run = await commandAgent(config('echo "gave up: no idea" >&2; exit 4')).run(task(), {});
      assert.equal(run.exitCode, 4);
      assert.equal(run.timedOut, false);
      assert.match(run.summary, /gave up: no idea/);
    });

    it('stops an agent that runs past the task time limit', async () => {
      const run = await commandAgent(config('sleep 30')).run(task({ timeoutMs: 200 }), {});
      assert.equal(run.timedOut, true);
      assert.equal(run.exitCode, null);
    });

    it('writes stdout alone to stdoutPath when the task asks', async () => {
      const stdoutPath = path.join(artifacts, 'plan', 'stdout.md');
      await commandAgent(config('echo "the plan"; echo progress >&2')).run(task({ role: 'plan', stdoutPath }), {});
      assert.equal(fs.readFileSync(stdoutPath, 'utf8'), 'the plan\n');
    });
  });

  describe('demo agent', () => {
    const writeScript = (yaml: string): string => {
      const file = path.join(dir, 'script.yaml');
      fs.writeFileSync(file, yaml);
      return file;
    };
    const demo = (yaml: string) => commandAgent(config(demoAgentCommand(writeScript(yaml))));
    const transcript = (attempt: number): string => path.join(artifacts, `attempt-${attempt}`, 'transcript.log');
    const attemptTask = (attempt: number, ticket = 'greet'): AgentTask =>
      task({ env: { RATCHET_TICKET_ID: ticket, RATCHET_ATTEMPT: String(attempt) }, transcriptPath: transcript(attempt) });

    it('builds a command line of quoted absolute paths to node, the tsx CLI, the agent and the script', () => {
      const cmd = demoAgentCommand(path.join(dir, "it's.yaml"));
      assert.ok(cmd.startsWith(`'${process.execPath}' '/`), cmd);
      assert.match(cmd, /node_modules\/tsx\/dist\/cli\.mjs' '\/.*activities\/agents\/demo-agent\.ts' /);
      assert.ok(cmd.endsWith(`'${dir}/it'\\''s.yaml'`), cmd);
    });

    it('applies attempt 1, then attempt 2, then keeps replaying the last attempt', async () => {
      const agent = demo(`
tickets:
  greet:
    attempts:
      - note: first try forgets the comma
        files:
          src/routes/greet.js: "hello world\\n"
          old/file.js: "stale\\n"
        exitCode: 1
      - note: second try gets it right
        files:
          src/routes/greet.js: "hello, world\\n"
        delete: [old/file.js]
`);
      const greet = path.join(worktree, 'src/routes/greet.js');

      const first = await agent.run(attemptTask(1), {});
      assert.equal(first.exitCode, 1);
      assert.equal(fs.readFileSync(greet, 'utf8'), 'hello world\n');
      assert.equal(fs.existsSync(path.join(worktree, 'old/file.js')), true);
      const log1 = fs.readFileSync(transcript(1), 'utf8');
      assert.match(log1, /ticket greet/);
      assert.match(log1, /prompt: # Ticket greet: say hello/);
      assert.match(log1, /first try forgets the comma/);
      assert.match(log1, /wrote src\/routes\/greet\.js/);
      assert.deepEqual(first.result, { summary: 'first try forgets the comma' });

      const second = await agent.run(attemptTask(2), {});
      assert.equal(second.exitCode, 0);
      assert.equal(fs.readFileSync(greet, 'utf8'), 'hello, world\n');
      assert.equal(fs.existsSync(path.join(worktree, 'old/file.js')), false);

      const third = await agent.run(attemptTask(3), {});
      assert.equal(third.exitCode, 0);
      assert.match(fs.readFileSync(transcript(3), 'utf8'), /second try gets it right/);
    });

    it('answers role plan with the scripted plan on stdout and in the result file', async () => {
      const run = await demo(`
tickets:
  greet:
    plan: |
      1. add the route
      2. test it
`).run(task({ role: 'plan' }), {});
      assert.equal(run.exitCode, 0);
      assert.equal((run.result as { plan: string }).plan, '1. add the route\n2. test it\n');
      assert.match(fs.readFileSync(run.transcriptPath, 'utf8'), /1\. add the route/);
    });

    it('holds once: writes its pid to the marker the first time and does not hold the second time', async () => {
      const marker = path.join(dir, 'markers', 'hold');
      const agent = demo(`
tickets:
  greet:
    attempts:
      - note: slow but steady
        files: { done.txt: "done\\n" }
        holdOnce: ${marker}
        holdMs: 200
`);
      const first = await agent.run(attemptTask(1), {});
      assert.equal(first.exitCode, 0);
      const log1 = fs.readFileSync(transcript(1), 'utf8');
      const pid = fs.readFileSync(marker, 'utf8').trim();
      assert.match(pid, /^\d+$/);
      assert.match(log1, new RegExp(`holding for 200 ms \\(marker .*, pid ${pid}\\)`));
      assert.equal(fs.readFileSync(path.join(worktree, 'done.txt'), 'utf8'), 'done\n');

      const second = await agent.run(attemptTask(2), {});
      assert.equal(second.exitCode, 0);
      const log2 = fs.readFileSync(transcript(2), 'utf8');
      assert.doesNotMatch(log2, /holding for/);
      assert.match(log2, /not holding/);
      assert.equal(fs.readFileSync(marker, 'utf8').trim(), pid, 'the marker is left as it was');
    });

    it('exits 3 with a clear message for a ticket the script does not know', async () => {
      const run = await demo('tickets:\n  greet: {}\n').run(attemptTask(1, 'unknown-ticket'), {});
      assert.equal(run.exitCode, 3);
      assert.match(run.summary, /ticket unknown-ticket is not in script/);
    });

    it('exits 0 without changing anything when a ticket has no scripted attempts', async () => {
      fs.writeFileSync(path.join(worktree, 'keep.txt'), 'as is\n');
      const run = await demo('tickets:\n  greet:\n    plan: just a plan\n').run(attemptTask(1), {});
      assert.equal(run.exitCode, 0);
      assert.deepEqual(fs.readdirSync(worktree), ['keep.txt']);
    });

    it('exits 2 naming the file and the field of an invalid script', async () => {
      const run = await demo('tickets:\n  greet:\n    attempts:\n      - exitCode: soon\n').run(attemptTask(1), {});
      assert.equal(run.exitCode, 2);
      assert.match(run.summary, /invalid script .*script\.yaml: tickets\.greet\.attempts\.0\.exitCode/);
    });

    it('refuses scripted paths outside the worktree', async () => {
      const run = await demo('tickets:\n  greet:\n    attempts:\n      - files: { ../escape.txt: x }\n').run(attemptTask(1), {});
      assert.equal(run.exitCode, 2);
      assert.equal(fs.existsSync(path.join(dir, 'escape.txt')), false);
    });
  });
});
