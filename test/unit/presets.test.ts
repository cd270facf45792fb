/**
 * The agent presets (issue 28 item 3; docs/agents.md "Presets"), each run through the command agent against a FAKE
 * binary of the same name placed first on PATH, which reads its prompt as the preset's command gives it and writes
 * that tool's documented output: ratchet reads the answer text, the cost and the tokens from it.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AgentTask } from '../../activities/agents/agent';
import { ANSWER_FILE, commandAgent } from '../../activities/agents/command';
import { readPlanAnswer } from '../../activities/plan-answer';
import { PRESET_COMMANDS } from '../../workflows/agent-presets';
import type { AgentPreset } from '../../workflows/types';

describe('agent presets against fake binaries', () => {
  let dir: string;
  let bin: string;
  let artifacts: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-presets-'));
    bin = path.join(dir, 'bin');
    artifacts = path.join(dir, 'artifacts');
    for (const d of [bin, artifacts, path.join(dir, 'worktree')]) fs.mkdirSync(d);
    fs.writeFileSync(path.join(artifacts, 'prompt.md'), '# Ticket greet: say hello\n\nWrite greet.txt.\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A fake `name` on PATH: a shell script. */
  const fake = (name: string, script: string): void => {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  };

  const run = (preset: AgentPreset, role: AgentTask['role'] = 'implement') =>
    commandAgent({ command: PRESET_COMMANDS[preset], preset }).run(
      {
        role,
        profile: preset,
        cwd: path.join(dir, 'worktree'),
        promptFile: path.join(artifacts, 'prompt.md'),
        resultFile: path.join(artifacts, 'result.json'),
        transcriptPath: path.join(artifacts, 'transcript.log'),
        stdoutPath: path.join(artifacts, 'stdout.log'),
        env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: dir },
        timeoutMs: 30_000,
      },
      {},
    );

  it('claude-code: reads result, total_cost_usd and the usage tokens from `claude -p --output-format json`', async () => {
    // The JSON object Claude Code prints once the run ends (docs: Claude Code headless mode, "JSON output").
    fake(
      'claude',
      `case "$*" in *"-p --output-format json"*) ;; *) echo "unexpected args: $*" >&2; exit 9;; esac
first=$(head -n 1)
printf '{"type":"result","subtype":"success","is_error":false,"duration_ms":2300,"duration_api_ms":2100,"num_turns":3,"result":"Done: %s","session_id":"3f1c","total_cost_usd":0.0123,"usage":{"input_tokens":1200,"cache_creation_input_tokens":300,"cache_read_input_tokens":500,"output_tokens":240}}\\n' "$first"`,
    );
    const r = await run('claude-code');
    assert.equal(r.exitCode, 0, r.summary);
    assert.equal(r.costUsd, 0.0123);
    assert.equal(r.tokens, 2_240);
    assert.match(r.summary, /^Done: # Ticket greet: say hello/, 'the prompt went in on stdin and the answer is the summary');
    assert.equal(fs.readFileSync(path.join(artifacts, ANSWER_FILE), 'utf8'), 'Done: # Ticket greet: say hello');
    assert.match(fs.readFileSync(path.join(artifacts, 'transcript.log'), 'utf8'), /^=== profile claude-code \(preset claude-code\), role implement\n/);
  });

  it('claude-code: a run it reports as is_error fails the step even when it exits 0; its cost still counts', async () => {
    fake('claude', `cat >/dev/null; printf '{"type":"result","subtype":"error_max_turns","is_error":true,"result":"","total_cost_usd":0.5,"usage":{"input_tokens":10,"output_tokens":5}}\\n'`);
    const r = await run('claude-code');
    assert.equal(r.exitCode, 1);
    assert.equal(r.costUsd, 0.5);
    assert.match(r.summary, /\[ratchet\] claude-code reported the run as failed \(is_error\)/);
  });

  it('claude-code: a typed plan in its answer is read as the plan', async () => {
    const plan = { summary: 's', steps: ['a'], files: [], risks: [], size: 'S', sizeReason: 'one file', tests: [] };
    fake('claude', `cat >/dev/null; printf '%s\\n' '${JSON.stringify({ type: 'result', is_error: false, result: JSON.stringify(plan), total_cost_usd: 0.01 })}'`);
    const r = await run('claude-code', 'plan');
    assert.equal(r.costUsd, 0.01);
    assert.equal(readPlanAnswer(r.result, fs.readFileSync(path.join(artifacts, ANSWER_FILE), 'utf8')).size, 'S');
  });

  it('codex: reads the last agent_message and the turns\' token usage from `codex exec --json` JSONL; its cost is unknown', async () => {
    // The JSON Lines events of codex exec --json (docs: codex docs/exec.md, "JSON output mode").
    fake(
      'codex',
      `case "$*" in "exec --json --full-auto -") ;; *) echo "unexpected args: $*" >&2; exit 9;; esac
cat >/dev/null
cat <<'EOF'
{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"**Looking for greet**"}}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"bash -lc ls","aggregated_output":"","exit_code":0,"status":"completed"}}
{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"Wrote greet.txt."}}
{"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}
EOF`,
    );
    const r = await run('codex');
    assert.equal(r.exitCode, 0, r.summary);
    assert.equal(r.tokens, 24_885);
    assert.equal(r.costUsd, undefined, 'unknown, never zero');
    assert.equal(r.summary, 'Wrote greet.txt.');
  });

  it('aider: reads the session cost and every message\'s tokens from its stdout', async () => {
    // aider's usage report lines after each reply (docs: aider.chat scripting and usage).
    fake(
      'aider',
      `case "$*" in "--yes-always --message-file "*prompt.md) ;; *) echo "unexpected args: $*" >&2; exit 9;; esac
cat <<'EOF'
Aider v0.86.1
Model: anthropic/claude-sonnet-4 with diff edit format
Git repo: .git with 3 files
Tokens: 2.3k sent, 450 received. Cost: $0.02 message, $0.02 session.
Applied edit to greet.txt
Tokens: 3.0k sent, 1.2k cache write, 2.0k cache hit, 42 received. Cost: $0.01 message, $0.03 session.
EOF`,
    );
    const r = await run('aider');
    assert.equal(r.exitCode, 0, r.summary);
    assert.equal(r.costUsd, 0.03);
    assert.equal(r.tokens, 2_300 + 450 + 3_000 + 42);
    assert.match(r.summary, /Applied edit to greet\.txt/);
  });

  it('a plain command keeps the result file\'s own costUsd and tokens', async () => {
    const r = await commandAgent({ command: `printf '{"costUsd":0.25,"tokens":900}' > "$RATCHET_RESULT_FILE"` }).run(
      {
        role: 'implement',
        cwd: path.join(dir, 'worktree'),
        promptFile: path.join(artifacts, 'prompt.md'),
        resultFile: path.join(artifacts, 'result.json'),
        transcriptPath: path.join(artifacts, 'transcript.log'),
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        timeoutMs: 30_000,
      },
      {},
    );
    assert.equal(r.costUsd, 0.25);
    assert.equal(r.tokens, 900);
  });
});
