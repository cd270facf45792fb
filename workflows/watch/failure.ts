/**
 * A failure a check found, and its durable signature (issue 27 item 2): what identifies "the same failure" across
 * runs, commits and machines. The key is the check's kind and id (a JUnit test's `classname::name`, or the check's
 * name), its location, and the first error line normalized the way LUCI Analysis clusters failure reasons: numbers,
 * hex, UUIDs, temporary paths, ports and timestamps masked. The commit, the run and durations are evidence, never key.
 * Pure: the hash itself is the activity's (workflow code has no crypto); this gives what is hashed.
 */

/** The signature scheme's version: part of every key, so a change of normalization files no duplicates of old ones. */
export const SIGNATURE_VERSION = 'v1';

/** What a check reported failing. */
export interface CheckFailure {
  /** The watch's check that failed. */
  check: string;
  /** `test` (a JUnit test case), `command` (a check without a report, or one that could not run at all). */
  kind: 'test' | 'command';
  /** `classname::name` for a test; the check's name for a command. */
  id: string;
  /** The first error line (the test's failure message, or the first line of output that looks like an error). */
  message: string;
  /** Where, when a report says (a file and line), else empty. */
  location: string;
  /** The output's last lines (evidence: never part of the key). */
  tail: string;
  /** The check timed out, or could not start: a harness or infrastructure failure, never filed for an agent. */
  infra?: boolean;
  /** It failed, and passed when the check ran again on the same commit: flaky, filed for a person, never an agent. */
  flaky?: boolean;
  /** The run's breaker judged its failures systemic (workflows/watch/breaker.ts): one ticket for a person. */
  systemic?: boolean;
}

type Mask = [RegExp, string | ((found: string) => string)];

const MASKS: Mask[] = [
  // ISO and common log timestamps first, before their digits are masked one by one.
  [/\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\b/g, '<ts>'],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  [/(?:\/tmp|\/var\/folders|\/private\/var)\/[^\s:'"),]*/g, '<tmp>'],
  [/\b(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]):\d+\b/g, '<host:port>'],
  [/\b0x[0-9a-f]+\b/gi, '<hex>'],
  // A sha or an object id: hex with both digits and letters (a word like "deadbeef" or "added" stays).
  [/\b[0-9a-f]{7,64}\b/gi, (found) => (/\d/.test(found) && /[a-f]/i.test(found) ? '<hex>' : found)],
  [/\d+(?:\.\d+)?/g, '<n>'],
];

/**
 * The message as a key: its first non-empty line, trimmed, with every volatile part masked (see the file comment) and
 * runs of spaces collapsed. `Expected 200 but got 503 at 2026-12-07T10:00:00Z` and `Expected 200 but got 504 at ...`
 * are one failure; `Expected 200 but got 503` and `TypeError: x is undefined` are two.
 */
export function normalizeMessage(message: string): string {
  let line = message.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  for (const [re, to] of MASKS) line = typeof to === 'string' ? line.replace(re, to) : line.replace(re, to);
  return line.replace(/\s+/g, ' ').slice(0, 300);
}

/** What a signature hashes, in order: version, kind, check, id, location, normalized first line. */
export function signatureKey(f: Pick<CheckFailure, 'kind' | 'check' | 'id' | 'location' | 'message'>): string {
  return [SIGNATURE_VERSION, f.kind, f.check, f.id, f.location, normalizeMessage(f.message)].join('\u0000');
}
