/**
 * One agent run for one step of a ticket (its plan, or attempt n), shared by the plan and implement phases: stop a
 * stale run of the same step left by a dead worker, cut the ticket's worktree fresh from the base tip, write the
 * prompt, run a fresh agent process there with heartbeats, and keep its transcript in the step's artifacts folder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Agent, AgentRole } from './agents/agent';
import { stepDir, writeArtifact } from './artifacts';
import { liveness, throwIfStopped, type Liveness } from './context';
import { commandEnv, resolveEnvFrom } from './env';
import { prepareWorktree, type Git } from './git';
import { stopStaleRun } from './process';
import { renderPrompt } from './prompt';
import { pidFileOf, runStep } from './run-step';
import { cacheFolders, hiddenFolders, openBox, refusedLine, type OpenBox } from './box/box';
import { PRIVATE_TMP_PREFIX, type SandboxProbe } from './box/sandbox';
import { privateGitDir } from './git/views';
import { batchRedactor } from './secrets';
import type { Redactor } from './redact';
import { DEFAULT_AGENT_NETWORK, type AgentConfig, type AgentRun, type Gate, type HarnessSteps, type Probe, type RepoRef, type SetupStep, type Ticket } from '../workflows/types';

/** The ticket branch name: `ratchet/<batchId>/<ticketId>` (issue #2). */
export const ticketBranch = (batchId: string, ticketId: string): string => `ratchet/${batchId}/${ticketId}`;

/** The worktree folder name of a ticket inside `worktreesDir`. */
export const worktreeName = (batchId: string, ticketId: string): string => `${batchId}-${ticketId}`;

/**
 * The folder name, inside `worktreesDir`, of a ticket's gate export: the commit a gate run checks, exported afresh for
 * every run (validate.ts), removed with the ticket's worktree when it merges.
 */
export const gateName = (batchId: string, ticketId: string): string => `_gate-${batchId}-${ticketId}`;

/**
 * One agent run of a ticket's: the repository, the agent (its command, time limit, environment and box), the harness's
 * setup steps run first in the fresh worktree (none for the heal agent), the batch's secrets (every `envFrom` name,
 * redacted from the prompt and the logs), and the prompt as the caller wrote it.
 */
export interface AgentStepInput {
  ref: RepoRef;
  ticketId: string;
  agent: AgentConfig;
  /** The profile `agent` is (workflows/agent-routes.ts), named in the transcript; absent: `default`. */
  profile?: string;
  setup: SetupStep[];
  secrets: string[];
  role: AgentRole;
  /** 0 for the plan, n for attempt n, the heal's number for a heal run (0 for its smoke check). */
  attempt: number;
  prompt: string;
  /** A step of the heal's: its artifacts folder name, its own worktree and branch. */
  heal?: { step: string; worktreeName: string; branch: string };
}

/**
 * What plan and implement take: the repository, the ticket, the agent, the harness (setup steps before the agent, rules
 * its prompt carries), the batch's gates and probes (how the work is checked, as the prompt says) and its secrets.
 */
export interface TicketStepInput {
  ref: RepoRef;
  ticket: Ticket;
  agent: AgentConfig;
  /** The profile `agent` is (workflows/agent-routes.ts), named in the transcript; absent: `default`. */
  profile?: string;
  harness: HarnessSteps;
  gates: Gate[];
  probes: Probe[];
  secrets: string[];
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
  const { ref, ticketId, role, attempt } = input;
  const heal = input.heal;
  const dir = await stepDir(ref, ticketId, heal?.step ?? (attempt === 0 ? 'plan' : `attempt-${attempt}`));
  const pidFile = path.join(dir, 'agent.pid');
  await stopStaleRun(pidFile);
  await stopStaleRun(pidFileOf(path.join(dir, 'setup.log')));
  const branch = heal?.branch ?? ticketBranch(ref.batchId, ticketId);
  const wt = await prepareWorktree(deps.git, {
    repo: ref.repo,
    worktreesDir: ref.worktreesDir,
    branch,
    base: ref.baseBranch,
    name: heal?.worktreeName ?? worktreeName(ref.batchId, ticketId),
  });
  const redact = batchRedactor(input.secrets, deps.env);
  const promptFile = await writeArtifact(path.join(dir, 'prompt.md'), redact.redact(input.prompt));
  const env = commandEnv({
    source: deps.env,
    plain: input.agent.env,
    fromWorker: resolveEnvFrom(input.agent.envFrom, deps.env, 'agent.envFrom'),
    protocol: {
      RATCHET_BATCH_ID: ref.batchId,
      RATCHET_TICKET_ID: ticketId,
      RATCHET_ATTEMPT: String(attempt),
      RATCHET_WORKTREE: wt.path,
      RATCHET_BRANCH: branch,
      RATCHET_BASE_BRANCH: ref.baseBranch,
    },
  });
  const box = await boxFor(input.agent, ref, wt, branch, deps);
  const sandbox = box && { prefix: box.prefix, tmpDir: box.tmpDir, env: box.env };
  const { heartbeat, signal, tickMs } = liveness(deps.stopping);
  try {
    // The harness's setup steps run first, in the fresh worktree, boxed and with the agent's environment.
    const setup = await runSetupSteps(input.setup, {
      cwd: wt.path,
      env: box ? { ...env, ...box.env } : env,
      prefix: sandbox?.prefix,
      redact,
      logPath: path.join(dir, 'setup.log'),
      live: { heartbeat, signal, tickMs },
      what: `the setup of ${ticketId}`,
    });
    /** The run with what the setup steps left running added to its own count. */
    const counted = (run: AgentRun): AgentRun => {
      const killed = setup.killed + (run.killed ?? 0);
      return killed ? { ...run, killed } : run;
    };
    const failed = setup.failed;
    if (failed) {
      const run = counted({
        exitCode: failed.exitCode ?? 1,
        timedOut: false,
        ms: failed.ms,
        transcriptPath: path.join(dir, 'setup.log'),
        summary: `[ratchet] the harness's setup step \`${failed.command}\` ${failed.why}; the agent did not run.\n${failed.tail}`,
      });
      const { command, exitCode, timedOut, tail } = failed;
      return { run, dir, branch, worktree: wt.path, baseCommit: wt.baseCommit, setupFailed: { command, exitCode, timedOut, tail } };
    }
    const run = await agent.run(
      {
        role,
        ...(input.profile === undefined ? {} : { profile: input.profile }),
        cwd: wt.path,
        promptFile,
        resultFile: path.join(dir, 'result.json'),
        transcriptPath: path.join(dir, 'transcript.log'),
        stdoutPath: path.join(dir, 'stdout.log'),
        pidFile,
        env,
        sandbox,
        redact,
        timeoutMs: input.agent.timeoutMs,
      },
      { signal, tickMs, onTick: () => heartbeat(heal ? heal.step : attempt === 0 ? 'plan' : `implement attempt ${attempt}`) },
    );
    throwIfStopped(signal, `the agent run of ${ticketId} ${heal ? heal.step : attempt === 0 ? 'plan' : `attempt ${attempt}`}`);
    const refused = refusedLine(box?.refused() ?? [], 'agent.network');
    return { run: counted(refused ? { ...run, summary: run.summary + refused } : run), dir, branch, worktree: wt.path, baseCommit: wt.baseCommit };
  } finally {
    await box?.close();
    if (box) await rm(box.gitHost, { recursive: true, force: true });
  }
}

/**
 * Runs the agent for a plan or an attempt of `input.ticket` on the ticket's branch, with the prompt rendered from the
 * ticket, the harness's rules and the batch's gates and probes (see {@link runAgentStep}).
 */
export function runTicketStep(
  agent: Agent,
  input: TicketStepInput & { role: 'plan' | 'implement'; attempt: number; maxAttempts?: number; plan?: string; feedback: string[] },
  deps: AgentStepDeps,
): Promise<AgentStep> {
  const { ref, ticket, harness, role, attempt } = input;
  const prompt = renderPrompt({
    ref,
    ticket,
    role,
    attempt: attempt || undefined,
    maxAttempts: input.maxAttempts,
    branch: ticketBranch(ref.batchId, ticket.id),
    plan: input.plan,
    feedback: input.feedback,
    gates: input.gates,
    probes: input.probes,
    promptRules: harness.promptRules,
  });
  const { profile } = input;
  return runAgentStep(agent, { ref, ticketId: ticket.id, agent: input.agent, profile, setup: harness.setup, secrets: input.secrets, role, attempt, prompt }, deps);
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
 * agent and before every gate run, in its export (validate.ts).
 * @returns `failed`: the failing step, absent when every step passed; `killed`: the processes the steps run left
 *   running (or still had when one timed out), killed as each ended.
 * @throws when `opts.live.signal` was aborted (the activity was cancelled or the worker stops), naming `opts.what`.
 */
export async function runSetupSteps(
  steps: SetupStep[],
  opts: { cwd: string; env: Record<string, string>; prefix?: string[]; redact: Redactor; logPath: string; live: Liveness; what: string },
): Promise<{ failed?: SetupFailure; killed: number }> {
  let killed = 0;
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
    killed += r.killed;
    if (r.exitCode !== 0 || r.timedOut) {
      const why = r.timedOut ? `timed out after ${step.timeoutMs} ms` : `exited ${r.exitCode}`;
      return { failed: { command: step.command, exitCode: r.exitCode, timedOut: r.timedOut, why, tail: r.tail, ms: r.ms }, killed };
    }
  }
  return { killed };
}

/**
 * The box of one agent run (and the setup steps before it), or undefined when it runs unboxed (`sandbox: none`, which
 * a person writes on purpose: unset, the box is required). The agent sees its worktree (writable), the batch's cache
 * folders (writable), a private /tmp, and git through a private git dir whose objects borrow the repository's store
 * read-only ({@link privateGitDir}); the repository, the other worktrees and the artifacts are hidden; the network is
 * `agent.network` through the egress proxy.
 * @throws ConfigError naming the fix when the box is required and bubblewrap (or socat, with a network) does not work
 *   on this worker, or a cache folder is missing.
 */
async function boxFor(
  agent: AgentConfig,
  ref: RepoRef,
  wt: { path: string; baseCommit: string },
  branch: string,
  deps: Pick<AgentStepDeps, 'sandbox' | 'git' | 'env'>,
): Promise<(OpenBox & { gitHost: string }) | undefined> {
  if (agent.sandbox === 'none') return undefined;
  const caches = await cacheFolders(agent.cacheDirs);
  const gitHost = await mkdtemp(path.join(os.tmpdir(), `${PRIVATE_TMP_PREFIX}git-`));
  try {
    const view = await privateGitDir(deps.git, { worktree: wt.path, branch, commit: wt.baseCommit, into: path.join(gitHost, 'git'), inside: BOXED_GIT_DIR });
    const box = await openBox(deps.sandbox, {
      cwd: wt.path,
      writable: [wt.path, ...caches],
      hidden: await hiddenFolders(ref),
      binds: [
        { src: view.objects, dest: view.objects, writable: false },
        { src: view.gitDir, dest: BOXED_GIT_DIR, writable: true },
        { src: view.gitFile, dest: path.join(wt.path, '.git'), writable: false },
      ],
      network: agent.network ?? DEFAULT_AGENT_NETWORK,
      what: 'the agent',
      workerEnv: deps.env,
    });
    return Object.assign(box, { gitHost });
  } catch (err) {
    await rm(gitHost, { recursive: true, force: true });
    throw err;
  }
}

/** Where an agent's box shows its private git dir. */
const BOXED_GIT_DIR = '/tmp/ratchet-git';
