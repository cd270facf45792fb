/**
 * The prompt file an agent reads (README "Agent protocol"): the ticket, its acceptance criteria, the approved plan
 * and the feedback of earlier attempts. Memory lives here and in the branch, never in an agent's context.
 */
import type { BatchConfig, Ticket } from '../workflows/types';

export interface PromptInput {
  config: BatchConfig;
  ticket: Ticket;
  role: 'plan' | 'implement';
  attempt?: number;
  branch: string;
  plan?: string;
  feedback: string[];
}

/** Renders the markdown prompt for one agent run. */
export function renderPrompt(p: PromptInput): string {
  const { ticket, config } = p;
  const lines = [
    `# Ticket ${ticket.id}: ${ticket.title}`,
    '',
    `- batch: ${config.batchId}`,
    `- kind: ${ticket.kind}`,
    `- role: ${p.role}${p.attempt ? ` (attempt ${p.attempt} of ${config.maxAttempts} in this round)` : ''}`,
    `- branch: ${p.branch} (cut from ${config.baseBranch})`,
    '',
    '## Description',
    '',
    ticket.body.trim() || '(no description)',
    '',
    '## Acceptance criteria',
    '',
    ...(ticket.acceptance.length ? ticket.acceptance.map((a) => `- ${a}`) : ['- (none written; the gates and probes decide)']),
    '',
    '## How the work is checked',
    '',
    ...config.gates.map((g) => `- gate \`${g.name}\`: \`${g.command}\` must exit 0 in your working directory`),
    ...[...config.probes, ...ticket.probes].map((pr) =>
      pr.kind === 'http'
        ? `- after merge, live probe \`${pr.name}\`: ${pr.method} ${pr.url} must answer ${pr.expectStatus}${pr.expectBody ? ` with a body containing \`${pr.expectBody}\`` : ''}`
        : `- after merge, live probe \`${pr.name}\`: \`${pr.command}\` must exit 0`,
    ),
  ];
  if (p.plan) lines.push('', '## Approved plan', '', p.plan.trim());
  if (p.feedback.length) {
    lines.push('', '## Feedback from earlier attempts', '', 'Earlier attempts failed as below. Fix the cause; do not weaken tests or gates.', '');
    lines.push(...p.feedback.map((f) => f.trim() + '\n'));
  }
  const rules = p.config.harness?.promptRules ?? [];
  if (rules.length) lines.push('', '## Repository rules', '', ...rules.map((r) => `- ${r}`));
  lines.push(
    '',
    '## Rules',
    '',
    p.role === 'plan'
      ? '- Write a short plan: files to change, tests to add, risks. Do not change files.'
      : '- Change files in this working directory only. The harness commits what you leave; you may commit yourself.',
    '- Do not edit gate commands, tests you did not write for this ticket, or the tickets folder.',
    '',
  );
  return lines.join('\n');
}
