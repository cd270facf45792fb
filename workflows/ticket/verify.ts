/**
 * After the merge (DESIGN.md "verify-live"): deploy the merged base under the deployment-wide deploy lock, then probe
 * the running system on durable timers until every probe passes, the deadline passes, or the same wrong answer comes
 * back round after round. Workflow code.
 */
import { sleep } from '@temporalio/workflow';
import { repoRef, secretNames } from '../repo-ref';
import { acts, type TicketEffects } from './effects';

/** @returns true when every probe passed, else why not (one paragraph: the deploy's exit, or the failing probes). */
export async function deployAndVerify(fx: TicketEffects): Promise<true | string> {
  const { state: s, ticket, config } = fx;
  const ref = repoRef(config);
  const secrets = secretNames(config);
  const deploy = config.deploy;
  if (deploy) {
    fx.enter('deploy', `merged ${s.mergeCommit?.slice(0, 10) ?? ''}`);
    // Its activity may run 3 times (the deploy options' retries), each up to the deploy's time-out and 30 s more.
    const holdMs = 3 * ((deploy.timeoutMs ?? 60_000) + 30_000) + 60_000;
    // The lock of deploys: one per deploy target (`deploy.target`, default the repository).
    const dep = await fx.withLock(`deploy:${deploy.target ?? config.repo}`, 'deploy', holdMs, () =>
      acts.deploy.executeWithOptions({ ...fx.options.deploy, summary: `deploy after ${ticket.id}` }, [{ ref, ticketId: ticket.id, deploy, secrets }]),
    );
    if (!dep.ok) return `deploy exited ${dep.exitCode}: ${dep.tail.trim().split('\n').slice(-3).join(' | ')}`;
  }
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
      return true;
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
