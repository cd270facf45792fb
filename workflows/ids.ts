/**
 * Ticket and batch ids (DESIGN.md "public contract"): the pattern and git's branch-name rules. Pure and free of
 * libraries, so workflow code (the `discover` update's validator) and the zod schemas share one rule.
 */

/** Ticket and batch ids: letters, digits, '.', '_' and '-', 1 to 64 characters. */
export const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Why `id` cannot be a component of a git branch name (`git check-ref-format` rules that the id pattern lets
 * through), or undefined when it can: ids name branches `ratchet/<batchId>/<ticketId>` and folders.
 */
export function refComponentProblem(id: string): string | undefined {
  if (id === '.' || id === '..') return 'is "." or "..", which name folders, not tickets';
  if (id.startsWith('.')) return 'starts with ".", which git refuses in a branch name';
  if (id.endsWith('.')) return 'ends with ".", which git refuses in a branch name';
  if (id.endsWith('.lock')) return 'ends with ".lock", which git refuses in a branch name';
  if (id.includes('..')) return 'contains "..", which git refuses in a branch name';
  return undefined;
}

/**
 * The ticket id of an issue body (GitHub tracker): `<!-- ratchet:id=<id> -->` marks an issue ratchet filed for
 * discovered work; an issue without it is known by its number.
 */
export function issueTicketId(body: string | null | undefined): string | undefined {
  return body ? ISSUE_ID_MARKER.exec(body)?.[1] : undefined;
}

/** The hidden marker of the id ratchet gave an issue it filed. */
export const ISSUE_ID_MARKER = /<!-- ratchet:id=([A-Za-z0-9._-]{1,64}) -->/;

/** How to fix an id that breaks a rule above. */
export const ID_FIX_TEXT =
  'use letters, digits, "_" and "-", with "." only inside (not first, not last, never twice in a row), and no ".lock" at the end';

/** Why `id` is not a usable ticket id (pattern or branch-name rule), or undefined when it is. */
export function idProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) return 'must match [A-Za-z0-9._-]{1,64}';
  return refComponentProblem(id);
}
