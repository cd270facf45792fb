/**
 * The merge queue's messages (issue 26): what a ticket puts in line, the verdict it gets back, the status a person
 * reads, and the signals and query that carry them. Deterministic: types and definitions only.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { AgentConfig, Gate, GateResult, RepoRef, SetupStep } from '../types';

/**
 * What validates a candidate: the batch's gates (with the regression guard's PASS_TO_PASS against the base tip), run
 * after the harness's setup steps in the agent's box, as validate runs them on an attempt's commit.
 */
export interface CandidateChecks {
  ref: RepoRef;
  gates: Gate[];
  setup: SetupStep[];
  agentEnv: Pick<AgentConfig, 'env' | 'envFrom'> & Partial<Pick<AgentConfig, 'sandbox' | 'cacheDirs' | 'network'>>;
  /** The batch's secrets (every `envFrom` name), redacted from the candidate's gate logs. */
  secrets: string[];
  /** The candidate activity's limits: start-to-close and heartbeat timeouts, ms (from the batch's gates and setup). */
  timeoutMs: number;
  heartbeatMs: number;
  /**
   * How many of this batch's candidates a red candidate's halves may test at once (the batch's `maxParallel`); absent
   * (entries from before it) or 1: one after the other.
   */
  parallel?: number;
}

/** A validated commit in line to land; `requestId` is unique per request (the requester's uuid4). */
export interface QueueEntry {
  /** Workflow id of the ticket: its verdict is signalled there. */
  requester: string;
  requestId: string;
  ticketId: string;
  title: string;
  /** The attempt's commit, which its gates passed; with `revert`, the ticket's merge commit to undo. */
  commit: string;
  /** A revert of the ticket's landing (a regression's culprit): its candidate part undoes `commit`. */
  revert?: boolean;
  /** The base commit the attempt was cut from (and validated against). */
  baseCommit: string;
  /** Which attempt of the ticket's this is (for the feedback). */
  attempt: number;
  checks: CandidateChecks;
  /** At most this many entries are tested as one candidate (`mergeQueue.batchSize`). */
  batchSize: number;
}

/** What a semantic conflict is known by: the merge it was caught on and what failed there. */
export interface SemanticConflictFacts {
  /** The merge queue's candidate number; on GitHub, the pull request's number (its head was the candidate). */
  candidate: number;
  /** The base tip the commit was merged with. */
  base: string;
  /** Gates that failed on the merge, with their output tails. */
  gates: Pick<GateResult, 'name' | 'exitCode' | 'tail'>[];
  /** PASS_TO_PASS tests the merge broke. */
  tests: string[];
  guardFeedback?: string;
  /** Subjects of the commits that landed on the base since the attempt's base commit, oldest first. */
  landedSince: string[];
}

/** How a queued commit ended: landed, conflicting with the base, or failing the checks once merged (semantic). */
export type QueueVerdict = { ticketId: string } & (
  | { requestId: string; outcome: 'merged'; commit: string; candidate: number; validated: boolean }
  | { requestId: string; outcome: 'conflict'; paths: string[] }
  | ({ requestId: string; outcome: 'semantic-conflict' } & SemanticConflictFacts)
  | { requestId: string; outcome: 'error'; message: string }
);

/** `mergeQueueWorkflow`'s input: its key and base, and (after a continue-as-new) what it carried. */
export interface QueueInput {
  key: string;
  line?: QueueEntry[];
  recent?: QueueVerdict[];
  candidates?: number;
}

/** One entry as the status shows it. */
export interface QueueRow {
  ticketId: string;
  batchId: string;
  commit: string;
}

/** What the `mergeQueueStatus` query answers. */
export interface QueueStatus {
  key: string;
  line: QueueRow[];
  /** The candidate under test, in merge order. */
  testing: QueueRow[];
  /** Candidates tested (all runs), landed and semantic conflicts (this run). */
  candidates: number;
  landed: number;
  semanticConflicts: number;
  /** The last verdicts (up to 20), oldest first. */
  recent: { ticketId: string; outcome: QueueVerdict['outcome']; candidate?: number }[];
}

export const queueEnterSignal = defineSignal<[QueueEntry]>('mergeQueueEnter');
export const queueLeaveSignal = defineSignal<[{ requestId: string }]>('mergeQueueLeave');
/** Sent by the queue to the requester once its commit is decided. */
export const queueVerdictSignal = defineSignal<[QueueVerdict]>('mergeQueueVerdict');
export const queueStatusQuery = defineQuery<QueueStatus>('mergeQueueStatus');

/** The queue's key for a repository and base branch, the same as the merge lock's: `merge:<repo>@<base>`. */
export const mergeQueueKey = (repo: string, base: string): string => `merge:${repo}@${base}`;
/** The queue workflow's id for `key`: one queue per repository and base, deployment-wide. */
export const mergeQueueWorkflowId = (key: string): string => `merge-queue-${key}`;
