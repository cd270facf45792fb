/**
 * ratchet's own metrics, emitted from workflow code through the SDK's metric meter (exported by the worker's
 * Prometheus endpoint when it has one: docs/metrics.md; without one they go nowhere). The SDK drops them while a
 * workflow replays, so a ticket's phase is counted once per run of the code, on the worker that ran it: sum over
 * workers. Names carry the `ratchet_` prefix; units are in the names (`_ms`).
 */
import { metricMeter } from '@temporalio/workflow';
import type { PhaseName } from './types';

/** Counts a ticket leaving `from` (if it was in a phase) and entering `to`: tickets in a phase = entered - left. */
export function phaseChanged(from: PhaseName | undefined, to: PhaseName): void {
  if (from) metricMeter.createCounter('ratchet_ticket_phase_left', 'tickets', 'Ticket phases left, by phase').add(1, { phase: from });
  metricMeter.createCounter('ratchet_ticket_phase_entered', 'tickets', 'Ticket phases entered, by phase').add(1, { phase: to });
}

/** One implement attempt started. */
export function attemptStarted(): void {
  metricMeter.createCounter('ratchet_attempts', 'attempts', 'Implement attempts started').add(1);
}

/** A gate failed an attempt (`gate`: its name, or `protected-paths` when the attempt touched protected files). */
export function gateFailed(gate: string): void {
  metricMeter.createCounter('ratchet_gate_failures', 'failures', 'Gate failures, by gate').add(1, { gate });
}

/** A ticket waited `ms` for the deployment-wide lock of `what` (`merge` or `deploy`) before it held it. */
export function deploymentLockWaited(what: string, ms: number): void {
  metricMeter
    .createHistogram('ratchet_deployment_lock_wait_ms', 'int', 'ms', 'Time a ticket waited for a deployment-wide lock, by lock')
    .record(Math.max(0, Math.round(ms)), { lock: what });
}

/** A ticket's branch merged into the base. */
export function merged(): void {
  metricMeter.createCounter('ratchet_merges', 'merges', 'Ticket branches merged into the base').add(1);
}

/** A ticket ended (`done` or `human-gated`). */
export function ticketFinished(outcome: string): void {
  metricMeter.createCounter('ratchet_tickets_finished', 'tickets', 'Tickets ended, by outcome').add(1, { outcome });
}

/** A self-heal ended with `outcome` (accepted, rejected, churn, ...). */
export function healed(outcome: string): void {
  metricMeter.createCounter('ratchet_heals', 'heals', 'Self-heals, by outcome').add(1, { outcome });
}

/**
 * Unblock latency: from the batch seeing a ticket's workflow end to starting a dependent it unblocked, workflow time
 * in ms (it includes the tracker re-read between them).
 */
export function unblocked(ms: number): void {
  metricMeter.createHistogram('ratchet_unblock_latency_ms', 'int', 'ms', 'Blocker ended -> dependent started').record(Math.max(0, ms));
}
