/**
 * The first bad commit of a new failure (issue 27 item 3, "New"): a bisect of the base's first-parent line, as `git
 * bisect --first-parent` would do it, where running the check decides. Each commit runs the way a watch's scheduled
 * run does (activities/watch.ts `checkRunner`, `runCheckAt`): a fresh export of its own, the setup steps, the check,
 * boxed. A commit is bad for a signature when the check fails there with that signature; a pass, or another failure,
 * is good; a commit whose setup fails, or whose check could not run to its end, is skipped (git bisect's `skip`).
 * Bounded: at most `maxRuns` check runs; when the bound is hit the answer is the range narrowed so far, never a guess.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { stepDir } from './artifacts';
import { liveness, throwIfStopped } from './context';
import { hasCommit } from './git';
import { safe, type GateDeps } from './gates';
import { checkRunner, runCheckAt, watchRef } from './watch';
import { BadInputError } from '../workflows/errors';
import { DEFAULT_BISECT_RUNS, ratchetMergeOf, type BisectResult, type BisectVerdict } from '../workflows/watch/bisect';
import type { SeenFailure } from '../workflows/watch/messages';
import type { WatchConfig } from '../workflows/watch/input';

export { describeBisect, type BisectResult, type BisectVerdict } from '../workflows/watch/bisect';

/** How far back along the first-parent line a bisect looks, commits. */
const LOOKBACK = 10_000;

export interface FirstBadInput {
  watch: WatchConfig;
  /** The check's name (one of `watch.checks`). */
  check: string;
  /** The signature sought (16 hex digits, activities/watch.ts `signatureOf`). */
  signature: string;
  /** A commit where a run saw the failure: trusted bad, never run again. */
  bad: string;
  /**
   * The last commit a run saw good, when known: trusted good. Ignored when it is not on `bad`'s first-parent line
   * (within 10,000 commits): then the bisect gallops back from `bad` as when none is known.
   */
  good?: string;
  /** At most this many check runs in all (skips count); default the watch file's `bisect.maxRuns`, else 8. */
  maxRuns?: number;
}

/**
 * Finds the first commit on the first-parent line up to `input.bad` where `input.check` fails with `input.signature`.
 * With no known good commit it first gallops back 1, 2, 4, 8... first-parent steps from `bad` until a commit is good,
 * then bisects between the two. Every run has its own export,
 * `<worktreesDir>/_bisect-<watchId>-<run>-<signature>-<commit>` (`<run>`: the calling workflow's run id and the
 * activity's attempt), removed after: two bisects at once never share one, even of one workflow run. Logs go to
 * `<artifacts>/watch-<watchId>/<run>/bisect-<check>-<signature>/<commit>.log`. Heartbeats after every run.
 * @returns the first bad and last good commits, or the range narrowed to, or how far back it fails (see
 *   BisectResult); with the ticket when the first bad commit is a ratchet merge, and every commit's verdict.
 * @throws BadInputError naming the field when the check is not the watch's, `maxRuns` is not a positive integer, or
 *   `bad` names no commit; Error when an export or a box cannot be made (a harness fault: the activity is retried).
 */
export async function firstBadCommit(input: FirstBadInput, deps: GateDeps): Promise<BisectResult> {
  const { watch, signature } = input;
  const check = watch.checks.find((c) => c.name === input.check);
  // An older watch config (from before `bisect` was a field) has none.
  const maxRuns = input.maxRuns ?? (watch as { bisect?: { maxRuns?: number } }).bisect?.maxRuns ?? DEFAULT_BISECT_RUNS;
  const problems = [
    check ? '' : `check: "${input.check}" is not a check of watch ${watch.watchId}; fix: name one of ${watch.checks.map((c) => `"${c.name}"`).join(', ')}`,
    Number.isInteger(maxRuns) && maxRuns >= 1 ? '' : `maxRuns: ${maxRuns} is not a positive integer; fix: give at least 1`,
    (await hasCommit(deps.git, watch.repo, input.bad)) ? '' : `bad: "${input.bad}" names no commit in ${watch.repo}; fix: give the commit a run saw the failure on`,
  ].filter(Boolean);
  if (problems.length || !check) throw new BadInputError('firstBadCommit', problems);

  const back = await firstParentLine(deps, watch.repo, input.bad);
  const goodAt = input.good === undefined ? -1 : back.indexOf(await fullSha(deps, watch.repo, input.good));
  const run = bisectRunId();
  const logs = await stepDir(watchRef(watch), safe(run), `bisect-${safe(check.name)}-${safe(signature)}`);
  const live = liveness(deps.stopping);
  const tested: BisectResult['tested'] = [];
  const test = async (commit: string): Promise<BisectVerdict> => {
    throwIfStopped(live.signal, `the bisect of ${signature}`);
    const exportName = `_bisect-${watch.watchId}-${safe(run)}-${safe(signature)}-${commit.slice(0, 12)}`;
    let verdict: BisectVerdict;
    try {
      verdict = verdictOf((await runCheckAt(checkRunner(watch, exportName, deps), check, commit, path.join(logs, `${commit.slice(0, 12)}.log`))).failures, signature);
    } catch (err) {
      if (!isSetupFailure(err)) throw err;
      verdict = 'skip';
    } finally {
      await rm(path.join(watch.worktreesDir, exportName), { recursive: true, force: true });
    }
    tested.push({ commit, verdict });
    live.heartbeat({ bisect: signature, tested: tested.length, maxRuns });
    return verdict;
  };
  // The bad commit itself (index 0) is no good one.
  const found = await searchFirstBad(back, goodAt > 0 ? goodAt : undefined, back.length < LOOKBACK, maxRuns, test);
  const result: BisectResult = { check: check.name, signature, runs: tested.length, maxRuns, tested, ...found };
  if (!result.firstBad) return result;
  const subject = (await deps.git.run(watch.repo, ['log', '-1', '--format=%s', result.firstBad])).out.trim();
  const ticket = ratchetMergeOf(subject);
  return { ...result, subject, ...(ticket ? { ticket } : {}) };
}

/**
 * The search itself, over `back` (a first-parent line newest first: `back[0]` is the trusted bad commit, `back[i]`
 * is i first-parent steps back), with `test` deciding a commit. `goodAt`: the index of a trusted good commit, if any;
 * `whole`: `back` reaches the line's first commit. Runs `test` at most `maxRuns` times.
 */
export async function searchFirstBad(
  back: string[],
  goodAt: number | undefined,
  whole: boolean,
  maxRuns: number,
  test: (commit: string) => Promise<BisectVerdict>,
): Promise<Pick<BisectResult, 'firstBad' | 'lastGood' | 'range' | 'badSince'>> {
  const skipped = new Set<number>();
  let runs = 0;
  let bad = 0;
  let good = goodAt;
  const run = async (i: number): Promise<void> => {
    runs++;
    const v = await test(back[i]);
    if (v === 'good') good = i;
    else if (v === 'bad') bad = i;
    else skipped.add(i);
  };
  // Gallop: 1, 2, 4, 8... steps back from the bad commit, until one is good (or the line or the bound ends).
  for (let step = 1; good === undefined && runs < maxRuns; step *= 2) {
    const i = Math.min(step, back.length - 1);
    if (i <= bad || skipped.has(i)) break;
    await run(i);
  }
  if (good === undefined) {
    // Bad from the line's first commit on: that commit is the first bad one.
    if (whole && bad === back.length - 1) return { firstBad: back[bad] };
    return { badSince: back[bad] };
  }
  // Bisect: the commit nearest the middle of (bad, good) not yet skipped, until they meet.
  for (;;) {
    const [b, g] = [bad, good];
    if (g - b === 1) return { firstBad: back[b], lastGood: back[g] };
    const mid = Math.floor((b + g) / 2);
    const next = Array.from({ length: g - b - 1 }, (_, k) => b + 1 + k)
      .filter((i) => !skipped.has(i))
      .sort((x, y) => Math.abs(x - mid) - Math.abs(y - mid) || x - y)[0];
    if (next === undefined || runs >= maxRuns) return { range: { good: back[g], bad: back[b] } };
    await run(next);
  }
}

/** A commit's verdict from the failures its check run showed: see the file comment. */
export function verdictOf(failures: Pick<SeenFailure, 'signature' | 'infra'>[], signature: string): BisectVerdict {
  if (failures.some((f) => f.signature === signature)) return 'bad';
  // A check that timed out (or could not start) says nothing about the failure sought.
  return failures.some((f) => f.infra) ? 'skip' : 'good';
}

/** Whether `err` is GateRunner's "a setup step failed" (activities/gates.ts `checkout`): the commit cannot run its check. */
function isSetupFailure(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("the harness's setup step ");
}

/** `tip`'s first-parent line, newest first (`tip` itself first), at most {@link LOOKBACK} commits. */
async function firstParentLine(deps: GateDeps, repo: string, tip: string): Promise<string[]> {
  const out = (await deps.git.run(repo, ['rev-list', '--first-parent', `--max-count=${LOOKBACK}`, tip])).out;
  return out.split('\n').filter(Boolean);
}

/** The full sha `rev` names, or `rev` itself when it names none (it is then on no line). */
async function fullSha(deps: GateDeps, repo: string, rev: string): Promise<string> {
  const r = await deps.git.run(repo, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], [0, 1]);
  return r.code === 0 ? r.out.trim() : rev;
}

/**
 * The name of this bisect's exports and logs: the calling workflow's run id and the activity's attempt (two bisects
 * at once, or a retry beside a stale attempt, never share an export); outside an activity, a fresh UUID.
 */
function bisectRunId(): string {
  try {
    const { info } = Context.current();
    return `${info.workflowExecution?.runId ?? info.activityId}-${info.attempt}`;
  } catch {
    return `local-${randomUUID()}`;
  }
}
