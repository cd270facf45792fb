/**
 * Running gates on a commit, boxed, on a fresh export (issue 25): the {@link GateRunner} that validate (an attempt's
 * commit, its base, FAIL_TO_PASS) and the merge queue (a candidate: the base tip with validated commits merged onto
 * it) share. Nothing the agent wrote decides a result here: the export is made from git objects, the JUnit report is
 * what this run wrote, and the box hides the repository, the worktrees and the artifacts.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { glob } from 'tinyglobby';
import { liveness } from './context';
import { commandEnv, resolveEnvFrom } from './env';
import { gateName, runSetupSteps, worktreeName } from './agent-step';
import { cacheFolders, hiddenFolders, openBox, refusedLine } from './box/box';
import { PRIVATE_TMP_PREFIX, type SandboxProbe } from './box/sandbox';
import { RegressionReportError } from '../workflows/errors';
import type { Git } from './git';
import { exportTree } from './git/views';
import type { Redactor } from './redact';
import { killedNote, runStep } from './run-step';
import { readReports, type TestCase } from './regression';
import { DEFAULT_AGENT_NETWORK, type AgentConfig, type Gate, type GateResult, type RepoRef, type SetupStep } from '../workflows/types';

/** Where and as whom a {@link GateRunner} runs: the repository, the ticket, the harness's setup and the agent's box. */
export interface GateScope {
  ref: RepoRef;
  /**
   * The ticket whose checks these are: `RATCHET_TICKET_ID` of every run, and the worktree path a box shows the
   * export at. A merge candidate's is its last ticket's.
   */
  ticketId: string;
  /** `RATCHET_ATTEMPT` of every run: the attempt, or the candidate's attempt at landing. */
  attempt: number;
  /** The harness's setup steps, run before every gate run in its export. */
  setup: SetupStep[];
  /** The agent's environment and box, which the setup steps share; see ValidateInput's `agentEnv`. */
  agentEnv: Pick<AgentConfig, 'env' | 'envFrom'> & Partial<Pick<AgentConfig, 'sandbox' | 'cacheDirs' | 'network'>>;
  /**
   * The export's folder name inside `worktreesDir`, shown in the box at its own path; default the ticket's gate
   * folder ({@link gateName}), shown at the ticket's worktree path. A candidate's tickets may have no worktree here.
   */
  exportName?: string;
}

/** What running gates needs from the worker. */
export interface GateDeps {
  /** The worker's environment: source of `envFrom` values and of the allowlisted variables. */
  env: NodeJS.ProcessEnv;
  /** Aborted when the worker process is told to stop: a running gate is stopped at once. */
  stopping?: AbortSignal;
  /** The worker's git client. */
  git: Git;
  /** Whether bubblewrap (and socat) work on this host (asked once per worker). */
  sandbox: SandboxProbe;
}

/** The branch's versions of `paths` (and its deletions, `removed`) laid over another commit. */
export type Overlay = { commit: string; paths: string[]; removed: string[] };

/**
 * Runs gates for one attempt (or one merge candidate), each on a fresh export of the commit it checks (the attempt's,
 * the base's, the base's with the branch's test files laid over: FAIL_TO_PASS, or a candidate) in its gate folder, after the harness's setup
 * steps, boxed (activities/box/box.ts). Inside the box every run's checkout shows at the ticket's worktree path, so
 * no test can tell a base run from a branch run by where it runs; the repository, the worktrees and the artifacts
 * (the cached base results among them) are hidden, and the gate reaches only `gates[].network`.
 */
export class GateRunner {
  private readonly ticketId: string;
  private readonly attempt: number;

  constructor(
    private readonly input: GateScope,
    private readonly deps: GateDeps,
    private readonly redact: Redactor,
  ) {
    this.ticketId = input.ticketId;
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
    const exportDir = path.join(root, this.input.exportName ?? gateName(batchId, this.ticketId));
    const inside = this.input.exportName ? exportDir : path.join(root, worktreeName(batchId, this.ticketId));
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


/** `name` as a file name: every character outside `[A-Za-z0-9._-]` becomes `_`. */
export function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}
