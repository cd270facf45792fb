/**
 * One agent run for one step of a ticket (its plan, or attempt n), shared by the plan and implement phases: stop a
 * stale run of the same step left by a dead worker, cut the ticket's worktree fresh from the base tip, write the
 * prompt, run a fresh agent process there with heartbeats, and keep its transcript in the step's artifacts folder.
 */
import { mkdir, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Agent, AgentRole, AgentTask } from './agents/agent';
import { stepDir, writeArtifact } from './artifacts';
import { liveness, throwIfStopped, type Liveness } from './context';
import { commandEnv, resolveEnvFrom } from './env';
import { ConfigError } from '../workflows/errors';
import { prepareWorktree, type Git } from './git';
import { stopStaleRun } from './process';
import { renderPrompt } from './prompt';
import { pidFileOf, runStep } from './run-step';
import { bwrapPrefix, gitPinnedPaths, gitWritableDirs, BOXED_TMPDIR, hostTmpEntries, PRIVATE_TMP_PREFIX, type SandboxProbe } from './sandbox';
import { batchRedactor } from './secrets';
import type { Redactor } from './redact';
import type { AgentRun, BatchConfig, SetupStep, Ticket } from '../workflows/types';

/** The ticket branch name: `ratchet/<batchId>/<ticketId>` (issue #2). */
export const ticketBranch = (batchId: string, ticketId: string): string => `ratchet/${batchId}/${ticketId}`;

/** The worktree folder name of a ticket inside `worktreesDir`. */
export const worktreeName = (batchId: string, ticketId: string): string => `${batchId}-${ticketId}`;

/** The folder name of a ticket's scratch worktree (the regression guard's base runs) inside `worktreesDir`. */
export const scratchName = (batchId: string, ticketId: string): string => `_scratch-${batchId}-${ticketId}`;

export interface AgentStepInput {
  config: BatchConfig;
  ticket: Ticket;
  role: AgentRole;
  /** 0 for the plan, n for attempt n, the heal's number for a heal run (0 for its smoke check). */
  attempt: number;
  plan?: string;
  feedback: string[];
  /**
   * A step of the heal's: the prompt as written by the caller, its artifacts folder name, its own worktree and branch,
   * and whether the harness's setup runs first (the smoke check) or not (the heal agent).
   */
  heal?: { prompt: string; step: string; worktreeName: string; branch: string; setup: boolean };
}

/** What an agent step needs from the worker. */
export interface AgentStepDeps {
  /** The worker's environment: source of `agent.envFrom` values and the allowlisted variables. */
  env: NodeJS.ProcessEnv;
  /** Whether bubblewrap works on this host (asked once per worker). */
  sandbox: SandboxProbe;
  /** Aborted when the worker process is told to stop: the agent is stopped at once. */
  stopping?: AbortSignal;
  /** The worker's git client: the step's worktree and the sandbox's view of its git metadata. */
  git: Git;
}

export interface AgentStep {
  run: AgentRun;
  /** The step's artifacts folder (absolute): prompt.md, transcript.log, result.json, stdout.log. */
  dir: string;
  branch: string;
  worktree: string;
  /** The base commit the worktree was cut from. */
  baseCommit: string;
  /** Set when a harness setup step failed: the agent did not run (`run` says why). */
  setupFailed?: { command: string; exitCode: number | null; timedOut: boolean; tail: string };
}

/**
 * Runs the agent for one step and returns what it produced. The agent gets an environment built from an allowlist
 * (DESIGN.md "Trust boundaries") and, unless `agent.sandbox` is `none`, runs boxed by bubblewrap where it works.
 * Throws only when the worktree cannot be prepared or the agent cannot be started; a failing agent is a result
 * (`run.exitCode`), not an error.
 * @throws ConfigError when `agent.sandbox` is `bwrap` and bubblewrap does not work here, or an `envFrom` name or a
 *   cache folder is missing on this worker.
 */
export async function runAgentStep(agent: Agent, input: AgentStepInput, deps: AgentStepDeps): Promise<AgentStep> {
  const { config, ticket, role, attempt } = input;
  const heal = input.heal;
  const dir = await stepDir(config, ticket.id, heal?.step ?? (attempt === 0 ? 'plan' : `attempt-${attempt}`));
  const pidFile = path.join(dir, 'agent.pid');
  await stopStaleRun(pidFile);
  await stopStaleRun(pidFileOf(path.join(dir, 'setup.log')));
  const branch = heal?.branch ?? ticketBranch(config.batchId, ticket.id);
  const wt = await prepareWorktree(deps.git, {
    repo: config.repo,
    worktreesDir: config.worktreesDir,
    branch,
    base: config.baseBranch,
    name: heal?.worktreeName ?? worktreeName(config.batchId, ticket.id),
  });
  const redact = batchRedactor(config, deps.env);
  const prompt =
    heal?.prompt ?? renderPrompt({ config, ticket, role: role as 'plan' | 'implement', attempt: attempt || undefined, branch, plan: input.plan, feedback: input.feedback });
  const promptFile = await writeArtifact(path.join(dir, 'prompt.md'), redact.redact(prompt));
  const env = commandEnv({
    source: deps.env,
    plain: config.agent.env,
    fromWorker: resolveEnvFrom(config.agent.envFrom, deps.env, 'agent.envFrom'),
    protocol: {
      RATCHET_BATCH_ID: config.batchId,
      RATCHET_TICKET_ID: ticket.id,
      RATCHET_ATTEMPT: String(attempt),
      RATCHET_WORKTREE: wt.path,
      RATCHET_BRANCH: branch,
      RATCHET_BASE_BRANCH: config.baseBranch,
    },
  });
  const sandbox = await boxFor(config.agent, wt.path, branch, deps);
  const { heartbeat, signal, tickMs } = liveness(deps.stopping);
  try {
    // The harness's setup steps run first, in the fresh worktree, boxed and with the agent's environment.
    const failed = await runSetupSteps(heal && !heal.setup ? [] : (config.harness?.setup ?? []), {
      cwd: wt.path,
      env: sandbox ? { ...env, TMPDIR: sandbox.tmpdirInside } : env,
      prefix: sandbox?.prefix,
      redact,
      logPath: path.join(dir, 'setup.log'),
      live: { heartbeat, signal, tickMs },
      what: `the setup of ${ticket.id}`,
    });
    if (failed) {
      const run: AgentRun = {
        exitCode: failed.exitCode ?? 1,
        timedOut: false,
        ms: failed.ms,
        transcriptPath: path.join(dir, 'setup.log'),
        summary: `[ratchet] the harness's setup step \`${failed.command}\` ${failed.why}; the agent did not run.\n${failed.tail}`,
      };
      const { command, exitCode, timedOut, tail } = failed;
      return { run, dir, branch, worktree: wt.path, baseCommit: wt.baseCommit, setupFailed: { command, exitCode, timedOut, tail } };
    }
    const run = await agent.run(
      {
        role,
        cwd: wt.path,
        promptFile,
        resultFile: path.join(dir, 'result.json'),
        transcriptPath: path.join(dir, 'transcript.log'),
        stdoutPath: path.join(dir, 'stdout.log'),
        pidFile,
        env,
        sandbox,
        redact,
        timeoutMs: config.agent.timeoutMs,
      },
      { signal, tickMs, onTick: () => heartbeat(heal ? heal.step : attempt === 0 ? 'plan' : `implement attempt ${attempt}`) },
    );
    throwIfStopped(signal, `the agent run of ${ticket.id} ${heal ? heal.step : attempt === 0 ? 'plan' : `attempt ${attempt}`}`);
    return { run, dir, branch, worktree: wt.path, baseCommit: wt.baseCommit };
  } finally {
    if (sandbox) await rm(sandbox.tmpDir, { recursive: true, force: true });
  }
}

/** A harness setup step that failed: `why` says how (`exited 1`, `timed out after 60000 ms`); `ms` is its run time. */
export interface SetupFailure {
  command: string;
  exitCode: number | null;
  timedOut: boolean;
  why: string;
  tail: string;
  ms: number;
}

/**
 * Runs the harness's setup steps in order in `opts.cwd` with exactly `opts.env` (behind `opts.prefix`, a sandbox,
 * when given), appending their output to `opts.logPath`, and stops at the first that fails. Used before an attempt's
 * agent and in the regression guard's scratch worktree.
 * @returns the failing step, or undefined when every step passed.
 * @throws when `opts.live.signal` was aborted (the activity was cancelled or the worker stops), naming `opts.what`.
 */
export async function runSetupSteps(
  steps: SetupStep[],
  opts: { cwd: string; env: Record<string, string>; prefix?: string[]; redact: Redactor; logPath: string; live: Liveness; what: string },
): Promise<SetupFailure | undefined> {
  for (const step of steps) {
    const r = await runStep({
      command: step.command,
      cwd: opts.cwd,
      env: opts.env,
      prefix: opts.prefix,
      redact: opts.redact,
      timeoutMs: step.timeoutMs,
      logPath: opts.logPath,
      live: opts.live,
      heartbeat: `setup: ${step.command}`,
      what: opts.what,
    });
    if (r.exitCode !== 0 || r.timedOut) {
      const why = r.timedOut ? `timed out after ${step.timeoutMs} ms` : `exited ${r.exitCode}`;
      return { command: step.command, exitCode: r.exitCode, timedOut: r.timedOut, why, tail: r.tail, ms: r.ms };
    }
  }
  return undefined;
}

/**
 * The sandbox of one agent run, or undefined when it runs unboxed (`sandbox: none`, or unset where bubblewrap does
 * not work). Writable: the worktree, the git metadata its commits need, the batch's cache folders, a private /tmp.
 */
async function boxFor(
  agent: BatchConfig['agent'],
  worktree: string,
  branch: string,
  deps: Pick<AgentStepDeps, 'sandbox' | 'git'>,
): Promise<AgentTask['sandbox']> {
  if (agent.sandbox === 'none') return undefined;
  const bwrap = await deps.sandbox.bwrap();
  if (!bwrap) {
    if (agent.sandbox === 'bwrap') {
      throw new ConfigError(
        'field "agent.sandbox" is "bwrap" but bubblewrap does not work on this worker\'s host; fix: install it ' +
          '(Debian/Ubuntu: apt-get install bubblewrap) and allow unprivileged user namespaces, or set agent.sandbox to "none"',
      );
    }
    return undefined;
  }
  const caches: string[] = [];
  for (const dir of agent.cacheDirs) {
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) {
      throw new ConfigError(`field "agent.cacheDirs" names ${dir}, which is not a folder on this worker; fix: create it (mkdir -p ${dir}) or remove it`);
    }
    caches.push(await realpath(dir));
  }
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), PRIVATE_TMP_PREFIX));
  await mkdir(path.join(tmpDir, path.basename(BOXED_TMPDIR)));
  const writable = [worktree, ...(await gitWritableDirs(deps.git, worktree, branch)), ...caches];
  const visible = (await hostTmpEntries()).filter((p) => p !== tmpDir);
  const prefix = bwrapPrefix(bwrap, { cwd: worktree, writable, tmpDir, readOnly: await gitPinnedPaths(deps.git, worktree), visible });
  return { prefix, tmpDir, tmpdirInside: BOXED_TMPDIR };
}
