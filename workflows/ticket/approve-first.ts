/**
 * A discovered ticket that an agent filed and nothing executable checks waits for a person before it starts (issue 25
 * item 7; the batch decides it, workflows/discovered-check.ts, and says why in `input.approveFirst`). Workflow code.
 */
import type { TicketEffects } from './effects';

/**
 * Opens the `unchecked-discovery` gate when the batch asked for it, before the ticket's plan: no agent runs for it
 * until a person approves.
 * @returns true to go on (nothing asked, or approved), else why the ticket ends human-gated (rejected, or unanswered
 *   within `humanGates.timeoutMs`).
 */
export async function approvedToStart(fx: TicketEffects): Promise<true | { end: string }> {
  const why = fx.input.approveFirst;
  if (why === undefined) return true;
  const verdict = await fx.humanGate('unchecked-discovery', why);
  return verdict === 'approve' ? true : { end: 'rejected before it started: an agent filed it and nothing executable checks it' };
}
