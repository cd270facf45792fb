/**
 * Activities of an epic (docs/epics.md, issue 28 item 1): `decompose`, a fresh agent in role `decompose` reading the epic
 * with the repository in the ticket's fresh worktree (as plan does) and answering sub-tickets in its result file; and
 * `fileEpicTickets`, filing the approved sub-tickets into the running batch through its `discover` update. What the
 * answer is worth is the workflow's to judge (workflows/epic/check.ts): nothing here decides.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Agent } from './agents/agent';
import { runAgentStep, ticketBranch, worktreeName, type AgentStepDeps, type TicketStepInput } from './agent-step';
import { writeArtifact } from './artifacts';
import type { Trackers, TrackerRef } from './batch';
import { renderPrompt } from './prompt';
import { discoverUpdate } from '../workflows/messages';
import type { SubTicket } from '../workflows/epic/check';
import type { AgentRun } from '../workflows/types';

/** The epic (as `ticket`), the agent, the harness, the batch's gates and probes, its tracker, and the run's feedback. */
export interface DecomposeInput extends TicketStepInput, TrackerRef {
  /** 1 for the first decomposition; it names the step's artifacts folder `decompose-<run>`. */
  run: number;
  /** Why earlier answers were refused or rejected, newest last. */
  feedback: string[];
  maxTickets: number;
}

export interface DecomposeResult {
  /** The run, without its result (the answer is `answer`). */
  agent: AgentRun;
  /** The parsed answer: the result file's JSON, else JSON in the agent's answer or stdout; absent when none parses. */
  answer?: unknown;
  /** `<artifacts>/<batch>/<epic>/decompose-<run>/answer.json`: the answer as read. */
  answerPath: string;
  /** The tracker's tickets now (id and title, ~60 bytes each), for the duplicate check. */
  existing: { id: string; title: string }[];
  /** The worker-specific task queue of the worker that holds the epic's worktree (activities/index.ts `heldHere`). */
  hostTaskQueue?: string;
}

/**
 * Runs the agent in role `decompose` for the epic `input.ticket` in its fresh worktree (branch `ratchet/<batch>/<epic>`),
 * with the prompt rendered from the epic, the batch's gates and probes and the feedback, and reads the tracker's
 * tickets for the duplicate check.
 * @throws as {@link runAgentStep} does (the worktree cannot be prepared, the agent cannot be started), or when the
 *   tracker cannot be read.
 */
export async function decompose(agent: Agent, input: DecomposeInput, deps: AgentStepDeps, trackers: Trackers): Promise<DecomposeResult> {
  const { ref, ticket, run: n } = input;
  const prompt = renderPrompt({
    ref,
    ticket,
    role: 'decompose',
    branch: ticketBranch(ref.batchId, ticket.id),
    feedback: input.feedback,
    gates: input.gates,
    probes: input.probes,
    promptRules: input.harness.promptRules,
    maxTickets: input.maxTickets,
  });
  const step = { step: `decompose-${n}`, worktreeName: worktreeName(ref.batchId, ticket.id), branch: ticketBranch(ref.batchId, ticket.id) };
  const { run, dir } = await runAgentStep(agent, { ref, ticketId: ticket.id, agent: input.agent, setup: input.harness.setup, secrets: input.secrets, role: 'decompose', attempt: n, prompt, heal: step }, deps);
  // answer.md: where a preset agent's answer text is kept (agents/command.ts), beside stdout.log.
  const answer = run.result ?? (await jsonIn(path.join(dir, 'answer.md'))) ?? (await jsonIn(path.join(dir, 'stdout.log')));
  const answerPath = await writeArtifact(path.join(dir, 'answer.json'), JSON.stringify(answer ?? null, null, 2));
  const existing = (await trackers(input).list()).map((t) => ({ id: t.id, title: t.title }));
  return { agent: { ...run, result: undefined }, ...(answer === undefined ? {} : { answer }), answerPath, existing };
}

/** JSON in a text file: the whole text, else its last fenced ```json block; undefined when none parses. */
async function jsonIn(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const tries = [text, ...[...text.matchAll(/```json\s*\n([\s\S]*?)```/g)].map((m) => m[1]).reverse()];
  for (const t of tries) {
    try {
      if (t.trim()) return JSON.parse(t) as unknown;
    } catch {
      // not JSON: try the next
    }
  }
  return undefined;
}

export interface FileEpicTicketsInput {
  batchWorkflowId: string;
  epicId: string;
  /** Who approved them (recorded as the filer, with the epic). */
  by: string;
  /** In filing order: each after the sub-tickets it depends on (check.ts gives them so). */
  tickets: SubTicket[];
}

/**
 * Files the approved sub-tickets into the running batch, one `discover` update each (DESIGN.md "discovered work": the
 * batch writes each to the tracker and adds it to its graph with its edges), each blocking the epic, which the batch
 * then wakes as each one ends. Idempotent under retry: each update has the id `epic-<epic>-<sub-ticket>`, and a
 * sub-ticket the batch already holds counts as filed.
 * @returns the ids filed, and the first refused with the batch's reason (the ones after it are not sent).
 */
export async function fileEpicTickets(client: Client, input: FileEpicTicketsInput): Promise<{ filed: string[]; refused?: { id: string; reason: string } }> {
  const handle = client.workflow.getHandle(input.batchWorkflowId);
  const filed: string[] = [];
  for (const t of input.tickets) {
    const body = [
      t.body.trim(),
      '',
      `Part of epic ${input.epicId} (sub-ticket "${t.localId}", size ${t.size}); checked by ${t.checkedBy}.`,
      ...(t.paths.length ? [`Expected to touch: ${t.paths.join(', ')}`] : []),
    ].join('\n');
    const request = { by: `${input.by} (decomposition of epic ${input.epicId})`, id: t.id, title: t.title, body, acceptance: t.acceptance, kind: t.kind, dependsOn: t.dependsOn, blocks: [input.epicId] };
    try {
      await handle.executeUpdate(discoverUpdate, { args: [request], updateId: `epic-${input.epicId}-${t.id}` });
    } catch (err) {
      if (!(err instanceof WorkflowUpdateFailedError)) throw err;
      const reason = err.cause?.message ?? err.message;
      if (!reason.includes(`"${t.id}" is already in the batch`)) return { filed, refused: { id: t.id, reason } };
    }
    filed.push(t.id);
  }
  return { filed };
}
