/**
 * A ticket's attempts (DESIGN.md "attempt"): implement in a fresh worktree with a fresh agent, validate with the
 * gates and the regression guard, then land. A failed attempt feeds its failure into the next, up to the round's cap.
 * Workflow code.
 */
import { ActivityFailure } from '@temporalio/workflow';
import type { ImplementInput } from '../../activities/implement';
import type { ValidateInput } from '../../activities/validate';
import { harnessOf } from '../done';
import * as metrics from '../metrics';
import { repoRef, secretNames, ticketStepOf } from '../repo-ref';
import type { ImplementResult, ValidateResult } from '../types';
import { reportDiscovered } from './discovered';
import { acts, type TicketEffects } from './effects';
import { land } from './land';
import { reviewed } from './review';
import { spent, withinBudget } from './budget';
import { routed } from './routes';
import { routeSize } from '../agent-routes';
import { ridingOutages } from './outage';

/** How a round of attempts ended: merged, spent, a person's reject, or a discovered blocker ended human-gated. */
export type RoundEnd = 'merged' | 'spent' | 'rejected' | 'blocked';

/**
 * Runs attempts until one merges or the round's budget is spent. An outage (the repository or a folder gone or
 * unwritable) costs nothing: the attempt runs again once it is over (see `ridingOutages`). Another activity that fails
 * after its retries (a harness fault, not the agent's) costs the attempt, so the ticket ends at a human gate with the
 * reason rather than the workflow failing and dropping the ticket.
 */
export async function attemptRound(fx: TicketEffects): Promise<RoundEnd> {
  const s = fx.state;
  while (s.nextAttempt()) {
    metrics.attemptStarted();
    try {
      const r = await ridingOutages(fx, `attempt ${s.attempt}`, () => attempt(fx));
      if (r !== 'failed') return r;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      s.fail(`harness error in ${s.phase}`, `Attempt ${s.attempt}: harness error in ${s.phase}: ${err.cause?.message ?? err.message}`);
    }
  }
  return 'spent';
}

/** One implement -> validate -> [protected-change gate] -> land cycle. */
async function attempt(fx: TicketEffects): Promise<Exclude<RoundEnd, 'spent'> | 'failed'> {
  const { state: s, ticket } = fx;
  const n = s.attempt;
  if (!(await withinBudget(fx, `implement attempt ${n}`))) return 'rejected';
  fx.enter('implement');
  await fx.tap.before(fx, n);
  const impl: ImplementResult = fx.heldOn(
    await fx.onHost(`implement attempt ${n}`, fx.options.agentStep, (options) =>
      acts.implement.executeWithOptions({ ...options, summary: `implement ${ticket.id} attempt ${n}` }, [implementInput(fx)]),
    ),
  );
  s.killed += impl.agent.killed ?? 0;
  spent(fx, 'implement', impl.agent);
  await fx.tap.after(fx, n, impl);
  if (impl.discoveredProblems?.length) {
    s.feedback.push(`Attempt ${n}: entries of your result file's "discovered" list were ignored: ${impl.discoveredProblems.join('; ')}`);
  }
  if (impl.discovered?.length) {
    const stopped = await reportDiscovered(fx, impl.discovered);
    if (stopped !== undefined) return stopped === false ? 'failed' : stopped;
  }
  if (impl.agent.exitCode !== 0 || impl.agent.timedOut) {
    const setup = impl.setupFailed;
    const how = impl.agent.timedOut ? `timed out after ${implementInput(fx).agent.timeoutMs} ms` : `exited with code ${impl.agent.exitCode}`;
    if (setup) {
      const ended = setup.timedOut ? 'timed out' : `exited ${setup.exitCode}`;
      s.fail(`setup: ${setup.command}`, `Attempt ${n}: the harness's setup step \`${setup.command}\` ${ended}, so the agent did not run (a harness gap, not the code).\n${setup.tail}`);
    } else {
      s.fail(impl.agent.timedOut ? 'agent timed out' : 'agent exited non-zero', `Attempt ${n}: the agent ${how}.\n${impl.agent.summary}`);
    }
    return 'failed';
  }
  if (impl.commit === undefined || impl.filesChanged === 0) {
    s.fail('agent changed nothing', `Attempt ${n}: the agent exited 0 but changed no files. Output tail:\n${impl.agent.summary}`);
    return 'failed';
  }
  const commit = impl.commit;
  fx.enter('validate', `${impl.filesChanged} files changed`);
  const checked: ValidateResult = fx.heldOn(
    await fx.onHost(`validate attempt ${n}`, fx.options.gates, (options) =>
      acts.validate.executeWithOptions({ ...options, summary: `validate ${ticket.id} attempt ${n}` }, [validateInput(fx, impl, commit)]),
    ),
  );
  for (const g of checked.gates) s.killed += g.killed ?? 0;
  if (!passed(fx, checked)) return 'failed';
  s.guardedBy = [...new Set([...checked.failToPass, ...checked.guardedBy])].sort();
  if (checked.protectedTouched.length) {
    const verdict = await fx.humanGate('protected-change', `attempt ${n} changes protected paths its ticket allows: ${checked.protectedTouched.join(', ')}; approve to merge`);
    if (verdict === 'reject') return 'rejected';
    fx.enter('validate', 'protected change approved');
  }
  // A second model reads the validated diff before it lands, when the batch reviews this ticket (ticket/review.ts).
  const review = await reviewed(fx, commit, impl.baseCommit);
  if (review !== true) return review;
  fx.enter('merge', 'gates passed');
  const landed = await land(fx, commit, impl.baseCommit);
  return landed === true ? 'merged' : landed === false ? 'failed' : landed;
}

/**
 * What implement takes: what a plan takes (repository, harness, checks), the profile its route picks for the plan's
 * size (ticket/routes.ts `routed`), the attempt, its feedback, the plan.
 */
function implementInput(fx: TicketEffects): ImplementInput {
  const { config, ticket, state: s } = fx;
  const { agent, profile } = routed(fx, 'implement', routeSize(s.planSize, ticket));
  const step = { ...ticketStepOf(config), ...(profile === 'default' && agent === config.agent ? {} : { agent, profile }) };
  return { ...step, ticket, attempt: s.attempt, maxAttempts: config.maxAttempts, feedback: [...s.feedback], plan: s.plan };
}

/** What validate takes: the attempt's commit in its worktree, the batch's gates and protected paths, the harness's setup. */
function validateInput(fx: TicketEffects, impl: ImplementResult, commit: string): ValidateInput {
  const { config, ticket } = fx;
  const { env, envFrom, sandbox, cacheDirs, network } = config.agent;
  const { worktree, baseCommit } = impl;
  // The setup steps and gates run in the agent's box (its sandbox setting, caches and, for setup steps, its network).
  const agentEnv = { env, envFrom, sandbox, cacheDirs, network };
  const checks = { gates: config.gates, protectedPaths: config.protectedPaths, setup: harnessOf(config).setup, agentEnv };
  return { ref: repoRef(config), ticket, attempt: fx.state.attempt, worktree, baseCommit, commit, ...checks, secrets: secretNames(config) };
}

/** Whether validation passed; else the attempt's failure (protected paths, gates, regression guard) is recorded. */
function passed(fx: TicketEffects, checked: ValidateResult): boolean {
  const s = fx.state;
  const n = s.attempt;
  if (checked.protectedDenied.length) {
    metrics.gateFailed('protected-paths');
    s.tamperings.push({ ticketId: fx.ticket.id, attempt: n, paths: checked.protectedDenied });
    return s.fail(
      `protected: ${checked.protectedDenied.join(', ')}`,
      `Attempt ${n}: changed protected paths ${checked.protectedDenied.join(', ')}. These files decide whether work is done ` +
        '(tickets, gate and probe files, .ratchet/); an attempt may not change them. Revert them and fix the code instead.',
    );
  }
  if (checked.passed) return true;
  const gates = checked.gates.filter((g) => !g.passed);
  for (const g of gates) metrics.gateFailed(g.name);
  if (checked.regressions.length || checked.guardFeedback) metrics.gateFailed('regression-guard');
  return s.fail(
    `gates: ${gates.map((g) => g.name).sort().join(', ')}; tests: ${[...checked.regressions].sort().join(', ')}`,
    [
      gates.length ? `Attempt ${n}: gate${gates.length > 1 ? 's' : ''} ${gates.map((g) => `"${g.name}" (exit ${g.exitCode})`).join(', ')} failed.` : '',
      ...gates.map((g) => `--- ${g.name} output (tail) ---\n${g.tail}`),
      checked.guardFeedback ? `Attempt ${n}: regression guard: ${checked.guardFeedback}` : '',
    ]
      .filter(Boolean)
      .join('\n'),
  );
}
