/**
 * A ticket's side of the guard (workflows/guard.ts, issue 26 item 4): after its deploy it asks its batch's guard for a
 * round over the tickets already verified, and once its own probes passed it joins them. Workflow code.
 */
import { condition, getExternalWorkflowHandle, log, patched, proxyLocalActivities, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { guardJoinSignal, guardLeaveSignal, guardResultSignal, guardWorkflowId, type GuardInput, type GuardResult } from '../guard/messages';
import { asStepFailure } from '../local';
import { OPTIONS } from '../options';
import { repoRef, secretNames } from '../repo-ref';
import type { TicketEffects } from './effects';

const local = proxyLocalActivities<Activities>(OPTIONS.lock);

/** The patch id of the guard's rounds after a deploy; histories from before it verified the ticket's own probes only. */
export const GUARD_PATCH = 'guard-after-deploy';

/** A ticket waiting for its round asks again this often, ms (a result lost with a guard that was terminated). */
const ASK_AGAIN_MS = 10 * 60_000;

/** Whether this ticket's deploys are followed by guard rounds: a config that has `verify.guard`, on the patched path. */
export function guarding(fx: TicketEffects): boolean {
  return fx.config.verify.guard !== undefined && patched(GUARD_PATCH);
}

/** The guard's input when this request starts it. */
function guardInput(fx: TicketEffects): GuardInput {
  const { config } = fx;
  return { batchId: config.batchId, ref: repoRef(config), secrets: secretNames(config), perRound: config.verify.guard ?? 'all' };
}

/**
 * Asks for a round after the landing `commit` (the ticket's merge, or with `revertOf` the revert of it) and waits for
 * its result. Flaky probes it saw go into the ticket's report.
 */
export async function guardRound(fx: TicketEffects, commit: string, revertOf?: string): Promise<GuardResult> {
  const { ticket } = fx;
  const requestId = uuid4();
  let result: GuardResult | undefined;
  setHandler(guardResultSignal, (r) => {
    if (r.requestId === requestId) result ??= r;
  });
  const request = { requester: workflowInfo().workflowId, requestId, ticketId: ticket.id, commit, ...(revertOf ? { revertOf } : {}) };
  do {
    await local.enterGuard
      .executeWithOptions({ ...OPTIONS.lock, summary: `ask the guard for a round after ${ticket.id}` }, [{ guard: guardInput(fx), request, taskQueue: workflowInfo().taskQueue }])
      .catch(asStepFailure('enterGuard'));
  } while (!(await condition(() => result !== undefined, ASK_AGAIN_MS)));
  const r = result as GuardResult;
  fx.state.flaky.push(...r.flaky);
  return r;
}

/** The ticket's own probes passed after its landing `commit`: it joins the guard set. */
export async function joinGuard(fx: TicketEffects, commit: string): Promise<void> {
  const { ticket, config } = fx;
  await getExternalWorkflowHandle(guardWorkflowId(config.batchId))
    .signal(guardJoinSignal, { ticketId: ticket.id, probes: [...config.probes, ...ticket.probes], commit })
    .catch((err: unknown) => log.warn(`ticket ${ticket.id}: could not join the guard (${(err as Error).message}); its probes are not re-checked`));
}

/** The ticket's landing was reverted: it leaves the guard set until it lands and is verified again. */
export async function leaveGuard(fx: TicketEffects): Promise<void> {
  await getExternalWorkflowHandle(guardWorkflowId(fx.config.batchId))
    .signal(guardLeaveSignal, { ticketId: fx.ticket.id })
    .catch((err: unknown) => log.warn(`ticket ${fx.ticket.id}: could not leave the guard (${(err as Error).message})`));
}
