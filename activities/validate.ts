/** Activity: validate. Runs the batch's gates (commands) in an attempt's worktree; exit 0 passes. */
import path from 'node:path';
import { stepDir } from './artifacts';
import { liveness } from './context';
import { runCommand } from './process';
import type { BatchConfig, GateResult, ValidateResult } from '../workflows/types';

export interface ValidateInput {
  config: BatchConfig;
  ticketId: string;
  attempt: number;
  worktree: string;
}

/**
 * Runs every gate in order (all of them, so the feedback is complete) and returns each one's exit code, duration
 * (ms) and the last 3 KB of output; full logs go to `<artifacts>/attempt-<n>/gate-<name>.log`.
 */
export async function validate(input: ValidateInput): Promise<ValidateResult> {
  const { config, ticketId, attempt, worktree } = input;
  const dir = await stepDir(config, ticketId, `attempt-${attempt}`);
  const { heartbeat, signal, tickMs } = liveness();
  const gates: GateResult[] = [];
  for (const gate of config.gates) {
    const logPath = path.join(dir, `gate-${gate.name.replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
    const r = await runCommand({
      command: gate.command,
      cwd: worktree,
      env: { RATCHET_TICKET_ID: ticketId, RATCHET_ATTEMPT: String(attempt) },
      timeoutMs: gate.timeoutMs,
      logPath,
      signal,
      tailBytes: 3072,
      tickMs,
      onTick: () => heartbeat(`gate ${gate.name}`),
    });
    const passed = r.exitCode === 0 && !r.timedOut;
    gates.push({ name: gate.name, passed, exitCode: r.exitCode, ms: r.ms, tail: r.timedOut ? `${r.tail}\n[timed out after ${gate.timeoutMs} ms]` : r.tail, logPath });
  }
  return { passed: gates.every((g) => g.passed), gates };
}
