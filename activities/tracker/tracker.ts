/** The tracker: the system of record for tickets and their states (DESIGN.md "Words"). */
import type { TrackerDecision, GateCursor, Ticket, TicketFact, TicketState } from '../../workflows/types';

export type { TrackerDecision, GateCursor };

/**
 * A fencing token (Kleppmann, "How to do distributed locking"): the workflow chain that writes, named by its first
 * run id (stable across continue-as-new, new for a new batch of the same id), and the write's number in that chain,
 * counted by workflow code and so the same on every replay. A tracker keeps the highest number it saw per chain; a
 * write whose number is lower comes from a workflow task that lost its lease (a worker frozen across a takeover).
 */
export interface Fence {
  run: string;
  seq: number;
}

/** What goes with a state write: the note, who writes, the compare-and-set's expected state and the fence. */
export interface StateWrite {
  /** One line for people (the tracker shows it next to the state); omitted clears the note. */
  note?: string;
  /** Who writes (`ticket workflow of batch b1`, `batch b1`). */
  by?: string;
  /** Compare-and-set: write only when the state before is this one (or already `state`, a retried write). */
  expect?: TicketState;
  /** Refuse the write when the tracker saw a higher `seq` of the same `run` (see {@link Fence}). */
  fence?: Fence;
}

/**
 * The answer to a state write: the state just before it, and why nothing was written when it was refused:
 * `expected` (the state before was neither `expect` nor the state written) or `stale` (the fence is behind).
 */
export interface StateWritten {
  previous: TicketState;
  refused?: 'expected' | 'stale';
}

/** Most chains a tracker remembers fences of, per ticket (the oldest are dropped; a chain that old has ended). */
export const MAX_FENCES = 8;

/**
 * Whether a write fenced with `fence` is stale against the highest numbers `seen` per chain (pure): a lower number of
 * the same chain is; an equal one is a retry of the same write and is not.
 */
export function isStale(seen: Record<string, number>, fence: Fence | undefined): boolean {
  return fence !== undefined && (seen[fence.run] ?? -1) > fence.seq;
}

/** `seen` with `fence` recorded (pure): the chain's highest number, newest chain last, at most {@link MAX_FENCES}. */
export function withFence(seen: Record<string, number>, fence: Fence | undefined): Record<string, number> {
  if (fence === undefined) return seen;
  const rest = Object.entries(seen).filter(([run]) => run !== fence.run);
  const seq = Math.max(seen[fence.run] ?? -1, fence.seq);
  return Object.fromEntries([...rest.slice(-(MAX_FENCES - 1)), [fence.run, seq]]);
}

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
   * just before: callers compare it with what they last wrote to notice a tracker tamper. Idempotent. The read of the
   * state before and the write are one step for every process sharing the tracker. With `write.expect`, a
   * compare-and-set (`refused: 'expected'`); with `write.fence`, a write from a task that lost its lease changes
   * nothing (`refused: 'stale'`). See {@link StateWrite}.
   */
  setState(id: string, state: TicketState, write?: StateWrite): Promise<StateWritten>;
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
