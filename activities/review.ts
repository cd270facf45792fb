/**
 * Activity: review (issue 28 item 4). A fresh agent in role `review` reads the ticket, the plan and the validated diff
 * and answers in its result file `{ "verdict": "ALLOW" | "BLOCK" | "INFRA_ERROR", "findings": [{ "file", "line",
 * "what", "why" }], "why" }`. It runs boxed like every agent, in a worktree of its own cut from the base tip (never
 * the implementer's), with the diff in its prompt; what it edits there is thrown away. An answer that is missing or
 * not that shape is `none`, with the problem named: never a verdict.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { z } from 'zod';
import type { Agent } from './agents/agent';
import { runAgentStep, type AgentStepDeps } from './agent-step';
import { writeArtifact } from './artifacts';
import { changedPaths, diffText, removeWorktree } from './git';
import { formatIssues } from '../workflows/input';
import type { ReviewFinding, ReviewVerdict } from '../workflows/review';
import type { AgentConfig, AgentRun, RepoRef, Ticket } from '../workflows/types';

/** The diff shown in the prompt is cut to this many bytes; the file list is always whole. */
const DIFF_BYTES = 64 * 1024;

export interface ReviewInput {
  ref: RepoRef;
  ticket: Ticket;
  agent: AgentConfig;
  /** The `review` route's profile, named in the transcript. */
  profile?: string;
  secrets: string[];
  /** The attempt under review, and which review of it this is (1 for the first, more when one gave no verdict). */
  attempt: number;
  try: number;
  plan?: string;
  /** The validated commit and the base it was cut from. */
  baseCommit: string;
  commit: string;
  /** The findings of this ticket's last BLOCK, for the reviewer to check. */
  earlier: ReviewFinding[];
  /** Set when only touched paths can say whether to review: globs; none matching skips the review (no agent runs). */
  onlyIfPaths?: string[];
}

export interface ReviewAnswer {
  verdict: ReviewVerdict | 'skipped';
  findings: ReviewFinding[];
  /** For INFRA_ERROR and none: what went wrong; for skipped: why. */
  why?: string;
  agent?: AgentRun;
  /** The review's artifacts folder (prompt, transcript, result, the whole diff). */
  dir?: string;
}

const answerSchema = z
  .object({
    verdict: z.enum(['ALLOW', 'BLOCK', 'INFRA_ERROR']),
    findings: z
      .array(z.object({ file: z.string().min(1), line: z.number().int().min(1).optional(), what: z.string().min(1), why: z.string().min(1) }))
      .max(50)
      .default([]),
    why: z.string().optional(),
  })
  .refine((a) => a.verdict !== 'BLOCK' || a.findings.length > 0, { message: 'a BLOCK names at least one finding', path: ['findings'] });

/**
 * Runs the reviewer on the attempt's diff; with `onlyIfPaths`, first checks that the attempt touched a matching path.
 * @returns the verdict and findings (`skipped` when no path matched; `none` when the answer could not be read).
 * @throws ConfigError as {@link runAgentStep}; GitError on git failures (retried; a harness fault).
 */
export async function review(agent: Agent, input: ReviewInput, deps: AgentStepDeps): Promise<ReviewAnswer> {
  const { ref, ticket, baseCommit, commit } = input;
  const paths = await changedPaths(deps.git, ref.repo, baseCommit, commit);
  if (input.onlyIfPaths) {
    const matches = picomatch(input.onlyIfPaths, { dot: true });
    if (!paths.some((p) => matches(p))) return { verdict: 'skipped', findings: [], why: `touches no path of review.when.paths (${input.onlyIfPaths.join(', ')})` };
  }
  const diff = await diffText(deps.git, ref.repo, baseCommit, commit);
  const step = await runAgentStep(
    agent,
    {
      ref,
      ticketId: ticket.id,
      agent: input.agent,
      ...(input.profile === undefined ? {} : { profile: input.profile }),
      setup: [],
      secrets: input.secrets,
      role: 'review',
      attempt: input.attempt,
      prompt: renderReviewPrompt(input, paths, diff),
      heal: { step: `review-${input.attempt}-${input.try}`, worktreeName: `${ref.batchId}-${ticket.id}-review`, branch: `ratchet/${ref.batchId}/${ticket.id}-review` },
    },
    deps,
  );
  await writeArtifact(path.join(step.dir, 'review.diff'), diff);
  await removeWorktree(deps.git, ref.repo, step.worktree);
  const run = { ...step.run, result: undefined };
  if (step.run.exitCode !== 0 || step.run.timedOut) {
    const how = step.run.timedOut ? 'timed out' : `exited ${step.run.exitCode}`;
    return { verdict: 'none', findings: [], why: `the reviewer ${how}: ${lastLine(step.run.summary)}`, agent: run, dir: step.dir };
  }
  const raw = step.run.result ?? (await answerInText(path.join(step.dir, 'stdout.log')));
  if (raw === undefined) return { verdict: 'none', findings: [], why: 'the reviewer wrote no result file and no JSON verdict', agent: run, dir: step.dir };
  const parsed = answerSchema.safeParse(raw);
  if (!parsed.success) return { verdict: 'none', findings: [], why: `the reviewer's answer is not a verdict: ${formatIssues(parsed.error).join('; ')}`, agent: run, dir: step.dir };
  const a = parsed.data;
  return { verdict: a.verdict, findings: a.findings, ...(a.why ? { why: a.why.slice(0, 500) } : {}), agent: run, dir: step.dir };
}

/** The reviewer's prompt: the ticket, the plan, the earlier findings, the touched files and the diff (cut). */
export function renderReviewPrompt(input: ReviewInput, paths: string[], diff: string): string {
  const { ticket } = input;
  const cut = Buffer.byteLength(diff) > DIFF_BYTES ? `${Buffer.from(diff).subarray(0, DIFF_BYTES).toString('utf8')}\n[diff cut at ${DIFF_BYTES} bytes; the working tree is the base: read the files]` : diff;
  return [
    `# Review of ticket ${ticket.id}, attempt ${input.attempt}: ${ticket.title}`,
    '',
    'You review a change before it merges. Its gates (tests, linters) already passed; look for what they miss: wrong',
    'behaviour against the ticket, broken edge cases, security problems, missing tests for the acceptance criteria.',
    'Your working tree is the base branch without the change. Do not edit files: nothing you write is kept.',
    '',
    'Answer in the JSON file named by $RATCHET_RESULT_FILE:',
    '`{ "verdict": "ALLOW" | "BLOCK" | "INFRA_ERROR", "findings": [{ "file": "src/x.js", "line": 12, "what": "...", "why": "..." }], "why": "..." }`',
    '- ALLOW: it may merge. BLOCK: it must not, and `findings` says what to fix (at least one).',
    '- INFRA_ERROR: you could not review (a tool failed, the diff is unreadable); say why. It never blocks the work.',
    '',
    '## Ticket',
    ticket.body || '(no body)',
    '',
    '## Acceptance criteria',
    ...(ticket.acceptance.length ? ticket.acceptance.map((a) => `- ${a}`) : ['(none given)']),
    '',
    ...(input.plan ? ['## The plan it followed', input.plan, ''] : []),
    ...(input.earlier.length ? ['## What the last review blocked on (check whether it is fixed)', ...input.earlier.map((f) => `- ${f.file}${f.line ? `:${f.line}` : ''}: ${f.what}`), ''] : []),
    `## Files changed (${paths.length})`,
    ...paths.map((p) => `- ${p}`),
    '',
    '## The diff',
    '```diff',
    cut,
    '```',
  ].join('\n');
}

/**
 * A JSON verdict in an agent's stdout (agents that cannot write the result file): the whole output, else its last line
 * that is a JSON object with a `verdict`.
 */
async function answerInText(stdoutPath: string): Promise<unknown> {
  const text = (await readFile(stdoutPath, 'utf8').catch(() => '')).trim();
  for (const candidate of [text, ...text.split('\n').reverse()]) {
    if (!candidate.trim().startsWith('{')) continue;
    try {
      const value = JSON.parse(candidate) as unknown;
      if (value && typeof value === 'object' && 'verdict' in value) return value;
    } catch {
      // not JSON: the next line
    }
  }
  return undefined;
}

const lastLine = (s: string): string => s.trim().split('\n').pop()?.slice(0, 300) ?? '';
