/**
 * Activity: validate. Decides whether an attempt may merge, with nothing the agent wrote deciding it:
 * 1. protected paths: an attempt whose diff touches one (tickets, `.ratchet/`, the files gates and probes run) fails,
 *    unless its ticket's `allowPaths` cover it, and then it needs a person's approve before merging;
 * 2. gates: the batch's commands, run in the attempt's worktree; exit 0 passes;
 * 3. regression guard, for gates that declare a JUnit report: every test that passed on the base must still pass
 *    (missing or skipped counts as failing: SWE-bench PASS_TO_PASS), and a `bug` ticket must bring a test that fails
 *    on the base code and passes on the branch (SWE-bench FAIL_TO_PASS).
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';
import { stepDir } from './artifacts';
import { liveness } from './context';
import { commandEnv, resolveEnvFrom } from './env';
import { runSetupSteps, scratchName, ticketBranch, worktreeName } from './agent-step';
import { GitError, RegressionReportError } from '../workflows/errors';
import { canonical, changedPaths, fetchBranch, hasCommit, prepareScratch, prepareWorktree, worktreeAt, type Git } from './git';
import type { Redactor } from './redact';
import { killedNote, runStep } from './run-step';
import { comparePassToPass, describeRegression, failToPass, readReports, type TestCase } from './regression';
import { batchRedactor } from './secrets';
import type { AgentConfig, Gate, GateResult, RepoRef, SetupStep, Ticket, ValidateResult } from '../workflows/types';

export interface ValidateInput {
  ref: RepoRef;
  ticket: Ticket;
  attempt: number;
  worktree: string;
  /** The base commit the attempt's worktree was cut from. */
  baseCommit: string;
  /** The attempt's commit: what the gates check and what merges. */
  commit: string;
  /** The batch's gates, in order. */
  gates: Gate[];
  /** The batch's protected paths (globs relative to the repository); the ticket's `allowPaths` may cover some. */
  protectedPaths: string[];
  /**
   * The harness's setup steps and the agent's environment they run with: run in a worktree the agent did not prepare
   * (the regression guard's scratch worktree, an attempt's taken over from another worker).
   */
  setup: SetupStep[];
  agentEnv: Pick<AgentConfig, 'env' | 'envFrom'>;
  /** The batch's secrets (every `envFrom` name), redacted from the gate logs. */
  secrets: string[];
}

/** What validate needs from the worker. */
export interface ValidateDeps {
  /** The worker's environment: source of `envFrom` values and of the allowlisted variables. */
  env: NodeJS.ProcessEnv;
  /** Aborted when the worker process is told to stop: a running gate is stopped at once. */
  stopping?: AbortSignal;
  /** The worker's git client. */
  git: Git;
}

/**
 * The attempt's worktree on this worker: the one its implement left (`input.worktree`, when that is this worker's
 * worktree of the ticket and it is at `commit`), else the ticket's worktree made again here on its branch at `commit`
 * with the harness's setup steps run in it: the worker that ran implement is gone, or was busy past the batch's
 * `hostWaitMs` (workflows/ticket.ts `onHost`). A commit this repository lacks is fetched from the batch's `origin`.
 * @returns the worktree's absolute path.
 * @throws GitError (non-retryable) when the commit is in neither this repository nor `origin` (none configured, or
 *   the push failed): the attempt cannot be taken over, and the ticket runs a new one.
 */
async function attemptWorktree(git: Git, input: ValidateInput, runner: GateRunner): Promise<string> {
  const { ref, ticket, attempt, commit } = input;
  const name = worktreeName(ref.batchId, ticket.id);
  const mine = path.join(ref.worktreesDir, name);
  // Compared with symlinks resolved, as prepareWorktree returns its paths: a worktree here is never made twice.
  if ((await canonical(input.worktree)) === (await canonical(mine)) && (await worktreeAt(git, mine, commit))) return input.worktree;
  const branch = ticketBranch(ref.batchId, ticket.id);
  if (!(await hasCommit(git, ref.repo, commit)) && ref.origin !== undefined) await fetchBranch(git, { repo: ref.repo, remote: ref.origin, branch });
  if (!(await hasCommit(git, ref.repo, commit))) {
    throw new GitError(
      `attempt ${attempt} of ${ticket.id} (commit ${commit}) is not in ${ref.repo}${ref.origin ? ` nor on ${ref.origin}'s ${branch}` : ''}: ` +
        `the worker that made it is gone${ref.origin ? '' : ' and the batch sets no "origin" to push attempts to'}; the ticket runs a new attempt`,
      true,
    );
  }
  const wt = await prepareWorktree(git, { repo: ref.repo, worktreesDir: ref.worktreesDir, branch, base: commit, name });
  const dir = await stepDir(ref, ticket.id, `attempt-${attempt}`);
  await runner.setup(wt.path, path.join(dir, 'takeover-setup.log'), 'worktree taken over');
  return wt.path;
}

/** Paths (relative, `/`-separated) among `paths` that match any of `globs` (dotfiles included). */
export function matching(paths: string[], globs: string[]): string[] {
  if (!globs.length) return [];
  const isMatch = picomatch(globs, { dot: true });
  return paths.filter((p) => isMatch(p));
}

/**
 * Checks one attempt: protected paths first (a denied path fails the attempt before any gate runs), then every gate
 * in order (all of them, so the feedback is complete), then the regression guard. Full logs go to
 * `<artifacts>/attempt-<n>/gate-<name>.log`; results carry the last 3 KB of each.
 * @throws ConfigError when a gate's `envFrom` names a variable the worker lacks; GitError on git failures.
 */
export async function validate(input: ValidateInput, deps: ValidateDeps): Promise<ValidateResult> {
  const { ref, ticket, attempt, baseCommit, commit } = input;
  const redact = batchRedactor(input.secrets, deps.env);
  const runner = new GateRunner(input, deps, redact);
  const worktree = await attemptWorktree(deps.git, input, runner);
  const changed = await changedPaths(deps.git, worktree, baseCommit, commit);
  const protectedTouched = matching(changed, input.protectedPaths);
  const allowed = new Set(matching(protectedTouched, ticket.allowPaths));
  const protectedDenied = protectedTouched.filter((p) => !allowed.has(p));
  const result: ValidateResult = { passed: false, gates: [], protectedTouched, protectedDenied, regressions: [], failToPass: [], guardedBy: [] };
  if (protectedDenied.length) return result;

  const present = new Set(await existing(worktree, changed));
  const dir = await stepDir(ref, ticket.id, `attempt-${attempt}`);
  const guard: string[] = [];
  for (const gate of input.gates) {
    const run = await runner.run(gate, worktree, path.join(dir, `gate-${safe(gate.name)}.log`));
    result.gates.push(run.result);
    if (!run.result.passed || !gate.junit || !run.tests) continue;

    const base = await runner.baseline(gate, baseCommit, path.join(dir, `gate-${safe(gate.name)}-base.log`));
    const cmp = comparePassToPass(base, run.tests);
    result.regressions.push(...cmp.broken.map((b) => b.id));
    result.guardedBy.push(...cmp.newlyPassing);
    if (cmp.broken.length) guard.push(`gate "${gate.name}": ${describeRegression(cmp, ref.baseBranch)}`);

    if (ticket.kind === 'bug' && gate.tests.length) {
      // The branch's test files against the base's code (SWE-bench FAIL_TO_PASS). Test files the branch did not
      // change are the base's own, so with none changed that run is the baseline itself.
      const changedTests = matching(changed, gate.tests);
      const onBase = changedTests.length
        ? await runner.branchTestsOnBase(
            gate,
            baseCommit,
            { commit, paths: await existing(worktree, changedTests), removed: changedTests.filter((p) => !present.has(p)) },
            path.join(dir, `gate-${safe(gate.name)}-fail-to-pass.log`),
          )
        : base;
      const f2p = failToPass(onBase ?? [], run.tests);
      result.failToPass.push(...f2p);
      if (!f2p.length) {
        guard.push(
          `gate "${gate.name}": a bug ticket must bring a test that fails on ${ref.baseBranch}'s code and passes here ` +
            `(tests: ${gate.tests.join(', ')}); none does. A skipped or deleted test does not count: make the fix, ` +
            'and keep or add a test that shows the bug is gone',
        );
      }
    }
  }
  result.guardedBy = [...new Set(result.guardedBy)].sort();
  result.regressions = [...new Set(result.regressions)].sort();
  if (guard.length) result.guardFeedback = guard.join('\n');
  result.passed = result.gates.every((g) => g.passed) && guard.length === 0;
  return result;
}

/** The branch's versions of `paths` (and its deletions, `removed`) laid over another commit. */
type Overlay = { commit: string; paths: string[]; removed: string[] };

/** Runs gates for one attempt: on its worktree, on the base (cached per base commit), and for fail-to-pass. */
class GateRunner {
  private readonly ticketId: string;
  private readonly attempt: number;

  constructor(
    private readonly input: ValidateInput,
    private readonly deps: ValidateDeps,
    private readonly redact: Redactor,
  ) {
    this.ticketId = input.ticket.id;
    this.attempt = input.attempt;
  }

  /**
   * Runs `gate` in `cwd`. A declared JUnit report is deleted first (a stale or planted one must not count) and read
   * after; a gate that exits 0 without writing it, or writes one that does not parse, fails.
   */
  async run(gate: Gate, cwd: string, logPath: string): Promise<{ result: GateResult; tests?: TestCase[] }> {
    if (gate.junit) for (const f of await glob(gate.junit, { cwd, dot: true })) await rm(path.join(cwd, f), { force: true });
    const r = await runStep({
      command: gate.command,
      cwd,
      env: commandEnv({
        source: this.deps.env,
        fromWorker: resolveEnvFrom(gate.envFrom, this.deps.env, `gates "${gate.name}" envFrom`),
        protocol: { RATCHET_TICKET_ID: this.ticketId, RATCHET_ATTEMPT: String(this.attempt) },
      }),
      redact: this.redact,
      timeoutMs: gate.timeoutMs,
      logPath,
      tailBytes: 3072,
      live: liveness(this.deps.stopping),
      heartbeat: `gate ${gate.name}`,
      what: `gate "${gate.name}" of ${this.ticketId} attempt ${this.attempt}`,
    });
    let passed = r.exitCode === 0 && !r.timedOut;
    let tail = r.timedOut ? `${r.tail}\n[timed out after ${gate.timeoutMs} ms]` : r.tail;
    const killed = killedNote(r, 'the gate');
    if (killed) tail += `\n${killed}`;
    let tests: TestCase[] | undefined;
    if (gate.junit) {
      try {
        const reports = await readReports(cwd, gate.junit);
        if (reports.files.length) tests = reports.tests;
        else if (passed) {
          passed = false;
          tail += `\n[ratchet] the gate declares a JUnit report "${gate.junit}" but wrote none`;
        }
      } catch (err) {
        if (!(err instanceof RegressionReportError)) throw err;
        passed = false;
        tail += `\n[ratchet] ${err.message}`;
      }
    }
    const result: GateResult = { name: gate.name, passed, exitCode: r.exitCode, ms: r.ms, tail, logPath, ...(r.killed ? { killed: r.killed } : {}) };
    return { result, tests };
  }

  /**
   * The gate's tests on `baseCommit`, run once per (base commit, gate) and cached under
   * `<artifactsDir>/_base/<commit>/`. The run's log (and pid file) are the ticket's own, beside its attempt's gate
   * logs: two tickets on one base may compute it at once, and must not stop each other's run as a stale one. A gate
   * that writes no report on the base yields no tests (nothing to keep passing) and is not cached, so the next
   * attempt tries again.
   */
  async baseline(gate: Gate, baseCommit: string, logPath: string): Promise<TestCase[]> {
    const setup = this.input.setup.map((s) => s.command);
    const key = createHash('sha256').update(JSON.stringify([gate.name, gate.command, gate.junit, setup])).digest('hex').slice(0, 16);
    const cache = path.join(this.input.ref.artifactsDir, '_base', baseCommit, `${safe(gate.name)}-${key}.json`);
    const hit = await readFile(cache, 'utf8').then((t) => JSON.parse(t) as TestCase[], () => undefined);
    if (hit) return hit;
    const tests = await this.inScratch(gate, baseCommit, undefined, logPath);
    if (tests === undefined) return [];
    await mkdir(path.dirname(cache), { recursive: true });
    // Unique per writer: two tickets may write the same cache at once, in one worker process.
    const tmp = `${cache}.${process.pid}.${this.ticketId}.${this.attempt}.tmp`;
    await writeFile(tmp, JSON.stringify(tests));
    await rename(tmp, cache);
    return tests;
  }

  /** The gate's tests when the branch's `overlay.paths` (its test files) run against the base's code. */
  branchTestsOnBase(gate: Gate, baseCommit: string, overlay: Overlay, logPath: string): Promise<TestCase[] | undefined> {
    return this.inScratch(gate, baseCommit, overlay, logPath);
  }

  private async inScratch(gate: Gate, commit: string, overlay: Overlay | undefined, logPath: string): Promise<TestCase[] | undefined> {
    const { repo, worktreesDir, batchId } = this.input.ref;
    // Kept between attempts and reset in place (cheap, no repository lock); merge removes it with the ticket's own.
    const dir = await prepareScratch(this.deps.git, { repo, worktreesDir, name: scratchName(batchId, this.ticketId), commit, overlay });
    await this.setup(dir, logPath.replace(/\.log$/, '-setup.log'), 'scratch worktree');
    return (await this.run(gate, dir, logPath)).tests;
  }

  /**
   * Runs the harness's setup steps in a worktree the agent did not prepare (a scratch worktree, or an attempt's taken
   * over from another worker), as the attempt's worktree had them before its agent ran: the gates need what they
   * make (dependencies, builds). Same environment as the agent's setup (allowlisted variables, `agent.env`,
   * `agent.envFrom`). `what` names the worktree in messages.
   * @throws Error naming the step and its log when one fails: a harness fault, retried as the activity.
   */
  async setup(cwd: string, logPath: string, what: string): Promise<void> {
    const { setup, agentEnv } = this.input;
    const { failed } = await runSetupSteps(setup, {
      cwd,
      env: commandEnv({
        source: this.deps.env,
        plain: agentEnv.env,
        fromWorker: resolveEnvFrom(agentEnv.envFrom, this.deps.env, 'agent.envFrom'),
        protocol: { RATCHET_TICKET_ID: this.ticketId, RATCHET_ATTEMPT: String(this.attempt) },
      }),
      redact: this.redact,
      logPath,
      live: liveness(this.deps.stopping),
      what: `the setup of ${this.ticketId}'s ${what}`,
    });
    if (failed) {
      throw new Error(`the harness's setup step \`${failed.command}\` ${failed.why} in the ${what} ${cwd} (log ${logPath}): ${failed.tail.trim().slice(-300)}`);
    }
  }
}

/** The subset of `paths` (relative to `dir`) that exist there: deleted files are not tests to run. */
async function existing(dir: string, paths: string[]): Promise<string[]> {
  const present = await Promise.all(paths.map((p) => access(path.join(dir, p)).then(() => true, () => false)));
  return paths.filter((_, i) => present[i]);
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}
