/**
 * The guard (issue 26 item 4, "done tickets stay done"): one `guardWorkflow` per batch, `guard-<batchId>`. After every
 * deploy the ticket that deployed asks it for a round: it re-runs the probes of tickets this batch already verified
 * (the guard set), at most `verify.guard` of them, rotating so every one is re-checked, in parallel; the batch's
 * final round after its last landing runs all of them. A probe that fails is re-run on the same deployment before it
 * counts: one that then passes is recorded as flaky and nothing more; one that fails again is a **regression**, whose
 * culprit is the first landing after the probe last passed (workflows/guard/state.ts).
 *
 * Protocol: a ticket asks with the `enterGuard` local activity (signal-with-start of `guardRequest`) and waits for
 * `guardResult` with its request id; it joins the set (`guardJoin`) once its own probes passed, and leaves it
 * (`guardLeave`) when its landing is reverted. Requests run one round at a time, in order. The batch's final round,
 * when every probe passed, ends the guard. Deterministic: probes are
 * the `verifyLive` activity.
 */
import { condition, continueAsNew, getExternalWorkflowHandle, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE } from './errors';
import { GuardSet } from './guard/state';
import { guardJoinSignal, guardLeaveSignal, guardRequestSignal, guardResultSignal, guardStatusQuery, type GuardedTicket, type GuardInput, type GuardRequest, type GuardResult } from './guard/messages';
import { QUICK_HEARTBEAT } from './options';
import type { VerifyResult } from './types';

/**
 * A guard with no request for this long ends (its batch stopped without a final round); the next request starts a
 * fresh one. A batch's clean final round ends it at once.
 */
const IDLE_MS = 7 * 24 * 3600_000;

const acts = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes' });

/** Runs guard rounds one at a time, in the order asked; see the file comment. */
export async function guardWorkflow(input: GuardInput): Promise<void> {
  const g = new GuardSet(input.state);
  const asked: GuardRequest[] = [...(input.asked ?? [])];
  const done = new Set<string>();
  setHandler(guardRequestSignal, (r) => {
    if (!done.has(r.requestId) && !asked.some((a) => a.requestId === r.requestId)) asked.push(r);
  });
  setHandler(guardJoinSignal, ({ commit, ...t }) => g.join(t, commit));
  setHandler(guardLeaveSignal, ({ ticketId }) => g.leave(ticketId));
  setHandler(guardStatusQuery, () => g.snapshot());

  while (!workflowInfo().continueAsNewSuggested) {
    if (!(await condition(() => asked.length > 0, IDLE_MS))) return;
    const req = asked.shift() as GuardRequest;
    const result = await round(g, req, input);
    done.add(req.requestId);
    try {
      await getExternalWorkflowHandle(req.requester).signal(guardResultSignal, result);
    } catch (err) {
      log.warn(`guard ${input.batchId}: ${req.requester} could not be told its round's result (${(err as Error).message})`);
    }
    // A clean final round ends the guard with its batch (a failing one keeps it for the round after a resume).
    if (req.final && !result.regressions.length && !asked.length) return;
  }
  // The requests still waiting go along: their tickets wait for a result, not for their ask-again timer.
  await continueAsNew<typeof guardWorkflow>({ ...input, state: g.snapshot(), asked });
}

/** One round after `req`'s landing: the chosen tickets' probes, a re-run of the failing ones, the verdicts. */
async function round(g: GuardSet, req: GuardRequest, input: GuardInput): Promise<GuardResult> {
  const at = g.landed(req.ticketId, req.commit, req.revertOf);
  const chosen = g.choose(input.perRound, req.final === true, req.ticketId);
  const first = await Promise.all(chosen.map((t) => probe(input, t, 'guard')));
  const result: GuardResult = { requestId: req.requestId, checked: chosen.map((t) => t.ticketId), passed: [], flaky: [], regressions: [], at: 0, probes: [], reverts: g.reverts() };
  const last = g.lastLanding();
  if (last) result.lastLanding = last;
  for (const [i, t] of chosen.entries()) {
    result.probes.push(...t.probes.map((p) => `${t.ticketId}: ${p.name}`));
    let r = first[i];
    if (!r.passed) {
      // The same deployment, asked again before anything counts: a flaky probe is not a regression.
      const again = await probe(input, t, 'guard re-run');
      if (again.passed) {
        for (const p of r.probes.filter((x) => !x.passed)) {
          const f = { ticketId: t.ticketId, probe: p.name, detail: p.detail, seenAfter: req.ticketId };
          g.flakyProbe(f);
          result.flaky.push(f);
        }
      }
      r = again;
    }
    if (r.passed) {
      g.passed(t.ticketId, at, answer(r));
      result.passed.push(t.ticketId);
      continue;
    }
    for (const p of r.probes.filter((x) => !x.passed)) {
      const reg = g.regressed(t.ticketId, p.name, at, p.detail);
      if (reg) result.regressions.push(reg);
    }
  }
  result.at = Date.now();
  return result;
}

/** A ticket's probes once, with its own id (a batch-level probe may check each ticket's effect by it). */
function probe(input: GuardInput, t: GuardedTicket, what: string): Promise<VerifyResult> {
  const longest = Math.max(...t.probes.map((p) => p.timeoutMs), 1_000);
  return acts.verifyLive.executeWithOptions(
    {
      startToCloseTimeout: longest * (t.probes.length + 1),
      heartbeatTimeout: QUICK_HEARTBEAT,
      retry: { maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE] },
      summary: `${what}: ${t.ticketId}'s probes`,
    },
    [{ ref: input.ref, ticketId: t.ticketId, probes: t.probes, secrets: input.secrets }],
  );
}

/** What passing probes answered, for a regression's "before". */
function answer(r: VerifyResult): string {
  return r.probes.map((p) => `${p.name}: ${p.detail || 'passed'}`).join('; ');
}
