/**
 * The watch's messages (issue 27): a scheduled run's result, a failure seen by a run (signalled to the failure's
 * signature workflow, started by the first run that sees it), and what a signature's status answers. Deterministic:
 * types and definitions only.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { CheckFailure } from './failure';
import type { WatchConfig } from './input';

/** A failure with its signature (the versioned hash of its key, workflows/watch/failure.ts), as a run saw it. */
export interface SeenFailure extends CheckFailure {
  signature: string;
}

/** One run's sighting of a signature: which run, on which commit, when (ms since epoch). */
export interface FailureSeen {
  runId: string;
  commit: string;
  at: number;
  failure: SeenFailure;
}

/** What a scheduled run found: the base commit it checked, each check's verdict, and the failures. */
export interface WatchRunResult {
  watchId: string;
  commit: string;
  /** Each check's verdict; `tests`: its report's test count and how many failed, when it has a report. */
  checks: { name: string; passed: boolean; ms: number; tests?: { total: number; failed: number } }[];
  failures: SeenFailure[];
}

/** A signature's life: seen once, confirmed (seen again), filed as a ticket (later issue-27 steps add fixing and closing). */
export type SignatureState = 'observed' | 'confirmed' | 'filed';

/** What `signatureStatus` answers. */
export interface SignatureStatus {
  watchId: string;
  signature: string;
  state: SignatureState;
  /** Sightings, the distinct runs and commits they came from, first and last seen (ms since epoch). */
  occurrences: number;
  runs: number;
  commits: string[];
  firstSeen: number;
  lastSeen: number;
  /** The ticket filed for it, once filed. */
  ticketId?: string;
  /** The latest sighting's failure. */
  failure: SeenFailure;
}

/** The signature workflow's input: the watch and the signature it keeps. */
export interface SignatureInput {
  watch: WatchConfig;
  signature: string;
  /** What it carried into this run (continue-as-new): its status, the sightings not yet taken, the runs counted. */
  status?: SignatureStatus;
  pending?: FailureSeen[];
  runIds?: string[];
}

export const failureSeenSignal = defineSignal<[FailureSeen]>('failureSeen');
export const signatureStatusQuery = defineQuery<SignatureStatus | undefined>('signatureStatus');

/** The Schedule of a watch: `watch-<watchId>`. */
export const watchScheduleId = (watchId: string): string => `watch-${watchId}`;
/** A failure's workflow id: one per signature per watch, so the server itself keeps one ticket per failure. */
export const signatureWorkflowId = (watchId: string, signature: string): string => `signature-${watchId}-${signature}`;
/** The ticket filed for a signature. */
export const detectedTicketId = (signature: string): string => `bug-${signature.slice(0, 12)}`;
