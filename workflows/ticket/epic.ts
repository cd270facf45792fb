/**
 * An epic's path through its ticket workflow (docs/epics.md, issue 28 item 1): an epic is not implemented.
 *
 *   decompose (a fresh agent, role `decompose`) -> check (epic/check.ts; refused: every problem is feedback for the
 *   next run, up to maxAttempts, then a person) -> `decomposition` gate (approve | approve with a JSON patch, checked
 *   again | reject with a comment: decompose again) -> file the sub-tickets into the batch (its `discover` update),
 *   each blocking the epic -> wait until the batch reports each ended -> read the tracker (the oracle's source) ->
 *   run the sub-tickets' probes and the epic's -> done, or human-gated naming the sub-ticket or probe that is not.
 *
 * Workflow code: deterministic, no I/O of its own.
 */
import { ActivityFailure, condition, log, patched, sleep, workflowInfo } from '@temporalio/workflow';
import { checkDecomposition, proposedList, refusalFeedback, type DecompositionContext, type SubTicket } from '../epic/check';
import { applyEdits } from '../epic/edit';
import { gateReason, proposalLines } from '../epic/view';
import { OPTIONS } from '../options';
import { repoRef, secretNames, ticketStepOf } from '../repo-ref';
import { DEFAULT_DECOMPOSE, type Probe, type TicketOutcome, type TicketReport } from '../types';
import { acts, type TicketEffects } from './effects';
import { guarded } from './heal';
import { spent } from './budget';
import { routed } from './routes';

/** The patch id of the epic's path (0.2.3): before it, a ticket of any kind was planned and implemented. */
export const EPICS_PATCH = 'epics';

/** Why the epic ended human-gated. */
type End = { end: string };

/** An approved decomposition: the sub-tickets in filing order, and who approved them. */
interface Approved {
  tickets: SubTicket[];
  by: string;
}

/** Whether the ticket takes the epic's path: kind `epic` (asked only of epics, so no other history records it). */
export function isEpic(fx: TicketEffects): boolean {
  return fx.ticket.kind === 'epic' && patched(EPICS_PATCH);
}

/**
 * Runs the epic to its end and records it with `finish` (the lifecycle's own, which writes the tracker).
 * @returns the ticket's report, with `subTickets` when any were filed.
 */
export async function runEpic(fx: TicketEffects, finish: (outcome: TicketOutcome, why?: string) => Promise<TicketReport>): Promise<TicketReport> {
  const filed: string[] = [];
  const ended = await decomposeAndAwait(fx, filed);
  const report = ended === true ? await finish('done') : await finish('human-gated', ended.end);
  return filed.length ? { ...report, subTickets: filed } : report;
}

/**
 * The epic's path without its end: decompose until a person approves, file, wait for the sub-tickets and verify.
 * @param filed - receives the ids of the sub-tickets filed.
 * @returns true when every sub-ticket is done and the probes pass, else why not.
 */
export async function decomposeAndAwait(fx: TicketEffects, filed: string[]): Promise<true | End> {
  if (!fx.hasParent()) return { end: 'an epic runs in a batch, which its sub-tickets join; start it with its batch' };
  const approved = await decomposeUntilApproved(fx);
  if ('end' in approved) return approved;
  await release(fx);
  const sent = await file(fx, approved);
  filed.push(...sent.filed);
  if (sent.refused) return { end: `sub-ticket ${sent.refused.id} could not be filed: ${sent.refused.reason}` };
  return awaitSubTickets(fx, approved.tickets);
}

/**
 * Decompose runs until a person approves a checked answer. A refused answer is the next run's feedback (every problem
 * named); `maxAttempts` refused in a row stop at the `attempts-exhausted` gate (approve: as many runs again). A
 * person's reject is feedback too, and gives a new round.
 */
async function decomposeUntilApproved(fx: TicketEffects): Promise<Approved | End> {
  const s = fx.state;
  const cap = fx.config.maxAttempts;
  // What the ticket already knows goes to the first run: nothing for an epic, the plan and its size for a split.
  let feedback: string[] = [...s.feedback].slice(-3);
  let run = 0;
  let left = cap;
  for (;;) {
    if (left === 0) {
      const verdict = await fx.humanGate('attempts-exhausted', `${cap} decompositions in a row were refused; last: ${(s.lastFeedback ?? '').split('\n')[1] ?? ''}`);
      if (verdict === 'reject') return { end: `decomposition refused ${run} times` };
      left = cap;
    }
    run++;
    left--;
    const answered = await decomposeOnce(fx, run, feedback);
    if ('end' in answered) return answered;
    const { ctx, answer } = answered;
    const checked = checkDecomposition(answer, ctx);
    if (!checked.ok) {
      const why = refusalFeedback(run, checked.problems);
      s.addFeedback(why);
      s.failureNote = `decomposition ${run} refused: ${checked.problems.length} problem(s)`;
      feedback = [...feedback, why].slice(-3);
      continue;
    }
    const reviewed = await review(fx, run, checked.tickets, proposedList(answer) ?? [], ctx);
    if ('rejected' in reviewed) {
      if (s.expired) return { end: s.expired };
      feedback = [...feedback, reviewed.rejected].slice(-3);
      s.addFeedback(reviewed.rejected);
      left = cap;
      continue;
    }
    return reviewed;
  }
}

/** One decompose run: the agent's answer and what the check needs (the tracker's tickets as the run read them). */
async function decomposeOnce(fx: TicketEffects, run: number, feedback: string[]): Promise<{ answer: unknown; ctx: DecompositionContext } | End> {
  const { ticket, config } = fx;
  fx.enter('decompose');
  const maxTickets = config.decompose?.maxTickets ?? DEFAULT_DECOMPOSE.maxTickets;
  const { agent } = routed(fx, 'decompose');
  const r = await guarded(fx, 'decompose', async () =>
    fx.heldOn(
      await acts.decompose.executeWithOptions({ ...fx.options.agentStep, summary: `decompose ${ticket.id} #${run}` }, [
        { ...ticketStepOf(config), agent, ticket, ticketsDir: config.ticketsDir, tracker: config.tracker, run, feedback, maxTickets },
      ]),
    ),
  );
  if (r === 'rejected') return { end: 'rejected after a harness fault in decompose' };
  fx.state.killed += r.agent.killed ?? 0;
  spent(fx, 'decompose', r.agent);
  const ctx = { epicId: ticket.id, epicProbes: ticket.probes, gates: config.gates, existing: r.existing, maxTickets };
  return { answer: r.answer, ctx };
}

/**
 * The `decomposition` gate: the proposal is shown (Web UI details; the status query's `waitingReason`) until a person
 * answers. An approve with a patch is applied to the list as proposed and checked again; a patch that does not apply
 * or leaves problems reopens the gate naming them, the proposal unchanged.
 * @returns the approved sub-tickets, or `rejected`: the feedback for the next run.
 */
async function review(fx: TicketEffects, run: number, proposed: SubTicket[], list: unknown[], ctx: DecompositionContext): Promise<Approved | { rejected: string }> {
  const s = fx.state;
  let note: string | undefined;
  for (;;) {
    s.gateDetails = [`#### Decomposition ${run}: proposed sub-tickets`, ...(note ? ['', note] : []), '', ...proposalLines(proposed)].join('\n');
    const verdict = await fx.humanGate('decomposition', gateReason(proposed, run, note));
    s.gateDetails = undefined;
    const d = s.decision;
    if (verdict === 'reject') return { rejected: `A person (${d?.by ?? 'no one'}) rejected decomposition ${run}: ${d?.comment ?? '(no comment)'}` };
    const by = d?.by ?? 'a person';
    if (!d?.patch) return { tickets: proposed, by };
    const edited = applyEdits(list, d.patch);
    if ('problem' in edited) {
      note = `the edit by ${by} was not applied: ${edited.problem}`;
      continue;
    }
    const again = checkDecomposition(edited.list, ctx);
    if (!again.ok) {
      note = `the edit by ${by} was not applied, it leaves problems: ${again.problems.join('; ')}`;
      continue;
    }
    return { tickets: again.tickets, by };
  }
}

/**
 * Gives the epic's worktree (where its decompose agents ran) back to the pool, on the worker that holds it: nothing
 * more runs there. A failure is logged, not the epic's: the worktree is only disk.
 */
async function release(fx: TicketEffects): Promise<void> {
  const { ticket, config } = fx;
  await fx
    .onHost('release', OPTIONS.merge, (options) => acts.releaseTicket.executeWithOptions({ ...options, summary: `release ${ticket.id}'s worktree` }, [{ ref: repoRef(config), ticketId: ticket.id }]))
    .catch((err: unknown) => {
      if (!(err instanceof ActivityFailure)) throw err;
      log.warn(`epic ${ticket.id}: its worktree was not released: ${err.cause?.message ?? err.message}`);
    });
}

/** Files the approved sub-tickets into the batch (activities/decompose.ts `fileEpicTickets`). */
async function file(fx: TicketEffects, approved: Approved): Promise<{ filed: string[]; refused?: { id: string; reason: string } }> {
  const parent = workflowInfo().parent?.workflowId as string;
  const input = { batchWorkflowId: parent, epicId: fx.ticket.id, by: approved.by, tickets: approved.tickets };
  const r = await guarded(fx, 'filing the sub-tickets', () =>
    acts.fileEpicTickets.executeWithOptions({ ...OPTIONS.quick, startToCloseTimeout: '10 minutes', summary: `file ${approved.tickets.length} sub-tickets of ${fx.ticket.id}` }, [input]),
  );
  return r === 'rejected' ? { filed: [], refused: { id: approved.tickets[0]?.id ?? '?', reason: 'rejected after a harness fault' } } : r;
}

/**
 * Waits (phase `blocked`) until the batch reports every sub-ticket ended (its `blockerDone` signal, sent once the batch
 * holds its own evidence), then reads the tracker: the epic is done only when the tracker says every sub-ticket is
 * done and their probes and the epic's pass.
 */
async function awaitSubTickets(fx: TicketEffects, tickets: SubTicket[]): Promise<true | End> {
  const s = fx.state;
  const ids = tickets.map((t) => t.id);
  fx.enter('blocked');
  await fx.tryWriteState(s.lastWritten, `waiting for sub-tickets ${ids.join(', ')}`, 'the wait', true);
  await condition(() => ids.every((id) => s.blockerOutcomes.has(id)));
  const { ticketsDir, tracker } = fx.config;
  const read = await guarded(fx, 'reading the sub-tickets in the tracker', () => acts.readTracker({ ticketsDir, tracker, ids }));
  if (read === 'rejected') return { end: 'rejected after a harness fault reading the sub-tickets' };
  const states = new Map(read.facts.map((f) => [f.id, f.state]));
  const notDone = ids.filter((id) => states.get(id) !== 'done');
  if (notDone.length) return { end: `sub-ticket${notDone.length > 1 ? 's' : ''} ${notDone.map((id) => `${id} ended ${states.get(id) ?? 'missing from the tracker'}`).join(', ')}` };
  const probes = uniqueByName([...fx.ticket.probes, ...tickets.flatMap((t) => t.probes)]);
  if (probes.length === 0) return true;
  const failing = await verify(fx, probes);
  return failing === undefined ? true : { end: `verify-live failed after every sub-ticket was done: ${failing}` };
}

/** Runs `probes` against the running system, rounds `verify.intervalMs` apart until they pass or `verify.deadlineMs`. */
async function verify(fx: TicketEffects, probes: Probe[]): Promise<string | undefined> {
  const { config, ticket } = fx;
  fx.enter('verify-live');
  const deadline = Date.now() + config.verify.deadlineMs;
  for (let round = 1; ; round++) {
    const r = await acts.verifyLive.executeWithOptions({ ...fx.options.verify(probes), summary: `verify-live epic ${ticket.id} round ${round}` }, [
      { ref: repoRef(config), ticketId: ticket.id, probes, secrets: secretNames(config) },
    ]);
    if (r.passed) return undefined;
    const failing = r.probes.filter((p) => !p.passed).map((p) => `${p.name}: ${p.detail}`).join('; ');
    if (Date.now() + config.verify.intervalMs > deadline) return `after ${round} rounds: ${failing}`;
    await sleep(config.verify.intervalMs);
  }
}

function uniqueByName(probes: Probe[]): Probe[] {
  const seen = new Set<string>();
  return probes.filter((p) => !seen.has(p.name) && seen.add(p.name) !== undefined);
}
