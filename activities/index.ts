/**
 * The activity factory. Workers call `createActivities(deps)`; workflows type their proxies with
 * `ReturnType<typeof createActivities>` through `import type` only.
 */
import type { Agent } from './agents/agent';
import { commandAgent } from './agents/command';
import { fileTicket, loadBatch, readFacts, setTicketState } from './batch';
import { liveness } from './context';
import { toFailure } from './errors';
import { selfHeal, smokeCheck, type HealInput } from './heal';
import { implement, type ImplementInput } from './implement';
import { deploy, merge } from './merge';
import { plan, type PlanInput } from './plan';
import { createSandboxProbe, type SandboxProbe } from './sandbox';
import { validate, type ValidateInput } from './validate';
import { verifyLive, type VerifyInput } from './verify-live';
import type { AgentConfig, BatchConfig, Ticket } from '../workflows/types';

export interface ActivityDeps {
  /** Builds the agent for a batch's `agent` config; defaults to the command adapter. */
  agentFor?: (config: AgentConfig) => Agent;
  /** The worker's environment: where `envFrom` values come from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Whether bubblewrap works here; default a probe made for this worker. */
  sandbox?: SandboxProbe;
  /**
   * Aborted when the worker process is told to stop (SIGINT/SIGTERM): running agents, gates and deploys are stopped
   * at once and their activity attempts fail, to be retried on another worker.
   */
  stopping?: AbortSignal;
}

/**
 * Wraps an activity: it heartbeats while it runs (every third of its heartbeat timeout), so a worker that dies
 * mid-activity is noticed within that timeout rather than the start-to-close timeout; and bad input and other
 * non-retryable errors become typed `ApplicationFailure`s.
 */
function boundary<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const { heartbeat, tickMs } = liveness();
    const ticker = setInterval(() => heartbeat(), tickMs);
    try {
      return await fn(...args);
    } catch (err) {
      return toFailure(err);
    } finally {
      clearInterval(ticker);
    }
  };
}

/** Returns every activity ratchet's workflows call, keyed by activity type name. */
export function createActivities(deps: ActivityDeps = {}) {
  const agentFor = deps.agentFor ?? commandAgent;
  const env = deps.env ?? process.env;
  const stopping = deps.stopping;
  const step = { env, sandbox: deps.sandbox ?? createSandboxProbe(env), stopping };
  return {
    loadBatch: boundary((input: { raw: unknown; workflowId: string }) => loadBatch(input, env)),
    readFacts: boundary(readFacts),
    setTicketState: boundary(setTicketState),
    fileTicket: boundary(fileTicket),
    plan: boundary((input: PlanInput) => plan(agentFor(input.config.agent), input, step)),
    implement: boundary((input: ImplementInput) => implement(agentFor(input.config.agent), input, step)),
    validate: boundary((input: ValidateInput) => validate(input, { env, stopping })),
    selfHeal: boundary((input: HealInput) => selfHeal(agentFor, input, step)),
    smokeCheck: boundary((input: { config: BatchConfig; ticket: Ticket; n: number }) => smokeCheck(input, step)),
    merge: boundary(merge),
    deploy: boundary((input: { config: BatchConfig; ticketId: string }) => deploy(input, { env, stopping })),
    verifyLive: boundary((input: VerifyInput) => verifyLive(input, { env })),
  };
}

export type Activities = ReturnType<typeof createActivities>;
