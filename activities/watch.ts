/**
 * Activities of a watch (issue 27): run its checks on the base's tip, and report each failure to its signature's
 * workflow. The checks run as gates do (activities/gates.ts GateRunner): on a fresh export of the commit, after the
 * setup steps, boxed with no network; a check's JUnit report is what this run wrote.
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { stepDir } from './artifacts';
import { headOf } from './git';
import { GateRunner, safe, type GateDeps } from './gates';
import { batchRedactor } from './secrets';
import type { TestCase } from './regression';
import { signatureKey, type CheckFailure } from '../workflows/watch/failure';
import type { WatchConfig } from '../workflows/watch/input';
import { failureSeenSignal, runPassedSignal, signatureOfWorkflowId, signatureWorkflowId, type RunPassed, type SeenFailure, type WatchRunResult } from '../workflows/watch/messages';
import type { GateResult, RepoRef } from '../workflows/types';

/** A watch's repository as the gate runner takes it: its folders, and `watch-<watchId>` where a batch id would be. */
export function watchRef(watch: WatchConfig): RepoRef {
  return { batchId: `watch-${watch.watchId}`, repo: watch.repo, baseBranch: watch.baseBranch, worktreesDir: watch.worktreesDir, artifactsDir: watch.artifactsDir };
}

/** A failure's signature: the first 16 hex digits of the sha-256 of its key (workflows/watch/failure.ts). */
export function signatureOf(f: CheckFailure): string {
  return createHash('sha256').update(signatureKey(f)).digest('hex').slice(0, 16);
}

/** An error-looking line of a check's output (or its last line): a command failure's message. */
function firstErrorLine(tail: string): string {
  const lines = tail.split('\n').map((l) => l.trim()).filter(Boolean);
  const own = lines.filter((l) => !l.startsWith('[ratchet]'));
  // An error's own line before a test runner's summary ("FAIL calc"), and either before the last line.
  return own.find((l) => /error|exception|panic|fatal|assert/i.test(l)) ?? own.find((l) => /fail/i.test(l)) ?? own.at(-1) ?? '';
}

/** The failures one check's run shows: each failing test of its report, else the check itself when it failed. */
export function failuresOf(check: WatchConfig['checks'][number], result: GateResult, tests: { id: string; status: string; message?: string }[] | undefined): CheckFailure[] {
  if (result.passed) return [];
  const timedOut = /\[timed out after \d+ ms\]/.test(result.tail);
  const failing = (tests ?? []).filter((t) => t.status === 'failed');
  if (failing.length && !timedOut) {
    return failing.map((t) => ({ check: check.name, kind: 'test' as const, id: t.id, message: t.message ?? '', location: '', tail: result.tail }));
  }
  // No report to say which test, a time-out, or a check that could not start (exit code null): the check as a whole.
  const infra = timedOut || result.exitCode === null;
  return [{ check: check.name, kind: 'command', id: check.name, message: timedOut ? 'timed out' : firstErrorLine(result.tail), location: '', tail: result.tail, ...(infra ? { infra } : {}) }];
}

export interface RunChecksInput {
  watch: WatchConfig;
  /** The run's workflow id: its logs' folder name. */
  runId: string;
}

/**
 * Runs every check of `watch` on the base's tip, in order, each on a fresh export after the setup steps, boxed (logs
 * in `<artifacts>/watch-<watchId>/<runId>/`). A check that failed runs once more on the same commit: a failure that
 * is gone then is flaky.
 * @returns the commit, each check's verdict, and the failures with their signatures.
 * @throws Error naming the step when a setup step fails (a harness fault: the run fails and its Schedule pauses).
 */
export async function runChecks(input: RunChecksInput, deps: GateDeps): Promise<WatchRunResult> {
  const { watch } = input;
  const ref = watchRef(watch);
  const commit = await headOf(deps.git, watch.repo, `refs/heads/${watch.baseBranch}`);
  // The run's own export: two runs of one watch at once (a trigger beside a scheduled run) must not share one. The
  // whole run id: run ids are time-ordered (UUIDv7), so two runs started together share their first characters.
  const exportName = `_watch-${watch.watchId}-${safe(input.runId)}`;
  const runner = checkRunner(watch, exportName, deps);
  const dir = await stepDir(ref, safe(input.runId), 'checks');
  const result: WatchRunResult = { watchId: watch.watchId, commit, checks: [], failures: [] };
  try {
    await checkAll(watch, runner, dir, commit, result);
  } finally {
    await rm(path.join(watch.worktreesDir, exportName), { recursive: true, force: true });
  }
  return result;
}

/** Runs each check (and a failed one again, for the flaky), adding verdicts and failures to `result`. */
async function checkAll(watch: WatchConfig, runner: GateRunner, dir: string, commit: string, result: WatchRunResult): Promise<void> {
  for (const check of watch.checks) {
    const run = await runCheckAt(runner, check, commit, path.join(dir, `check-${safe(check.name)}.log`));
    const tests = run.tests ? { total: run.tests.length, failed: run.tests.filter((t) => t.status === 'failed').length } : undefined;
    result.checks.push({ name: check.name, passed: run.result.passed, ms: run.result.ms, ...(tests ? { tests } : {}) });
    let failures = run.failures;
    if (failures.some((f) => !f.infra)) {
      // Run again on the same commit before anything counts: what passes now is flaky (issue 27 item 3).
      const again = await runCheckAt(runner, check, commit, path.join(dir, `check-${safe(check.name)}-again.log`));
      const still = new Set(again.failures.map((f) => `${f.kind}\u0000${f.id}`));
      failures = failures.map((f) => (f.infra || still.has(`${f.kind}\u0000${f.id}`) ? f : { ...f, flaky: true }));
    }
    result.failures.push(...failures);
  }
}

/**
 * The gate runner of a watch's checks, as every run of them is made (runChecks, and the bisect of
 * activities/watch-bisect.ts): on a fresh export in `<worktreesDir>/<exportName>`, after the watch's setup steps,
 * boxed unless the watch's `sandbox` is `none`, with no secrets.
 */
export function checkRunner(watch: WatchConfig, exportName: string, deps: GateDeps): GateRunner {
  return new GateRunner(
    { ref: watchRef(watch), ticketId: watch.watchId, attempt: 0, setup: watch.setup, agentEnv: { env: {}, envFrom: [], ...(watch.sandbox ? { sandbox: watch.sandbox } : {}) }, exportName },
    deps,
    batchRedactor([], deps.env),
  );
}

/**
 * Runs one check once on a fresh export of `commit` with `runner` ({@link checkRunner}), its log at `logPath`.
 * @returns the gate's result, its report's tests (when it has one), and its failures with their signatures.
 * @throws Error naming the step when a setup step fails (GateRunner.run).
 */
export async function runCheckAt(runner: GateRunner, check: WatchConfig['checks'][number], commit: string, logPath: string): Promise<{ result: GateResult; tests?: TestCase[]; failures: SeenFailure[] }> {
  const gate = { name: check.name, command: check.command, timeoutMs: check.timeoutMs, files: [], tests: [], envFrom: [], ...(check.junit ? { junit: check.junit } : {}) };
  const run = await runner.run(gate, { commit }, logPath);
  return { ...run, failures: failuresOf(check, run.result, run.tests).map((f) => ({ ...f, signature: signatureOf(f) })) };
}

export interface ReportFailuresInput {
  watch: WatchConfig;
  runId: string;
  /** The task queue a signature's workflow runs on when this report starts it (the run's). */
  taskQueue: string;
  commit: string;
  /** When the run started, ms since epoch (the server's clock). */
  startedAt: number;
  /** The failures; one without a signature (the breaker's systemic ones) gets it here. */
  failures: (CheckFailure & { signature?: string })[];
}

/**
 * Tells each failure's signature workflow that this run saw it, starting the workflow when it is the first sighting
 * (signal-with-start on `signature-<watchId>-<signature>`). Idempotent: a signature counts a run once.
 * @returns the signatures reported, in order.
 */
export async function reportFailures(input: ReportFailuresInput): Promise<string[]> {
  const { client } = Context.current();
  const reported: string[] = [];
  for (const f of input.failures) {
    const failure: SeenFailure = { ...f, signature: f.signature ?? signatureOf(f) };
    await client.workflow.signalWithStart('signatureWorkflow', {
      workflowId: signatureWorkflowId(input.watch.watchId, failure.signature),
      taskQueue: input.taskQueue,
      args: [{ watch: input.watch, signature: failure.signature }],
      signal: failureSeenSignal,
      signalArgs: [{ runId: input.runId, commit: input.commit, startedAt: input.startedAt, at: Date.now(), failure }],
      staticSummary: `failure ${failure.signature} of watch ${input.watch.watchId}: ${failure.check} ${failure.id}`.slice(0, 200),
    });
    reported.push(failure.signature);
  }
  return reported;
}

export interface ReportPassesInput {
  watch: WatchConfig;
  runId: string;
  commit: string;
  /** When the run started, ms since epoch (the server's clock). */
  startedAt: number;
  /** The checks that ran to their end in this run (workflows/watch/detected.ts `checksThatRan`). */
  checks: string[];
  /** The signatures this run saw: they are not told they passed. */
  seen: string[];
}

/**
 * Tells every running signature workflow of the watch (`signature-<watchId>-*`, found through visibility) that this
 * run did not see it (`runPassed`, with the checks that ran): each one whose check ran counts a green run. A signature
 * that ended meanwhile is skipped; one started a moment ago may not be listed yet (it was just seen: not green).
 * @returns how many were told.
 */
/**
 * Which of `signatures` the watch already knows: its signature workflow runs (asked of each by id, so a signature the
 * previous run started a moment ago counts, which a visibility query could miss). The breaker counts only the others
 * as new (issue 27 item 3).
 * @returns the known ones, in the order given.
 */
export async function knownSignatures(input: { watchId: string; signatures: string[] }): Promise<string[]> {
  const client = Context.current().client;
  const known: string[] = [];
  for (const signature of [...new Set(input.signatures)]) {
    const d = await client.workflow
      .getHandle(signatureWorkflowId(input.watchId, signature))
      .describe()
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });
    if (d?.status.name === 'RUNNING') known.push(signature);
  }
  return known;
}

export async function reportPasses(input: ReportPassesInput): Promise<{ told: number }> {
  const ctx = Context.current();
  const prefix = signatureWorkflowId(input.watch.watchId, '');
  const seen = new Set(input.seen);
  const passed: RunPassed = { runId: input.runId, commit: input.commit, startedAt: input.startedAt, at: Date.now(), checks: input.checks };
  let told = 0;
  // Watch ids match [A-Za-z0-9._-]: nothing in the prefix needs quoting.
  const query = `WorkflowType = 'signatureWorkflow' AND ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH '${prefix}'`;
  for await (const wf of ctx.client.workflow.list({ query })) {
    const signature = signatureOfWorkflowId(input.watch.watchId, wf.workflowId);
    if (signature === undefined || seen.has(signature)) continue;
    ctx.heartbeat(told);
    await ctx.client.workflow
      .getHandle(wf.workflowId)
      .signal(runPassedSignal, passed)
      .then(
        () => void told++,
        (err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        },
      );
  }
  return { told };
}
