/**
 * The batch's budget (issue 28 item 5; the batch file's `budget.batchUsd`): what its ended tickets' agents reported
 * they spent (their report rows' `costUsd`; runs of unknown cost cannot be held to a budget and are named instead).
 * At or over its allowance the batch starts no ticket and pauses at its `budget` gate; a person's `resume` grants
 * another `batchUsd`. Running tickets go on (each bounded by `budget.ticketUsd`). Pure.
 */
import type { BatchConfig, TicketRow } from '../types';

/** What the ended tickets' agents reported in dollars, and the tickets whose cost is (partly) unknown. */
export function batchSpent(rows: Iterable<TicketRow>): { usd: number; unknown: string[] } {
  let usd = 0;
  const unknown: string[] = [];
  for (const r of rows) {
    if (r.costUsd !== undefined) usd += r.costUsd;
    if ((r.costUsd === undefined && r.attempts > 0) || r.costUnknownRuns) unknown.push(r.ticketId);
  }
  return { usd: Math.round(usd * 10_000) / 10_000, unknown };
}

/**
 * Why the batch may start no more tickets for its budget, or undefined when it may (no `budget.batchUsd`, or below
 * `batchUsd * (1 + grants)`, `grants` being the resumes at its `budget` gate so far).
 */
export function overBatchBudget(config: Pick<BatchConfig, 'budget'>, rows: Iterable<TicketRow>, grants: number): string | undefined {
  const per = config.budget?.batchUsd;
  if (per === undefined) return undefined;
  const allowance = per * (1 + grants);
  const { usd, unknown } = batchSpent(rows);
  if (usd < allowance) return undefined;
  const unknownNote = unknown.length ? `, besides the unknown cost of ${unknown.join(', ')}` : '';
  return `budget: the batch's agents spent $${usd.toFixed(2)} of its $${allowance.toFixed(2)} (budget.batchUsd ${per})${unknownNote}; no ticket starts until a person sends "resume", which grants another $${per.toFixed(2)}`;
}
