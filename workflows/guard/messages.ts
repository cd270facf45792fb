/**
 * The guard's messages (issue 26 item 4, "done tickets stay done"): a ticket asks for a guard round after its deploy
 * and joins the guard set once its own probes passed; the round's result comes back by signal. Deterministic: types
 * and definitions only.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { FlakyProbe, Probe, Regression, RepoRef } from '../types';

export type { FlakyProbe, Regression } from '../types';

/** A ticket of the guard set: its probes (the batch's and its own), re-run after later deploys. */
export interface GuardedTicket {
  ticketId: string;
  probes: Probe[];
}

/** A request for a round. `requestId` is unique per request (the requester's uuid4). */
export interface GuardRequest {
  /** Workflow id to signal the result to. */
  requester: string;
  requestId: string;
  /** The ticket that just landed and deployed (its landing is the round's), or the batch for its final round. */
  ticketId: string;
  /** The landing this round follows: the ticket's merge commit (or the revert's), or the base tip for the final round. */
  commit: string;
  /** `final`: every ticket of the set (after the batch's last landing); else at most `verify.guard` of them, rotating. */
  final?: boolean;
  /** A landing that undoes an earlier one (a revert): it is never itself a suspect. */
  revertOf?: string;
}

/** A round's result. */
export interface GuardResult {
  requestId: string;
  /** Tickets whose probes ran, and passed (after a re-run for the flaky). */
  checked: string[];
  passed: string[];
  flaky: FlakyProbe[];
  regressions: Regression[];
  /** Workflow time the round ended, ms, and every probe name it ran (`<ticket>: <probe>`): the oracle's evidence. */
  at: number;
  probes: string[];
  /** Reverts landed in this batch so far (`revert.maxPerBatch` caps them). */
  reverts: number;
  /** The last landing the guard knows of (a ticket's merge or a revert), when there was one. */
  lastLanding?: string;
}

/** The guard's input: the batch, its repository and secrets, the bound, and (after a continue-as-new) its state. */
export interface GuardInput {
  batchId: string;
  ref: RepoRef;
  secrets: string[];
  /** Tickets re-checked per round (`verify.guard`): a number, or `all`. */
  perRound: number | 'all';
  /** What it carried into this run (continue-as-new): its state, and the requests still waiting for a round. */
  state?: GuardSnapshot;
  asked?: GuardRequest[];
}

export interface GuardSnapshot {
  set: (GuardedTicket & { lastPass: number; lastAnswer: string })[];
  landings: { ticketId: string; commit: string; revertOf?: string }[];
  cursor: number;
  regressions: Regression[];
  flaky: FlakyProbe[];
}

export const guardRequestSignal = defineSignal<[GuardRequest]>('guardRequest');
/** A ticket whose own probes passed joins the set (at the landing of its request). */
export const guardJoinSignal = defineSignal<[GuardedTicket & { commit: string }]>('guardJoin');
/** A ticket whose landing was reverted leaves the set until it lands again. */
export const guardLeaveSignal = defineSignal<[{ ticketId: string }]>('guardLeave');
export const guardResultSignal = defineSignal<[GuardResult]>('guardResult');
export const guardStatusQuery = defineQuery<GuardSnapshot>('guardStatus');

/** The guard workflow's id: one per batch. */
export const guardWorkflowId = (batchId: string): string => `guard-${batchId}`;
