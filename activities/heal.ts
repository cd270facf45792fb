/**
 * Activities of the self-heal (DESIGN.md "self-heal"): the heal agent, run when a ticket would stop, and the smoke
 * check of an accepted harness change. The heal agent is untrusted like any agent: it runs boxed, in a worktree of its
 * own cut from the base, and what it proposes is judged by the ticket workflow's tripwire (workflows/done.ts), never
 * applied here. Its edits to files are kept as a patch for a person to review; none reaches the base.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { z } from 'zod';
import type { Agent } from './agents/agent';
import { runAgentStep, type AgentStepDeps } from './agent-step';
import { blobDigests, changedPaths, commitAll, diffText, removeWorktree } from './git';
import { formatIssues, parseAgentDiscovered } from '../workflows/input';
import type { AgentConfig, AgentRun, DefinitionOfDone, DiscoveredWork, HarnessSettings, RepoRef, SetupStep, Ticket } from '../workflows/types';

export interface HealInput {
  ref: RepoRef;
  ticket: Ticket;
  /** 1 for the ticket's first heal, 2 for its second, ... */
  n: number;
  /** Why the ticket would stop (attempts exhausted, verify-live failed, ...), one paragraph. */
  stop: string;
  /** The latest feedback entries (gate tails, setup failures, probe answers), a few KB in all. */
  feedback: string[];
  /** The frozen definition of done: shown to the heal, and its protected paths decide what a file edit touches. */
  definition: DefinitionOfDone;
  /** The harness the heal may change, shown to it. */
  harness: HarnessSettings;
  /** The heal agent: the batch's `heal` command and time limit, with the batch agent's environment and box. */
  agent: AgentConfig;
  /** The profile `agent` is (`routes.heal`; `heal`: the batch's heal command), named in the transcript. */
  profile?: string;
  /** The batch's secrets (every `envFrom` name), redacted from the prompt and the logs. */
  secrets: string[];
}

/** The smoke check of heal `n` of ticket `ticketId`: the candidate harness's setup, run with its agent's environment and box. */
export interface SmokeInput {
  ref: RepoRef;
  ticketId: string;
  n: number;
  setup: SetupStep[];
  agent: AgentConfig;
  secrets: string[];
}

export type HealVerdict = 'harness-gap' | 'activation-gap' | 'external-wall' | 'work' | 'none';

export interface HealResult {
  /** `none`: the heal agent gave no valid verdict (see `reason`). */
  verdict: HealVerdict;
  reason: string;
  /** For `harness-gap`: the proposed change, a JSON merge patch over the batch config (untrusted until the tripwire). */
  change?: unknown;
  /** For `activation-gap`: the work that would make the merged ticket live (validated as an agent's discovered work). */
  discovered?: DiscoveredWork[];
  /** For `external-wall`: what shows it, and what a person must do. */
  evidence?: string;
  action?: string;
  /** Protected files the heal's edits changed: path -> new git blob id, or `missing` when deleted. */
  protectedChanged: Record<string, string>;
  /** Every file the heal edited (relative paths). */
  changedPaths: string[];
  /** The heal's artifacts folder: prompt, transcript, result, `heal.patch` (its file edits), `change.json`. */
  dir: string;
  agent: AgentRun;
}

/** The result file of a heal run (README "Self-heal"). */
const healResultSchema = z.object({
  verdict: z.enum(['harness-gap', 'activation-gap', 'external-wall', 'work']),
  reason: z.string().trim().min(1).max(4_000),
  change: z.record(z.string(), z.unknown()).optional(),
  evidence: z.string().max(4_000).optional(),
  action: z.string().max(2_000).optional(),
});

/** Branch and worktree folder of a ticket's heal runs (never merged: the harness change travels as data). */
const healBranch = (batchId: string, ticketId: string): string => `ratchet-heal/${batchId}/${ticketId}`;
const healWorktree = (batchId: string, ticketId: string): string => `_heal-${batchId}-${ticketId}`;

/** The heal agent's prompt: the stop, its evidence, the harness it may change and the definition of done it may not. */
export function renderHealPrompt(input: HealInput): string {
  const { ticket, ref } = input;
  return [
    `# Self-heal for ticket ${ticket.id}: ${ticket.title}`,
    '',
    `The loop is about to stop this ticket (batch ${ref.batchId}). Decide whether the stop is a gap in the harness`,
    '(a missing setup step, a time limit too short, a misleading prompt, a stale worktree or lock) or a real external',
    'wall, or whether the ticket itself is the problem. Do not write the ticket\'s code.',
    '',
    '## Why it would stop',
    '',
    input.stop.trim(),
    '',
    '## Evidence (latest feedback, newest last)',
    '',
    ...(input.feedback.length ? input.feedback.map((f) => `${f.trim()}\n`) : ['(none)']),
    `Logs and transcripts: ${path.join(ref.artifactsDir, ref.batchId, ticket.id)}`,
    '',
    '## The harness (you may change this)',
    '',
    '```json',
    JSON.stringify({ harness: { setup: input.harness.setup, promptRules: input.harness.promptRules }, agent: { timeoutMs: input.harness.agentTimeoutMs }, maxAttempts: input.harness.maxAttempts, heartbeatTimeoutMs: input.harness.heartbeatTimeoutMs, verify: input.harness.verify }, null, 2),
    '```',
    '',
    '## The definition of done (frozen: any change to it rejects your heal)',
    '',
    ...input.definition.gates.map((g) => `- gate \`${g.name}\`: \`${g.command}\`${g.files.length ? ` (runs ${g.files.join(', ')})` : ''}`),
    ...input.definition.probes.map((p) => `- probe \`${p.name}\``),
    `- protected paths: ${input.definition.protectedPaths.join(', ')}`,
    '',
    '## Your answer',
    '',
    'Write JSON to $RATCHET_RESULT_FILE:',
    '`{"verdict": "harness-gap", "reason": "...", "change": {"harness": {"setup": [{"command": "npm ci"}]}}}` (change: a JSON',
    'merge patch over the batch config, harness fields only), or, when verify-live failed after a clean merge because',
    'something else must land first (a flag left off, a config not deployed), `{"verdict": "activation-gap", "reason":',
    '"...", "discovered": [{"title": "...", "body": "...", "acceptance": ["..."]}]}` (filed as tickets this one waits',
    'for), or `{"verdict": "external-wall", "reason": "...", "evidence": "...", "action": "what a person must do"}`, or',
    '`{"verdict": "work", "reason": "..."}`.',
    'Your working directory is a fresh checkout of the base; edits you make there are kept as a patch for a person to',
    'review, never merged.',
    '',
  ].join('\n');
}

/**
 * Runs the heal agent (`input.agent`: the batch's `heal.command`, the agent protocol with role `heal`) boxed in a worktree of its own,
 * reads its verdict, and records what it edited: `heal.patch` and `change.json` in its artifacts folder, and which
 * protected files its edits changed (the tripwire rejects any). The worktree is removed; its branch stays.
 * @returns the verdict; `none` with the reason when the result file is missing or malformed.
 * @throws ConfigError as {@link runAgentStep}; GitError on git failures.
 */
export async function selfHeal(agentFor: (agent: AgentConfig) => Agent, input: HealInput, deps: AgentStepDeps): Promise<HealResult> {
  const { ref, ticket, n } = input;
  const branch = healBranch(ref.batchId, ticket.id);
  const step = await runAgentStep(
    agentFor(input.agent),
    {
      ref,
      ticketId: ticket.id,
      agent: input.agent,
      ...(input.profile === undefined ? {} : { profile: input.profile }),
      setup: [],
      secrets: input.secrets,
      role: 'heal',
      // RATCHET_ATTEMPT of a heal run: the heal's number (agent protocol, activities/agents/command.ts).
      attempt: n,
      prompt: renderHealPrompt(input),
      heal: { step: `heal-${n}`, worktreeName: healWorktree(ref.batchId, ticket.id), branch },
    },
    deps,
  );
  const committed = await commitAll(deps.git, step.worktree, `ratchet: heal ${n} of ${ticket.id}`, step.baseCommit, branch);
  let changed: string[] = [];
  const protectedChanged: Record<string, string> = {};
  if (committed.commit) {
    changed = await changedPaths(deps.git, step.worktree, step.baseCommit, committed.commit);
    await writeFile(path.join(step.dir, 'heal.patch'), await diffText(deps.git, step.worktree, step.baseCommit, committed.commit));
    const isProtected = picomatch(input.definition.protectedPaths, { dot: true });
    const touched = new Set(changed.filter((p) => isProtected(p)));
    const now = await blobDigests(deps.git, step.worktree, committed.commit, (p) => touched.has(p));
    for (const p of touched) protectedChanged[p] = now[p] ?? 'missing';
  }
  await removeWorktree(deps.git, ref.repo, step.worktree);

  const parsed = healResultSchema.safeParse(step.run.result, { reportInput: true });
  const base = { protectedChanged, changedPaths: changed, dir: step.dir, agent: step.run };
  if (!parsed.success) {
    const why = step.run.result === undefined ? 'it wrote no result file' : formatIssues(parsed.error).join('; ');
    return { ...base, verdict: 'none', reason: `the heal agent gave no valid verdict (exit ${step.run.exitCode}): ${why}` };
  }
  const r = parsed.data;
  if (r.change) await writeFile(path.join(step.dir, 'change.json'), `${JSON.stringify(r.change, null, 2)}\n`);
  const found = parseAgentDiscovered(step.run.result).work.map(({ blocksThisTicket: _b, ...w }) => w);
  return { ...base, verdict: r.verdict, reason: r.reason, change: r.change, evidence: r.evidence, action: r.action, ...(found.length ? { discovered: found } : {}) };
}

/**
 * The smoke check of an accepted harness change: cuts a fresh worktree from the base and runs the harness's setup
 * steps there, boxed as for an attempt, with no agent. Returns whether every step passed, and the failing step's
 * output tail.
 */
export async function smokeCheck(input: SmokeInput, deps: AgentStepDeps): Promise<{ ok: boolean; detail: string }> {
  const { ref, ticketId, n } = input;
  const noAgent: Agent = {
    name: 'smoke check (no agent)',
    run: async (task) => ({ exitCode: 0, timedOut: false, ms: 0, transcriptPath: task.transcriptPath, summary: 'setup passed' }),
  };
  const step = await runAgentStep(
    noAgent,
    {
      ref,
      ticketId,
      agent: input.agent,
      setup: input.setup,
      secrets: input.secrets,
      role: 'implement',
      attempt: 0,
      prompt: `# Smoke check of heal ${n}: the harness's setup in a fresh worktree\n`,
      heal: { step: `heal-${n}-smoke`, worktreeName: healWorktree(ref.batchId, ticketId), branch: healBranch(ref.batchId, ticketId) },
    },
    deps,
  );
  await removeWorktree(deps.git, ref.repo, step.worktree);
  const steps = input.setup.length;
  return step.setupFailed ? { ok: false, detail: step.run.summary } : { ok: true, detail: `${steps} setup step(s) passed in a fresh worktree` };
}
