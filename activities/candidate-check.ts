/**
 * Checking a merge candidate (DESIGN.md "Words": merge candidate; issue 26): the commit that would land, validated on
 * its own tree before anything lands it. The merge queue checks its candidates with it (activities/merge-queue.ts,
 * `landCandidate`), and the GitHub forge checks a pull request's head brought up to date with its base
 * (activities/pull-request.ts, `updatePullRequest`). One rule for both: the batch's setup steps and every gate run
 * boxed on a fresh export of the candidate (GateRunner), with the regression guard's PASS_TO_PASS against the base tip.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { landedSince, type Git } from './git';
import { GateRunner, safe, type GateDeps } from './gates';
import { comparePassToPass, describeRegression } from './regression';
import { batchRedactor } from './secrets';
import type { CandidateChecks } from '../workflows/merge-queue/messages';
import type { GateResult } from '../workflows/types';

/** A candidate that failed its checks: what failed on it, and what landed on the base since each ticket's base. */
export interface RedCandidate {
  /** The base tip the candidate was merged onto (and PASS_TO_PASS ran against). */
  base: string;
  /** The gates that failed on the candidate, with their exit codes and output tails. */
  gates: Pick<GateResult, 'name' | 'exitCode' | 'tail'>[];
  /** PASS_TO_PASS tests the candidate broke (sorted, distinct). */
  tests: string[];
  /** The regression guard's words for them, one line per gate. */
  guardFeedback?: string;
  /** Per ticket id: subjects of the commits on the base's first-parent line since its base commit, oldest first. */
  landedSince: Record<string, string[]>;
}

/** One candidate check: the commit it runs on, the base tip it compares with, and as whom it runs. */
export interface CandidateRun {
  checks: CandidateChecks;
  /** The candidate: the base tip with the validated commit(s) merged in. */
  tip: string;
  /** The base tip it was made from: PASS_TO_PASS compares with its results (cached per base commit). */
  from: string;
  /** `RATCHET_TICKET_ID` of the runs (a queue candidate's: its last ticket's). */
  ticketId: string;
  /** `RATCHET_ATTEMPT` of the runs: the queue's candidate number, or the ticket's attempt. */
  attempt: number;
  /** The export's folder name in `worktreesDir` (shown in the box at its own path); removed after the check. */
  exportName: string;
  /** Where the gate logs go (`gate-<name>.log`, `gate-<name>-base.log`). */
  logDir: string;
  /** The tickets in the candidate and the base commit each was cut from: the feedback's "landed since". */
  tickets: { ticketId: string; baseCommit: string }[];
}

/**
 * Runs the candidate's checks: every gate on `tip` (all of them, so the feedback is complete), and for a gate with a
 * JUnit report that passed, PASS_TO_PASS against `from` (what passed on the base tip must pass on the candidate).
 * @returns undefined when every check passed, else the {@link RedCandidate}.
 * @throws Error naming the step when a setup step fails (a harness fault); ConfigError when the box cannot be made.
 */
export async function checkCandidate(run: CandidateRun, deps: GateDeps): Promise<RedCandidate | undefined> {
  const { checks, tip, from } = run;
  const { ref } = checks;
  const runner = new GateRunner(
    { ref, ticketId: run.ticketId, attempt: run.attempt, setup: checks.setup, agentEnv: checks.agentEnv, exportName: run.exportName },
    deps,
    batchRedactor(checks.secrets, deps.env),
  );
  try {
    const failed: GateResult[] = [];
    const tests: string[] = [];
    const guard: string[] = [];
    for (const gate of checks.gates) {
      const done = await runner.run(gate, { commit: tip }, path.join(run.logDir, `gate-${safe(gate.name)}.log`));
      if (!done.result.passed) failed.push(done.result);
      if (!done.result.passed || !gate.junit || !done.tests) continue;
      const base = await runner.baseline(gate, from, path.join(run.logDir, `gate-${safe(gate.name)}-base.log`));
      const cmp = comparePassToPass(base, done.tests);
      tests.push(...cmp.broken.map((b) => b.id));
      if (cmp.broken.length) guard.push(`gate "${gate.name}": ${describeRegression(cmp, ref.baseBranch)}`);
    }
    if (!failed.length && !guard.length) return undefined;
    return {
      base: from,
      gates: failed.map((g) => ({ name: g.name, exitCode: g.exitCode, tail: g.tail })),
      tests: [...new Set(tests)].sort(),
      ...(guard.length ? { guardFeedback: guard.join('\n') } : {}),
      landedSince: await landedSinceBases(deps.git, ref.repo, run.tickets, from),
    };
  } finally {
    await rm(path.join(ref.worktreesDir, run.exportName), { recursive: true, force: true });
  }
}

async function landedSinceBases(git: Git, repo: string, tickets: CandidateRun['tickets'], tip: string): Promise<Record<string, string[]>> {
  const since: Record<string, string[]> = {};
  for (const t of tickets) since[t.ticketId] = await landedSince(git, repo, t.baseCommit, tip);
  return since;
}
