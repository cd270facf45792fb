/** Activity: plan. A fresh agent writes a plan for one ticket in the ticket's fresh worktree. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Agent } from './agents/agent';
import { runTicketStep, type AgentStepDeps, type TicketStepInput } from './agent-step';
import { tail, writeArtifact } from './artifacts';
import type { PlanResult } from '../workflows/types';

/** The repository, the ticket, the agent, the harness, the batch's gates and probes (for the prompt) and its secrets. */
export type PlanInput = TicketStepInput;

/**
 * Runs the agent in role `plan` and returns the plan: the result file's `plan` field, else the agent's stdout.
 * The full plan is written to `<artifacts>/plan/plan.md`; the payload carries at most 4 KB of it.
 */
export async function plan(agent: Agent, input: PlanInput, deps: AgentStepDeps): Promise<PlanResult> {
  const { run, dir } = await runTicketStep(agent, { ...input, role: 'plan', attempt: 0, feedback: [] }, deps);
  const fromResult = (run.result as { plan?: unknown } | undefined)?.plan;
  const text = typeof fromResult === 'string' ? fromResult : await readFile(path.join(dir, 'stdout.log'), 'utf8').catch(() => run.summary);
  const planPath = await writeArtifact(path.join(dir, 'plan.md'), text);
  return { agent: { ...run, result: undefined }, plan: tail(text, 4096), planPath };
}
