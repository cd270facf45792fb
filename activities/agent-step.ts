/**
 * One agent run for one step of a ticket (its plan, or attempt n), shared by the plan and implement phases: stop a
 * stale run of the same step left by a dead worker, cut the ticket's worktree fresh from the base tip, write the
 * prompt, run a fresh agent process there with heartbeats, and keep its transcript in the step's artifacts folder.
 */
import path from 'node:path';
import type { Agent, AgentRole } from './agents/agent';
import { stepDir, writeArtifact } from './artifacts';
import { liveness } from './context';
import { prepareWorktree } from './git';
import { stopStaleRun } from './process';
import { renderPrompt } from './prompt';
import type { AgentRun, BatchConfig, Ticket } from '../workflows/types';

/** The ticket branch name: `ratchet/<batchId>/<ticketId>` (issue #2). */
export const ticketBranch = (batchId: string, ticketId: string): string => `ratchet/${batchId}/${ticketId}`;

/** The worktree folder name of a ticket inside `worktreesDir`. */
export const worktreeName = (batchId: string, ticketId: string): string => `${batchId}-${ticketId}`;

export interface AgentStepInput {
  config: BatchConfig;
  ticket: Ticket;
  role: AgentRole;
  /** 0 for the plan, n for attempt n. */
  attempt: number;
  plan?: string;
  feedback: string[];
}

export interface AgentStep {
  run: AgentRun;
  /** The step's artifacts folder (absolute): prompt.md, transcript.log, result.json, stdout.log. */
  dir: string;
  branch: string;
  worktree: string;
  /** The base commit the worktree was cut from. */
  baseCommit: string;
}

/**
 * Runs the agent for one step and returns what it produced. Throws only when the worktree cannot be prepared or the
 * agent cannot be started; a failing agent is a result (`run.exitCode`), not an error.
 */
export async function runAgentStep(agent: Agent, input: AgentStepInput): Promise<AgentStep> {
  const { config, ticket, role, attempt } = input;
  const dir = await stepDir(config, ticket.id, attempt === 0 ? 'plan' : `attempt-${attempt}`);
  const pidFile = path.join(dir, 'agent.pid');
  await stopStaleRun(pidFile);
  const branch = ticketBranch(config.batchId, ticket.id);
  const wt = await prepareWorktree({
    repo: config.repo,
    worktreesDir: config.worktreesDir,
    branch,
    base: config.baseBranch,
    name: worktreeName(config.batchId, ticket.id),
  });
  const promptFile = await writeArtifact(
    path.join(dir, 'prompt.md'),
    renderPrompt({ config, ticket, role, attempt: attempt || undefined, branch, plan: input.plan, feedback: input.feedback }),
  );
  const { heartbeat, signal, tickMs } = liveness();
  const run = await agent.run(
    {
      role,
      cwd: wt.path,
      promptFile,
      resultFile: path.join(dir, 'result.json'),
      transcriptPath: path.join(dir, 'transcript.log'),
      stdoutPath: path.join(dir, 'stdout.log'),
      pidFile,
      env: {
        RATCHET_BATCH_ID: config.batchId,
        RATCHET_TICKET_ID: ticket.id,
        RATCHET_ATTEMPT: String(attempt),
        RATCHET_WORKTREE: wt.path,
        RATCHET_BRANCH: branch,
        RATCHET_BASE_BRANCH: config.baseBranch,
      },
      timeoutMs: config.agent.timeoutMs,
    },
    { signal, tickMs, onTick: () => heartbeat(attempt === 0 ? 'plan' : `implement attempt ${attempt}`) },
  );
  return { run, dir, branch, worktree: wt.path, baseCommit: wt.baseCommit };
}
