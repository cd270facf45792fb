/**
 * The review before merge (issue 28 item 4; workflows/review.ts has its shapes and rules): after an attempt's gates
 * pass and before it lands, the `review` route's profile reads the ticket, the plan and the validated diff. ALLOW goes
 * on to the merge queue; BLOCK fails the attempt with the findings as feedback (cause `review`), up to
 * `review.maxRounds` BLOCKs, after which a person decides at the `review` gate; INFRA_ERROR, no answer or a crash is
 * asked again up to `review.retries` times and then goes to a person at the `review-infra` gate: it never costs an
 * attempt, and never loops one. Active when the batch file has `review`. Workflow code.
 */
import { ActivityFailure } from '@temporalio/workflow';
import type { ReviewAnswer } from '../../activities/review';
import { routeSize } from '../agent-routes';
import { repoRef, secretNames } from '../repo-ref';
import { blockFeedback, judgeResolution, reviewWanted, type ReviewRecord } from '../review';
import { acts, type TicketEffects } from './effects';
import { spent } from './budget';
import { routed } from './routes';

/**
 * Reviews attempt `fx.state.attempt`'s validated `commit` (cut from `baseCommit`), when the batch reviews this ticket.
 * @returns true to land it, 'failed' when a BLOCK failed the attempt, 'rejected' when a person rejected at a review gate.
 */
export async function reviewed(fx: TicketEffects, commit: string, baseCommit: string): Promise<true | 'failed' | 'rejected'> {
  const { config, ticket, state: s } = fx;
  const rc = config.review;
  if (!rc) return true;
  const wanted = reviewWanted(rc.when, ticket.kind, routeSize(s.planSize, ticket));
  if (wanted === 'no') return true;
  const n = s.attempt;
  const { agent, profile } = routed(fx, 'review');
  const earlier = [...s.reviews].reverse().find((r) => r.verdict === 'BLOCK')?.findings ?? [];
  fx.enter('review', `by ${profile}`);
  let why = '';
  for (let t = 1; t <= rc.retries + 1; t++) {
    const input = {
      ref: repoRef(config),
      ticket,
      agent,
      profile,
      secrets: secretNames(config),
      attempt: n,
      try: t,
      ...(s.plan ? { plan: s.plan } : {}),
      baseCommit,
      commit,
      earlier,
      ...(wanted === 'paths' ? { onlyIfPaths: rc.when.paths } : {}),
    };
    const answer = await acts.review
      .executeWithOptions({ ...fx.options.agentStep, retry: { ...fx.options.agentStep.retry, maximumAttempts: 2 }, summary: `review ${ticket.id} attempt ${n}` }, [input])
      .catch((err: unknown) => {
        if (!(err instanceof ActivityFailure)) throw err;
        const failed: ReviewAnswer = { verdict: 'none', findings: [], why: `the review step failed: ${err.cause?.message ?? err.message}` };
        return failed;
      });
    if (answer.verdict === 'skipped') return true;
    s.killed += answer.agent?.killed ?? 0;
    spent(fx, 'review', answer.agent);
    const record: ReviewRecord = { attempt: n, profile, verdict: answer.verdict, findings: answer.findings, ...(answer.why ? { why: answer.why } : {}) };
    s.reviews.splice(0, s.reviews.length, ...judgeResolution(s.reviews, record));
    s.reviews.push(record);
    if (answer.verdict === 'ALLOW') return true;
    if (answer.verdict === 'BLOCK') return blocked(fx, record, rc.maxRounds);
    why = answer.why ?? answer.verdict;
  }
  // No verdict after the retries: a person decides; it never costs the attempt.
  const gate = await fx.humanGate('review-infra', `the reviewer (${profile}) gave no verdict on attempt ${n} after ${rc.retries + 1} tries: ${why}. Approve to land without a review, reject to stop`);
  return gate === 'approve' ? true : 'rejected';
}

/** A BLOCK: the attempt fails with its findings as feedback; past `maxRounds` BLOCKs a person decides. */
async function blocked(fx: TicketEffects, record: ReviewRecord, maxRounds: number): Promise<true | 'failed' | 'rejected'> {
  const s = fx.state;
  const blocks = s.reviews.filter((r) => r.verdict === 'BLOCK').length;
  const feedback = blockFeedback(record.attempt, record.profile, record.findings);
  if (blocks > maxRounds) {
    const gate = await fx.humanGate('review', `${feedback}\nThe reviewer blocked ${blocks} times (review.maxRounds ${maxRounds}). Approve to land it as it is, reject to stop`);
    return gate === 'approve' ? true : 'rejected';
  }
  s.fail(`review: ${record.findings.map((f) => `${f.file}: ${f.what}`).join('; ')}`.slice(0, 300), feedback);
  return 'failed';
}
