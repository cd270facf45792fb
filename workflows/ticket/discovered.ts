/**
 * A ticket's discovered work (DESIGN.md "discovered work"): sent to the batch, which files it; when an entry blocks
 * this ticket, the ticket waits durably, in phase `blocked`, until each filed blocker has ended. Workflow code.
 */
import { condition } from '@temporalio/workflow';
import { discoveredSignal } from '../messages';
import type { DiscoveredRecord, DiscoveredWork } from '../types';
import type { TicketEffects } from './effects';

/** Discovered work as an agent's result file or a heal reports it. */
export type ReportedWork = DiscoveredWork & { blocksThisTicket: boolean };

/**
 * Sends the work an attempt's agent discovered to the batch. When the agent said an entry blocks this ticket, the
 * attempt ends here (its changes are not validated): the ticket waits until the batch reports each filed blocker
 * ended, then goes on with a new attempt from the new base (that attempt is not held against the ticket's cap).
 * @returns undefined when nothing blocks the attempt, false when it ended so, 'blocked' when a blocker ended
 *   human-gated.
 */
export async function reportDiscovered(fx: TicketEffects, work: ReportedWork[]): Promise<false | 'blocked' | undefined> {
  const s = fx.state;
  const reportedIn = s.attempt;
  const waited = await fileAndWait(fx, work, reportedIn);
  if (waited === undefined) return undefined;
  const { records, filed } = waited;
  if (filed.length) {
    if (s.blockedBy) return 'blocked';
    s.refundAttempt(); // waiting for a blocker is not a failed attempt
  }
  s.addFeedback(
    [
      `Attempt ${reportedIn} stopped: it reported work that has to come first.`,
      ...records.map((r) =>
        r.status === 'filed'
          ? `Discovered ticket ${r.ticketId} ("${r.title}") is done and merged into ${fx.config.baseBranch}; this attempt starts from there.`
          : `"${r.title}" was not filed (${r.status}: ${r.reason ?? ''}); do this ticket without it.`,
      ),
    ].join('\n'),
  );
  return false;
}

/**
 * Sends discovered work to the batch (`key`: the attempt that found it, or minus the heal's number) and, when
 * entries block this ticket, waits in phase `blocked` until the batch answers for each and every filed blocker has
 * ended; sets `state.blockedBy` when one ended human-gated.
 * @returns undefined when nothing blocks this ticket (or it has no batch), else the batch's records and the ids filed.
 */
export async function fileAndWait(fx: TicketEffects, work: ReportedWork[], key: number, heal?: number): Promise<{ records: DiscoveredRecord[]; filed: string[] } | undefined> {
  const s = fx.state;
  if (!fx.hasParent()) return undefined;
  await fx.signalParent(discoveredSignal, [{ ticketId: fx.ticket.id, attempt: key, work, ...(heal ? { heal } : {}) }], { mustArrive: true });
  const blocking = work.flatMap((w, i) => (w.blocksThisTicket ? [i] : []));
  if (blocking.length === 0) return undefined;
  fx.enter('blocked', `found ${blocking.length} blocker(s)`);
  // Held entries (over the discovery cap) wait for a person's resume, which files or drops them.
  const answer = (i: number): DiscoveredRecord | undefined => s.discoveryReplies.get(key)?.get(i);
  await condition(() => blocking.every((i) => answer(i) !== undefined && answer(i)?.status !== 'held'));
  const records = blocking.map((i) => answer(i) as DiscoveredRecord);
  const filed = records.filter((r) => r.status === 'filed' && r.ticketId !== undefined).map((r) => r.ticketId as string);
  if (filed.length) {
    await fx.tryWriteState(s.lastWritten, `waiting for discovered ${filed.join(', ')}`, 'the wait', true);
    await condition(() => filed.every((id) => s.blockerOutcomes.has(id)));
    s.blockedBy = filed.find((id) => s.blockerOutcomes.get(id) === 'human-gated');
  }
  return { records, filed };
}
