/**
 * Evidence is never a payload (DESIGN.md "Trust boundaries", issue 25). A ticket's `ticketEnded` signal only says
 * "look": the batch reads how the ticket's workflow really ended from the server (`readTicketEnd`: its closed result
 * or failure, that it is this batch's child, and that a local merge is on the base), and counts only that. A forged
 * signal about a running ticket makes the batch wait for the ticket's real end; one about a ticket not running does
 * nothing. Workflow code.
 */
import { ActivityFailure, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { ticketWorkflowId } from '../messages';
import { OPTIONS } from '../options';
import type { BatchSchedule } from './schedule';

const reads = proxyActivities<Activities>(OPTIONS.ticketEnd);

/**
 * Starts reading the end of every ticket in `s.endsToCheck`, off the loop's path: each read's answer ends the ticket
 * in the schedule (and marks it dirty) when it comes. A read whose evidence is refused ends the ticket as a failure
 * naming why, so the batch never waits for a ticket it cannot count.
 */
export function checkEnds(s: BatchSchedule): void {
  const { batchId, repo, baseBranch, forge } = s.config;
  for (const ticketId of [...s.endsToCheck]) {
    s.endsToCheck.delete(ticketId);
    s.checking.add(ticketId);
    const input = {
      ticketId,
      workflowId: ticketWorkflowId(batchId, ticketId),
      batchWorkflowId: workflowInfo().workflowId,
      ...(forge?.kind === 'github' ? {} : { base: { repo, baseBranch } }),
    };
    void reads
      .readTicketEnd(input)
      .then(
        (read) => {
          if ('end' in read) s.onEnded(read.end, Date.now());
          else {
            log.warn(`batch ${batchId}: the end of ticket ${ticketId} is not counted: ${read.refused}`);
            s.onEnded({ ticketId, failure: `evidence refused: ${read.refused}` }, Date.now());
          }
        },
        (err: unknown) => {
          // Retried without end until the ticket closes; only the batch's own end or continue-as-new cancels it (the
          // next run reads it again from the carry).
          if (!(err instanceof ActivityFailure)) throw err;
          log.warn(`batch ${batchId}: reading the end of ticket ${ticketId} stopped: ${err.cause?.message ?? err.message}`);
          s.endsToCheck.add(ticketId);
        },
      )
      .finally(() => {
        s.checking.delete(ticketId);
        s.dirty = true;
      });
  }
}
