/**
 * Activity: validate. Decides whether an attempt may merge, with nothing the agent wrote deciding it:
 * 1. protected paths: an attempt whose diff touches one (tickets, `.ratchet/`, the files gates and probes run) fails,
 *    unless its ticket's `allowPaths` cover it, and then it needs a person's approve before merging;
 * 2. gates: the batch's commands, run boxed on a fresh export of the attempt's commit (GateRunner); exit 0 passes;
 * 3. regression guard, for gates that declare a JUnit report: every test that passed on the base must still pass
 *    (missing or skipped counts as failing: SWE-bench PASS_TO_PASS), and a `bug` ticket must bring a test that fails
 *    on the base code and passes on the branch (SWE-bench FAIL_TO_PASS).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';
import { stepDir } from './artifacts';
import { liveness } from './context';
import { commandEnv, resolveEnvFrom } from './env';
import { gateName, runSetupSteps, ticketBranch, worktreeName } from './agent-step';
import { cacheFolders, hiddenFolders, openBox, refusedLine } from './box/box';
import { PRIVATE_TMP_PREFIX, type SandboxProbe } from './box/sandbox';
import { GitError, RegressionReportError } from '../workflows/errors';
import { changedPaths, fetchBranch, hasCommit, type Git } from './git';
import { exportTree } from './git/views';
import type { Redactor } from './redact';
import { killedNote, runStep } from './run-step';
import { comparePassToPass, describeRegression, failToPass, readReports, type TestCase } from './regression';
import { batchRedactor } from './secrets';
import { DEFAULT_AGENT_NETWORK, type AgentConfig, type Gate, type GateResult, type RepoRef, type SetupStep, type Ticket, type ValidateResult } from '../workflows/types';

export interface ValidateInput {
  ref: RepoRef;
  ticket: Ticket;
  attempt: number;
  /**
   * The worktree implement left. Not read since gates run on an export of `commit` (issue 25); kept so inputs
   * scheduled by running workflows keep their shape.
   */
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
   * The harness's setup steps and the agent's environment they run with: run before every gate run, in its export.
   */
  setup: SetupStep[];
  /**
   * The agent's environment and box, which the setup steps share: `sandbox` (`none` runs setup steps and gates
   * unboxed), `cacheDirs` (a gate run gets empty ones of its own at their paths), `network` (the setup steps' domains). The last three are absent in
   * inputs scheduled before they existed: boxed, no caches, {@link DEFAULT_AGENT_NETWORK}.
   */
  agentEnv: Pick<AgentConfig, 'env' | 'envFrom'> & Partial<Pick<AgentConfig, 'sandbox' | 'cacheDirs' | 'network'>>;
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
  /** Whether bubblewrap (and socat) work on this host (asked once per worker). */
  sandbox: SandboxProbe;
}

/**
 * Makes sure `commit` is in the repository: an attempt made on another worker's host (gone, or busy past the batch's
 * `hostWaitMs`) is fetched from the batch's `origin`.
 * @throws GitError (non-retryable) when the commit is in neither this repository nor `origin` (none configured, or
 *   the push failed): the attempt cannot be taken over, and the ticket runs a new one.
 */
async function haveCommit(git: Git, input: ValidateInput): Promise<void> {
  const { ref, ticket, attempt, commit } = input;
  const branch = ticketBranch(ref.batchId, ticket.id);
  if (!(await hasCommit(git, ref.repo, commit)) && ref.origin !== undefined) await fetchBranch(git, { repo: ref.repo, remote: ref.origin, branch });
  if (!(await hasCommit(git, ref.repo, commit))) {
    throw new GitError(
      `attempt ${attempt} of ${ticket.id} (commit ${commit}) is not in ${ref.repo}${ref.origin ? ` nor on ${ref.origin}'s ${branch}` : ''}: ` +
        `the worker that made it is gone${ref.origin ? '' : ' and the batch sets no "origin" to push attempts to'}; the ticket runs a new attempt`,
      true,
    );
  }
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
  await haveCommit(deps.git, input);
  const changed = await changedPaths(deps.git, ref.repo, baseCommit, commit);
  const protectedTouched = matching(changed, input.protectedPaths);
  const allowed = new Set(matching(protectedTouched, ticket.allowPaths));
  const protectedDenied = protectedTouched.filter((p) => !allowed.has(p));
  const result: ValidateResult = { passed: false, gates: [], protectedTouched, protectedDenied, regressions: [], failToPass: [], guardedBy: [] };
  if (protectedDenied.length) return result;

  const present = new Set(await inTree(deps.git, ref.repo, commit, changed));
  const dir = await stepDir(ref, ticket.id, `attempt-${attempt}`);
  const guard: string[] = [];
  for (const gate of input.gates) {
    const run = await runner.run(gate, { commit }, path.join(dir, `gate-${safe(gate.name)}.log`));
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
            { commit, paths: changedTests.filter((p) => present.has(p)), removed: changedTests.filter((p) => !present.has(p)) },
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

/**
 * Runs gates for one attempt, each on a fresh export of the commit it checks (the attempt's, the base's, or the
 * base's with the branch's test files laid over: FAIL_TO_PASS) in the ticket's gate folder, after the harness's setup
 * steps, boxed (activities/box/box.ts). Inside the box every run's checkout shows at the ticket's worktree path, so
 * no test can tell a base run from a branch run by where it runs; the repository, the worktrees and the artifacts
 * (the cached base results among them) are hidden, and the gate reaches only `gates[].network`.
 */
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
   * Runs `gate` on a fresh export of `tree.commit` (with `tree.overlay`). A declared JUnit report is deleted from the
   * export before the run (a committed one must not count) and read from it after; a gate that exits 0 without writing it, or writes one that does not parse, fails.
   * @throws Error naming the step when a setup step fails (a harness fault); ConfigError when the box cannot be made.
   */
  async run(gate: Gate, tree: { commit: string; overlay?: Overlay }, logPath: string): Promise<{ result: GateResult; tests?: TestCase[] }> {
    const caches = await this.privateCaches();
    try {
      return await this.runWith(gate, tree, logPath, caches.binds);
    } finally {
      await caches.dispose();
    }
  }

  private async runWith(gate: Gate, tree: { commit: string; overlay?: Overlay }, logPath: string, caches: CacheBinds): Promise<{ result: GateResult; tests?: TestCase[] }> {
    const { exportDir, inside } = await this.checkout(tree.commit, tree.overlay, logPath.replace(/\.log$/, '-setup.log'), caches);
    // A report committed (or made by a setup step) must not count as the gate's: only what this run writes.
    if (gate.junit) for (const f of await glob(gate.junit, { cwd: exportDir, dot: true, followSymbolicLinks: false })) await rm(path.join(exportDir, f), { force: true });
    const box = await this.box(`gate "${gate.name}"`, gate.network ?? [], exportDir, inside, caches);
    let r;
    try {
      r = await runStep({
        command: gate.command,
        cwd: box ? inside : exportDir,
        env: {
          ...commandEnv({
            source: this.deps.env,
            fromWorker: resolveEnvFrom(gate.envFrom, this.deps.env, `gates "${gate.name}" envFrom`),
            protocol: { RATCHET_TICKET_ID: this.ticketId, RATCHET_ATTEMPT: String(this.attempt) },
          }),
          ...box?.env,
        },
        prefix: box?.prefix,
        redact: this.redact,
        timeoutMs: gate.timeoutMs,
        logPath,
        tailBytes: 3072,
        live: liveness(this.deps.stopping),
        heartbeat: `gate ${gate.name}`,
        what: `gate "${gate.name}" of ${this.ticketId} attempt ${this.attempt}`,
      });
    } finally {
      await box?.close();
    }
    let passed = r.exitCode === 0 && !r.timedOut;
    let tail = r.timedOut ? `${r.tail}\n[timed out after ${gate.timeoutMs} ms]` : r.tail;
    const killed = killedNote(r, 'the gate');
    if (killed) tail += `\n${killed}`;
    tail += refusedLine(box?.refused() ?? [], 'gates[].network');
    let tests: TestCase[] | undefined;
    if (gate.junit) {
      try {
        const reports = await readReports(exportDir, gate.junit);
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
   * `<artifactsDir>/_base/<commit>/`, a folder no box sees. The run's log is the ticket's own, beside its attempt's
   * gate logs. A gate that writes no report on the base yields no tests (nothing to keep passing) and is not cached,
   * so the next attempt tries again.
   */
  async baseline(gate: Gate, baseCommit: string, logPath: string): Promise<TestCase[]> {
    const setup = this.input.setup.map((s) => s.command);
    const key = createHash('sha256').update(JSON.stringify([gate.name, gate.command, gate.junit, setup])).digest('hex').slice(0, 16);
    const cache = path.join(this.input.ref.artifactsDir, '_base', baseCommit, `${safe(gate.name)}-${key}.json`);
    const hit = await readFile(cache, 'utf8').then((t) => JSON.parse(t) as TestCase[], () => undefined);
    if (hit) return hit;
    const tests = (await this.run(gate, { commit: baseCommit }, logPath)).tests;
    if (tests === undefined) return [];
    await mkdir(path.dirname(cache), { recursive: true });
    // Unique per writer: two tickets may write the same cache at once, in one worker process.
    const tmp = `${cache}.${process.pid}.${this.ticketId}.${this.attempt}.tmp`;
    await writeFile(tmp, JSON.stringify(tests));
    await rename(tmp, cache);
    return tests;
  }

  /** The gate's tests when the branch's `overlay.paths` (its test files) run against the base's code. */
  async branchTestsOnBase(gate: Gate, baseCommit: string, overlay: Overlay, logPath: string): Promise<TestCase[] | undefined> {
    return (await this.run(gate, { commit: baseCommit, overlay }, logPath)).tests;
  }

  /**
   * Exports `commit` (with `overlay`) into the ticket's gate folder, `<worktreesDir>/_gate-<batchId>-<ticketId>`, and
   * runs the harness's setup steps there, boxed like the gate, with the agent's environment and network: the gates
   * need what they make (dependencies, builds).
   * @returns the export on the host and where a box shows it (the ticket's worktree path).
   * @throws Error naming the step and its log when one fails: a harness fault, retried as the activity.
   */
  private async checkout(commit: string, overlay: Overlay | undefined, setupLog: string, caches: CacheBinds): Promise<{ exportDir: string; inside: string }> {
    const { repo, worktreesDir, batchId } = this.input.ref;
    await mkdir(worktreesDir, { recursive: true });
    const root = await realpath(worktreesDir);
    const exportDir = path.join(root, gateName(batchId, this.ticketId));
    const inside = path.join(root, worktreeName(batchId, this.ticketId));
    await exportTree(this.deps.git, repo, exportDir, commit, overlay);
    const { setup, agentEnv } = this.input;
    if (!setup.length) return { exportDir, inside };
    const box = await this.box(`the setup of ${this.ticketId}'s gate run`, agentEnv.network ?? DEFAULT_AGENT_NETWORK, exportDir, inside, caches);
    try {
      const { failed } = await runSetupSteps(setup, {
        cwd: box ? inside : exportDir,
        env: {
          ...commandEnv({
            source: this.deps.env,
            plain: agentEnv.env,
            fromWorker: resolveEnvFrom(agentEnv.envFrom, this.deps.env, 'agent.envFrom'),
            protocol: { RATCHET_TICKET_ID: this.ticketId, RATCHET_ATTEMPT: String(this.attempt) },
          }),
          ...box?.env,
        },
        prefix: box?.prefix,
        redact: this.redact,
        logPath: setupLog,
        live: liveness(this.deps.stopping),
        what: `the setup of ${this.ticketId}'s gate run`,
      });
      if (failed) {
        throw new Error(`the harness's setup step \`${failed.command}\` ${failed.why} before a gate of ${this.ticketId} (log ${setupLog}): ${failed.tail.trim().slice(-300)}`);
      }
    } finally {
      await box?.close();
    }
    return { exportDir, inside };
  }

  /**
   * The box of one run in the export (the gate's, or its setup steps'), or undefined when `agent.sandbox` is `none`
   * (written on purpose: then setup steps and gates run unboxed too, in the export itself). `caches` show at
   * `agent.cacheDirs`' paths.
   * @throws ConfigError naming the fix when bubblewrap (or socat, with a network) does not work here.
   */
  private async box(what: string, network: readonly string[], exportDir: string, inside: string, caches: CacheBinds) {
    const { agentEnv, ref } = this.input;
    if (agentEnv.sandbox === 'none') return undefined;
    return openBox(this.deps.sandbox, {
      cwd: inside,
      writable: [],
      hidden: await hiddenFolders(ref),
      binds: [{ src: exportDir, dest: inside, writable: true }, ...caches],
      network,
      what,
      workerEnv: this.deps.env,
    });
  }

  /**
   * Empty folders of one gate run's own, one per `agent.cacheDirs` entry, shown at that entry's path to its setup
   * steps and its gate (so a module `go mod download` fetched in a setup step is there for `go test`), deleted after.
   * Never the caches the agent wrote: one the agent (or an earlier gate run, its tests being agent-written) could
   * write would let it plant a result, go's test cache say, that the gate then reads as its own. None unboxed.
   * @throws ConfigError naming the fix when a cache folder is missing on this worker.
   */
  private async privateCaches(): Promise<{ binds: CacheBinds; dispose(): Promise<void> }> {
    const { agentEnv } = this.input;
    const dirs = agentEnv.sandbox === 'none' ? [] : (agentEnv.cacheDirs ?? []);
    if (!dirs.length) return { binds: [], dispose: async () => undefined };
    const binds: CacheBinds = (await cacheFolders(dirs)).map((dest) => ({ src: '', dest, writable: true }));
    const root = await mkdtemp(path.join(os.tmpdir(), `${PRIVATE_TMP_PREFIX}caches-`));
    for (const [i, b] of binds.entries()) {
      b.src = path.join(root, String(i));
      await mkdir(b.src);
    }
    return { binds, dispose: () => rm(root, { recursive: true, force: true }) };
  }
}

/** Host folders bound at `agent.cacheDirs`' paths in a gate run's boxes. */
type CacheBinds = { src: string; dest: string; writable: true }[];

/** The subset of `paths` that are files of `commit`'s tree: deleted files are not tests to run. */
async function inTree(git: Git, repo: string, commit: string, paths: string[]): Promise<string[]> {
  if (!paths.length) return [];
  const out = (await git.run(repo, ['ls-tree', '-r', '-z', '--name-only', commit, '--', ...paths])).out;
  const found = new Set(out.split('\0').filter(Boolean));
  return paths.filter((p) => found.has(p));
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}
