/**
 * The self-heal (DESIGN.md "Self-heal and the frozen verifier"), run where a ticket would stop, and `escalate()`: the
 * one ladder from a stop to a heal, else a person's gate. Workflow code.
 */
import { ActivityFailure } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { harnessOf, tripwire } from '../done';
import { healSignal } from '../messages';
import { repoRef, secretNames } from '../repo-ref';
import * as metrics from '../metrics';
import type { AgentConfig, BatchConfig, GateReason, HealConfig, HealRecord, RepoRef, SetupStep } from '../types';
import { spent } from './budget';
import { fileAndWait } from './discovered';
import { acts, type TicketEffects } from './effects';
import { ridingOutages } from './outage';
import { routed } from './routes';

/** Where a ticket stopped: its attempts ran out, verify-live failed after a merge, or a harness step kept failing. */
export type StopKind = 'attempts' | 'verify' | 'fault';

/** What a heal left for the person's gate: the gate to open and its reason, when the heal has one to give. */
export type HandOver = { gate?: GateReason; reason?: string };

/** A stop to escalate: where (`at`), what the heal reads (`stop`), and what the person's gate shows without a heal's word. */
export interface Stop {
  at: StopKind;
  /** The stop as the heal agent reads it. */
  stop: string;
  /** The gate a person answers when the heal names none, and its reason. */
  gate: GateReason;
  reason: string;
  /** The reason recorded when the person rejects. */
  rejected: string;
}

/**
 * The ladder from a stop: a self-heal first; an accepted heal (or a person's approve at the gate that follows an
 * unsuccessful one) means go on (`'again'`); a person's reject, an unanswered gate, or a discovered blocker that
 * ended human-gated ends the ticket with a reason (`{ end }`).
 */
export async function escalate(fx: TicketEffects, { at, stop, gate, reason, rejected }: Stop): Promise<'again' | { end: string }> {
  const healed = await selfHeal(fx, stop, at);
  if (healed === 'blocked') return { end: `blocked by discovered ticket ${fx.state.blockedBy ?? '?'}, which ended human-gated` };
  if (healed === true) return 'again';
  const verdict = await fx.humanGate(healed.gate ?? gate, healed.reason ?? reason);
  return verdict === 'reject' ? { end: rejected } : 'again';
}

/**
 * Runs one harness step. An outage (the repository or a folder gone or unwritable) is ridden out (`ridingOutages`).
 * Another fault that survives its activity retries (a tracker that cannot be written, a git error) is escalated: a
 * heal whose harness change holds runs the step again, and so does a person's approve at the `harness-fault` gate; a
 * reject gives up. Never fails the workflow for it.
 * @returns the step's result, or 'rejected' (the caller records human-gated).
 */
export async function guarded<T>(fx: TicketEffects, what: string, step: () => Promise<T>): Promise<T | 'rejected'> {
  for (;;) {
    try {
      return await ridingOutages(fx, what, step);
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      const fault = `${what} failed after its retries: ${err.cause?.message ?? err.message}`;
      fx.state.signature = `harness fault: ${what}`;
      const next = await escalate(fx, { at: 'fault', stop: `a harness fault: ${fault}`, gate: 'harness-fault', reason: fault, rejected: fault });
      if (next !== 'again') return 'rejected';
    }
  }
}

/**
 * A fresh heal agent judges the stop; a `harness-gap` verdict's change goes through the tripwire (the definition of
 * done, recomputed with the change and the heal's file edits, must equal the frozen one, and only the harness may
 * move), then a smoke check of the setup in a fresh worktree; only then does it hold, for this ticket and (through
 * the batch) the tickets started later. An `activation-gap` verdict after verify-live files discovered tickets that
 * block this one. Bounded: the ticket's heal budget, and a heal followed by the same failure signature is churn.
 * @returns true when a healed harness (or a filed activation gap) is in place, 'blocked' when a filed blocker ended
 *   human-gated, else what the person's gate should say (a rejected heal opens `heal-rejected`).
 */
export async function selfHeal(fx: TicketEffects, stop: string, at: StopKind): Promise<true | 'blocked' | HandOver> {
  const { input, state: s, ticket } = fx;
  const heal = fx.config.heal;
  const definition = input.definition;
  if (!heal || !definition) return {};
  const n = s.heals.length + 1;
  const note = async (r: Omit<HealRecord, 'ticketId' | 'n' | 'stop' | 'at'>, told = true): Promise<HealRecord> => {
    const rec: HealRecord = { ticketId: ticket.id, n, stop: stop.split('\n')[0].slice(0, 300), at: Date.now(), ...r };
    s.heals.push(rec);
    metrics.healed(rec.outcome);
    if (told) await fx.signalParent(healSignal, [{ ticketId: ticket.id, record: rec, ...(r.outcome === 'accepted' ? { harness: harnessOf(fx.config) } : {}) }]);
    return rec;
  };
  if (s.healedAgainst !== undefined && s.healedAgainst === s.signature) {
    const rec = await note({ verdict: 'none', outcome: 'churn', reason: `the same failure followed heal ${n - 1} (${s.signature}): churn, not progress; no new heal` }, false);
    return { reason: `${stop}; ${rec.reason}` };
  }
  if (s.healsRun() >= (input.healBudget ?? heal.maxPerTicket)) return {};
  fx.enter('self-heal');
  let h: Awaited<ReturnType<Activities['selfHeal']>>;
  try {
    h = await acts.selfHeal.executeWithOptions({ ...fx.options.heal, summary: `self-heal ${ticket.id} #${n}` }, [
      { ...healAgentOf(fx, heal), ticket, n, stop, feedback: [...s.feedback], definition, harness: harnessOf(fx.config) },
    ]);
  } catch (err) {
    // The heal itself could not run (its worktree, its agent): a person decides, as without a heal.
    if (!(err instanceof ActivityFailure)) throw err;
    const rec = await note({ verdict: 'none', outcome: 'handed-over', reason: `the heal could not run: ${err.cause?.message ?? err.message}` });
    return { reason: `${stop}; heal ${n}: ${rec.reason}` };
  }
  spent(fx, 'heal', h.agent);
  const change = h.change === undefined ? undefined : JSON.stringify(h.change).slice(0, 1_000);
  const judged = tripwire(fx.config, definition, h.verdict === 'harness-gap' ? h.change : {}, h.protectedChanged);
  if (judged.differences.length) {
    await note({ verdict: h.verdict, outcome: 'rejected', reason: h.reason, differences: judged.differences, change, dir: h.dir });
    s.failureNote = `heal ${n} rejected by the tripwire`;
    return { gate: 'heal-rejected', reason: `heal ${n} was rejected and nothing of it applied: it ${judged.differences.join('; ')} (the definition of done is frozen); it said: ${h.reason}` };
  }
  if (h.verdict === 'activation-gap' && at === 'verify' && h.discovered?.length) {
    // Merged, but no real effect yet: the gap becomes tickets that block this one; then deploy and verify again.
    await note({ verdict: h.verdict, outcome: 'activation-gap', reason: h.reason, dir: h.dir });
    const waited = await fileAndWait(
      fx,
      h.discovered.map((w) => ({ ...w, blocksThisTicket: true })),
      -n,
      n,
    );
    if (waited?.filed.length) {
      if (s.blockedBy) return 'blocked';
      s.healedAgainst = s.signature;
      return true;
    }
    const why = (waited?.records ?? []).map((r) => `"${r.title}" ${r.status}${r.reason ? `: ${r.reason}` : ''}`).join('; ');
    return { reason: `${stop}; heal ${n} found an activation gap (${h.reason}) but no ticket for it was filed${why ? ` (${why})` : ''}` };
  }
  if (h.verdict !== 'harness-gap' || !('config' in judged) || h.change === undefined) {
    const what =
      h.verdict === 'external-wall'
        ? `an external wall: ${h.reason}${h.evidence ? `; evidence: ${h.evidence}` : ''}${h.action ? `; a person must: ${h.action}` : ''}`
        : h.verdict === 'work'
          ? `the ticket itself is the problem: ${h.reason}`
          : h.reason;
    await note({ verdict: h.verdict, outcome: 'handed-over', reason: what, change, dir: h.dir });
    return { reason: `${stop}; heal ${n}: ${what}` };
  }
  const next = judged.config;
  const smoke = await acts.smokeCheck
    .executeWithOptions({ ...fx.options.agentStep, summary: `smoke check of heal ${n} of ${ticket.id}` }, [{ ...smokeOf(next), ticketId: ticket.id, n }])
    .catch((err: unknown) => {
      if (!(err instanceof ActivityFailure)) throw err;
      return { ok: false, detail: `the smoke check could not run: ${err.cause?.message ?? err.message}` };
    });
  if (!smoke.ok) {
    await note({ verdict: h.verdict, outcome: 'smoke-failed', reason: `${h.reason}; smoke check failed: ${smoke.detail.split('\n')[0]}`, change, dir: h.dir });
    return { reason: `${stop}; heal ${n}'s harness change failed its smoke check (${smoke.detail.split('\n')[0]}); nothing applied` };
  }
  fx.setConfig(next);
  s.healedAgainst = s.signature;
  await note({ verdict: h.verdict, outcome: 'accepted', reason: `${h.reason}; ${smoke.detail}`, change, dir: h.dir });
  s.failureNote = `heal ${n} accepted: ${h.reason.split('\n')[0]}`;
  s.addFeedback(`The harness was repaired (heal ${n}: ${h.reason.split('\n')[0]}). Earlier failures may have come from it.`);
  return true;
}

/**
 * The heal agent's part of its input: the repository, the profile `routes.heal` names (without one: the batch agent's
 * environment and box with `heal`'s command and time limit: ticket/routes.ts `routed`), the secrets.
 */
function healAgentOf(fx: TicketEffects, heal: HealConfig): { ref: RepoRef; agent: AgentConfig; profile?: string; secrets: string[] } {
  const { config } = fx;
  const r = routed(fx, 'heal', fx.state.planSize);
  // A history from before profiles records none: its heal ran `heal.command`, as profileFor's does without a route.
  const agent = fx.state.profiles.heal === undefined ? { ...config.agent, command: heal.command, timeoutMs: heal.timeoutMs } : r.agent;
  return { ref: repoRef(config), agent, ...(r.profile === 'default' ? {} : { profile: r.profile }), secrets: secretNames(config) };
}

/** The smoke check's part of its input, from the candidate config: its repository, setup steps, agent and secrets. */
function smokeOf(candidate: BatchConfig): { ref: RepoRef; setup: SetupStep[]; agent: AgentConfig; secrets: string[] } {
  return { ref: repoRef(candidate), setup: harnessOf(candidate).setup, agent: candidate.agent, secrets: secretNames(candidate) };
}
