/**
 * Evidence is never a payload (DESIGN.md "Trust boundaries", issue 25): a `ticketEnded` signal only tells the batch
 * to look. This activity reads how the ticket's workflow really ended from the Temporal server (its closed result or
 * failure), checks that it is this batch's child running ratchet's ticket workflow, and, for a local merge, that the
 * merge commit it reports is on the base branch. Anyone who can signal the batch (an agent that reached the frontend)
 * can make it look again; nothing it sends is counted.
 */
import { heartbeat, sleep } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { isAncestor, type Git } from './git';
import type { TicketEnd } from '../workflows/messages';
import type { TicketReport } from '../workflows/types';

/** What {@link readTicketEnd} takes. */
export interface ReadTicketEndInput {
  ticketId: string;
  /** The ticket workflow's id (`ticket-<batch>-<id>`). */
  workflowId: string;
  /** The batch's workflow id: the ticket workflow's parent must be it. */
  batchWorkflowId: string;
  /** For a local merge: the repository and base branch a `done` ticket's merge commit must be on. */
  base?: { repo: string; baseBranch: string };
}

/** The answer: the end as the server recorded it, or why the signal is not evidence (`refused`). */
export type TicketEndRead = { end: TicketEnd } | { refused: string };

/** How often the wait for a still-running ticket heartbeats, ms (the activity's heartbeat timeout is 30 s). */
const HEARTBEAT_MS = 10_000;

/**
 * Waits until the ticket's workflow has closed (a ticket signals its end just before it returns; a forged signal about
 * a running ticket waits for its real end), heartbeating meanwhile, then reads its end.
 * @returns the end (the report row, the failure, or `refused` for a ticket that found its tracker state moved), or
 *   `refused` with why when the workflow is not this batch's ticket workflow or its merge commit is not on the base.
 * @throws when the server cannot be read (retried).
 */
export async function readTicketEnd(client: Client, git: Git, input: ReadTicketEndInput): Promise<TicketEndRead> {
  const handle = client.workflow.getHandle(input.workflowId);
  for (;;) {
    const d = await handle.describe();
    if (d.type !== 'ticketWorkflow') return { refused: `workflow ${input.workflowId} runs ${d.type}, not ratchet's ticket workflow` };
    if (d.parentExecution?.workflowId !== input.batchWorkflowId) {
      return { refused: `workflow ${input.workflowId} was not started by batch ${input.batchWorkflowId}` };
    }
    if (d.status.name === 'RUNNING') {
      // The server's long poll answers the moment the workflow closes (a ticket closes right after its signal).
      const closed = handle.result().then(
        () => true,
        () => true,
      );
      // sleep() throws when the activity is cancelled.
      while (!(await Promise.race([closed, sleep(HEARTBEAT_MS).then(() => false)]))) heartbeat();
      continue;
    }
    if (d.status.name !== 'COMPLETED') {
      const failure = await handle.result().then(
        () => undefined,
        (err: unknown) => (err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : (err as Error).message),
      );
      return { end: { ticketId: input.ticketId, failure: `ticket workflow ${d.status.name.toLowerCase()}${failure ? `: ${failure}` : ''}` } };
    }
    const report = (await handle.result()) as TicketReport;
    if (report.notTaken !== undefined) return { end: { ticketId: input.ticketId, refused: report.notTaken } };
    // An epic, or a ticket whose plan was split, merges nothing: it is done when its sub-tickets are, each counted on
    // its own evidence (docs/epics.md). The report is the ticket workflow's own result, never an agent's.
    const epic = (report.subTickets?.length ?? 0) > 0 && report.mergeCommit === undefined;
    if (report.outcome === 'done' && input.base && !epic) {
      const commit = report.mergeCommit;
      if (!commit || !/^[0-9a-f]{40,64}$/.test(commit) || !(await isAncestor(git, input.base.repo, commit, input.base.baseBranch).catch(() => false))) {
        return { refused: `ticket ${input.ticketId} reports done with merge commit ${commit ?? '(none)'}, which is not on ${input.base.baseBranch}` };
      }
    }
    const { phases: _timeline, notTaken: _none, ...row } = report;
    return { end: { ticketId: input.ticketId, report: row } };
  }
}
