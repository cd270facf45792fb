/** Activity: plan. A fresh agent writes a plan for one ticket in a throwaway worktree. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Agent } from './agents/agent';
import { stepDir, tail, writeArtifact } from './artifacts';
import { liveness } from './context';
import { prepareWorktree } from './git';
import { stopStaleRun } from './process';
import { renderPrompt } from './prompt';
import type { BatchConfig, PlanResult, Ticket } from '../workflows/types';

export interface PlanInput {
  config: BatchConfig;
  ticket: Ticket;
}

/** The ticket branch name: `ratchet/<batchId>/<ticketId>` (issue #2). */
export const ticketBranch = (batchId: string, ticketId: string): string => `ratchet/${batchId}/${ticketId}`;

/** The worktree folder name of a ticket inside `worktreesDir`. */
export const worktreeName = (batchId: string, ticketId: string): string => `${batchId}-${ticketId}`;

/**
 * Runs the agent in role `plan` and returns the plan: the result file's `plan` field, else its output.
 * The full plan is written to `<artifacts>/plan/plan.md`; the payload carries at most 4 KB of it.
 */
export async function plan(agent: Agent, input: PlanInput): Promise<PlanResult> {
  const { config, ticket } = input;
  const dir = await stepDir(config, ticket.id, 'plan');
  await stopStaleRun(path.join(dir, 'agent.pid'));
  const branch = ticketBranch(config.batchId, ticket.id);
  const wt = await prepareWorktree({
    repo: config.repo,
    worktreesDir: config.worktreesDir,
    branch,
    base: config.baseBranch,
    name: worktreeName(config.batchId, ticket.id),
  });
  const promptFile = await writeArtifact(path.join(dir, 'prompt.md'), renderPrompt({ config, ticket, role: 'plan', branch, feedback: [] }));
  const { heartbeat, signal, tickMs } = liveness();
  const run = await agent.run(
    {
      role: 'plan',
      cwd: wt.path,
      promptFile,
      resultFile: path.join(dir, 'result.json'),
      transcriptPath: path.join(dir, 'transcript.log'),
      pidFile: path.join(dir, 'agent.pid'),
      stdoutPath: path.join(dir, 'stdout.log'),
      env: agentEnv(config, ticket.id, branch, wt.path, 0),
      timeoutMs: config.agent.timeoutMs,
    },
    { signal, tickMs, onTick: () => heartbeat('plan') },
  );
  const fromResult = (run.result as { plan?: unknown } | undefined)?.plan;
  const text = typeof fromResult === 'string' ? fromResult : await readFile(path.join(dir, 'stdout.log'), 'utf8').catch(() => run.summary);
  const planPath = await writeArtifact(path.join(dir, 'plan.md'), text);
  return { agent: run, plan: tail(text, 4096), planPath };
}

/** The RATCHET_* variables of the agent protocol that depend on the ticket (README "Agent protocol"). */
export function agentEnv(config: BatchConfig, ticketId: string, branch: string, worktree: string, attempt: number): Record<string, string> {
  return {
    RATCHET_BATCH_ID: config.batchId,
    RATCHET_TICKET_ID: ticketId,
    RATCHET_ATTEMPT: String(attempt),
    RATCHET_WORKTREE: worktree,
    RATCHET_BRANCH: branch,
    RATCHET_BASE_BRANCH: config.baseBranch,
  };
}
