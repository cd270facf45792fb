/** Activity: plan. A fresh agent writes a plan for one ticket in the ticket's fresh worktree. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Agent } from './agents/agent';
import { ANSWER_FILE } from './agents/command';
import { runTicketStep, type AgentStepDeps, type TicketStepInput } from './agent-step';
import { tail, writeArtifact } from './artifacts';
import { readPlanAnswer } from './plan-answer';
import type { PlanResult } from '../workflows/types';

/** The repository, the ticket, the agent, the harness, the batch's gates and probes (for the prompt) and its secrets. */
export type PlanInput = TicketStepInput;

/**
 * Runs the agent in role `plan` and returns the plan: a typed plan (the result file's JSON, checked by schema:
 * plan-answer.ts), else the free text of the result file's `plan`, else the agent's answer (a preset's) or stdout.
 * A JSON plan that fails the schema comes back as free text with its `problems`; free text has size `unknown`.
 * The full plan is written to `<artifacts>/plan/plan.md`; the payload carries at most 4 KB of it, and the typed plan
 * bounded to 4 KB as JSON.
 */
export async function plan(agent: Agent, input: PlanInput, deps: AgentStepDeps): Promise<PlanResult> {
  const { run, dir } = await runTicketStep(agent, { ...input, role: 'plan', attempt: 0, feedback: [] }, deps);
  const said = await readFile(path.join(dir, ANSWER_FILE), 'utf8').catch(() => readFile(path.join(dir, 'stdout.log'), 'utf8').catch(() => run.summary));
  const answer = readPlanAnswer(run.result, said);
  const planPath = await writeArtifact(path.join(dir, 'plan.md'), answer.text);
  return {
    agent: { ...run, result: undefined },
    plan: tail(answer.text, 4096),
    planPath,
    size: answer.size,
    ...(answer.typed ? { typed: answer.typed } : {}),
    ...(answer.problems ? { problems: answer.problems.slice(0, 20) } : {}),
  };
}
