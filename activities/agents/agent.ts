/**
 * The agent interface (DESIGN.md "Agents"): a swappable engine that runs one role with a prompt in a working
 * directory under a time limit. Each run is a fresh process with an empty context; memory lives in the ticket, the
 * branch and the prompt file. Adapters: `command.ts` (any CLI) and the scripted demo agent (`demo-agent.ts`, run
 * through `command.ts`).
 */
import type { AgentRun } from '../../workflows/types';
import type { Redactor } from '../redact';

/**
 * `heal`: the self-heal agent, run when a ticket would stop (see activities/heal.ts); `decompose`: splits an epic into
 * sub-tickets (activities/decompose.ts).
 */
export type AgentRole = 'plan' | 'implement' | 'heal' | 'decompose' | 'review';

/** One agent run. Paths are absolute. */
export interface AgentTask {
  role: AgentRole;
  /** The profile that runs (workflows/agent-routes.ts), named in the transcript's first line; absent: `default`. */
  profile?: string;
  /** Working directory: the ticket's worktree. */
  cwd: string;
  /** Markdown prompt: the ticket, its acceptance criteria and earlier attempts' feedback. */
  promptFile: string;
  /** Where the agent may write its optional JSON result; a stale file is deleted before the run. */
  resultFile: string;
  /** Combined stdout+stderr of the run, appended after a header line. */
  transcriptPath: string;
  /** Optional: stdout alone is also written here (role plan: the plan when the result file has none). */
  stdoutPath?: string;
  /** Where the run's process group id is kept while it runs; a live stale group named there is killed first. */
  pidFile?: string;
  /**
   * The run's whole environment (an allowlist of worker variables, the batch's `agent.env` and `agent.envFrom`,
   * the protocol variables that depend on the ticket); the adapter adds only its own protocol paths.
   */
  env: Record<string, string>;
  /**
   * Runs the agent boxed (activities/box/box.ts): the argv prefix (bwrap), the private folder mounted at /tmp inside,
   * and what the box adds to the environment (`TMPDIR` there, the egress proxy's variables).
   */
  sandbox?: { prefix: string[]; tmpDir: string; env: Record<string, string> };
  /** Replaces secret values in everything the run leaves: transcript, stdout, summary, result. */
  redact?: Redactor;
  /** Wall-clock limit, ms. */
  timeoutMs: number;
}

/** A swappable agent engine. */
export interface Agent {
  readonly name: string;
  /**
   * Runs `task` to completion, time-out or abort. Resolves with the outcome for any exit code; rejects only when the
   * agent could not be started (e.g. `cwd` missing).
   * `onTick` is called every `tickMs` (default 5 000 ms) while the agent runs (activities heartbeat from it).
   */
  run(task: AgentTask, opts: { signal?: AbortSignal; onTick?: () => void; tickMs?: number }): Promise<AgentRun>;
}
