/**
 * The run's breaker (issue 27 item 3, seed 003's error-rate breaker): a run whose failures look systemic files one
 * `systemic` ticket for a person instead of one ticket per failure for agents. Systemic when a check could not run at
 * all (a time-out: infrastructure), when more than `failingShare` of a check's tests failed, or when more than
 * `maxNewPerRun` failures new to the watch came out of one run (signatures it had no workflow for; the share rule only
 * for a report of at least 5 tests): 40 tickets failing the same way are one problem, not 40.
 * Pure.
 */
import type { CheckFailure } from './failure';
import type { WatchConfig } from './input';
import type { WatchRunResult } from './messages';

/** The share rule needs at least this many tests in the check's report. */
export const MIN_SUITE = 5;

/**
 * The failures a run reports: its own when they look ordinary, else one systemic failure per reason (its id names the
 * class of reason, so the same kind of outage recurs as the same signature).
 */
export function breakerVerdict(watch: WatchConfig, run: WatchRunResult, known: readonly string[] = []): { systemic: boolean; failures: (CheckFailure & { signature?: string })[] } {
  const reasons: CheckFailure[] = [];
  const systemic = (check: string, id: string, message: string): void => void reasons.push({ check, kind: 'command', id: `systemic: ${id}`, message, location: '', tail: '', systemic: true });
  for (const f of run.failures.filter((x) => x.infra)) systemic(f.check, `infrastructure of ${f.check}`, `check ${f.check} could not run to its end (${f.message})`);
  for (const c of run.checks) {
    const t = c.tests;
    // A share of a handful of tests says little: one failing test of two is one failure, not an outage.
    if (t && t.total >= MIN_SUITE && t.failed / t.total > watch.breaker.failingShare) {
      systemic(c.name, `share of ${c.name}`, `${t.failed} of ${t.total} tests of ${c.name} failed (over ${Math.round(watch.breaker.failingShare * 100)}%)`);
    }
  }
  // New to the watch: a failure it already follows (say, one waiting for its fix) is not part of a sudden burst.
  const fresh = run.failures.filter((f) => !f.infra && !f.flaky && !known.includes(f.signature));
  if (new Set(fresh.map((f) => f.signature)).size > watch.breaker.maxNewPerRun) {
    systemic('*', 'many at once', `${fresh.length} new failures in one run (over breaker.maxNewPerRun ${watch.breaker.maxNewPerRun}): ${fresh.slice(0, 5).map((f) => f.id).join(', ')}, ...`);
  }
  return reasons.length ? { systemic: true, failures: reasons } : { systemic: false, failures: run.failures };
}
