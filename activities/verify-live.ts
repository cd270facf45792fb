/**
 * Activity: verify-live. One round of probes against the running, merged system. The workflow repeats rounds on
 * durable timers until its deadline: live systems are eventually consistent, and waiting belongs in the workflow.
 */
import path from 'node:path';
import { stepDir } from './artifacts';
import { baseCheckout, type Git } from './git';
import { commandEnv } from './env';
import type { Redactor } from './redact';
import { runStep } from './run-step';
import { batchRedactor } from './secrets';
import type { Probe, ProbeResult, RepoRef, VerifyResult } from '../workflows/types';

export interface VerifyInput {
  ref: RepoRef;
  ticketId: string;
  /** The batch's probes and the ticket's own. */
  probes: Probe[];
  /** The batch's secrets (every `envFrom` name), redacted from the probes' logs. */
  secrets: string[];
}

/** Runs each probe once and returns which passed; `passed` only if every probe passed and there was at least one. */
export async function verifyLive(input: VerifyInput, deps: { env: NodeJS.ProcessEnv; git: Git }): Promise<VerifyResult> {
  const { ref, ticketId, probes } = input;
  const results: ProbeResult[] = [];
  const redact = batchRedactor(input.secrets, deps.env);
  for (const probe of probes) results.push(await runProbe(ref, ticketId, probe, deps, redact));
  return { passed: results.length > 0 && results.every((r) => r.passed), probes: results };
}

async function runProbe(ref: RepoRef, ticketId: string, probe: Probe, deps: { env: NodeJS.ProcessEnv; git: Git }, redact: Redactor): Promise<ProbeResult> {
  if (probe.kind === 'command') {
    const cwd = await baseCheckout(deps.git, ref.repo, ref.baseBranch, ref.worktreesDir);
    const logPath = path.join(await stepDir(ref, ticketId, 'verify-live'), `probe-${probe.name.replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
    const r = await runStep({
      command: probe.command,
      cwd,
      // Like the deploy, a probe learns which ticket it verifies, so one batch-level probe can check each ticket's effect.
      env: commandEnv({ source: deps.env, protocol: { RATCHET_BATCH_ID: ref.batchId, RATCHET_TICKET_ID: ticketId } }),
      redact,
      timeoutMs: probe.timeoutMs,
      logPath,
      tailBytes: 500,
      what: `probe "${probe.name}" of ${ticketId}`,
    });
    const passed = r.exitCode === 0 && !r.timedOut;
    const detail = passed ? 'exit 0' : `exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}: ${r.tail.trim().slice(-300)}`;
    return { name: probe.name, passed, detail, ...(r.killed ? { killed: r.killed } : {}) };
  }
  try {
    const res = await fetch(probe.url, { method: probe.method, signal: AbortSignal.timeout(probe.timeoutMs) });
    const body = await res.text();
    const statusOk = res.status === probe.expectStatus;
    const bodyOk = probe.expectBody === undefined || body.includes(probe.expectBody);
    const passed = statusOk && bodyOk;
    const detail = passed
      ? `${res.status}`
      : `got ${res.status} ${JSON.stringify(body.slice(0, 200))}; expected ${probe.expectStatus}${probe.expectBody ? ` containing ${JSON.stringify(probe.expectBody)}` : ''}`;
    return { name: probe.name, passed, detail };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { name: probe.name, passed: false, detail: `${probe.method} ${probe.url} failed: ${cause ?? (err as Error).message}` };
  }
}
