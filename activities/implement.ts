/** Activity: implement. One attempt: a fresh agent process in a fresh worktree, then the harness commits. */
import type { Agent } from './agents/agent';
import { runTicketStep, type AgentStepDeps, type TicketStepInput } from './agent-step';
import { commitAll, pushCommit } from './git';
import { parseAgentDiscovered } from '../workflows/input';
import type { ImplementResult } from '../workflows/types';

/** As a plan's (the repository's `origin`: where the attempt's branch is pushed), and the attempt's own. */
export interface ImplementInput extends TicketStepInput {
  attempt: number;
  /** The batch's `maxAttempts` (a round's), for the prompt. */
  maxAttempts: number;
  /** Feedback from earlier attempts (gate tails, conflicts), oldest first; a few KB in all. */
  feedback: string[];
  plan?: string;
}

/**
 * Cuts `ratchet/<batchId>/<ticketId>` fresh from the base tip into the ticket's worktree, runs the agent in role
 * `implement`, and commits what it left; with a batch `origin`, pushes the branch there (a failed push is logged).
 * Idempotent under retry: a retried attempt stops the stale agent of a dead worker and starts again from a fresh
 * worktree, so nothing it left behind counts.
 * Returns `commit` undefined when the agent changed nothing, and the work the agent reported discovering (its result
 * file's `discovered`, validated; refused entries are named in `discoveredProblems`).
 */
export async function implement(agent: Agent, input: ImplementInput, deps: AgentStepDeps): Promise<ImplementResult> {
  const { ticket, attempt } = input;
  const step = await runTicketStep(agent, { ...input, role: 'implement' }, deps);
  if (step.setupFailed) {
    return { agent: step.run, branch: step.branch, worktree: step.worktree, baseCommit: step.baseCommit, filesChanged: 0, setupFailed: step.setupFailed };
  }
  const committed = await commitAll(deps.git, step.worktree, `ratchet: ${ticket.id} attempt ${attempt}: ${ticket.title}`, step.baseCommit, step.branch);
  const { origin } = input.ref;
  if (origin !== undefined && committed.commit !== undefined) {
    // So that a worker on another host can take the attempt over. A push that fails costs no agent run: the attempt
    // goes on here, and only a takeover would miss the commit (it then says so, and the ticket runs a new attempt).
    await pushCommit(deps.git, { repo: input.ref.repo, remote: origin, commit: committed.commit, branch: step.branch }).catch((err: unknown) =>
      console.warn(`ratchet worker: ticket ${ticket.id} attempt ${attempt}: pushing ${step.branch} to ${origin} failed: ${(err as Error).message}`),
    );
  }
  const { work, problems } = parseAgentDiscovered(step.run.result);
  return {
    ...(work.length ? { discovered: work } : {}),
    ...(problems.length ? { discoveredProblems: problems } : {}),
    agent: step.run,
    branch: step.branch,
    worktree: step.worktree,
    baseCommit: step.baseCommit,
    commit: committed.commit,
    filesChanged: committed.filesChanged,
  };
}
