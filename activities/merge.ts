/** Activities: merge a ticket branch into the base, and deploy the merged base. */
import path from 'node:path';
import { stepDir } from './artifacts';
import { liveness } from './context';
import { baseCheckout, mergeBranch, releaseWorktree, type Git } from './git';
import { gateName, ticketBranch, worktreeName } from './agent-step';
import { commandEnv, resolveEnvFrom } from './env';
import { runStep } from './run-step';
import { batchRedactor } from './secrets';
import type { DeployConfig, MergeResult, RepoRef } from '../workflows/types';

export interface MergeInput {
  ref: RepoRef;
  ticketId: string;
  title: string;
  /** The commit the gates validated; merged instead of whatever the branch points at now. */
  commit?: string;
}

/**
 * Merges `ratchet/<batchId>/<ticketId>` into the base branch with a merge commit, needing no checkout of the base
 * (see `mergeBranch`). Idempotent: a retry after the merge landed reports `alreadyMerged` and makes no second merge.
 * On conflict returns the paths and leaves the base untouched. Once merged, the ticket's worktree goes to the pool for the
 * next ticket and its gate export is removed (`releaseWorktree`).
 */
export async function merge(git: Git, input: MergeInput): Promise<MergeResult> {
  const { ref, ticketId, title } = input;
  const result = await mergeBranch(git, {
    repo: ref.repo,
    base: ref.baseBranch,
    branch: ticketBranch(ref.batchId, ticketId),
    commit: input.commit,
    message: `ratchet: merge ${ticketId} (${ref.batchId}): ${title}`,
  });
  if (result.merged) await releaseTicket(git, input);
  return result;
}

/** A landed ticket: the repository and the ticket whose worktree and gate export are released. */
export interface ReleaseInput {
  ref: RepoRef;
  ticketId: string;
}

/**
 * Once the merge queue landed a ticket's commit, its worktree goes to the pool for the next ticket and its gate export
 * is removed (`releaseWorktree`), on the worker that holds them (the ticket routes this step there). Idempotent; moves
 * no ref.
 */
export async function releaseTicket(git: Git, input: ReleaseInput): Promise<void> {
  const { ref, ticketId } = input;
  await releaseWorktree(
    git,
    ref.repo,
    ref.worktreesDir,
    path.join(ref.worktreesDir, worktreeName(ref.batchId, ticketId)),
    path.join(ref.worktreesDir, gateName(ref.batchId, ticketId)),
  );
}

export interface DeployResult {
  ok: boolean;
  exitCode: number | null;
  ms: number;
  tail: string;
  logPath: string;
}

/** The repository, the ticket whose merge is deployed, the batch's deploy and its secrets (redacted from the log). */
export interface DeployInput {
  ref: RepoRef;
  ticketId: string;
  deploy: DeployConfig;
  secrets: string[];
}

/**
 * Runs the batch's `deploy.command` in the checkout of the base branch (the merged code). One deploy per target runs
 * at a time: the ticket workflow holds the deployment-wide lock (workflows/lock.ts) around this activity.
 * Returns `ok: false` with the output tail when it exits non-zero or times out; throws only on spawn failures.
 */
export async function deploy(input: DeployInput, deps: { env: NodeJS.ProcessEnv; stopping?: AbortSignal; git: Git }): Promise<DeployResult> {
  const { ref, ticketId, deploy: dep } = input;
  const cwd = await baseCheckout(deps.git, ref.repo, ref.baseBranch, ref.worktreesDir);
  const logPath = path.join(await stepDir(ref, ticketId, 'deploy'), 'deploy.log');
  const r = await runStep({
    command: dep.command,
    cwd,
    env: commandEnv({
      source: deps.env,
      fromWorker: resolveEnvFrom(dep.envFrom, deps.env, 'deploy.envFrom'),
      protocol: { RATCHET_BATCH_ID: ref.batchId, RATCHET_TICKET_ID: ticketId },
    }),
    redact: batchRedactor(input.secrets, deps.env),
    timeoutMs: dep.timeoutMs,
    logPath,
    // The service a deploy starts is what the probes check: it outlives the deploy (a time-out still kills it).
    keepRunning: true,
    live: liveness(deps.stopping),
    heartbeat: 'deploy',
    what: `the deploy after ${ticketId}`,
  });
  return { ok: r.exitCode === 0 && !r.timedOut, exitCode: r.exitCode, ms: r.ms, tail: r.tail, logPath };
}
