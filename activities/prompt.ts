/**
 * The prompt file an agent reads (README "Agent protocol"): the ticket, its acceptance criteria, the approved plan
 * and the feedback of earlier attempts. Memory lives here and in the branch, never in an agent's context.
 */
import type { Gate, Probe, RepoRef, Ticket } from '../workflows/types';

export interface PromptInput {
  ref: Pick<RepoRef, 'batchId' | 'baseBranch'>;
  ticket: Ticket;
  role: 'plan' | 'implement' | 'decompose';
  attempt?: number;
  /** Attempts of a round, shown with `attempt`. */
  maxAttempts?: number;
  branch: string;
  plan?: string;
  feedback: string[];
  /** How the work is checked: the batch's gates and probes (the ticket's own probes are added). */
  gates: Gate[];
  probes: Probe[];
  /** The harness's `promptRules`: "Repository rules". */
  promptRules: string[];
  /** Role `decompose`: the most sub-tickets an answer may hold (`decompose.maxTickets`). */
  maxTickets?: number;
}

/** Renders the markdown prompt for one agent run. */
export function renderPrompt(p: PromptInput): string {
  const { ticket, ref } = p;
  const lines = [
    `# Ticket ${ticket.id}: ${ticket.title}`,
    '',
    `- batch: ${ref.batchId}`,
    `- kind: ${ticket.kind}`,
    `- role: ${p.role}${p.attempt ? ` (attempt ${p.attempt} of ${p.maxAttempts} in this round)` : ''}`,
    `- branch: ${p.branch} (cut from ${ref.baseBranch})`,
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
    ...p.gates.map((g) => `- gate \`${g.name}\`: \`${g.command}\` must exit 0 in your working directory`),
    ...[...p.probes, ...ticket.probes].map((pr) =>
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
  const rules = p.promptRules;
  if (rules.length) lines.push('', '## Repository rules', '', ...rules.map((r) => `- ${r}`));
  lines.push(
    '',
    '## Rules',
    '',
    p.role === 'decompose'
      ? decomposeRules(p.maxTickets ?? 8)
      : p.role === 'plan'
        ? PLAN_RULES
        : '- Change files in this working directory only. The harness commits what you leave; you may commit yourself.',
    '- Do not edit gate commands, tests you did not write for this ticket, or the tickets folder.',
    '',
  );
  return lines.join('\n');
}

/**
 * Role plan (docs/agents.md "Typed plans"): the JSON shape ratchet checks (activities/plan-answer.ts), and what the size
 * means: an `XL` plan is split, not implemented.
 */
const PLAN_RULES = [
  '- Plan, do not change files. Write the plan to $RATCHET_RESULT_FILE as JSON (if you cannot write files, answer the',
  '  JSON alone): {"summary": "...", "steps": ["..."], "files": ["paths you expect to change"], "risks": ["..."],',
  '  "size": "S" | "M" | "L" | "XL", "sizeReason": "why that size", "tests": ["tests you will add"]}.',
  '- Size: S is a small change in one or two files; M a few files; L many files or a day of work; XL is too big for one',
  '  change and must be split into smaller tickets (an XL plan is not implemented).',
].join('\n');

/** Role `decompose` (docs/epics.md): the answer's shape and what ratchet checks before anything is filed. */
function decomposeRules(maxTickets: number): string {
  return [
    '- This ticket is an epic: do not implement it and do not change files. Read it with the repository and split it into',
    `  at most ${maxTickets} sub-tickets, each small enough for one agent run to implement and check.`,
    '- Write them to $RATCHET_RESULT_FILE as JSON: {"tickets": [{"id", "title", "body", "acceptance": [...], "kind",',
    '  "size": "S" | "M" | "L", "dependsOn": [ids of this list], "paths": [files it expects to touch], "probes"?: [...]}]}.',
    '- Every sub-ticket needs an executable check: a probe of its own ({"name", "command"} or {"name", "http"}), the name',
    "  of one of this epic's probes, or a path in `paths` that a gate runs as a test. No cycles, no duplicates of tickets",
    '  already in the tracker; a refused answer comes back with every problem named.',
  ].join('\n');
}
