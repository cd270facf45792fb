/**
 * The oracle: the batch's only exit. A pure function over facts read from the tracker by an activity and the
 * evidence the batch recorded itself; nothing an agent reports about its own work reaches it. Rule from DESIGN.md
 * ("Trust boundaries"): a ticket counts as done only when the tracker says `done` AND the batch holds ratchet's own
 * evidence for it (likewise for `human-gated`); the batch is done iff every ticket counts.
 */
import type { Evidence, TicketFact } from './types';

export interface OracleVerdict {
  satisfied: boolean;
  done: string[];
  humanGated: string[];
  /**
   * Tickets that keep the oracle unsatisfied, with their tracker state (`missing` when the tracker has no row) and,
   * when the tracker claims a final state, why it does not count.
   */
  pending: { id: string; state: string; why?: string }[];
}

/** The policy that is fingerprinted into the definition of done; changing it changes the fingerprint. */
export const ORACLE_POLICY =
  'every ticket done (merged, verified live) or human-gated, as the tracker says AND as ratchet recorded in this batch; agents never count';

/**
 * Judges `ticketIds` against the tracker's `facts` and the batch's `evidence` (by ticket id). A ticket without a
 * fact is pending (absence is not done); a tracker state without matching evidence is pending with the reason.
 * @returns the verdict; `satisfied` is false for an empty batch.
 */
export function oracle(
  ticketIds: readonly string[],
  facts: readonly TicketFact[],
  evidence: Readonly<Record<string, Evidence | undefined>>,
): OracleVerdict {
  const byId = new Map(facts.map((f) => [f.id, f.state]));
  const verdict: OracleVerdict = { satisfied: false, done: [], humanGated: [], pending: [] };
  for (const id of ticketIds) {
    const state = byId.get(id);
    const ev = evidence[id];
    if ((state === 'done' || state === 'human-gated') && ev?.outcome === state) {
      (state === 'done' ? verdict.done : verdict.humanGated).push(id);
    } else if (state === 'done' || state === 'human-gated') {
      const why = ev ? `ratchet recorded ${ev.outcome}, not ${state}` : `no evidence: ratchet did not record ${state} for it in this batch`;
      verdict.pending.push({ id, state, why });
    } else {
      verdict.pending.push({ id, state: state ?? 'missing' });
    }
  }
  verdict.satisfied = ticketIds.length > 0 && verdict.pending.length === 0;
  return verdict;
}
