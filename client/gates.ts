/**
 * Answering human gates (`approve`, `reject` on a ticket; `resume` on a batch) through the validated updates, and the
 * Temporal CLI command that does the same.
 */
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { approveUpdate, batchWorkflowId, rejectUpdate, resumeUpdate, ticketWorkflowId, type GateAnswer } from '../workflows/messages';
import type { GateDecision } from '../workflows/types';
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE } from '../deploy/connection';
import { rootMessage } from './errors';
import { GateRejectedError } from '../workflows/errors';
import { notFound } from './status';

async function answerGate(
  kind: 'approve' | 'reject',
  client: Client,
  batchId: string,
  ticketId: string,
  decision: GateDecision,
): Promise<GateAnswer> {
  const workflowId = ticketWorkflowId(batchId, ticketId);
  try {
    return await client.workflow
      .getHandle(workflowId)
      .executeUpdate(kind === 'approve' ? approveUpdate : rejectUpdate, { args: [decision] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new GateRejectedError(rootMessage(err));
    return notFound(err, `ticket ${ticketId}`, workflowId);
  }
}

/**
 * Approves the human gate a ticket waits at, through the validated `approve` update on `ticket-<batchId>-<ticketId>`.
 * @param decision - `{ by, comment? }`, recorded as an intervention.
 * @returns the workflow's answer (which gate was answered).
 * @throws GateRejectedError with the validator's message verbatim (e.g. the ticket is not waiting);
 *   BadInputError when the ticket workflow does not exist.
 */
export function approve(client: Client, batchId: string, ticketId: string, decision: GateDecision): Promise<GateAnswer> {
  return answerGate('approve', client, batchId, ticketId, decision);
}

/**
 * Rejects the human gate a ticket waits at (the ticket ends human-gated), through the validated `reject` update.
 * @throws as {@link approve}.
 */
export function reject(client: Client, batchId: string, ticketId: string, decision: GateDecision): Promise<GateAnswer> {
  return answerGate('reject', client, batchId, ticketId, decision);
}

/**
 * Resumes a paused batch (circuit breaker, or no ticket could start) through the validated `resume` update on
 * `batch-<batchId>`.
 * @throws GateRejectedError with the validator's message verbatim (e.g. the batch is not paused);
 *   BadInputError when no such batch exists.
 */
export async function resume(client: Client, batchId: string, by: string, comment?: string): Promise<void> {
  const workflowId = batchWorkflowId(batchId);
  try {
    await client.workflow.getHandle(workflowId).executeUpdate(resumeUpdate, { args: [comment === undefined ? { by } : { by, comment }] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new GateRejectedError(rootMessage(err));
    notFound(err, `batch ${batchId}`, workflowId);
  }
}

/** Quotes a word for a POSIX shell when it needs it. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9._\-:/@=]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The Temporal CLI command that does the same as `ratchet approve|reject`: proof that the CLI is not the only door.
 * @param opts - address/namespace, added as flags only when they differ from the defaults.
 * @returns e.g. `temporal workflow update execute --workflow-id ticket-b-t --name approve --input '{"by":"ana"}'`.
 */
export function equivalentTemporalCommand(
  kind: 'approve' | 'reject',
  batchId: string,
  ticketId: string,
  decision: GateDecision,
  opts: { address?: string; namespace?: string } = {},
): string {
  const words = ['temporal', 'workflow', 'update', 'execute'];
  if (opts.address && opts.address !== DEFAULT_ADDRESS) words.push('--address', opts.address);
  if (opts.namespace && opts.namespace !== DEFAULT_NAMESPACE) words.push('--namespace', opts.namespace);
  words.push('--workflow-id', ticketWorkflowId(batchId, ticketId), '--name', kind);
  const payload = decision.comment === undefined ? { by: decision.by } : { by: decision.by, comment: decision.comment };
  return `${words.map(shellQuote).join(' ')} --input ${shellQuote(JSON.stringify(payload))}`;
}
