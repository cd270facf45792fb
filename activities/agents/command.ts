/**
 * The command agent: any CLI (Claude Code `claude -p`, Codex `codex exec`, aider, a script) behind the agent
 * interface. The agent protocol, the whole contract between ratchet and an agent command:
 *
 * - Invocation: `config.command` runs through `/bin/sh -c` in its own process group, one fresh process per run.
 * - Working directory: the ticket's git worktree, checked out on the ticket branch `ratchet/<batchId>/<ticketId>`
 *   cut fresh from the base branch's tip.
 * - Environment: a few harmless worker variables (PATH, HOME, USER, LANG, LC_*, ...: `env.ts`), the batch's
 *   `agent.env`, the worker variables named in `agent.envFrom` (nothing else of the worker's environment), plus:
 *   - `RATCHET_ROLE`: `plan`, `implement`, `heal` (the self-heal: README "Self-heal"), `decompose` (an epic: docs/epics.md) or `review` (docs/agents.md "Review before merge");
 *   - `RATCHET_PROMPT_FILE`: absolute path of the prompt, a markdown file with the ticket (title, body), its
 *     acceptance criteria and the feedback of earlier attempts (gate failures, verify-live failures, reviewers);
 *   - `RATCHET_RESULT_FILE`: absolute path where the agent may write its JSON result (deleted before the run; in
 *     the sandbox a path under its private /tmp);
 *   - `RATCHET_TICKET_ID`, `RATCHET_BATCH_ID`, `RATCHET_ATTEMPT` (1, 2, ... for implement; 0 for plan; the heal's
 *     number, 1, 2, ..., for heal),
 *     `RATCHET_WORKTREE` (absolute, same as the cwd), `RATCHET_BRANCH`, `RATCHET_BASE_BRANCH`.
 *   Protocol variables win over same-named ones in the config's `env`.
 * - Sandbox (Linux, bubblewrap): only the worktree, the git metadata its commits need, a private /tmp and the
 *   batch's `agent.cacheDirs` are writable; the rest of the filesystem is read-only and other processes are hidden.
 * - stdin is closed (/dev/null). stdout and stderr go to the attempt's transcript in the artifacts folder, with the
 *   values of every `envFrom` variable redacted.
 * - Exit 0: the agent finished. The harness then commits whatever changed in the worktree (the agent may also
 *   commit itself; both end up on the ticket branch) and the gates decide whether the attempt is good.
 * - Non-zero exit, or running past the time limit (everything it started gets SIGTERM, then SIGKILL 3 s later): a
 *   failed attempt; the transcript's tail becomes feedback in the next attempt's prompt.
 * - Nothing the agent starts outlives its run: whatever it left running when it exited (a dev server, a watcher,
 *   a `setsid` or daemonized child) is killed then, and counted in the run's `killed`.
 * - Optional result file, JSON: `{ "summary"?: string, "costUsd"?: number, "tokens"?: number, "plan"?: string }`, or
 *   for role plan a typed plan (activities/plan-answer.ts). Ignored when missing, not valid JSON, or larger than 256 KB.
 *   Other fields are kept but not interpreted.
 * - Role plan: the plan is the result file's typed plan or `plan` field, else the agent's answer (stdout).
 * - A preset (`config.preset`: presets.ts) says how stdout is read: the tool's answer text (kept as `answer.md` next to
 *   `stdout.log`), its cost and its tokens, which win over the result file's.
 * - The transcript's first line names the profile that ran (`=== profile <name>`), then the command.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { AgentConfig, AgentPreset, AgentRun } from '../../workflows/types';
import { runCommand } from '../process';
import { readBoxFile } from '../box/read-back';
import { killedNote } from '../run-step';
import type { Redactor } from '../redact';
import type { Agent, AgentTask } from './agent';
import { readPresetOutput, type PresetOutput } from './presets';

/** The file, beside the step's `stdout.log`, that holds a preset's answer text. */
export const ANSWER_FILE = 'answer.md';

/** Bytes of output kept as the run's summary. */
const SUMMARY_BYTES = 4096;
/** Larger result files are ignored: the result travels in Temporal payloads (2 MB hard limit). */
const MAX_RESULT_BYTES = 256 * 1024;

/**
 * An {@link Agent} that runs `config.command` per the agent protocol above, with the time limit `task.timeoutMs`.
 * `run` rejects only when the command cannot be started (e.g. `task.cwd` is missing).
 */
export function commandAgent(config: Pick<AgentConfig, 'command'> & Partial<Pick<AgentConfig, 'preset'>>): Agent {
  return {
    name: 'command',
    async run(task: AgentTask, opts: { signal?: AbortSignal; onTick?: () => void; tickMs?: number }): Promise<AgentRun> {
      await fsp.rm(task.resultFile, { force: true });
      await fsp.mkdir(path.dirname(task.resultFile), { recursive: true });
      // In the box the artifacts folder is hidden: the agent reads its prompt from, and writes its result in, its
      // private /tmp.
      const boxedResult = task.sandbox && path.join(task.sandbox.tmpDir, 'ratchet-result.json');
      if (task.sandbox) await fsp.copyFile(task.promptFile, path.join(task.sandbox.tmpDir, 'ratchet-prompt.md'));
      await fsp.mkdir(path.dirname(task.transcriptPath), { recursive: true });
      const preset = config.preset === undefined ? '' : ` (preset ${config.preset})`;
      await fsp.appendFile(task.transcriptPath, `=== profile ${task.profile ?? 'default'}${preset}, role ${task.role}\n`);
      const r = await runCommand({
        command: config.command,
        cwd: task.cwd,
        env: {
          ...task.env,
          ...task.sandbox?.env,
          RATCHET_ROLE: task.role,
          RATCHET_PROMPT_FILE: task.sandbox ? '/tmp/ratchet-prompt.md' : task.promptFile,
          RATCHET_RESULT_FILE: boxedResult ? '/tmp/ratchet-result.json' : task.resultFile,
        },
        exactEnv: true,
        prefix: task.sandbox?.prefix,
        redact: task.redact,
        timeoutMs: task.timeoutMs,
        logPath: task.transcriptPath,
        stdoutPath: task.stdoutPath,
        pidFile: task.pidFile,
        signal: opts.signal,
        onTick: opts.onTick,
        tickMs: opts.tickMs,
        tailBytes: SUMMARY_BYTES,
      });
      // Read back without following a symlink or a folder out of where the agent could write (read-back.ts): a result
      // file linked to the worker's /proc/self/environ would otherwise travel as the agent's result.
      const written = boxedResult ?? task.resultFile;
      const { result, note } = await readResult(path.dirname(written), path.basename(written), task.resultFile, task.redact);
      const out = config.preset && task.stdoutPath ? await presetRead(config.preset, task.stdoutPath) : {};
      const reported = costOf(result);
      const costUsd = out.costUsd ?? reported.costUsd;
      const tokens = out.tokens ?? reported.tokens;
      const notes = [note, out.note, out.isError ? `${config.preset ?? 'the agent'} reported the run as failed (is_error)` : undefined].filter((n) => n !== undefined);
      return {
        // A tool that says its run failed while exiting 0 failed the step.
        exitCode: out.isError && r.exitCode === 0 ? 1 : r.exitCode,
        timedOut: r.timedOut,
        ms: r.ms,
        transcriptPath: task.transcriptPath,
        summary:
          lastLines(out.text !== undefined ? tailOf(out.text, SUMMARY_BYTES) : r.tail, SUMMARY_BYTES) +
          notes.map((n) => `\n[ratchet] ${n}`).join('') +
          (r.killed ? `\n${killedNote(r, 'the agent')}` : ''),
        ...(result === undefined ? {} : { result }),
        ...(r.killed ? { killed: r.killed } : {}),
        ...(costUsd === undefined ? {} : { costUsd }),
        ...(tokens === undefined ? {} : { tokens }),
      };
    },
  };
}

/**
 * The result file `name` in `dir` (where the agent wrote it), parsed, with secrets redacted and kept at `keep` (the
 * step's artifacts), or a note saying why it was ignored; nothing when the agent wrote none.
 */
async function readResult(dir: string, name: string, keep: string, redact: Redactor | undefined): Promise<{ result?: unknown; note?: string }> {
  let text: string | undefined;
  try {
    text = await readBoxFile(dir, name, MAX_RESULT_BYTES);
  } catch (err) {
    return { note: `result file ignored: ${(err as Error).message}` };
  }
  if (text === undefined) return {};
  const clean = redact ? redact.redact(text) : text;
  await fsp.writeFile(keep, clean);
  try {
    return { result: JSON.parse(clean) as unknown };
  } catch {
    // JSON.parse's message quotes the text; the note must not (the file is the agent's to choose).
    return { note: 'result file ignored: it is not JSON' };
  }
}

/**
 * What `preset`'s stdout (at `stdoutPath`, redacted already) says: its answer text is kept as `answer.md` beside it.
 * A missing stdout reads as nothing.
 */
async function presetRead(preset: AgentPreset, stdoutPath: string): Promise<PresetOutput> {
  const stdout = await fsp.readFile(stdoutPath, 'utf8').catch(() => '');
  const out = readPresetOutput(preset, stdout);
  if (out.text !== undefined) await fsp.writeFile(path.join(path.dirname(stdoutPath), ANSWER_FILE), out.text);
  return out;
}

/** The result file's own `costUsd` and `tokens`, when they are non-negative numbers. */
function costOf(result: unknown): { costUsd?: number; tokens?: number } {
  if (!result || typeof result !== 'object') return {};
  const { costUsd, tokens } = result as { costUsd?: unknown; tokens?: unknown };
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  return { ...(ok(costUsd) ? { costUsd } : {}), ...(ok(tokens) ? { tokens } : {}) };
}

/** The last `bytes` of `text` (about: characters). */
function tailOf(text: string, bytes: number): string {
  return text.length > bytes ? text.slice(-bytes) : text;
}

/** `tail` without its first line when the tail was cut (that line is likely partial). */
function lastLines(tail: string, tailBytes: number): string {
  if (Buffer.byteLength(tail) < tailBytes - 3) return tail;
  const nl = tail.indexOf('\n');
  return nl === -1 ? tail : tail.slice(nl + 1);
}
