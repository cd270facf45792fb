/**
 * Plain-text rendering of run reports and batch status for a terminal. Pure functions: no I/O.
 */
import { formatMs } from '../workflows/duration';
import type { QueueRow, QueueStatus } from '../workflows/merge-queue/messages';
import type { BatchStatus } from '../workflows/messages';
import type { DiscoveredRecord, HealRecord, PhaseName, RunReport, TrackerTamper } from '../workflows/types';

/** Phase columns, in lifecycle order. */
const PHASES: PhaseName[] = ['queued', 'plan', 'human-gate', 'implement', 'blocked', 'validate', 'merge', 'deploy', 'verify-live', 'self-heal'];

export { formatMs };

/** Left-aligned columns separated by two spaces; trailing spaces trimmed. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

/** `satisfied (4 done, 1 human-gated)` or `NOT satisfied (pending: a, b)`. */
function verdictText(oracle: { satisfied: boolean; done: string[]; humanGated: string[]; pending: (string | { id: string; state: string; why?: string })[] }): string {
  const counts = `${oracle.done.length} done, ${oracle.humanGated.length} human-gated`;
  if (oracle.satisfied) return `satisfied (${counts})`;
  const pending = oracle.pending.map((p) => (typeof p === 'string' ? p : `${p.id}=${p.state}${p.why ? ` (${p.why})` : ''}`));
  return `NOT satisfied (${counts}, pending: ${pending.join(', ') || 'none'})`;
}

/**
 * A compact report of a finished batch: one row per ticket (outcome, attempts, merge commit short sha, time per
 * phase where the rows have it: see `joinTicketReports`), interventions by kind, and the oracle's verdict.
 * @returns multi-line text, no trailing newline.
 */
export function formatReport(report: RunReport): string {
  const used = PHASES.filter((p) => report.tickets.some((t) => (t.phaseMs?.[p] ?? 0) > 0));
  const rows = [['ticket', 'outcome', 'attempts', 'merge', ...used, 'cost']];
  for (const t of report.tickets) {
    rows.push([
      t.ticketId,
      t.outcome,
      String(t.attempts),
      t.mergeCommit ? t.mergeCommit.slice(0, 7) : '-',
      ...used.map((p) => (t.phaseMs?.[p] !== undefined ? formatMs(t.phaseMs[p]) : '-')),
      costCell(t),
    ]);
  }
  const lines = [`Batch ${report.batchId}: ${report.tickets.length} tickets in ${formatMs(report.ms)}`, table(rows), costLine(report)];
  const gated = report.tickets.filter((t) => t.outcome === 'human-gated' && t.reason);
  for (const t of gated) lines.push(`  ${t.ticketId}: ${t.reason}`);
  const byKind = Object.entries(report.interventions.byKind).map(([kind, n]) => `${kind} ${n}`);
  lines.push(`Interventions: ${report.interventions.total}${byKind.length ? ` (${byKind.join(', ')})` : ''}`);
  for (const i of report.interventions.list) {
    lines.push(`  ${i.kind} ${i.ticketId} at the ${i.gate} gate by ${i.by}${i.comment ? `: ${i.comment}` : ''}`);
  }
  const guarded = report.tickets.filter((t) => (t.guardedBy ?? []).length);
  if (guarded.length) {
    lines.push('Tests that now guard each ticket (regression guard):');
    for (const t of guarded) lines.push(`  ${t.ticketId}: ${listed(t.guardedBy ?? [])}`);
  }
  const caught = report.tamperingsCaught ?? [];
  lines.push(`Tamperings caught: ${caught.length}`);
  for (const c of caught) lines.push(`  ${c.ticketId} attempt ${c.attempt} changed protected ${c.paths.join(', ')}: attempt failed`);
  lines.push(...tamperLines(report.trackerTampers ?? []));
  lines.push(...discoveredLines(report.discovered ?? []));
  lines.push(...healLines(report.heals ?? []));
  lines.push(...reviewLines(report));
  lines.push(...mainLines(report));
  lines.push(`Oracle: ${verdictText(report.oracle)}`);
  return lines.join('\n');
}

/** A ticket's cost cell: what its agents reported (`+`: and runs of unknown cost), `unknown` when none did. */
function costCell(t: RunReport['tickets'][number]): string {
  if (t.costUsd === undefined) return t.attempts || t.costUnknownRuns ? 'unknown' : '-';
  return `$${t.costUsd.toFixed(2)}${t.costUnknownRuns ? '+' : ''}`;
}

/** The batch's cost: the sum of what its tickets' agents reported, never an unknown counted as zero. */
function costLine(report: RunReport): string {
  const known = report.tickets.filter((t) => t.costUsd !== undefined);
  const unknown = report.tickets.filter((t) => (t.costUsd === undefined && t.attempts > 0) || t.costUnknownRuns);
  if (!known.length) return `Cost: unknown (no agent reported one)`;
  const usd = known.reduce((n, t) => n + (t.costUsd ?? 0), 0);
  return `Cost: $${usd.toFixed(2)} reported by agents${unknown.length ? `, and unknown for ${unknown.map((t) => t.ticketId).join(', ')} (at least that much more)` : ''}`;
}

/**
 * The reviews before merge (issue 28 item 4): how many ran, the BLOCKs with their findings, and whether the next
 * attempt resolved them (the resolution rate Cursor measures: resolved findings over findings).
 */
function reviewLines(report: RunReport): string[] {
  const reviews = report.tickets.flatMap((t) => (t.reviews ?? []).map((r) => ({ ...r, ticketId: t.ticketId })));
  if (!reviews.length) return [];
  const blocks = reviews.filter((r) => r.verdict === 'BLOCK');
  const findings = blocks.reduce((n, r) => n + r.findings.length, 0);
  const resolved = blocks.reduce((n, r) => n + (r.resolved ? r.findings.length : 0), 0);
  const lines = [`Reviews before merge: ${reviews.length} (${blocks.length} blocked; findings resolved by the next attempt: ${resolved} of ${findings})`];
  for (const r of blocks) {
    const what = r.findings.map((f) => `${f.file}${f.line !== undefined ? `:${f.line}` : ''}: ${f.what}`).join('; ');
    lines.push(`  ${r.ticketId} attempt ${r.attempt} blocked by ${r.profile}: ${what}; resolved: ${r.resolved === undefined ? 'not yet' : r.resolved ? 'yes' : 'no'}`);
  }
  for (const r of reviews.filter((x) => x.verdict === 'none' || x.verdict === 'INFRA_ERROR')) lines.push(`  ${r.ticketId} attempt ${r.attempt}: the reviewer gave no verdict (${r.why ?? r.verdict})`);
  return lines;
}

/**
 * What kept main moving forward (issue 26): semantic conflicts the merge queue caught, regressions the guard found
 * with their culprits, reverts with their evidence, flaky guard probes, and main's health at the end.
 */
function mainLines(report: RunReport): string[] {
  const lines: string[] = [];
  const conflicts = report.semanticConflicts ?? [];
  if (conflicts.length) {
    lines.push(`Semantic conflicts caught before landing: ${conflicts.length}`);
    for (const c of conflicts) lines.push(`  ${c.ticketId} attempt ${c.attempt} failed ${[...c.gates, ...c.tests].join(', ')} merged onto ${c.base.slice(0, 7)} (landed since its base: ${c.landedSince.length})`);
  }
  const regs = report.regressions ?? [];
  if (regs.length) {
    lines.push(`Regressions: ${regs.length}`);
    for (const r of regs) lines.push(`  ${r.ticketId}'s probe "${r.probe}" broke after ${r.culprit} landed (${r.culpritCommit.slice(0, 7)})`);
  }
  const reverts = report.reverts ?? [];
  if (reverts.length) {
    lines.push(`Reverts: ${reverts.length}`);
    for (const r of reverts) lines.push(`  ${r.ticketId}: ${r.merge.slice(0, 7)} reverted by ${r.revertCommit.slice(0, 7)} (${r.by}); probes passed again: ${r.restored ? 'yes' : 'no'}`);
  }
  const flaky = report.flaky ?? [];
  if (flaky.length) lines.push(`Flaky guard probes (failed once, passed on the re-run; nothing reverted): ${flaky.map((f) => `${f.ticketId}/${f.probe}`).join(', ')}`);
  if (report.mainHealth) lines.push(`Main's health: ${report.mainHealth.probes.length} probes passed after ${report.mainHealth.commit.slice(0, 7)}`);
  if (report.mainLine?.length) {
    lines.push(`Main since the batch's first landing (first-parent, oldest first): ${report.mainLine.length} commits`);
    for (const c of report.mainLine) lines.push(`  ${c.commit.slice(0, 7)} ${c.validation.padEnd(15)} ${c.subject}`);
  }
  return lines;
}

/** The merge queue's line and the candidate under test, for `ratchet status`. */
export function formatQueue(q: QueueStatus): string {
  const row = (r: QueueRow): string => `${r.ticketId} (${r.batchId}) ${r.commit.slice(0, 7)}`;
  return [
    `Merge queue ${q.key}: ${q.testing.length ? `testing candidate #${q.candidates}: ${q.testing.map(row).join(' + ')}` : 'no candidate under test'}`,
    q.line.length ? `  in line: ${q.line.map(row).join(', ')}` : '  nobody in line',
    `  landed ${q.landed}, semantic conflicts ${q.semanticConflicts} (this run of the queue)`,
  ].join('\n');
}

function listed(items: string[], limit = 5): string {
  return items.length <= limit ? items.join('; ') : `${items.slice(0, limit).join('; ')}; and ${items.length - limit} more`;
}

/** Self-heals: counts by outcome, then one line each (what the tripwire found, for a rejected one). */
function healLines(heals: HealRecord[]): string[] {
  if (!heals.length) return [];
  const count = (o: HealRecord['outcome']): number => heals.filter((h) => h.outcome === o).length;
  return [
    `Self-heals: ${heals.length} (accepted ${count('accepted')}, rejected by the tripwire ${count('rejected')}, churn ${count('churn')}, ` +
      `smoke check failed ${count('smoke-failed')}, activation gaps filed ${count('activation-gap')}, handed over ${count('handed-over')})`,
    ...heals.map((h) => `  ${h.ticketId} heal ${h.n} ${h.outcome}${h.differences?.length ? `: it ${h.differences.join('; ')}` : ''} (${h.verdict}: ${h.reason.split('\n')[0]})`),
  ];
}

/** Discovered work: who found it, the edges, and what became of it. */
function discoveredLines(records: DiscoveredRecord[]): string[] {
  if (!records.length) return [];
  const filed = records.filter((r) => r.status === 'filed').length;
  return [
    `Discovered work: ${records.length} (${filed} filed)`,
    ...records.map((r) => {
      const who =
        r.filedBy.kind === 'person' ? r.filedBy.by : `ticket ${r.filedBy.ticketId} ${r.filedBy.heal ? `heal ${r.filedBy.heal}` : `attempt ${r.filedBy.attempt}`}`;
      const edges = [r.dependsOn.length ? `depends on ${r.dependsOn.join(', ')}` : '', r.blocks.length ? `blocks ${r.blocks.join(', ')}` : '']
        .filter(Boolean)
        .join('; ');
      const waits = r.check === 'approve' && r.reason ? `; ${r.reason}` : '';
      const what = r.status === 'filed' ? `filed as ${r.ticketId}${waits}` : `${r.status}${r.reason ? `: ${r.reason}` : ''}`;
      return `  "${r.title}" found by ${who}${edges ? ` (${edges})` : ''}: ${what}`;
    }),
  ];
}

function tamperLines(tampers: TrackerTamper[]): string[] {
  if (!tampers.length) return [];
  return [
    `Tracker tampers (states ratchet did not write; never counted): ${tampers.length}`,
    ...tampers.map(
      (t) =>
        `  ${t.ticketId}: ${t.from} -> ${t.to} (seen by the ${t.seenBy})` +
        (t.resolved ? `; ${t.resolved.by} resumed: ${t.resolved.action}` : '; waiting for a person'),
    ),
  ];
}

/**
 * A batch's live status: state, one row per ticket (tracker state, evidence, phase while it runs, the gate it waits
 * at and for how long), tracker tampers, discovered work, the oracle's verdict, and the command to answer each
 * waiting gate.
 * @param now - the time "waited" is measured to, ms since epoch.
 * @returns multi-line text, no trailing newline.
 */
export function formatStatus(status: BatchStatus, now = Date.now()): string {
  const lines = [`Batch ${status.batchId}: ${status.state}${status.pausedReason ? ` (${status.pausedReason})` : ''}`];
  const rows = [['ticket', 'state', 'evidence', 'running', 'waiting for', 'depends on', 'title']];
  for (const t of status.tickets) {
    const ev = t.evidence ? `${t.evidence.outcome} (${t.evidence.source})` : '-';
    const run = t.running ? (t.phase ?? 'yes') : 'no';
    const gate = t.waitingFor ? `${t.waitingFor}${t.waitingSince !== undefined ? ` (${formatMs(Math.max(0, now - t.waitingSince))})` : ''}` : '-';
    rows.push([t.id, t.state, ev, run, gate, t.dependsOn.join(',') || '-', t.title]);
  }
  if (status.tickets.length > 0) lines.push(table(rows));
  if (status.ticketCount !== undefined && status.ticketCount > status.tickets.length) {
    const counts = Object.entries(status.counts ?? {}).map(([state, n]) => `${state} ${n}`);
    lines.push(
      `Tickets: ${status.ticketCount}${counts.length ? ` (${counts.join(', ')})` : ''}; listed: ${status.tickets.length}. ` +
        `Page through them with: temporal workflow query --workflow-id batch-${status.batchId} --name status --input '{"from":${status.tickets.length}}'`,
    );
  }
  lines.push(...tamperLines(status.trackerTampers ?? []));
  lines.push(...discoveredLines(status.discovered ?? []));
  lines.push(...healLines(status.heals ?? []));
  // The agent tap (batch/agent-breaker.ts): why agents stopped and who waits, or the canary that runs first.
  if (status.agents?.line) lines.push(`Agents: ${status.agents.line.replace(/^agents: /, '')}`);
  if (status.interventions) {
    const byKind = Object.entries(status.interventions.byKind).map(([kind, n]) => `${kind} ${n}`);
    lines.push(`Interventions so far: ${status.interventions.total}${byKind.length ? ` (${byKind.join(', ')})` : ''}`);
  }
  lines.push(`Oracle: ${verdictText(status.oracle)}`);
  for (const t of status.tickets.filter((x) => x.waitingFor)) {
    lines.push(`  ${t.id} waits at the ${t.waitingFor} gate: ratchet approve ${status.batchId} ${t.id}  (or reject)`);
  }
  if (status.state === 'paused') lines.push(`  resume scheduling: ratchet resume ${status.batchId}`);
  return lines.join('\n');
}
