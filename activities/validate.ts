/**
 * Activity: validate. Decides whether an attempt may merge, with nothing the agent wrote deciding it:
 * 1. protected paths: an attempt whose diff touches one (tickets, `.ratchet/`, the files gates and probes run) fails,
 *    unless its ticket's `allowPaths` cover it, and then it needs a person's approve before merging;
 * 2. gates: the batch's commands, run boxed on a fresh export of the attempt's commit (GateRunner); exit 0 passes;
 * 3. regression guard, for gates that declare a JUnit report: every test that passed on the base must still pass
 *    (missing or skipped counts as failing: SWE-bench PASS_TO_PASS), and a `bug` ticket must bring a test that fails
 *    on the base code and passes on the branch (SWE-bench FAIL_TO_PASS).
 */
import path from 'node:path';
import picomatch from 'picomatch';
import { stepDir } from './artifacts';
import { ticketBranch } from './agent-step';
import { GitError } from '../workflows/errors';
import { changedPaths, fetchBranch, hasCommit, type Git } from './git';
import { GateRunner, safe, type GateDeps } from './gates';
import { comparePassToPass, describeRegression, failToPass } from './regression';
import { batchRedactor } from './secrets';
import type { AgentConfig, Gate, RepoRef, SetupStep, Ticket, ValidateResult } from '../workflows/types';

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
   * inputs scheduled before they existed: boxed, no caches, the default agent network.
   */
  agentEnv: Pick<AgentConfig, 'env' | 'envFrom'> & Partial<Pick<AgentConfig, 'sandbox' | 'cacheDirs' | 'network'>>;
  /** The batch's secrets (every `envFrom` name), redacted from the gate logs. */
  secrets: string[];
}

/** What validate needs from the worker: what running gates needs (gates.ts). */
export type ValidateDeps = GateDeps;

/**
 * Makes sure `commit` (attempt `attempt` of `ticketId`) is in the repository: an attempt made on another worker's
 * host (gone, or busy past the batch's `hostWaitMs`) is fetched from the batch's `origin`.
 * @throws GitError (non-retryable) when the commit is in neither this repository nor `origin` (none configured, or
 *   the push failed): the attempt cannot be taken over, and the ticket runs a new one.
 */
export async function haveCommit(git: Git, ref: RepoRef, ticketId: string, attempt: number, commit: string): Promise<void> {
  const branch = ticketBranch(ref.batchId, ticketId);
  if (!(await hasCommit(git, ref.repo, commit)) && ref.origin !== undefined) await fetchBranch(git, { repo: ref.repo, remote: ref.origin, branch });
  if (!(await hasCommit(git, ref.repo, commit))) {
    throw new GitError(
      `attempt ${attempt} of ${ticketId} (commit ${commit}) is not in ${ref.repo}${ref.origin ? ` nor on ${ref.origin}'s ${branch}` : ''}: ` +
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
  const runner = new GateRunner({ ref, ticketId: ticket.id, attempt, setup: input.setup, agentEnv: input.agentEnv }, deps, redact);
  await haveCommit(deps.git, ref, ticket.id, attempt, commit);
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

/** The subset of `paths` that are files of `commit`'s tree: deleted files are not tests to run. */
async function inTree(git: Git, repo: string, commit: string, paths: string[]): Promise<string[]> {
  if (!paths.length) return [];
  const out = (await git.run(repo, ['ls-tree', '-r', '-z', '--name-only', commit, '--', ...paths])).out;
  const found = new Set(out.split('\0').filter(Boolean));
  return paths.filter((p) => found.has(p));
}
