/**
 * The batch workflow's effects in a turn of its loop: loading and claiming the tracker, reading and writing it,
 * starting ticket workflows, filing discovered work, and the signals that answer its tickets. The decisions are the
 * schedule's (batch/schedule.ts); this module carries them out. Workflow code: deterministic, no I/O of its own.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { Discovery } from '../carry';
import { claimWorkflow, claimWorkflowId, releaseClaimSignal } from '../claim';
import { discoveredCheck, type DiscoveredCheck } from '../discovered-check';
import { discoveredId, discoveryProblem } from '../discovery';
import { blockedByHumanGate } from '../graph';
import { asStepFailure } from '../local';
import { agentTapSignal, blockerDoneSignal, discoveryFiledSignal, harnessSignal, ticketWorkflowId } from '../messages';
import { unblocked } from '../metrics';
import { OPTIONS } from '../options';
import { secretEnvRefusal } from '../secret-env';
import { RatchetAttempt, RatchetBatch, RatchetPhase, RatchetTicket } from '../search-attributes';
import { ticketWorkflow } from '../ticket';
import type { DiscoveredRecord, HarnessSettings, LoadedBatch, Probe, Ticket, TicketFact, TicketInput } from '../types';
import { AGENT_BREAKER_PATCH } from './agent-breaker';
import type { BatchSchedule } from './schedule';

/** The batch's activity tasks (`load`: `ratchet start`'s check), and its tracker reads and writes as local activities. */
export const acts = { quick: proxyActivities<Activities>(OPTIONS.quick), load: proxyActivities<Activities>(OPTIONS.load) };
const tracker = proxyLocalActivities<Activities>(OPTIONS.trackerRead);

/** Shows the schedule in the Web UI's current details. */
export function show(s: BatchSchedule): void {
  setCurrentDetails(s.details());
}

/**
 * Runs `loadBatch` (its tickets as graph nodes); bad input becomes the workflow's own non-retryable failure, naming
 * the field and the fix. A secret-looking `agent.env` entry is refused here first, before any activity is scheduled,
 * so its value is copied into no activity's input (issue 25 item 8; patched: before 0.2.2 `loadBatch` refused it).
 * @throws ApplicationFailure (non-retryable, the activity's type or `BadInput`; the secret's refusal names the field,
 *   the kind of secret and the fix, never the value).
 */
export async function loadOrRefuse(raw: unknown, workflowId: string, via: Activities = acts.quick): Promise<LoadedBatch> {
  const secrets = secretEnvRefusal(raw);
  if (secrets.length && patched('secret-env-refused-in-workflow')) {
    throw ApplicationFailure.create({ type: 'BadInput', nonRetryable: true, message: `batch input: ${secrets.join('; ')}` });
  }
  try {
    return await via.loadBatch({ raw, workflowId });
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
      throw ApplicationFailure.create({ message: err.cause.message, type: err.cause.type ?? 'BadInput', nonRetryable: true });
    }
    throw err;
  }
}

/**
 * Claims the batch's tracker (see `claim.ts`) for the batch's whole life, across continue-as-new: a second batch over
 * the same tickets folder is refused as bad input, before it writes anything, naming the claim and how to find its
 * holder.
 * @throws ApplicationFailure `BadInput` when another running batch holds it.
 */
export async function claim(loaded: LoadedBatch): Promise<void> {
  const workflowId = claimWorkflowId(loaded.trackerKey);
  const { batchId, ticketsDir } = loaded.config;
  try {
    await startChild(claimWorkflow, {
      workflowId,
      args: [{ batchId, ticketsDir, batchWorkflowId: workflowInfo().workflowId }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `batch ${batchId} holds the tracker ${ticketsDir}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    throw ApplicationFailure.create({
      type: 'BadInput',
      nonRetryable: true,
      message:
        `the tracker ${ticketsDir} is held by another running batch (claim workflow ${workflowId}; ` +
        `\`temporal workflow query --workflow-id ${workflowId} --name holder\` names it); fix: let that batch finish ` +
        'or cancel it, then start this one: two batches over one tracker would merge tickets twice',
    });
  }
}

/** Frees the batch's tracker claim (see `claim.ts`); a claim already gone is fine. */
export async function releaseClaim(claimId: string): Promise<void> {
  await getExternalWorkflowHandle(claimId)
    .signal(releaseClaimSignal)
    .catch((err: unknown) => log.warn(`could not release the claim ${claimId}: ${(err as Error).message}`));
}

/**
 * Reads what changed (ended tickets, settled tampers, new tickets), or every ticket once everything has ended, and
 * gives it to the schedule.
 * @returns the facts read, and whether the read was full: only then may the oracle end the batch.
 */
export async function readTurn(s: BatchSchedule): Promise<{ facts: TicketFact[]; full: boolean }> {
  const { readIds, full } = s.toReadNow();
  const ref = { ticketsDir: s.config.ticketsDir, tracker: s.config.tracker };
  const { facts } = readIds.length ? await tracker.readTracker({ ...ref, ids: readIds }).catch(asStepFailure('readTracker')) : { facts: [] };
  s.applyRead(facts, readIds, Date.now());
  return { facts, full };
}

/**
 * Sets a ticket's state as the batch; a state before it that ratchet did not write is a tamper. Fenced with the
 * batch's chain and write number, so a write from a batch task that lost its lease lands nowhere (and tells nothing).
 */
async function write(s: BatchSchedule, id: string, to: Ticket['state'], note: string, overwritingTamper = false): Promise<void> {
  const fence = { run: workflowInfo().firstExecutionRunId, seq: s.trackerWrites++ };
  const { previous, refused } = await tracker
    .setTicketState({ ticketsDir: s.config.ticketsDir, tracker: s.config.tracker, ticketId: id, state: to, note, by: `batch ${s.config.batchId}`, fence })
    .catch(asStepFailure('setTicketState'));
  if (refused === 'stale') {
    log.warn(`batch ${s.config.batchId}: a newer write of this batch is already in the tracker; ${id} -> ${to} is stale and was not written`);
    return;
  }
  s.wrote(id, to, previous, Date.now(), overwritingTamper);
}

/** Acts on the tampers a person settled with `resume`: restore what ratchet recorded, or accept the tracker. */
export async function settleTampers(s: BatchSchedule): Promise<void> {
  const todo = s.settle;
  s.settle = [];
  for (const { tamper, how } of todo) {
    const id = tamper.ticketId;
    const resolved = tamper.resolved as NonNullable<typeof tamper.resolved>;
    const now = s.states.get(id);
    if (s.running.has(id)) {
      resolved.action = 'left to its running ticket workflow, which keeps writing its own states';
    } else if (how === 'accept' && now !== undefined) {
      s.expected.set(id, now);
      if (now === 'done' || now === 'human-gated') {
        s.evidence[id] = { outcome: now, source: 'person', note: `${resolved.by} accepted the tracker's ${now} after a tracker tamper`, at: Date.now() };
      }
      resolved.action = `accepted: ${now}, as ${resolved.by} decided`;
    } else {
      // What ratchet recorded last: the state before the tamper, or what the ticket's workflow wrote since.
      const want = s.expected.get(id) ?? tamper.from;
      if (now === want) {
        resolved.action = `the tracker says ${want}, as ratchet recorded`;
      } else {
        await write(s, id, want, `restored after a tracker tamper (resume by ${resolved.by})`, true);
        resolved.action = `restored to ${want}`;
      }
    }
  }
}

/** Answers the ticket that reported `d`, if it still runs, with what became of it. */
export function reply(s: BatchSchedule, d: Discovery, record: DiscoveredRecord): void {
  if (!d.reply || !s.running.has(d.reply.ticketId)) return;
  const { ticketId, attempt, index } = d.reply;
  getExternalWorkflowHandle(ticketWorkflowId(s.config.batchId, ticketId))
    .signal(discoveryFiledSignal, { replies: [{ attempt, index, record }] })
    .catch((err: unknown) => log.warn(`could not tell ticket ${ticketId} about its discovered work: ${(err as Error).message}`));
}

/**
 * Files discovered work: checks it against the batch's graph (ids, edges, cycles), holds agents' work over the
 * discovery cap for a person, picks an id the tracker does not use yet, writes the ticket to the tracker and adds
 * it with its edges; a ticket it blocks that is running waits for it (parked).
 */
export async function fileDiscoveries(s: BatchSchedule): Promise<void> {
  const todo = s.discoveries;
  s.discoveries = [];
  for (const d of todo) {
    const capped = s.overCap(d);
    if (capped) {
      s.held.push(d);
      reply(s, d, s.record(d, { status: 'held', reason: `${capped}; waiting for a person: resume files it, resume with "discovered": "drop" drops it` }, Date.now()));
      continue;
    }
    const finder = d.filedBy.kind === 'agent' ? d.filedBy.ticketId : undefined;
    const { check, probes } = checkOf(s, d);
    let ticketId: string | undefined;
    let problem: string | undefined;
    for (let n = 1; ticketId === undefined && problem === undefined; n++) {
      const id = d.work.id ?? discoveredId(finder, n);
      if (d.work.id === undefined && s.ids.includes(id)) continue;
      // A person's work with probes of its own (a watch's check) is verified by them, not only the batch's.
      const own = d.filedBy.kind === 'person' && d.work.probes?.length ? d.work.probes : undefined;
      problem = (own ? undefined : s.noProbes()) ?? discoveryProblem({ ...d.work, id }, s.tickets, s.started, d.filedBy);
      if (problem) break;
      const ticket: Ticket = { ...d.work, id, dependsOn: [...d.work.dependsOn], probes: own ?? probes, allowPaths: [], state: 'todo' };
      const who = d.filedBy.kind === 'agent' ? `ticket ${d.filedBy.ticketId} attempt ${d.filedBy.attempt} (its agent)` : d.filedBy.by;
      const { status } = await acts.quick.fileTicket({ ticketsDir: s.config.ticketsDir, tracker: s.config.tracker, blocks: d.work.blocks, ticket, by: `${who} in batch ${s.config.batchId}` });
      if (status === 'taken') {
        if (d.work.id !== undefined || n >= 100) problem = `ticket id "${id}" already names another ticket in the tracker; pick another id`;
        continue;
      }
      ticketId = id;
      // Frozen like a loaded ticket's: the ticket starts with them whatever its file says later.
      if (own && s.loaded.definitionOfDone) s.loaded.definitionOfDone.ticketProbes[id] = own;
      s.addTicket(ticket, d.work.blocks);
    }
    const filed = { status: 'filed' as const, ticketId, ...(check ? { check: check.check, reason: check.note } : {}) };
    reply(s, d, s.record(d, ticketId === undefined ? { status: 'refused', reason: problem } : filed, Date.now()));
  }
}

/**
 * What checks agents' work once filed (discovered-check.ts), and the probes its ticket is filed with (its finder's,
 * for an activation gap). Patched: before 0.2.2 every discovered ticket ran as filed, with no probes of its own.
 */
function checkOf(s: BatchSchedule, d: Discovery): { check?: DiscoveredCheck; probes: Probe[] } {
  if (d.filedBy.kind !== 'agent' || !patched('discovered-needs-check')) return { probes: [] };
  const finderProbes = s.loaded.definitionOfDone?.ticketProbes[d.filedBy.ticketId] ?? [];
  const check = discoveredCheck(d.work, d.filedBy, finderProbes, s.config.gates);
  return { check, probes: check?.check === 'finder-probes' ? finderProbes : [] };
}

/**
 * Hands an accepted heal's harness to every other running ticket (`harness` signal): a ticket started before the heal
 * would otherwise validate, and enter the merge queue, with the harness the heal replaced, and read its candidate's
 * failure as a semantic conflict. Tickets started later get it from the batch's config. A ticket that has just ended
 * misses it, harmlessly (logged).
 */
export function shareHarness(s: BatchSchedule, healedBy: string, harness: HarnessSettings): void {
  for (const ticketId of s.running) {
    if (ticketId === healedBy) continue;
    getExternalWorkflowHandle(ticketWorkflowId(s.config.batchId, ticketId))
      .signal(harnessSignal, { healedBy, harness })
      .catch((err: unknown) => log.warn(`could not give ticket ${ticketId} the harness healed by ${healedBy}: ${(err as Error).message}`));
  }
}

/**
 * Sends the agent tap's messages (batch/agent-breaker.ts) to their running tickets; a ticket that has just ended misses
 * its message, harmlessly (logged). Patched: histories from before 0.2.3 had no agent tap, and none of its signals.
 */
export function sendTaps(s: BatchSchedule): void {
  const messages = s.agents.take().filter((m) => s.running.has(m.to));
  if (!messages.length || !patched(AGENT_BREAKER_PATCH)) return;
  for (const { to, ...m } of messages) {
    getExternalWorkflowHandle(ticketWorkflowId(s.config.batchId, to))
      .signal(agentTapSignal, m)
      .catch((err: unknown) => log.warn(`could not tell ticket ${to} the agent tap: ${(err as Error).message}`));
  }
}

/** Tells each parked ticket about its discovered blockers that have ended (done or human-gated). */
export async function wakeParked(s: BatchSchedule): Promise<void> {
  for (const [dependent, blocker, outcome] of s.endedBlockers()) {
    await getExternalWorkflowHandle(ticketWorkflowId(s.config.batchId, dependent))
      .signal(blockerDoneSignal, { ticketId: blocker, outcome })
      .catch((err: unknown) => log.warn(`could not tell ticket ${dependent} that ${blocker} ended: ${(err as Error).message}`));
  }
}

/**
 * A person's reject of a blocker is final for its dependents too: records them human-gated, naming the blocker.
 * @returns whether any was recorded (the loop reads again before it judges).
 */
export async function gateBlocked(s: BatchSchedule): Promise<boolean> {
  const blocked = [...blockedByHumanGate(s.tickets, s.trusted())].filter(([id]) => !s.running.has(id));
  for (const [id, blocker] of blocked) {
    await write(s, id, 'human-gated', `blocked by human-gated ticket ${blocker}`);
    s.gatedBehind(id, blocker, Date.now());
  }
  return blocked.length > 0;
}

/**
 * Starts the ticket workflows of `ids`, abandoned (so they outlive this run when the batch continues as new; each
 * tells the batch's workflow id its end), with deterministic ids. A ticket already running under its id is this
 * batch's and will report its end; one that could not start ends as a failure.
 * @returns the starts, to await before the turn ends.
 */
export function startReady(s: BatchSchedule, ids: readonly string[]): Promise<void>[] {
  return ids.map((id) => {
    const { input, unblockedMs } = s.start(id, Date.now());
    if (unblockedMs !== undefined) unblocked(unblockedMs);
    return startTicket(s, input);
  });
}

/**
 * Starts the ticket workflow of `input` (see {@link startReady}); one already running under its id is this batch's
 * and will report its end; one that could not start ends as a failure.
 */
export function startTicket(s: BatchSchedule, input: TicketInput): Promise<void> {
  const { batchId } = s.config;
  const id = input.ticket.id;
  return startChild(ticketWorkflow, {
    workflowId: ticketWorkflowId(batchId, id),
    args: [input],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    staticSummary: input.ticket.title,
    staticDetails: `ticket ${id} of batch ${batchId}${input.reopen ? `, reopened: its landing ${input.reopen.merge.slice(0, 10)} broke done tickets` : ''}`,
    typedSearchAttributes: [
      { key: RatchetBatch, value: batchId },
      { key: RatchetTicket, value: id },
      { key: RatchetPhase, value: 'queued' },
      { key: RatchetAttempt, value: input.reopen?.before.attempts ?? 0 },
    ],
  }).then(
    () => undefined,
    (err: unknown) => {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      s.ended({ ticketId: id, failure: `could not start: ${(err as Error).message}` }, Date.now());
    },
  );
}
