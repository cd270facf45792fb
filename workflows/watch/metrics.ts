/**
 * The watch's metrics (issue 27 item 7), emitted from workflow code through the SDK's metric meter like the batch's
 * (workflows/metrics.ts, docs/metrics.md): scheduled runs by outcome, signatures entering a state by class, tickets
 * filed by kind, sightings that filed nothing because their failure already had a ticket (the duplicates a
 * read-then-create design would have filed), and breaker trips. Dropped during replay, so counted once per run of the
 * code. Deterministic.
 */
import { metricMeter } from '@temporalio/workflow';

/** A scheduled run ended: `green` (no failure), `failures`, or `systemic` (the breaker judged them one ticket). */
export function runFinished(outcome: 'green' | 'failures' | 'systemic'): void {
  metricMeter.createCounter('ratchet_watch_runs', 'runs', 'Watch runs, by outcome').add(1, { outcome });
  if (outcome === 'systemic') metricMeter.createCounter('ratchet_watch_breaker_trips', 'trips', 'Watch runs the breaker judged systemic').add(1);
}

/** A signature entered `state`; `kind`: the failure's class (`new`, `flaky`, `systemic`, `infra`). */
export function signatureEntered(state: string, kind: string): void {
  metricMeter.createCounter('ratchet_watch_signatures', 'signatures', 'Signatures entering a state, by state and class').add(1, { state, class: kind });
}

/** A ticket was filed for a signature (`kind`: bug, flaky, systemic). */
export function ticketFiled(kind: string): void {
  metricMeter.createCounter('ratchet_watch_tickets_filed', 'tickets', 'Tickets filed by watches, by kind').add(1, { kind });
}

/** A sighting of a failure that already has an open ticket: counted, nothing filed. */
export function duplicateSuppressed(): void {
  metricMeter.createCounter('ratchet_watch_duplicates_suppressed', 'sightings', 'Sightings of failures that already had a ticket').add(1);
}
