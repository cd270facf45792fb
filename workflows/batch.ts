/**
 * batchWorkflow: runs a batch of tickets by their dependency graph and finishes only when the oracle holds.
 * Input: the batch file as JSON (what `temporal workflow start --input-file batch.json` sends), validated by the
 * `loadBatch` activity before any ticket starts. Scheduling is event-driven: a ticket's `ticketEnded` signal makes
 * its dependents ready in the same turn; no polling.
 *
 *   load + claim the tracker -> loop { wait for a change; start what is ready; read what changed; settle tampers,
 *   file discovered work, wake parked tickets, gate tickets behind human-gated blockers; pause if asked; maybe
 *   continue as new } until the oracle holds over a full read and main is healthy (the guard's final round) -> report
 *
 * The state and its rules are batch/schedule.ts (pure); the effects of a turn are batch/effects.ts. Trust (DESIGN.md
 * "Trust boundaries"): the batch records its own evidence for every ticket and the oracle counts a tracker state only
 * with it; a state that changes without ratchet writing it is a tracker tamper that pauses the batch until a person
 * sends `resume`. The batch never completes while a ticket workflow of its own still runs.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  log,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { checkEnds } from './batch/ends';
import { mainIsHealthy } from './batch/health';
import { BatchSchedule } from './batch/schedule';
import { acts, claim, fileDiscoveries, gateBlocked, loadOrRefuse, readTurn, releaseClaim, reply, sendTaps, settleTampers, shareHarness, show, startReady, wakeParked } from './batch/effects';
import { decodeCarry, encodeCarry, type BatchCarry, type CarryWire } from './carry';
import { claimWorkflowId } from './claim';
import {
  agentRunSignal,
  batchStatusQuery,
  claimCheckSignal,
  discoveredSignal,
  discoverUpdate,
  healSignal,
  splitSignal,
  resumeSignal,
  resumeUpdate,
  ticketEndedSignal,
  ticketProgressSignal,
  trackerTamperSignal,
  type BatchStatus,
} from './messages';
import { onUpdateOrSignal } from './handlers';
import { oracle } from './oracle';
import { RatchetBatch, RatchetPhase } from './search-attributes';
import type { DiscoveredRecord, RunReport } from './types';

export type { BatchCarry } from './carry';

export async function batchWorkflow(raw: unknown, carriedWire?: CarryWire | BatchCarry): Promise<RunReport> {
  const info = workflowInfo();
  const loading: BatchStatus = { batchId: info.workflowId.replace(/^batch-/, ''), state: 'loading', tickets: [], oracle: oracle([], [], {}), trackerTampers: [], discovered: [], heals: [], interventions: { total: 0, byKind: {} } };
  setHandler(batchStatusQuery, () => loading);
  // ---- load, validate and claim the tracker: nothing starts before this succeeds (a batch that continued as new
  // carries what it loaded and its claim) ----------------------------------------------------------------------------
  let s: BatchSchedule;
  if (carriedWire) {
    s = new BatchSchedule(decodeCarry(carriedWire));
  } else {
    const loaded = await loadOrRefuse(raw, info.workflowId);
    await claim(loaded);
    s = BatchSchedule.loaded(loaded, Date.now());
    upsertSearchAttributes([
      { key: RatchetBatch, value: loaded.config.batchId },
      { key: RatchetPhase, value: 'running' },
    ]);
  }
  listen(s);
  const claimId = claimWorkflowId(s.loaded.trackerKey);

  try {
    // ---- the loop: exit only through the oracle, with no ticket workflow of ours still running -------------------
    for (;;) {
      await condition(() => s.dirty);
      s.dirty = false;
      sendTaps(s);
      if (s.endsToCheck.size) checkEnds(s);
      // Ready by what the batch knows (a blocker's end sets its state): start them first, the read comes after.
      const starting = s.mayStart() ? startReady(s, s.ready(freeWhileWaiting(s))) : [];
      const { facts, full } = await readTurn(s);
      if (s.settle.length) await settleTampers(s);
      if (s.discoveries.length) {
        await fileDiscoveries(s);
        s.dirty = true; // read the new tickets' facts before judging
        await Promise.all(starting);
        continue;
      }
      if (s.parked.size) await wakeParked(s);
      const finished = s.judge(facts, full).satisfied && s.running.size === 0 && s.unresolved().length === 0 && s.held.length === 0;
      // A watch's intake batch stays open for the tickets its watch files: satisfied (or empty) is idle, not done.
      const open = s.config.intake === true;
      // The oracle judges a full read of the tracker, never the view as last read; and main's health (batch/health.ts).
      const healthy = finished && full && !open ? await mainIsHealthy(s) : true;
      if (finished && full && healthy && !open) break;
      if (finished && healthy && !open) s.dirty = true;
      if (await gateBlocked(s)) {
        s.dirty = true;
        await Promise.all(starting);
        continue;
      }
      s.pauseIfNeeded();
      if (s.state === 'running') {
        starting.push(...startReady(s, s.ready(freeWhileWaiting(s))));
        if (s.running.size === 0 && s.toRead.size === 0 && !(open && s.verdict.pending.length === 0)) {
          const pending = s.verdict.pending.map((p) => `${p.id} is ${p.state}${p.why ? ` (${p.why})` : ''}`).join(', ');
          s.pause('paused', `no ticket can start: ${pending}; fix the tracker or the tickets, then send "resume"`);
        }
      }
      // Every child started this turn is running before the turn ends.
      await Promise.all(starting);
      upsertSearchAttributes([{ key: RatchetPhase, value: s.state }]);
      show(s);
      const now = workflowInfo();
      const due = now.continueAsNewSuggested || now.historyLength >= s.config.continueAsNewAtEvents;
      if (due && s.discoveries.length === 0 && s.settle.length === 0 && allHandlersFinished()) {
        // Ticket workflows run on (abandoned) and report their end to the batch's workflow id: the next run gets it.
        await continueAsNew<typeof batchWorkflow>(raw, encodeCarry(s.snapshot()));
      }
    }
    s.state = 'done';
    s.pausedReason = undefined;
    upsertSearchAttributes([{ key: RatchetPhase, value: 'done' }]);
    s.finalReport(Date.now());
    show(s);
    await condition(allHandlersFinished);
  } catch (err) {
    // A batch that ends failed or cancelled frees its tracker at once (not by its claim's check); one that continues
    // as new keeps it.
    if (!(err instanceof ContinueAsNew)) await CancellationScope.nonCancellable(() => releaseClaim(claimId));
    throw err;
  }
  await releaseClaim(claimId);
  return s.report as RunReport;
}

/** The batch's message handlers: each a line into the schedule (validated updates with their lenient signal twins). */
function listen(s: BatchSchedule): void {
  const id = workflowInfo().workflowId;
  setHandler(batchStatusQuery, (ask) => s.status(ask));
  setHandler(ticketEndedSignal, (end) => {
    // patched: before 0.2.1 the signal's body was taken as the ticket's end; now it only says "look" (batch/ends.ts).
    if (patched('ticket-end-from-history')) return s.toCheck(end.ticketId);
    if (end.failure !== undefined) log.error(`ticket ${end.ticketId} workflow failed: ${end.failure}`);
    s.onEnded(end, Date.now());
  });
  // A claim checks now and then that its batch still runs (see claim.ts): nothing to do.
  setHandler(claimCheckSignal, () => undefined);
  setHandler(ticketProgressSignal, (p) => s.onProgress(p));
  setHandler(agentRunSignal, (r) => s.onAgentRun(r));
  setHandler(healSignal, (h) => {
    s.onHeal(h);
    // patched: before 0.2.3 only tickets started after an accepted heal had its harness; running ones now get it too.
    if (h.harness && patched('harness-to-running')) shareHarness(s, h.ticketId, h.harness);
  });
  setHandler(trackerTamperSignal, (t) => s.onTamper(t));
  setHandler(splitSignal, ({ ticketId }) => s.onSplit(ticketId));
  setHandler(discoveredSignal, (d) => s.onDiscovered(d));
  const resume = (d: Parameters<BatchSchedule['resume']>[0]): void => {
    for (const dropped of s.resume(d, Date.now())) reply(s, dropped, s.record(dropped, { status: 'dropped', reason: `dropped by ${d.by} at the discovery cap` }, Date.now()));
  };
  onUpdateOrSignal(
    resumeUpdate,
    resumeSignal,
    (d) => s.checkResume(d, id),
    (d) => {
      resume(d);
      return { batchId: s.config.batchId, state: 'running' as const };
    },
  );
  setHandler(
    discoverUpdate,
    async (req) => {
      const key = s.discover(req);
      await condition(() => s.discovered.has(key));
      const r = s.discovered.get(key) as DiscoveredRecord;
      if (r.status !== 'filed' || r.ticketId === undefined) {
        throw ApplicationFailure.create({ type: 'BadInput', nonRetryable: true, message: `discover refused: ${r.reason ?? r.status}` });
      }
      return { ticketId: r.ticketId, dependsOn: r.dependsOn, blocks: r.blocks };
    },
    { validator: (req) => s.checkDiscover(req) },
  );
}

/**
 * Whether tickets waiting for a person hold no slot; patched: before 0.2.1 they held one (asked only when one waits,
 * so a history without waiting tickets records no marker).
 */
function freeWhileWaiting(s: BatchSchedule): boolean {
  return s.anyWaiting() && patched('waiting-holds-no-slot');
}

/**
 * checkBatchWorkflow: what `ratchet start` runs before starting a batch, so bad input is refused with nothing
 * started. It runs the same `loadBatch` validation on a worker (where the repository is), and names the tracker's
 * claim so the caller can refuse a second batch over the same tickets.
 * @returns the batch id, the ticket count and the claim's workflow id.
 * @throws a non-retryable failure of type `BadInput` (or `ConfigError`) naming the field, the value and the fix.
 */
export async function checkBatchWorkflow(raw: unknown, batchWorkflowId: string): Promise<{ batchId: string; tickets: number; claim: string }> {
  const loaded = await loadOrRefuse(raw, batchWorkflowId, acts.load);
  return { batchId: loaded.config.batchId, tickets: loaded.tickets.length, claim: claimWorkflowId(loaded.trackerKey) };
}
