/**
 * A ticket's **semantic conflict** (DESIGN.md "Words"; issue 26): its commit passed its gates on the base it was cut
 * from, and merged with the base's tip it fails them. Nothing landed; the attempt is spent, counted apart from gate
 * failures, and the next attempt starts from the new base with the failing gates, tests and what landed since as
 * feedback. Caught by the merge queue (ticket/queue.ts) for the local forge and by a pull request's head brought up to
 * date (ticket/land.ts) for GitHub's. Workflow code.
 */
import * as metrics from '../metrics';
import type { SemanticConflictFacts } from '../merge-queue/messages';
import type { TicketEffects } from './effects';

export type { SemanticConflictFacts } from '../merge-queue/messages';

/**
 * The next attempt's feedback for a semantic conflict of attempt `attempt` on `baseBranch`: the failing gates and
 * tests, what landed since the attempt's base, each failing gate's output tail on the merge, and the guard's words.
 */
export function semanticConflictFeedback(attempt: number, baseBranch: string, v: SemanticConflictFacts): string {
  const gates = v.gates.map((g) => g.name).sort();
  const since = v.landedSince.length ? `Since your base, these landed on ${baseBranch}:\n${v.landedSince.map((l) => `- ${l}`).join('\n')}` : '';
  return [
    `Attempt ${attempt} passed its gates on the ${baseBranch} it was cut from, but merged onto ${baseBranch}'s tip (${v.base.slice(0, 10)}) ` +
      `it fails${gates.length ? ` gate${gates.length > 1 ? 's' : ''} ${gates.map((g) => `"${g}"`).join(', ')}` : ''}${v.tests.length ? `${gates.length ? ' and' : ''} tests ${v.tests.join(', ')}` : ''}: ` +
      `a semantic conflict with work that landed meanwhile. The next attempt starts from the new ${baseBranch}; make the change work with it.`,
    since,
    ...v.gates.map((g) => `--- ${g.name} output on the merge (tail) ---\n${g.tail}`),
    v.guardFeedback ? `Regression guard: ${v.guardFeedback}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/**
 * Fails the ticket's current attempt as a semantic conflict: counts it (`ratchet_gate_failures{gate="semantic-conflict"}`),
 * records it in the ticket's report (`semanticConflicts`) and gives the next attempt {@link semanticConflictFeedback}.
 * @returns false (the attempt failed), for the caller to return.
 */
export function failSemanticConflict(fx: TicketEffects, v: SemanticConflictFacts): false {
  const { state: s, ticket, config } = fx;
  metrics.gateFailed('semantic-conflict');
  const gates = v.gates.map((g) => g.name).sort();
  s.semanticConflicts.push({ ticketId: ticket.id, attempt: s.attempt, candidate: v.candidate, base: v.base, gates, tests: v.tests, landedSince: v.landedSince });
  return s.fail(`semantic conflict: gates: ${gates.join(', ')}; tests: ${v.tests.join(', ')}`, semanticConflictFeedback(s.attempt, config.baseBranch, v));
}
