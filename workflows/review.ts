/**
 * The review before merge (issue 28 item 4): its shapes and the pure rule of which tickets it reviews. A second agent
 * (the `review` route's profile) reads the ticket, the plan and the validated diff after the gates pass and before the
 * merge queue, and answers ALLOW, BLOCK with findings, or INFRA_ERROR. The reviewer is untrusted like any agent: a
 * BLOCK costs the attempt (its findings are the next attempt's feedback), an ALLOW only lets work the gates already
 * passed go on; nothing it writes can move the finish line. Pure: no I/O; the workflow side is ticket/review.ts, the
 * activity activities/review.ts.
 */
import type { RouteSize, TicketKind } from './types';

/** One thing the reviewer found: where (a path relative to the repository, a line when it gives one), what and why. */
export interface ReviewFinding {
  file: string;
  line?: number;
  what: string;
  why: string;
}

/** The reviewer's verdict; `none`: it gave no answer ratchet could read (no result file, not the schema, a crash). */
export type ReviewVerdict = 'ALLOW' | 'BLOCK' | 'INFRA_ERROR' | 'none';

/**
 * The batch file's `review`: which tickets are reviewed (`when`: a ticket is reviewed when its kind is one of
 * `kinds` (all when absent) and its plan's size is one of `sizes`, or its attempt touches a path matching one of
 * `paths`), how many BLOCKs one ticket may take before a person decides (`maxRounds`), and how many times a review
 * that gave no verdict (INFRA_ERROR, no answer, a crash) is asked again before a person decides (`retries`).
 */
export interface ReviewConfig {
  when: { sizes: RouteSize[]; kinds?: TicketKind[]; paths: string[] };
  maxRounds: number;
  retries: number;
}

/** `review` as the batch file's defaults fill it: small work (`S`) is not reviewed unless it touches `paths`. */
export const DEFAULT_REVIEW: ReviewConfig = { when: { sizes: ['M', 'L', 'XL', 'unknown'], paths: [] }, maxRounds: 2, retries: 2 };

/** One review run, as the ticket's report keeps it. */
export interface ReviewRecord {
  attempt: number;
  /** The profile that reviewed (the `review` route's). */
  profile: string;
  verdict: ReviewVerdict;
  findings: ReviewFinding[];
  /** For `INFRA_ERROR` and `none`: what went wrong, one line. */
  why?: string;
  /**
   * For a BLOCK's findings: whether the next attempt resolved them (its review allowed it, or did not repeat them),
   * unset until that attempt's review; the report's resolution rate counts them.
   */
  resolved?: boolean;
}

/**
 * Whether `ticket` is reviewed before its paths are known: by kind and size (`size`: the plan's, else the ticket's).
 * @returns `yes`, `no`, or `paths` when only the attempt's touched paths can say (the activity checks them).
 */
export function reviewWanted(when: ReviewConfig['when'], kind: TicketKind | undefined, size: RouteSize): 'yes' | 'no' | 'paths' {
  const kindOk = when.kinds === undefined || when.kinds.includes(kind ?? 'feature');
  if (kindOk && when.sizes.includes(size)) return 'yes';
  return when.paths.length ? 'paths' : 'no';
}

/**
 * Marks the findings of the last BLOCK before `latest` resolved or not: an ALLOW resolves them all; a BLOCK resolves
 * those it does not repeat (same file and what, case and spacing aside); a review without a verdict says nothing. Pure;
 * returns the updated records.
 */
export function judgeResolution(records: ReviewRecord[], latest: ReviewRecord): ReviewRecord[] {
  if (latest.verdict !== 'ALLOW' && latest.verdict !== 'BLOCK') return records;
  const key = (f: ReviewFinding): string => `${f.file}\u0000${f.what.toLowerCase().replace(/\s+/g, ' ').trim()}`;
  const repeated = new Set(latest.findings.map(key));
  let i = records.length - 1;
  while (i >= 0 && records[i].verdict !== 'BLOCK') i--;
  if (i < 0 || records[i].resolved !== undefined) return records;
  const last = records[i];
  const resolved = latest.verdict === 'ALLOW' || !last.findings.some((f) => repeated.has(key(f)));
  return records.map((r, j) => (j === i ? { ...r, resolved } : r));
}

/** The feedback a BLOCK gives the next attempt: each finding on its own line. */
export function blockFeedback(attempt: number, profile: string, findings: ReviewFinding[]): string {
  const lines = findings.map((f) => `- ${f.file}${f.line !== undefined ? `:${f.line}` : ''}: ${f.what} (why: ${f.why})`);
  return [`Attempt ${attempt}: the reviewer (${profile}) blocked the merge; the gates passed, but fix these first:`, ...lines].join('\n');
}
