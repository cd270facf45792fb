/**
 * What a person reviews at an epic's `decomposition` gate: the proposed sub-tickets as a markdown table and their graph,
 * for the ticket's Web UI details and its status query's `waitingReason` (`ratchet status` prints it). Pure.
 */
import type { SubTicket } from './check';

/** Longest gate reason, characters: it is also the tracker's note of the `awaiting-human` state. */
const MAX_REASON_CHARS = 4_000;

/** The proposal: one table row per sub-ticket (id, title, kind, size, depends on, checked by) and the graph's edges. */
export function proposalLines(tickets: readonly SubTicket[]): string[] {
  const rows = tickets.map((t) => `| ${t.id} | ${cell(t.title)} | ${t.kind} | ${t.size} | ${t.dependsOn.join(', ') || '-'} | ${cell(t.checkedBy)} |`);
  const edges = tickets.flatMap((t) => t.dependsOn.map((d) => `${d} -> ${t.id}`));
  return ['| sub-ticket | title | kind | size | depends on | checked by |', '|---|---|---|---|---|---|', ...rows, '', `graph: ${edges.length ? edges.join(', ') : 'no edges (all can run at once)'}`];
}

/**
 * The gate's reason: what was proposed, the table, and how to answer; cut to 4,000 characters.
 * @param run - the decompose run that proposed it; `note` - a line before the table (a refused edit's problems).
 */
export function gateReason(tickets: readonly SubTicket[], run: number, note?: string): string {
  const text = [
    `decomposition ${run} proposes ${tickets.length} sub-tickets${note ? `; ${note}` : ''}`,
    '',
    ...proposalLines(tickets),
    '',
    'approve to file them; reject with a comment to have them decomposed again; approve with "patch" (RFC 6902, on the list as proposed: /0/title is the first one\'s title) to edit them first',
  ].join('\n');
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 3)}...` : text;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
