/**
 * A ticket's budget (issue 28 item 5; the batch file's `budget.ticketUsd`): before each agent run the ticket checks what
 * its runs spent (workflows/cost.ts, the runs that reported a cost: unknown cost cannot be held to a budget, and the
 * gate's reason says how many runs it left out). At or over its allowance it stops at the `budget` gate: a person's
 * approve grants another `ticketUsd`, a reject ends it human-gated. Workflow code.
 */
import type { AgentRun, RouteRole } from '../types';
import type { TicketEffects } from './effects';

/** Records one agent run of `role` in the ticket's spend (the profile its route picked, else `default`). */
export function spent(fx: TicketEffects, role: RouteRole, run: Pick<AgentRun, 'costUsd' | 'tokens'> | undefined): void {
  if (!run) return;
  fx.state.cost.add(role, fx.state.profiles[role]?.profile ?? 'default', run);
}

/**
 * Whether the ticket may start another agent run: true without a `budget.ticketUsd`, or below its allowance (grown by
 * each approve at the gate); else the answer of a person at the `budget` gate.
 * @returns true to run, false when a person rejected (the caller ends the ticket; `rejectedWhy` says why).
 */
export async function withinBudget(fx: TicketEffects, before: string): Promise<boolean> {
  const per = fx.config.budget?.ticketUsd;
  const s = fx.state;
  const usd = s.cost.usd;
  if (per === undefined || usd === undefined || usd < s.budgetUsd(per)) return true;
  const reason = `ticket ${fx.ticket.id} spent ${s.cost.describe()} of its $${s.budgetUsd(per).toFixed(2)} budget (budget.ticketUsd ${per}) before ${before}; approve grants another $${per.toFixed(2)}, reject stops it`;
  if ((await fx.humanGate('budget', reason)) === 'reject') {
    s.rejectedWhy = `budget: ${s.cost.describe()} spent; a person stopped it at the budget gate`;
    return false;
  }
  s.budgetGrants++;
  return true;
}
