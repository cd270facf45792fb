/** Activities: merge a ticket branch into the base, and deploy the merged base. */
import path from 'node:path';
import { stepDir } from './artifacts';
import { liveness } from './context';
import { baseCheckout, mergeBranch, releaseWorktree, type Git } from './git';
import { scratchName, ticketBranch, worktreeName } from './agent-step';
import { commandEnv, resolveEnvFrom } from './env';
import { runStep } from './run-step';
import { batchRedactor } from './secrets';
import type { BatchConfig, MergeResult } from '../workflows/types';

export interface MergeInput {
  config: BatchConfig;
  ticketId: string;
  title: string;
  /** The commit the gates validated; merged instead of whatever the branch points at now. */
  commit?: string;
}

/**
 * Merges `ratchet/<batchId>/<ticketId>` into the base branch with a merge commit, needing no checkout of the base
 * (see `mergeBranch`). Idempotent: a retry after the merge landed reports `alreadyMerged` and makes no second merge.
 * On conflict returns the paths and leaves the base untouched. Once merged, the ticket's worktrees go to the pool for the
 * next ticket (`releaseWorktree`).
 */
export async function merge(git: Git, input: MergeInput): Promise<MergeResult> {
  const { config, ticketId, title } = input;
  const result = await mergeBranch(git, {
    repo: config.repo,
    base: config.baseBranch,
    branch: ticketBranch(config.batchId, ticketId),
    commit: input.commit,
    message: `ratchet: merge ${ticketId} (${config.batchId}): ${title}`,
  });
  if (result.merged) {
    await releaseWorktree(
      git,
      config.repo,
      config.worktreesDir,
      path.join(config.worktreesDir, worktreeName(config.batchId, ticketId)),
      path.join(config.worktreesDir, scratchName(config.batchId, ticketId)),
    );
  }
  return result;
}

export interface DeployResult {
  ok: boolean;
  exitCode: number | null;
  ms: number;
  tail: string;
  logPath: string;
}

/**
 * Runs the batch's `deploy.command` in the checkout of the base branch (the merged code). One deploy per target runs
 * at a time: the ticket workflow holds the deployment-wide lock (workflows/lock.ts) around this activity.
 * Returns `ok: false` with the output tail when it exits non-zero or times out; throws only on spawn failures.
 */
export async function deploy(
  input: { config: BatchConfig; ticketId: string },
  deps: { env: NodeJS.ProcessEnv; stopping?: AbortSignal; git: Git },
): Promise<DeployResult> {
  const { config, ticketId } = input;
  if (!config.deploy) return { ok: true, exitCode: 0, ms: 0, tail: 'no deploy command configured', logPath: '' };
  const dep = config.deploy;
  const cwd = await baseCheckout(deps.git, config.repo, config.baseBranch, config.worktreesDir);
  const logPath = path.join(await stepDir(config, ticketId, 'deploy'), 'deploy.log');
  const r = await runStep({
    command: dep.command,
    cwd,
    env: commandEnv({
      source: deps.env,
      fromWorker: resolveEnvFrom(dep.envFrom, deps.env, 'deploy.envFrom'),
      protocol: { RATCHET_BATCH_ID: config.batchId, RATCHET_TICKET_ID: ticketId },
    }),
    redact: batchRedactor(config, deps.env),
    timeoutMs: dep.timeoutMs,
    logPath,
    live: liveness(deps.stopping),
    heartbeat: 'deploy',
    what: `the deploy after ${ticketId}`,
  });
  return { ok: r.exitCode === 0 && !r.timedOut, exitCode: r.exitCode, ms: r.ms, tail: r.tail, logPath };
}
