/** The tracker: the system of record for tickets and their states (DESIGN.md "Words"). */
import type { TrackerDecision, GateCursor, Ticket, TicketFact, TicketState } from '../../workflows/types';

export type { TrackerDecision, GateCursor };

/**
 * What the harness needs from a tracker. Only the harness writes states; writes are set-state, never append, so a
 * retried activity writes the same thing again.
 */
export interface Tracker {
  /** Every ticket, in a stable order. @throws BadInputError naming the source and field of a malformed ticket. */
  list(): Promise<Ticket[]>;
  /** The ticket with `id`, or undefined when there is none. */
  get(id: string): Promise<Ticket | undefined>;
  /**
   * Sets the ticket's state, with a one-line note (or clears the note when omitted), and says what the state was
   * just before: callers compare it with what they last wrote to notice a tracker tamper. Idempotent.
   * With `expect`, a compare-and-set: when the state before is neither `expect` nor `state` (a retried write), nothing
   * is written and the answer says `refused`.
   */
  setState(id: string, state: TicketState, note?: string, by?: string, expect?: TicketState): Promise<{ previous: TicketState; refused?: true }>;
  /**
   * Files a new ticket (discovered work) under `ticket.id`, state `todo`, with `by` (who found it) recorded next to
   * it. Idempotent: when the id already names a ticket with the same title and body (a retried call) it says
   * `existing`; when it names another ticket it writes nothing and says `taken`.
   */
  file(ticket: Ticket, by: string): Promise<{ status: 'created' | 'existing' | 'taken' }>;
  /** The state of each of `ids` that exists (unknown ids are simply absent): the oracle's only input. */
  facts(ids: string[]): Promise<TicketFact[]>;
  /**
   * Records that ticket `blocked` waits for ticket `blocker`, in trackers that keep edges (GitHub's issue
   * dependencies). Idempotent. The local tracker has none: a batch keeps the edges of discovered work in its state.
   */
  link?(blocked: string, blocker: string): Promise<void>;
  /**
   * How a pull request's description names ticket `id` so that merging it closes the ticket, in trackers a forge
   * links to (GitHub: `#12`, also for an issue ratchet filed under an id of its own); undefined when it cannot.
   */
  closingReference?(id: string): Promise<string | undefined>;
  /**
   * A person's answer to the human gate ticket `id` waits at, recorded in the tracker itself (GitHub: an
   * `<prefix>:approve` or `<prefix>:reject` label added, or `<prefix>:awaiting-human` removed), for trackers a person
   * can answer in. `after` is the cursor the previous call returned (omit it on the first call, made once the gate is
   * recorded: what happened before it answers nothing). @returns the new cursor, and the first answer after `after`.
   */
  gateAnswer?(id: string, after?: GateCursor): Promise<{ cursor: GateCursor; answer?: TrackerDecision }>;
}
