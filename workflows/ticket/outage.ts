/**
 * Riding out an outage (issue "outages cost no attempts"): a step that failed because its repository, worktrees,
 * artifacts or tickets folder was gone or unwritable (`Outage`, activities/outage.ts) is tried again after a wait,
 * 5 s doubling to 1 minute, for `harness.outageMs`; then a person is asked at the `harness-fault` gate (approve: wait
 * again; reject: give up). Never an attempt, never a heal (an agent cannot bring a folder back). Workflow code.
 */
import { ActivityFailure, ApplicationFailure, log, patched, sleep } from '@temporalio/workflow';
import { formatMs } from '../duration';
import { DEFAULT_OUTAGE_MS } from '../types';
import type { TicketEffects } from './effects';

/** The `ApplicationFailure` type of an outage (`OutageError`). */
export const OUTAGE = 'Outage';
/** First wait after an outage, ms; it doubles up to {@link LONGEST_WAIT_MS}. */
const FIRST_WAIT_MS = 5_000;
const LONGEST_WAIT_MS = 60_000;

/** The outage's message when `err` is a step failed by an outage, else undefined. */
export function outageOf(err: unknown): string | undefined {
  if (!(err instanceof ActivityFailure) || !(err.cause instanceof ApplicationFailure) || err.cause.type !== OUTAGE) return undefined;
  return err.cause.message;
}

/**
 * Runs `step`, riding out outages (see the module comment). Other failures are thrown as they are.
 * @returns the step's result, or 'rejected' when a person rejected at the `harness-fault` gate.
 */
export async function ridingOutages<T>(fx: TicketEffects, what: string, step: () => Promise<T>): Promise<T | 'rejected'> {
  const s = fx.state;
  let since: number | undefined;
  let waitMs = FIRST_WAIT_MS;
  for (;;) {
    try {
      const r = await step();
      if (s.outage) {
        log.info(`ticket ${fx.ticket.id}: ${what} ran again after an outage of ${formatMs(Date.now() - s.outage.since)}`);
        s.endOutage(Date.now());
        fx.show();
      }
      return r;
    } catch (err) {
      const outage = outageOf(err);
      // patched: before 0.2.1 an outage failed the step like any harness fault (an attempt, or a heal and a gate).
      if (outage === undefined || !patched('outages-cost-no-attempts')) {
        // The folder is back and the step failed otherwise: the outage is over, whatever the caller makes of this.
        s.endOutage(Date.now());
        throw err;
      }
      const now = Date.now();
      since ??= now;
      s.startOutage(`${what}: ${outage}`, now);
      fx.show();
      const limitMs = fx.config.harness.outageMs ?? DEFAULT_OUTAGE_MS;
      const left = since + limitMs - now;
      if (left > 0) {
        log.warn(`ticket ${fx.ticket.id}: ${what}: ${outage}; trying again in ${formatMs(Math.min(waitMs, left))}`);
        await sleep(Math.min(waitMs, left));
        waitMs = Math.min(waitMs * 2, LONGEST_WAIT_MS);
        continue;
      }
      const verdict = await fx.humanGate('harness-fault', `${what}: ${outage}; it lasted over harness.outageMs (${formatMs(limitMs)}): fix it, then approve to try again`);
      if (verdict === 'reject') {
        s.endOutage(Date.now());
        return 'rejected';
      }
      since = undefined;
      waitMs = FIRST_WAIT_MS;
    }
  }
}
