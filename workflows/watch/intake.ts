/**
 * A watch's intake batch (issue 27 item 4): one long-running batch per watch, `batch-intake-<watchId>`, started by
 * `ratchet watch start` with the watch file's `batch` settings, into which each confirmed new failure's ticket is
 * filed through the batch's `discover` update (a person's discovery, by `watch <watchId>`): the batch writes the
 * ticket to the watch's tickets folder once, and starts it within the same turn. Pure: the file it is started with
 * and the request a signature sends.
 */
import { DISCOVERED_BODY_CHARS } from '../discovery';
import type { BatchFile } from '../input';
import type { DiscoverRequest } from '../messages';
import type { Ticket } from '../types';

/** Batch file fields the watch gives its intake batch: a watch file's `batch` section may not set them. */
export const INTAKE_RESERVED = ['batchId', 'intake', 'repo', 'baseBranch', 'ticketsDir', 'worktreesDir', 'artifactsDir', 'tickets', 'tracker'];

/** The intake batch's id (`intake-<watchId>`; its workflow is `batch-intake-<watchId>`). */
export const intakeBatchId = (watchId: string): string => `intake-${watchId}`;

/**
 * The batch file the intake batch starts with: the watch's `batch` settings, and the watch's repository, base and
 * folders (as the watch holds them), no ticket of its own (`intake: true`: it takes them through `discover`).
 */
export function intakeBatchFile(watch: { watchId: string; repo: string; baseBranch: string; ticketsDir: string; worktreesDir: string; artifactsDir: string; batch?: Record<string, unknown> }): BatchFile & { batchId: string; repo: string } {
  return {
    ...(watch.batch as Partial<BatchFile>),
    batchId: intakeBatchId(watch.watchId),
    intake: true,
    repo: watch.repo,
    baseBranch: watch.baseBranch,
    ticketsDir: watch.ticketsDir,
    worktreesDir: watch.worktreesDir,
    artifactsDir: watch.artifactsDir,
    tickets: [],
  };
}

/** The `discover` request that files a detected ticket into the intake batch: its id, text, kind and probes. */
export function intakeRequest(watchId: string, ticket: Ticket): DiscoverRequest {
  return { by: `watch ${watchId}`, id: ticket.id, title: ticket.title, body: ticket.body.slice(0, DISCOVERED_BODY_CHARS), acceptance: ticket.acceptance, kind: ticket.kind, probes: ticket.probes };
}
