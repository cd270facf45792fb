/**
 * Every activity option of ratchet's workflows in one table (after money-transfer's `proxyActivities` next to its
 * retry policy): what each kind of step may take, how soon a dead worker's task moves on (heartbeat), how often a
 * transient fault is retried, and which failures are never retried ({@link NON_RETRYABLE}). Deterministic: plain
 * data computed from the batch's harness, no I/O.
 */
import type { ActivityOptions, LocalActivityOptions, RetryPolicy } from '@temporalio/workflow';
import { NON_RETRYABLE } from './errors';
import type { BatchConfig, Probe } from './types';

/** Heartbeat timeout of the short activities (tracker, merge, probes): how soon a dead worker's task moves on. */
export const QUICK_HEARTBEAT = '10 seconds';

/**
 * Retries of a local activity wait inside its workflow task up to this backoff; a longer one waits on a timer, after
 * a marker event that records the failure (a tracker that stays unwritable shows in the history and the Web UI).
 */
export const LOCAL_RETRY_THRESHOLD = '10 seconds';

/** How long a merge may hold its lock before the lock is released for it, ms (its activity's retries fit in it). */
export const MERGE_HOLD_MS = 30 * 60_000;

const nonRetryableErrorTypes = [...NON_RETRYABLE];
/** The backoff of short steps: 1 s doubling to 30 s, 20 tries (a few minutes of an outage). */
const patient: RetryPolicy = { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes };

/**
 * The options that do not depend on the batch's harness.
 * - `quick`: tracker facts, filing, pull requests (2 min, heartbeat 10 s, 20 tries).
 * - `tracker`: a ticket's tracker writes, local activities (1 min each try).
 * - `trackerRead`: the batch's tracker reads and writes, local activities (2 min: the last read of a large batch
 *   reads every ticket).
 * - `lock`: a request to the deployment-wide lock, a local activity.
 * - `merge`: a merge into the base (2 min, 10 tries).
 * - `gateRead`: a read of an issue's labels for a person's answer at a gate (3 tries; the next poll tries again).
 * - `load`: `loadBatch` before a batch starts (`ratchet start`'s check; 5 tries up to 10 s apart).
 * - `ticketEnd`: `readTicketEnd`, which waits (heartbeating) until a ticket's workflow has closed: as long as the
 *   ticket runs (a forged `ticketEnded` about a running ticket), tried again without end.
 */
export const OPTIONS: {
  quick: ActivityOptions;
  tracker: LocalActivityOptions;
  trackerRead: LocalActivityOptions;
  lock: LocalActivityOptions;
  merge: ActivityOptions;
  gateRead: ActivityOptions;
  load: ActivityOptions;
  ticketEnd: ActivityOptions;
} = {
  quick: { startToCloseTimeout: '2 minutes', heartbeatTimeout: QUICK_HEARTBEAT, retry: patient },
  tracker: { startToCloseTimeout: '1 minute', localRetryThreshold: LOCAL_RETRY_THRESHOLD, retry: patient },
  trackerRead: { startToCloseTimeout: '2 minutes', localRetryThreshold: LOCAL_RETRY_THRESHOLD, retry: patient },
  lock: { startToCloseTimeout: '1 minute', retry: { maximumAttempts: 20, nonRetryableErrorTypes } },
  merge: { startToCloseTimeout: '2 minutes', heartbeatTimeout: QUICK_HEARTBEAT, retry: { maximumAttempts: 10, nonRetryableErrorTypes } },
  gateRead: { startToCloseTimeout: '1 minute', heartbeatTimeout: QUICK_HEARTBEAT, retry: { maximumAttempts: 3, nonRetryableErrorTypes } },
  load: { startToCloseTimeout: '2 minutes', retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5, nonRetryableErrorTypes } },
  ticketEnd: { startToCloseTimeout: '1 day', heartbeatTimeout: '30 seconds', retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes } },
};

/** Options of the steps whose limits follow the batch's harness; see {@link optionsFor}. */
export interface HarnessOptions {
  /** plan, implement, self-heal, smoke check: the agent's limit plus every setup step's, and a minute. */
  agentStep: ActivityOptions;
  /** self-heal: the heal agent's limit and two minutes (its worktree and patch around it). */
  heal: ActivityOptions;
  /** validate: every gate's limit added up, and a minute. */
  gates: ActivityOptions;
  /** deploy: its limit and 30 s, 3 tries. */
  deploy: ActivityOptions;
  /** One verify-live round over `probes`: the longest probe's limit (at least 1 s) times one more than their count. */
  verify(probes: readonly Probe[]): ActivityOptions;
}

/**
 * The options of the harness-bound steps for `config` (its agent limit, setup steps, gates, deploy and heartbeat). A
 * ticket asks again after an accepted self-heal changed its harness.
 * @returns plain option objects; nothing is thrown.
 */
export function optionsFor(config: BatchConfig): HarnessOptions {
  const setupMs = config.harness.setup.reduce((sum, s) => sum + s.timeoutMs, 0);
  // The longest agent profile's limit: the step runs whichever profile its route picks.
  const agentMs = Math.max(config.agent.timeoutMs, ...Object.values(config.agents ?? {}).map((a) => a.timeoutMs));
  const agentStep: ActivityOptions = {
    startToCloseTimeout: agentMs + setupMs + 60_000,
    heartbeatTimeout: config.heartbeatTimeoutMs,
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5, nonRetryableErrorTypes },
  };
  return {
    agentStep,
    heal: { ...agentStep, startToCloseTimeout: Math.max(config.heal?.timeoutMs ?? 0, config.routes?.heal === undefined ? 0 : agentMs) + 120_000 },
    gates: { ...agentStep, startToCloseTimeout: config.gates.reduce((sum, g) => sum + g.timeoutMs, 0) + 60_000 },
    deploy: {
      startToCloseTimeout: (config.deploy?.timeoutMs ?? 60_000) + 30_000,
      heartbeatTimeout: config.heartbeatTimeoutMs,
      retry: { maximumAttempts: 3, nonRetryableErrorTypes },
    },
    verify: (probes) => ({
      startToCloseTimeout: Math.max(...probes.map((p) => p.timeoutMs), 1_000) * (probes.length + 1),
      heartbeatTimeout: QUICK_HEARTBEAT,
      retry: { maximumAttempts: 3, nonRetryableErrorTypes },
    }),
  };
}
