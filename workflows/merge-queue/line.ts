/**
 * What a merge queue knows between its turns (issue 26): the line of validated commits waiting to land, the candidate
 * under test, and the verdicts it sent lately (so a ticket that asks again, having missed its verdict, gets it
 * again). Pure: no SDK call, no clock; the workflow (workflows/merge-queue.ts) drives it.
 */
import type { CandidateChecks, QueueEntry, QueueStatus, QueueVerdict } from './messages';

/** Verdicts kept for tickets that ask again; older ones are forgotten (their tickets heard them long ago). */
export const RECENT_VERDICTS = 200;

/** The shape `mergeQueueWorkflow` carries into its next run. */
export interface LineSnapshot {
  line: QueueEntry[];
  recent: QueueVerdict[];
  candidates: number;
}

export class MergeLine {
  readonly line: QueueEntry[];
  private readonly recent: QueueVerdict[];
  /** Candidates tested so far by this queue (all runs): the next candidate's number. */
  candidates: number;
  testing: QueueEntry[] = [];
  landed = 0;
  semanticConflicts = 0;

  constructor(snapshot?: Partial<LineSnapshot>) {
    this.line = [...(snapshot?.line ?? [])];
    this.recent = [...(snapshot?.recent ?? [])];
    this.candidates = snapshot?.candidates ?? 0;
  }

  /**
   * Takes `entry` into the line. A request already in line or under test is not taken twice (a retried or repeated
   * `enterMergeQueue`). @returns the verdict it already had, when it had one: the caller sends it again.
   */
  enter(entry: QueueEntry): QueueVerdict | undefined {
    const had = this.recent.find((v) => v.requestId === entry.requestId);
    if (had) return had;
    if (this.testing.some((e) => e.requestId === entry.requestId) || this.line.some((e) => e.requestId === entry.requestId)) return undefined;
    this.line.push(entry);
    return undefined;
  }

  /** A ticket that gave up (cancelled) leaves the line; one under test stays in its candidate until it is decided. */
  leave(requestId: string): void {
    const i = this.line.findIndex((e) => e.requestId === requestId);
    if (i >= 0) this.line.splice(i, 1);
  }

  /**
   * The next group to test together: the first in line and those right behind it of the same batch (one set of
   * checks validates them), up to its `batchSize`. They leave the line.
   */
  nextGroup(): QueueEntry[] {
    const first = this.line[0];
    if (!first) return [];
    let n = 1;
    while (n < Math.min(first.batchSize, this.line.length) && sameChecks(this.line[n].checks, first.checks)) n++;
    return this.line.splice(0, n);
  }

  /** Records a verdict sent (bounded to the last {@link RECENT_VERDICTS}). */
  decided(v: QueueVerdict): void {
    this.recent.push(v);
    while (this.recent.length > RECENT_VERDICTS) this.recent.shift();
    if (v.outcome === 'merged') this.landed++;
    if (v.outcome === 'semantic-conflict') this.semanticConflicts++;
  }

  snapshot(): LineSnapshot {
    return { line: [...this.testing, ...this.line], recent: [...this.recent], candidates: this.candidates };
  }

  status(key: string): QueueStatus {
    const brief = (e: QueueEntry) => ({ ticketId: e.ticketId, batchId: e.checks.ref.batchId, commit: e.commit });
    const recent = this.recent.slice(-20).map((v) => ({ ticketId: v.ticketId, outcome: v.outcome, ...('candidate' in v ? { candidate: v.candidate } : {}) }));
    return { key, line: this.line.map(brief), testing: this.testing.map(brief), candidates: this.candidates, landed: this.landed, semanticConflicts: this.semanticConflicts, recent };
  }

  /** The Web UI's current details: the candidate under test and the line. */
  details(key: string): string {
    const row = (e: QueueEntry) => `- \`${e.ticketId}\` (${e.checks.ref.batchId}) \`${e.commit.slice(0, 10)}\``;
    return [
      `**merge queue** \`${key}\``,
      this.testing.length ? `under test (${this.testing.length}), the last candidate #${this.candidates}:\n${this.testing.map(row).join('\n')}` : 'no candidate under test',
      this.line.length ? `in line (${this.line.length}):\n${this.line.map(row).join('\n')}` : 'nobody in line',
      `candidates tested: ${this.candidates}, landed in this run: ${this.landed}, semantic conflicts: ${this.semanticConflicts}`,
    ].join('\n\n');
  }
}

/** Whether two entries' checks are the same (same batch and the same gates, setup and box): one candidate run serves both. */
function sameChecks(a: CandidateChecks, b: CandidateChecks): boolean {
  return a.ref.batchId === b.ref.batchId && JSON.stringify([a.gates, a.setup, a.agentEnv]) === JSON.stringify([b.gates, b.setup, b.agentEnv]);
}
