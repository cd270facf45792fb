/**
 * Signals, updates and queries: the names a person types (DESIGN.md "public contract"). Kept stable.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Evidence, GateDecision, GateReason, Intervention, PhaseName, PhaseSpan, RunReport, TicketState, TrackerTamper } from './types';
import type { OracleVerdict } from './oracle';

/** Task queue every ratchet worker polls. */
export const TASK_QUEUE = 'ratchet';

export const batchWorkflowId = (batchId: string): string => `batch-${batchId}`;
export const ticketWorkflowId = (batchId: string, ticketId: string): string => `ticket-${batchId}-${ticketId}`;

/** What the `approve` / `reject` update returns to the caller. */
export interface GateAnswer {
  ticketId: string;
  gate: GateReason;
  decision: 'approve' | 'reject';
}

export const approveUpdate = defineUpdate<GateAnswer, [GateDecision]>('approve');
export const rejectUpdate = defineUpdate<GateAnswer, [GateDecision]>('reject');
export const approveSignal = defineSignal<[GateDecision]>('approve');
export const rejectSignal = defineSignal<[GateDecision]>('reject');

/** Payload of the batch's `resume` update and signal. */
export interface ResumeDecision {
  by: string;
  comment?: string;
  /**
   * For a batch paused by a tracker tamper: `restore` (default) writes back what ratchet last recorded for each
   * tampered ticket (unless the person already fixed the tracker); `accept` takes the tracker's state as the
   * person's own decision, recorded as evidence with their name.
   */
  tamper?: 'restore' | 'accept';
}

/**
 * Batch: resume scheduling after it paused (circuit breaker, or no ticket could start). The update's validator
 * rejects a call while the batch is not paused; the signal ignores it.
 */
export const resumeUpdate = defineUpdate<{ batchId: string; state: 'running' }, [ResumeDecision]>('resume');
export const resumeSignal = defineSignal<[ResumeDecision]>('resume');

/** Sent by a ticket workflow to its batch when its compare-and-set tracker write finds a state it did not write. */
export const trackerTamperSignal = defineSignal<[TrackerTamper]>('trackerTamper');

/** Sent by a ticket workflow to its batch when it parks at or leaves a human gate, so the batch status shows it. */
export const ticketWaitingSignal = defineSignal<[{ ticketId: string; gate: GateReason | null }]>('ticketWaiting');

export interface TicketStatus {
  ticketId: string;
  title: string;
  phase: PhaseName;
  attempt: number;
  maxAttempts: number;
  /** Set while the ticket waits at a human gate. */
  waitingFor?: GateReason;
  waitingReason?: string;
  timeline: PhaseSpan[];
  interventions: Intervention[];
  lastFeedback?: string;
  mergeCommit?: string;
}

export interface BatchStatus {
  batchId: string;
  state: 'loading' | 'running' | 'paused' | 'done' | 'failed';
  pausedReason?: string;
  tickets: {
    id: string;
    title: string;
    dependsOn: string[];
    state: TicketState;
    running: boolean;
    waitingFor?: GateReason;
    /** What ratchet recorded for the ticket in this batch, if anything. */
    evidence?: Evidence;
  }[];
  oracle: OracleVerdict;
  /** Tracker states that changed without ratchet writing them; unresolved ones hold the batch paused. */
  trackerTampers: TrackerTamper[];
  report?: RunReport;
}

export const statusQuery = defineQuery<TicketStatus>('status');
export const batchStatusQuery = defineQuery<BatchStatus>('status');
