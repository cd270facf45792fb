/**
 * The watch's messages (issue 27): a scheduled run's result, a failure seen by a run (signalled to the failure's
 * signature workflow, started by the first run that sees it), a run that checked a signature's check and did not see
 * it (`runPassed`), a person's "won't fix", and what a signature's status answers. Deterministic: types and
 * definitions only.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { TicketState } from '../types';
import type { BisectResult } from './bisect';
import type { FixSlotGrant } from './caps';
import type { CheckFailure } from './failure';
import type { WatchConfig } from './input';

/** A failure with its signature (the versioned hash of its key, workflows/watch/failure.ts), as a run saw it. */
export interface SeenFailure extends CheckFailure {
  signature: string;
}

/**
 * One run's sighting of a signature: which run, on which commit, when the run started and when it reported (ms since
 * epoch; a run that started before the signature's ticket was done checked a base without the fix).
 */
export interface FailureSeen {
  runId: string;
  commit: string;
  startedAt: number;
  at: number;
  failure: SeenFailure;
}

/**
 * A run that did not see a signature: `checks` are the watch's checks that ran to their end in it (a check that timed
 * out or could not start is not among them: that run is not green for its signatures). A signature whose check is
 * among them was absent from a run that looked for it: a green run.
 */
export interface RunPassed {
  runId: string;
  commit: string;
  startedAt: number;
  at: number;
  checks: string[];
}

/** A person's "won't fix" (the `wontFix` update): who, and why. */
export interface WontFixRequest {
  by: string;
  reason: string;
}

/** A recorded "won't fix": the request, when (ms since epoch), and the normalized first error line it holds for. */
export interface WontFix extends WontFixRequest {
  at: number;
  normalized: string;
}

/** What a scheduled run found: the base commit it checked, each check's verdict, and the failures. */
export interface WatchRunResult {
  watchId: string;
  commit: string;
  /** Each check's verdict; `tests`: its report's test count and how many failed, when it has a report. */
  checks: { name: string; passed: boolean; ms: number; tests?: { total: number; failed: number } }[];
  failures: SeenFailure[];
}

/**
 * A signature's life: `observed` (seen once), `confirmed` (seen again), `filed` (its ticket is `todo`), `fixing` (the
 * ticket is in a batch's hands), `fixed` (the tracker says the ticket is done; counting green runs), `closed` (green
 * for `closeAfterGreenRuns` runs after the fix), `wont-fix` (a person said so: nothing more is filed for it).
 */
export type SignatureState = 'observed' | 'confirmed' | 'filed' | 'fixing' | 'fixed' | 'closed' | 'wont-fix';

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
  /** The latest ticket filed for it, once filed; `tickets`: every ticket filed for it, oldest first. */
  ticketId?: string;
  tickets: string[];
  /** The ticket's state in the tracker when last read, and since when it is done (ms since epoch). */
  trackerState?: TicketState;
  doneSince?: number;
  /** Green runs counted since the ticket was done (it closes at the watch's `closeAfterGreenRuns`), the last one's time. */
  greenRuns: number;
  lastGreen?: number;
  /** Times its ticket was reopened by a failure after it was done; when it closed (ms since epoch). */
  reopened: number;
  closedAt?: number;
  /** A person's "won't fix", and the sightings it kept from being filed since. */
  wontFix?: WontFix;
  suppressed: number;
  /** The latest sighting's failure. */
  failure: SeenFailure;
  /** The last commit a run checked its check on without seeing it (a `runPassed`), when one did. */
  lastGood?: string;
  /** The first bad commit, found when it was confirmed as a new failure; or why the bisect failed. */
  bisect?: BisectResult;
  bisectFailed?: string;
  /** Why its ticket is not handed over yet (`fix cap: ...`: it waits for a slot of the watch's fix caps). */
  waiting?: string;
  /** A fix slot granted and not used yet (the next filing hands the ticket over). */
  slot?: FixSlotGrant;
  /** The intake batch its latest ticket was filed into (`intake-<watchId>`), when it was. */
  intake?: string;
}

/** What a signature workflow takes in, one at a time, in order: a sighting, a green run, a person's "won't fix". */
export type SignatureMessage = { seen: FailureSeen } | { passed: RunPassed } | { wontFix: WontFixRequest & { at: number } } | { granted: FixSlotGrant };

/** The signature workflow's input: the watch and the signature it keeps. */
export interface SignatureInput {
  watch: WatchConfig;
  signature: string;
  /** What it carried into this run (continue-as-new): its status, the messages not yet taken, the runs counted. */
  status?: SignatureStatus;
  pending?: SignatureMessage[];
  runIds?: string[];
  /** Continue as new once the history holds this many events (default: when the server suggests it; tests set less). */
  continueAsNewAtEvents?: number;
}

/** What the `wontFix` update answers: the signature, the ticket it leaves (if any) and the reason it holds for. */
export interface WontFixAnswer {
  signature: string;
  ticketId?: string;
  normalized: string;
}

export const failureSeenSignal = defineSignal<[FailureSeen]>('failureSeen');
export const runPassedSignal = defineSignal<[RunPassed]>('runPassed');
/** A person's "won't fix" (validated: refused before the signature was seen, or when it is won't fix already). */
export const wontFixUpdate = defineUpdate<WontFixAnswer, [WontFixRequest]>('wontFix');
/** The lenient twin of {@link wontFixUpdate}, for tools that cannot send updates (a wrong one is logged and dropped). */
export const wontFixSignal = defineSignal<[WontFixRequest]>('wontFix');
export const signatureStatusQuery = defineQuery<SignatureStatus | undefined>('signatureStatus');

/** The Schedule of a watch: `watch-<watchId>`. */
export const watchScheduleId = (watchId: string): string => `watch-${watchId}`;
/** A failure's workflow id: one per signature per watch, so the server itself keeps one ticket per failure. */
export const signatureWorkflowId = (watchId: string, signature: string): string => `signature-${watchId}-${signature}`;
/**
 * The signature a workflow id names for `watchId`, or undefined when it is no signature of that watch (a signature is
 * 16 hex digits, so `signature-a-b-<signature>` of watch `a-b` is none of watch `a`'s).
 */
export function signatureOfWorkflowId(watchId: string, workflowId: string): string | undefined {
  const prefix = signatureWorkflowId(watchId, '');
  const rest = workflowId.startsWith(prefix) ? workflowId.slice(prefix.length) : '';
  return /^[0-9a-f]{16}$/.test(rest) ? rest : undefined;
}
/**
 * The `n`th ticket filed for a signature: `bug-<first 12 hex digits>`, then `-2`, `-3`... for recurrences after it
 * closed (each its own ticket, linked to the one before).
 */
export const detectedTicketId = (signature: string, n = 1): string => `bug-${signature.slice(0, 12)}${n > 1 ? `-${n}` : ''}`;
