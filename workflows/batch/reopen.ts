/**
 * A regression whose culprit already ended done (issue 26 item 5): the guard re-checks a bounded number of done
 * tickets after each deploy (`verify.guard`), so a broken probe can first show in the batch's final round, after its
 * culprit's workflow has ended. The batch then reopens the culprit: starts its ticket workflow again with the landing
 * to revert (ticket/revert.ts `revertEarlierLanding`: the same modes, veto window, bounds and merge queue as a
 * regression found right after the landing), and it goes back to work. Reopened instead of paused: a culprit ticket of
 * this batch that ended done, with `revert.mode` not `off`, and a landing not reopened before; every other regression
 * (a landing not this batch's, a culprit that ended human-gated or still runs, a second time) waits for a person at
 * the `main-health` gate. Workflow code.
 */
import { patched } from '@temporalio/workflow';
import type { Regression } from '../types';
import { startTicket } from './effects';
import type { BatchSchedule } from './schedule';

/** The patch id: histories from before it paused at the `main-health` gate for every regression of the final round. */
export const REOPEN_PATCH = 'reopen-culprit';

/**
 * Reopens the culprits of `regressions` (the final round's) that may be reopened; `reverts`: reverts the batch
 * landed so far.
 * @returns the tickets reopened (none: the caller pauses for a person).
 */
export async function reopenCulprits(s: BatchSchedule, regressions: Regression[], reverts: number): Promise<string[]> {
  if ((s.config.revert?.mode ?? 'auto') === 'off' || !patched(REOPEN_PATCH)) return [];
  const byCulprit = new Map<string, Regression[]>();
  for (const r of regressions) byCulprit.set(r.culprit, [...(byCulprit.get(r.culprit) ?? []), r]);
  const reopened: string[] = [];
  for (const [culprit, regs] of byCulprit) {
    const input = s.byId.has(culprit) ? s.reopen(culprit, regs, reverts, Date.now()) : undefined;
    if (!input) continue;
    reopened.push(culprit);
    await startTicket(s, input);
  }
  return reopened;
}
