/**
 * A ticket's plan (DESIGN.md "Ticket lifecycle"; issue 28 item 2): a fresh agent of the profile `routes.plan` names
 * plans, answering a typed plan (or free text, size `unknown`); a ticket with a plan gate waits for a person's approve;
 * a plan whose size is `XL` (or above `plan.splitAbove`) is not implemented: it is split as an epic is decomposed
 * (`split`: the lifecycle takes the epic's path, ticket/epic.ts), or in histories from before that waits at the
 * `split` gate ({@link splitPlan}). Workflow code.
 */
import { patched } from '@temporalio/workflow';
import { splits } from '../agent-routes';
import { ticketStepOf } from '../repo-ref';
import type { BatchConfig, PlanResult } from '../types';
import { acts, type TicketEffects } from './effects';
import { guarded } from './heal';
import { AGENT_ROUTES_PATCH, routed } from './routes';
import { spent } from './budget';
import { splitSignal } from '../messages';

/** Why a ticket ended human-gated. */
type End = { end: string };

/** The patch id of splitting a too-big plan through the epic's path; before it, the `split` gate. */
export const SPLIT_AS_EPIC_PATCH = 'split-as-epic';

/** A fresh agent plans; a ticket with a plan gate waits for a person's approve of it; a plan too big to implement is split. */
export async function plan(fx: TicketEffects): Promise<true | End | 'split'> {
  const { ticket, state: s } = fx;
  fx.enter('plan');
  const { agent, profile } = routed(fx, 'plan');
  const input = { ...ticketStepOf(fx.config), ticket, ...(profile === 'default' && agent === fx.config.agent ? {} : { agent, profile }) };
  const planned = await guarded(fx, 'plan', async () => fx.heldOn(await acts.plan.executeWithOptions({ ...fx.options.agentStep, summary: `plan ${ticket.id}` }, [input])));
  if (planned === 'rejected') return { end: 'rejected after a harness fault in plan' };
  s.plan = planned.plan;
  s.killed += planned.agent.killed ?? 0;
  spent(fx, 'plan', planned.agent);
  s.planSize = planned.size;
  // Named in the plan's span of the timeline (status, Web UI, report); the whole list is in the activity's result.
  if (planned.problems?.length) s.failureNote = `plan JSON not taken, read as free text (size unknown): ${planned.problems.join('; ')}`.slice(0, 1_000);
  if (ticket.gate === 'plan') {
    const verdict = await fx.humanGate('plan', `plan ready for review: ${planned.planPath}`);
    if (verdict === 'reject') return { end: 'plan rejected' };
  } else if (planned.agent.exitCode !== 0) {
    s.plan = undefined;
    s.planSize = undefined;
    return true;
  }
  if (splits(planned.size, fx.config.plan?.splitAbove) && patched(AGENT_ROUTES_PATCH)) {
    if (fx.hasParent() && patched(SPLIT_AS_EPIC_PATCH)) {
      // The decomposer reads why: the plan's size and where the plan is (its prompt carries the ticket's feedback).
      s.addFeedback(`The plan (${planned.planPath}) sizes this ticket ${planned.size ?? '?'}${splitRule(fx.config)}: split it into sub-tickets.\n${s.plan ?? ''}`);
      await fx.signalParent(splitSignal, [{ ticketId: fx.ticket.id }], { mustArrive: true });
      return 'split';
    }
    return splitPlan(fx, planned);
  }
  return true;
}

/**
 * The split hook: a plan whose size asks for a split is not implemented. Until epics take it (the epic path's
 * decomposition, with its checks and gate), it waits at the `split` human gate: a person's approve implements it as
 * one ticket all the same, a reject ends the ticket human-gated.
 */
export async function splitPlan(fx: TicketEffects, planned: Pick<PlanResult, 'size' | 'planPath'>): Promise<true | End> {
  const reason = `the plan asks for a split: size ${planned.size ?? '?'}${splitRule(fx.config)} (${planned.planPath}); approve implements it as one ticket, reject ends it`;
  const verdict = await fx.humanGate('split', reason);
  return verdict === 'reject' ? { end: `split: the plan's size is ${planned.size ?? '?'}, too big to implement as one ticket` } : true;
}

/** How the batch's split rule reads in the gate's reason. */
function splitRule(config: BatchConfig): string {
  const above = config.plan?.splitAbove;
  return above === undefined || above === 'L' || above === 'XL' ? ', and XL plans are split' : `, above plan.splitAbove ${above}`;
}
