/**
 * After the merge (DESIGN.md "verify-live"): deploy the merged base under the deployment-wide deploy lock, with the
 * guard's round over earlier tickets' probes right after it (issue 26), then probe the running system on durable
 * timers until every probe passes, the deadline passes, or the same wrong answer comes back round after round.
 * Workflow code.
 */
import { sleep } from '@temporalio/workflow';
import type { GuardResult } from '../guard/messages';
import { repoRef, secretNames } from '../repo-ref';
import type { Regression } from '../types';
import { acts, type TicketEffects } from './effects';
import { guarding, guardRound, joinGuard } from './guard';

/** A regression the guard found after this ticket's landing, and caused by it: its merge is what to revert. */
export interface Regressed {
  regressions: Regression[];
  /** Reverts this batch landed so far. */
  reverts: number;
}

/**
 * Deploys the merged base under the deployment-wide deploy lock and, on the guarded path (ticket/guard.ts), asks the
 * guard for its round while still holding the lock, so the round and its re-runs see that deployment and no later
 * one. Without a deploy the round runs against the base as it is.
 * @returns the deploy's failure (its exit and the tail's last lines), or the round's result (absent: not guarded).
 */
export async function deployAndGuard(fx: TicketEffects, landing: { commit: string; revertOf?: string }): Promise<{ failed: string } | { guard?: GuardResult }> {
  const { ticket, config } = fx;
  const guarded = guarding(fx);
  const deploy = config.deploy;
  if (!deploy) return { guard: guarded ? await guardRound(fx, landing.commit, landing.revertOf) : undefined };
  fx.enter('deploy', `${landing.revertOf ? 'reverted' : 'merged'} ${landing.commit.slice(0, 10)}`);
  // Its activity may run 3 times (the deploy options' retries), each up to the deploy's time-out and 30 s more; a
  // guard round (its probes and their re-runs) fits in the last 10 minutes.
  const holdMs = 3 * ((deploy.timeoutMs ?? 60_000) + 30_000) + 60_000 + (guarded ? 10 * 60_000 : 0);
  let round: GuardResult | undefined;
  // The lock of deploys: one per deploy target (`deploy.target`, default the repository).
  const dep = await fx.withLock(`deploy:${deploy.target ?? config.repo}`, 'deploy', holdMs, async () => {
    const d = await acts.deploy.executeWithOptions({ ...fx.options.deploy, summary: `deploy after ${ticket.id}` }, [{ ref: repoRef(config), ticketId: ticket.id, deploy, secrets: secretNames(config) }]);
    if (d.ok && guarded) round = await guardRound(fx, landing.commit, landing.revertOf);
    return d;
  });
  if (!dep.ok) return { failed: `deploy exited ${dep.exitCode}: ${dep.tail.trim().split('\n').slice(-3).join(' | ')}` };
  return { guard: round };
}

/**
 * Deploys (with the guard's round) and verifies the ticket's own probes on durable timers.
 * @returns true when every probe passed (and the ticket joined the guard set), `Regressed` when they passed but the
 *   guard's round found earlier tickets' probes broken by this landing, else why not (one paragraph: the deploy's exit,
 *   or the failing probes).
 */
export async function deployAndVerify(fx: TicketEffects): Promise<true | string | Regressed> {
  const { state: s, ticket, config } = fx;
  const ref = repoRef(config);
  const secrets = secretNames(config);
  const commit = s.mergeCommit ?? '';
  const landed = await deployAndGuard(fx, { commit });
  if ('failed' in landed) return landed.failed;
  fx.enter('verify-live');
  const probes = [...config.probes, ...ticket.probes];
  const options = fx.options.verify(probes);
  const deadline = Date.now() + config.verify.deadlineMs;
  let rounds = 0;
  let same = 0;
  let previous = '';
  for (;;) {
    rounds++;
    const r = await acts.verifyLive.executeWithOptions({ ...options, summary: `verify-live ${ticket.id} round ${rounds}` }, [{ ref, ticketId: ticket.id, probes, secrets }]);
    for (const p of r.probes) fx.state.killed += p.killed ?? 0;
    if (r.passed) {
      fx.show();
      return landed.guard ? judged(fx, landed.guard, commit) : true;
    }
    const failing = r.probes
      .filter((p) => !p.passed)
      .map((p) => `${p.name}: ${p.detail}`)
      .join('; ');
    if (Date.now() + config.verify.intervalMs > deadline) return `after ${rounds} rounds over ${config.verify.deadlineMs} ms: ${failing}`;
    // The same wrong answer round after round is an answer: stop burning the deadline (a heal may diagnose it).
    same = failing === previous ? same + 1 : 1;
    previous = failing;
    if (same >= config.verify.stableRounds) return `the same answer ${same} rounds in a row (round ${rounds}): ${failing}`;
    await sleep(config.verify.intervalMs);
  }
}

/**
 * What the guard's round after this landing says, once the ticket's own probes passed: regressions it caused (it is
 * their culprit) are `Regressed`; others (an earlier landing's, found now) are recorded. With none of its own it
 * joins the guard set.
 */
async function judged(fx: TicketEffects, round: GuardResult, commit: string): Promise<true | Regressed> {
  fx.state.regressions.push(...round.regressions);
  const mine = round.regressions.filter((r) => r.culprit === fx.ticket.id);
  if (mine.length) return { regressions: mine, reverts: round.reverts };
  await joinGuard(fx, commit);
  return true;
}
