/**
 * What worktree-bound activities take of a batch's config besides their own part (DESIGN.md "Shapes that keep the
 * code small": activities take what they use): the repository they work in, the names of the batch's secrets, and
 * what a plan or an attempt's agent step takes. Pure functions, no I/O: the ticket workflow builds activity inputs
 * with them.
 */
import type { TicketStepInput } from '../activities/agent-step';
import { harnessOf } from './done';
import type { BatchConfig, RepoRef } from './types';

/** The repository part of `config` (see {@link RepoRef}). */
export function repoRef(config: BatchConfig): RepoRef {
  const { batchId, repo, baseBranch, worktreesDir, artifactsDir, origin } = config;
  return { batchId, repo, baseBranch, worktreesDir, artifactsDir, ...(origin === undefined ? {} : { origin }) };
}

/**
 * Every `envFrom` name of the batch (agent, gates, deploy), once: the secrets every command output an activity keeps
 * is redacted with, whichever command they were given to (DESIGN.md "Trust boundaries"). Names only: values come from
 * the worker's environment at run time.
 */
export function secretNames(config: Pick<BatchConfig, 'agent' | 'gates' | 'deploy'> & Partial<Pick<BatchConfig, 'agents'>>): string[] {
  const profiles = Object.values(config.agents ?? {}).flatMap((a) => a.envFrom);
  return [...new Set([...config.agent.envFrom, ...profiles, ...config.gates.flatMap((g) => g.envFrom), ...(config.deploy?.envFrom ?? [])])];
}

/** What a plan or an attempt takes of `config` besides the ticket: the repository, the agent, the harness, the checks. */
export function ticketStepOf(config: BatchConfig): Omit<TicketStepInput, 'ticket'> {
  const { setup, promptRules } = harnessOf(config);
  return { ref: repoRef(config), agent: config.agent, harness: { setup, promptRules }, gates: config.gates, probes: config.probes, secrets: secretNames(config) };
}
