/**
 * batchWorkflow: runs a batch of tickets by their dependency graph and finishes only when the oracle holds.
 * Input: the batch file as JSON (what `temporal workflow start --input-file batch.json` sends), validated by the
 * `loadBatch` activity before any ticket starts. Scheduling is event-driven: every child completion re-reads the
 * tracker and recomputes the ready set; no polling.
 */
import {
  ApplicationFailure,
  ActivityFailure,
  condition,
  executeChild,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { blockedByHumanGate, readySet } from './graph';
import { batchStatusQuery, resumeSignal, resumeUpdate, ticketWaitingSignal, ticketWorkflowId, type BatchStatus, type ResumeDecision } from './messages';
import { oracle, type OracleVerdict } from './oracle';
import { RatchetAttempt, RatchetBatch, RatchetPhase, RatchetTicket } from './search-attributes';
import { ticketWorkflow } from './ticket';
import type { GateReason, Intervention, LoadedBatch, RunReport, Ticket, TicketReport, TicketState } from './types';

export async function batchWorkflow(raw: unknown): Promise<RunReport> {
  const info = workflowInfo();
  const startedAt = Date.now();
  const acts = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes: ['BadInput', 'RatchetError'] },
  });

  let state: BatchStatus['state'] = 'loading';
  let pausedReason: string | undefined;
  let tickets: Ticket[] = [];
  const states = new Map<string, TicketState>();
  const running = new Set<string>();
  const started = new Set<string>();
  const waiting = new Map<string, GateReason>();
  const reports = new Map<string, TicketReport>();
  const batchInterventions: Intervention[] = [];
  let verdict: OracleVerdict = oracle([], []);
  let report: RunReport | undefined = undefined;
  let dirty = true;
  let consecutiveFailures = 0;
  let lastFailure: string | undefined;
  let loaded: LoadedBatch | undefined;

  setHandler(batchStatusQuery, () => ({
    batchId: loaded?.config.batchId ?? info.workflowId.replace(/^batch-/, ''),
    state,
    pausedReason,
    tickets: tickets.map((t) => ({
      id: t.id,
      title: t.title,
      dependsOn: t.dependsOn,
      state: states.get(t.id) ?? t.state,
      running: running.has(t.id),
      waitingFor: waiting.get(t.id),
    })),
    oracle: verdict,
    report,
  }));
  setHandler(ticketWaitingSignal, ({ ticketId, gate }) => {
    if (gate) waiting.set(ticketId, gate);
    else waiting.delete(ticketId);
    // The ticket wrote its tracker state before signalling: re-read so status and the oracle's verdict show it.
    dirty = true;
  });
  const checkResume = (d: ResumeDecision): void => {
    if (typeof d?.by !== 'string' || d.by.trim() === '') {
      throw new Error(`resume needs a payload {"by": "<who>", "comment"?: "<text>"}: field "by" is ${JSON.stringify(d?.by)}`);
    }
    if (state !== 'paused') throw new Error(`batch ${info.workflowId} is ${state}, not paused; resume is accepted only while the status query shows state "paused"`);
  };
  const doResume = ({ by, comment }: ResumeDecision): void => {
    batchInterventions.push({ kind: 'resume', ticketId: '', gate: 'circuit-breaker', by, comment, at: Date.now() });
    state = 'running';
    pausedReason = undefined;
    consecutiveFailures = 0;
    // Tickets that ended without reaching done or human-gated may be scheduled again.
    for (const id of [...started]) if (!running.has(id) && !isFinal(states.get(id))) started.delete(id);
    dirty = true;
  };
  setHandler(
    resumeUpdate,
    (d) => {
      doResume(d);
      return { batchId: loaded?.config.batchId ?? info.workflowId, state: 'running' as const };
    },
    { validator: checkResume },
  );
  setHandler(resumeSignal, (d) => {
    try {
      checkResume(d);
      doResume(d);
    } catch (err) {
      log.warn(`resume signal ignored: ${(err as Error).message}`);
    }
  });

  // ---- load and validate: nothing starts before this succeeds ---------------------------------------------
  try {
    loaded = await acts.loadBatch({ raw, workflowId: info.workflowId });
  } catch (err) {
    state = 'failed';
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
      throw ApplicationFailure.create({ message: err.cause.message, type: err.cause.type ?? 'BadInput', nonRetryable: true });
    }
    throw err;
  }
  const { config, doneFingerprint } = loaded;
  tickets = loaded.tickets;
  const ids = tickets.map((t) => t.id);
  const byId = new Map(tickets.map((t) => [t.id, t]));
  for (const t of tickets) states.set(t.id, t.state);
  state = 'running';
  upsertSearchAttributes([
    { key: RatchetBatch, value: config.batchId },
    { key: RatchetPhase, value: 'running' },
  ]);

  function isFinal(s: TicketState | undefined): boolean {
    return s === 'done' || s === 'human-gated';
  }

  function render(): void {
    const rows = tickets.map((t) => {
      const s = states.get(t.id);
      const w = waiting.get(t.id);
      return `| ${t.id} | ${s}${running.has(t.id) ? ' (running)' : ''}${w ? `, waiting for a person: ${w}` : ''} | ${t.dependsOn.join(', ')} |`;
    });
    setCurrentDetails(
      [
        `### batch ${config.batchId}: ${state}${pausedReason ? ` (${pausedReason})` : ''}`,
        `oracle: ${verdict.satisfied ? 'satisfied' : `${verdict.pending.length} pending`}, ${verdict.done.length} done, ${verdict.humanGated.length} human-gated`,
        '',
        '| ticket | state | depends on |',
        '|---|---|---|',
        ...rows,
      ].join('\n'),
    );
  }

  function start(ticket: Ticket): void {
    started.add(ticket.id);
    running.add(ticket.id);
    const child = executeChild(ticketWorkflow, {
      workflowId: ticketWorkflowId(config.batchId, ticket.id),
      args: [{ batchId: config.batchId, config, ticket }],
      staticSummary: ticket.title,
      staticDetails: `ticket ${ticket.id} of batch ${config.batchId}`,
      typedSearchAttributes: [
        { key: RatchetBatch, value: config.batchId },
        { key: RatchetTicket, value: ticket.id },
        { key: RatchetPhase, value: 'queued' },
        { key: RatchetAttempt, value: 0 },
      ],
    });
    child.then(
      (r) => {
        reports.set(ticket.id, r);
        consecutiveFailures = r.outcome === 'done' ? 0 : consecutiveFailures + 1;
      },
      (err: unknown) => {
        consecutiveFailures++;
        log.error(`ticket ${ticket.id} workflow failed: ${(err as Error).message}`);
        lastFailure = `ticket ${ticket.id} workflow failed: ${(err as Error).message}`;
      },
    ).finally(() => {
      running.delete(ticket.id);
      waiting.delete(ticket.id);
      dirty = true;
    });
  }

  // ---- the loop: exit only through the oracle ---------------------------------------------------------------
  for (;;) {
    await condition(() => dirty);
    dirty = false;
    const facts = await acts.readFacts({ config, ids });
    for (const f of facts) states.set(f.id, f.state);
    verdict = oracle(ids, facts);
    if (verdict.satisfied) break;

    // A person's reject of a blocker is final for its dependents too: record them, naming the blocker.
    const blocked = [...blockedByHumanGate(tickets, states)].filter(([id]) => !running.has(id));
    for (const [id, blocker] of blocked) {
      await acts.setTicketState({ config, ticketId: id, state: 'human-gated', note: `blocked by human-gated ticket ${blocker}` });
      started.add(id);
      reports.set(id, blockedReport(byId.get(id) as Ticket, blocker));
    }
    if (blocked.length) {
      dirty = true;
      continue;
    }

    if (state === 'running' && consecutiveFailures >= config.circuitBreaker) {
      state = 'paused';
      pausedReason = `circuit breaker: ${consecutiveFailures} tickets in a row ended without done${lastFailure ? ` (last: ${lastFailure})` : ''}; send the batch "resume" (update or signal) to go on`;
    }
    if (state === 'running') {
      for (const id of readySet(tickets, states, started)) {
        if (running.size >= config.maxParallel) break;
        start(byId.get(id) as Ticket);
      }
      if (running.size === 0) {
        state = 'paused';
        pausedReason = `no ticket can start: ${verdict.pending.map((p) => `${p.id} is ${p.state}`).join(', ')}; fix the tracker or the tickets, then send "resume"`;
      }
    }
    upsertSearchAttributes([{ key: RatchetPhase, value: state }]);
    render();
  }

  state = 'done';
  pausedReason = undefined;
  upsertSearchAttributes([{ key: RatchetPhase, value: 'done' }]);
  const ticketReports = ids.map((id) => reports.get(id) ?? alreadyFinalReport(byId.get(id) as Ticket, states.get(id)));
  const all = [...ticketReports.flatMap((r) => r.interventions), ...batchInterventions];
  const byKind: Record<string, number> = {};
  for (const i of all) byKind[i.kind] = (byKind[i.kind] ?? 0) + 1;
  report = {
    batchId: config.batchId,
    oracle: { satisfied: verdict.satisfied, done: verdict.done, humanGated: verdict.humanGated, pending: verdict.pending.map((p) => p.id) },
    tickets: ticketReports,
    interventions: { total: all.length, byKind, list: all },
    startedAt,
    ms: Date.now() - startedAt,
    doneFingerprint,
  };
  render();
  await condition(allHandlersFinished);
  return report;
}

function blockedReport(t: Ticket, blocker: string): TicketReport {
  return { ticketId: t.id, title: t.title, outcome: 'human-gated', attempts: 0, phases: [], phaseMs: {}, interventions: [], reason: `blocked by human-gated ticket ${blocker}` };
}

function alreadyFinalReport(t: Ticket, s: TicketState | undefined): TicketReport {
  return {
    ticketId: t.id,
    title: t.title,
    outcome: s === 'done' ? 'done' : 'human-gated',
    attempts: 0,
    phases: [],
    phaseMs: {},
    interventions: [],
    reason: `already ${s} in the tracker when the batch started`,
  };
}
