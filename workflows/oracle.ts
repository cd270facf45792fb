/**
 * The oracle: the batch's only exit. A pure function over facts read from the tracker by an activity; nothing an
 * agent reports about its own work reaches it. Rule from DESIGN.md: the batch is done iff every ticket is done
 * (merged and verified live) or recorded as human-gated.
 */
import type { TicketFact } from './types';

export interface OracleVerdict {
  satisfied: boolean;
  done: string[];
  humanGated: string[];
  /** Tickets that keep the oracle unsatisfied, with their tracker state (`missing` when the tracker has no row). */
  pending: { id: string; state: string }[];
}

/** The policy that is fingerprinted into the definition of done; changing it changes the fingerprint. */
export const ORACLE_POLICY = 'every ticket done (verified live) or human-gated; facts from the tracker only';

/** Judges `ticketIds` against `facts`. A ticket without a fact is pending: absence is not done. */
export function oracle(ticketIds: readonly string[], facts: readonly TicketFact[]): OracleVerdict {
  const byId = new Map(facts.map((f) => [f.id, f.state]));
  const verdict: OracleVerdict = { satisfied: false, done: [], humanGated: [], pending: [] };
  for (const id of ticketIds) {
    const state = byId.get(id);
    if (state === 'done') verdict.done.push(id);
    else if (state === 'human-gated') verdict.humanGated.push(id);
    else verdict.pending.push({ id, state: state ?? 'missing' });
  }
  verdict.satisfied = ticketIds.length > 0 && verdict.pending.length === 0;
  return verdict;
}
