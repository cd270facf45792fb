/**
 * The first bad commit of a failure (issue 27 item 3, "New"): what the `firstBadCommit` activity
 * (activities/watch-bisect.ts) answers, how a ticket's body says it, and which ticket a ratchet merge commit landed.
 * Pure, so the signature workflow can print a result in the ticket it files.
 */
import { ID_PATTERN } from '../ids';

/** How many check runs one bisect may spend when neither the caller nor the watch file says. */
export const DEFAULT_BISECT_RUNS = 8;

/**
 * A commit's verdict for one signature: `bad` when the check failed there with that signature; `good` when it passed
 * or failed otherwise; `skip` when it could not tell (a setup step failed, or the check could not run to its end).
 */
export type BisectVerdict = 'good' | 'bad' | 'skip';

/**
 * What a bisect found, on the base's first-parent line. Exactly one of these holds:
 * - `firstBad` and `lastGood`: narrowed to one commit (`lastGood` is its first parent);
 * - `firstBad` alone: the failure is there from the line's first commit on;
 * - `range`: the first bad commit is after `range.good` and at or before `range.bad` (the bound was hit, or only
 *   commits that could not tell are left between them);
 * - `badSince`: no good commit was found within the bound (or the line's start); the failure is there at least since.
 */
export interface BisectResult {
  check: string;
  signature: string;
  firstBad?: string;
  lastGood?: string;
  /** The first bad commit's subject. */
  subject?: string;
  range?: { good: string; bad: string };
  badSince?: string;
  /** The ticket whose ratchet merge `firstBad` is. */
  ticket?: { batchId: string; ticketId: string };
  /** Check runs spent (skips count), and the bound they had. */
  runs: number;
  maxRuns: number;
  /** Each commit run, in the order run. */
  tested: { commit: string; verdict: BisectVerdict }[];
}

const ID = ID_PATTERN.source.replace(/^\^|\$$/g, '');
/** `ratchet: merge <ticketId> (<batchId>): <title>`, the subject merge-queue.ts `mergeMessage` and merge.ts write. */
const MERGE_SUBJECT = new RegExp(`^ratchet: merge (${ID}) \\((${ID})\\):(?: |$)`);

/**
 * The ticket a ratchet merge commit landed, read from its subject (`ratchet: merge <ticketId> (<batchId>): <title>`),
 * or undefined for any other commit (a revert `ratchet: revert ...` included: it landed no ticket's work).
 */
export function ratchetMergeOf(subject: string): { batchId: string; ticketId: string } | undefined {
  const m = MERGE_SUBJECT.exec(subject);
  return m ? { ticketId: m[1], batchId: m[2] } : undefined;
}

/**
 * The body lines a ticket prints for a bisect: the first bad commit (and the ticket whose merge it is) and the last
 * good one, or the range it narrowed to, or how far back the failure goes; then the runs spent.
 */
export function describeBisect(r: BisectResult): string[] {
  const short = (c: string): string => c.slice(0, 10);
  const runs = `${r.runs} of at most ${r.maxRuns} runs of check \`${r.check}\``;
  const lines: string[] = [];
  if (r.firstBad) {
    const what = r.ticket ? `merge of ticket \`${r.ticket.ticketId}\` in batch \`${r.ticket.batchId}\`` : r.subject !== undefined ? `"${r.subject}"` : '';
    lines.push(`- first bad commit: \`${r.firstBad}\`${what ? ` (${what})` : ''}`);
    lines.push(r.lastGood ? `- last good commit: \`${r.lastGood}\`` : `- last good commit: none: it fails from the first commit of the line on`);
  } else if (r.range) {
    lines.push(`- first bad commit: between \`${r.range.good}\` (good) and \`${r.range.bad}\` (bad) on the first-parent line, not narrowed further in ${runs}`);
  } else if (r.badSince) {
    lines.push(`- first bad commit: not found: it fails at least since \`${r.badSince}\`; no good commit in ${runs}`);
  }
  const tested = r.tested.map((t) => `${short(t.commit)} ${t.verdict}`).join(', ');
  lines.push(`- bisect: ${runs} on the first-parent line${tested ? `: ${tested}` : ''}`);
  return lines;
}

/**
 * The start-to-close timeout a `firstBadCommit` activity needs, ms: `maxRuns` runs of the setup steps and the check at
 * their time limits, and two minutes for git and the exports.
 */
export function bisectTimeoutMs(watch: { setup: { timeoutMs: number }[]; checks: { name: string; timeoutMs: number }[] }, check: string, maxRuns: number): number {
  const setupMs = watch.setup.reduce((sum, s) => sum + s.timeoutMs, 0);
  const checkMs = watch.checks.find((c) => c.name === check)?.timeoutMs ?? 10 * 60_000;
  return maxRuns * (setupMs + checkMs) + 120_000;
}
