/**
 * The `status` queries of a batch and a ticket, and how a workflow that is not there reads to a person.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { batchStatusQuery, batchWorkflowId, statusQuery, ticketWorkflowId, type BatchStatus, type TicketStatus } from '../workflows/messages';
import { BadInputError } from '../workflows/errors';

/** Turns "no such workflow" (or "already finished") into a BadInputError naming the id a person typed. */
export function notFound(err: unknown, what: string, workflowId: string): never {
  if (err instanceof WorkflowNotFoundError && /already completed/i.test(err.message)) {
    throw new BadInputError(what, [
      `workflow ${workflowId} has already finished, so it takes no more answers; fix: see its outcome with ` +
        '`ratchet status <batchId>` or in the Web UI',
    ]);
  }
  if (err instanceof WorkflowNotFoundError) {
    throw new BadInputError(what, [
      `no workflow ${workflowId} in this namespace; fix: check the id (\`temporal workflow list\` or the Web UI)`,
    ]);
  }
  throw err;
}

/**
 * Queries a batch's `status`.
 * @returns BatchStatus (state, tickets with their tracker state and gate, oracle verdict, report when done).
 * @throws BadInputError when no such batch exists.
 */
export async function batchStatus(client: Client, batchId: string): Promise<BatchStatus> {
  const workflowId = batchWorkflowId(batchId);
  return client.workflow.getHandle(workflowId).query(batchStatusQuery).catch((err: unknown) => notFound(err, `batch ${batchId}`, workflowId));
}

/**
 * Queries a ticket's `status`.
 * @returns TicketStatus (phase, attempt, gate it waits at, timeline, interventions).
 * @throws BadInputError when the ticket workflow does not exist (not started yet, or a wrong id).
 */
export async function ticketStatus(client: Client, batchId: string, ticketId: string): Promise<TicketStatus> {
  const workflowId = ticketWorkflowId(batchId, ticketId);
  return client.workflow.getHandle(workflowId).query(statusQuery).catch((err: unknown) => notFound(err, `ticket ${ticketId}`, workflowId));
}

/**
 * What `ratchet status` adds for each ticket waiting at a `decomposition` gate (an epic, docs/epics.md): its proposed
 * sub-tickets and their graph, as the ticket's status query gives them (`waitingReason`), indented. A ticket that
 * does not answer is left out.
 * @returns the lines, empty when no epic waits.
 */
export async function proposalLines(client: Client, status: BatchStatus): Promise<string[]> {
  const epics = status.tickets.filter((t) => t.waitingFor === 'decomposition');
  const lines: string[] = [];
  for (const t of epics) {
    const st = await client.workflow.getHandle(ticketWorkflowId(status.batchId, t.id)).query(statusQuery).catch(() => undefined);
    if (!st?.waitingReason) continue;
    lines.push(`Epic ${t.id} at its decomposition gate:`, ...st.waitingReason.split('\n').map((l) => `  ${l}`));
  }
  return lines;
}
