/**
 * The activity factory. Workers call `createActivities(deps)`; workflows type their proxies with
 * `ReturnType<typeof createActivities>` through `import type` only.
 */
import type { Agent } from './agents/agent';
import { commandAgent } from './agents/command';
import { loadBatch, readFacts, setTicketState } from './batch';
import { toFailure } from './errors';
import { implement, type ImplementInput } from './implement';
import { deploy, merge } from './merge';
import { plan, type PlanInput } from './plan';
import { validate } from './validate';
import { verifyLive } from './verify-live';
import type { AgentConfig } from '../workflows/types';

export interface ActivityDeps {
  /** Builds the agent for a batch's `agent` config; defaults to the command adapter. */
  agentFor?: (config: AgentConfig) => Agent;
}

/** Wraps an activity so bad input and other non-retryable errors become typed `ApplicationFailure`s. */
function boundary<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      return toFailure(err);
    }
  };
}

/** Returns every activity ratchet's workflows call, keyed by activity type name. */
export function createActivities(deps: ActivityDeps = {}) {
  const agentFor = deps.agentFor ?? commandAgent;
  return {
    loadBatch: boundary(loadBatch),
    readFacts: boundary(readFacts),
    setTicketState: boundary(setTicketState),
    plan: boundary((input: PlanInput) => plan(agentFor(input.config.agent), input)),
    implement: boundary((input: ImplementInput) => implement(agentFor(input.config.agent), input)),
    validate: boundary(validate),
    merge: boundary(merge),
    deploy: boundary(deploy),
    verifyLive: boundary(verifyLive),
  };
}

export type Activities = ReturnType<typeof createActivities>;
