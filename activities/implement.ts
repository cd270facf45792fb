/** Activity: implement. One attempt: a fresh agent process in a fresh worktree, then the harness commits. */
import path from 'node:path';
import type { Agent } from './agents/agent';
import { stepDir, writeArtifact } from './artifacts';
import { liveness } from './context';
import { commitAll, prepareWorktree } from './git';
import { agentEnv, ticketBranch, worktreeName } from './plan';
import { stopStaleRun } from './process';
import { renderPrompt } from './prompt';
import type { BatchConfig, ImplementResult, Ticket } from '../workflows/types';

export interface ImplementInput {
  config: BatchConfig;
  ticket: Ticket;
  attempt: number;
  /** Feedback from earlier attempts (gate tails, conflicts), oldest first; a few KB in all. */
  feedback: string[];
  plan?: string;
}

/**
 * Cuts `ratchet/<batchId>/<ticketId>` fresh from the base tip into the ticket's worktree, runs the agent in role
 * `implement`, and commits what it left. Idempotent under retry: a retried attempt starts again from a fresh
 * worktree, so a worker that died mid-run leaves nothing behind that counts.
 * Returns `commit` undefined when the agent changed nothing.
 */
export async function implement(agent: Agent, input: ImplementInput): Promise<ImplementResult> {
  const { config, ticket, attempt } = input;
  const dir = await stepDir(config, ticket.id, `attempt-${attempt}`);
  await stopStaleRun(path.join(dir, 'agent.pid'));
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
    renderPrompt({ config, ticket, role: 'implement', attempt, branch, plan: input.plan, feedback: input.feedback }),
  );
  const { heartbeat, signal, tickMs } = liveness();
  const run = await agent.run(
    {
      role: 'implement',
      cwd: wt.path,
      promptFile,
      resultFile: path.join(dir, 'result.json'),
      transcriptPath: path.join(dir, 'transcript.log'),
      pidFile: path.join(dir, 'agent.pid'),
      env: agentEnv(config, ticket.id, branch, wt.path, attempt),
      timeoutMs: config.agent.timeoutMs,
    },
    { signal, tickMs, onTick: () => heartbeat(`implement attempt ${attempt}`) },
  );
  const committed = await commitAll(wt.path, `ratchet: ${ticket.id} attempt ${attempt}: ${ticket.title}`, wt.baseCommit);
  return { agent: run, branch, worktree: wt.path, commit: committed.commit, filesChanged: committed.filesChanged };
}
