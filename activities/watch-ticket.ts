/**
 * A detected ticket's side of a signature's life (issue 27 items 2 and 5): its state in the watch's tracker and since
 * when (the tracker is the oracle of "fixed", never an agent), and its reopening when the failure comes back before
 * the signature closed: the same ticket, back to `todo`, its body gaining the new evidence. A watch files into a local
 * tickets folder (activities/tracker/local.ts); a tracker that cannot say since when or cannot amend a body is refused
 * by name.
 */
import { stat } from 'node:fs/promises';
import type { Trackers } from './batch';
import { LocalTracker, writeTicketFile } from './tracker/local';
import { TrackerError } from '../workflows/errors';
import type { TicketState } from '../workflows/types';

export interface DetectedTicketRef {
  /** The watch's tickets folder (absolute). */
  ticketsDir: string;
  ticketId: string;
}

/**
 * The ticket's state in the tracker, and since when it is in it (ms since epoch: when its state was last written, on
 * this host's clock); `{}` when the tracker has no such ticket (a person deleted it).
 */
export async function readDetectedTicket(trackers: Trackers, input: DetectedTicketRef): Promise<{ state?: TicketState; since?: number }> {
  const tracker = trackers({ ticketsDir: input.ticketsDir });
  const [fact] = await tracker.facts([input.ticketId]);
  if (!fact) return {};
  const since = tracker instanceof LocalTracker ? await stat(tracker.recordOf(input.ticketId)).then((s) => s.mtimeMs, () => undefined) : undefined;
  return since === undefined ? { state: fact.state } : { state: fact.state, since: Math.floor(since) };
}

export interface ReopenInput extends DetectedTicketRef {
  /** Markdown appended to the ticket's body: the new run, commit, message and output tail. */
  evidence: string;
  /** A line of `evidence` that names its run: a body holding it already has it (a retried call appends nothing). */
  marker: string;
  /** Who reopens (`watch nightly`) and the one-line note next to the state. */
  by: string;
  note: string;
}

/**
 * Reopens a done ticket: appends `evidence` to its body (once) and sets it back to `todo`, a compare-and-set from
 * `done` (a ticket someone moved meanwhile keeps its state). Idempotent.
 * @returns the state just before, and `refused: 'expected'` when it was not `done` (nothing written to the state).
 * @throws TrackerError (non-retryable) when the ticket has no file, or the tracker is not a local tickets folder.
 */
export async function reopenTicket(trackers: Trackers, input: ReopenInput): Promise<{ previous: TicketState; refused?: 'expected' | 'stale' }> {
  const tracker = trackers({ ticketsDir: input.ticketsDir });
  if (!(tracker instanceof LocalTracker)) throw new TrackerError(`ticket ${input.ticketId}: only a local tickets folder can be reopened with new evidence`, true);
  const ticket = await tracker.get(input.ticketId);
  if (!ticket) throw new TrackerError(`ticket "${input.ticketId}" has no file in ${input.ticketsDir}: it cannot be reopened`, true);
  // The evidence first, so a batch that takes the ticket once it is `todo` reads it; `todo` already: a retried call.
  if (ticket.state !== 'done' && ticket.state !== 'todo') return { previous: ticket.state, refused: 'expected' };
  if (!ticket.body.includes(input.marker)) {
    await writeTicketFile(input.ticketsDir, { ...ticket, body: `${ticket.body.trimEnd()}\n\n${input.evidence.trim()}\n`, state: 'todo' }, `${input.by}, reopened`);
  }
  return tracker.setState(input.ticketId, 'todo', { by: input.by, note: input.note, expect: 'done' });
}
