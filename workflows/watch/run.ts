/**
 * watchRunWorkflow (issue 27): what a watch's Temporal Schedule starts every `everyMs`. It checks the base's tip
 * (`runChecks`: a fresh export, the setup steps and every check, boxed like gates) and reports each failure to the
 * workflow of its signature (`reportFailures`: signal-with-start, so the server keeps one workflow, hence one ticket,
 * per failure), then tells every other open signature of the watch that this run did not see it (`reportPasses`:
 * a green run for those whose check ran to its end; a time-out or a check that could not start is green for none).
 * Finding failures is data: the run completes with them in its result. Only a harness fault (the
 * repository gone, a setup step failing) fails the run, which pauses the Schedule (`pauseOnFailure`) for a person.
 * Deterministic: the work is activities.
 */
import { proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { NON_RETRYABLE } from '../errors';
import { breakerVerdict } from './breaker';
import * as metrics from './metrics';
import type { WatchConfig } from './input';
import { checksThatRan } from './detected';
import type { WatchRunResult } from './messages';

/** Runs the watch's checks once and reports what failed; see the file comment. @returns what the run found. */
export async function watchRunWorkflow(watch: WatchConfig): Promise<WatchRunResult & { systemic: boolean }> {
  const setupMs = watch.setup.reduce((sum, s) => sum + s.timeoutMs, 0) * watch.checks.length;
  const checksMs = watch.checks.reduce((sum, c) => sum + c.timeoutMs, 0);
  const acts = proxyActivities<Activities>({
    startToCloseTimeout: setupMs + checksMs + 120_000,
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE] },
  });
  // The run id, not the workflow id: a Schedule's workflow id is its nominal time in seconds, so two triggered runs
  // within a second share one.
  const { runId, runStartTime, taskQueue } = workflowInfo();
  const startedAt = runStartTime.getTime();
  const result = await acts.runChecks({ watch, runId });
  // Failures that look systemic are one ticket for a person (the breaker), not one per failure for agents.
  // The breaker counts failures new to the watch: those without a running signature workflow yet.
  const known = result.failures.length ? await acts.knownSignatures({ watchId: watch.watchId, signatures: result.failures.map((f) => f.signature) }) : [];
  const verdict = breakerVerdict(watch, result, known);
  metrics.runFinished(verdict.systemic ? 'systemic' : result.failures.length ? 'failures' : 'green');
  const reported = verdict.failures.length ? await acts.reportFailures({ watch, runId, taskQueue, commit: result.commit, startedAt, failures: verdict.failures }) : [];
  // Every other signature of the watch learns that this run did not see it: a green run when its check ran.
  const seen = [...result.failures.map((f) => f.signature), ...reported];
  await acts.reportPasses({ watch, runId, commit: result.commit, startedAt, checks: checksThatRan(result), seen });
  setCurrentDetails(
    [
      `**watch** \`${watch.watchId}\` on \`${result.commit.slice(0, 10)}\``,
      ...result.checks.map((c) => `- ${c.name}: ${c.passed ? 'passed' : 'failed'} (${Math.round(c.ms / 100) / 10}s)`),
      verdict.systemic ? `systemic: ${verdict.failures.map((f) => f.message).join('; ')}` : result.failures.length ? `${result.failures.length} failures reported to their signatures` : 'no failures',
    ].join('\n'),
  );
  return { ...result, systemic: verdict.systemic };
}
