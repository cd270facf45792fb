/**
 * `ratchet report`: a finished batch's run report in the units a team budgets in (issue 28 item 7; seed 004's CSV
 * metrics): the batch's result joined with each ticket workflow's own (kind, size, time per phase, failed attempts by
 * cause, cost), as JSON, or one CSV row per ticket. Unknown is an empty cell, never 0.
 */
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { stringify } from 'csv-stringify/sync';
import { BadInputError, BatchFailedError } from '../workflows/errors';
import { batchWorkflowId, ticketWorkflowId } from '../workflows/messages';
import type { FailureCause, RoleProfile, RouteRole, RunReport, TicketReport, TicketRow } from '../workflows/types';

/**
 * A finished batch's result: its run report, as the batch workflow returned it (rows without the tickets' own
 * results; see {@link joinTicketResults}).
 * @throws BadInputError (exit 2) naming the batch, what it is and the fix when no such batch exists or it still runs;
 *   BatchFailedError (exit 1) when it ended without a report (failed, cancelled, terminated, timed out).
 */
export async function finishedReport(client: Client, batchId: string): Promise<RunReport> {
  const workflowId = batchWorkflowId(batchId);
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe().catch((e: unknown) => {
    if (e instanceof WorkflowNotFoundError) {
      throw new BadInputError(`batch ${batchId}`, [`no workflow ${workflowId} in this namespace; fix: check the id (\`temporal workflow list\` or the Web UI)`]);
    }
    throw e;
  });
  const status = description.status.name;
  if (status === 'RUNNING') {
    throw new BadInputError(`batch ${batchId}`, [
      `workflow ${workflowId} is still running, and a batch writes its report only when it finishes; fix: wait for it ` +
        `(\`ratchet watch ${batchId}\`), or see where it is now with \`ratchet status ${batchId}\``,
    ]);
  }
  if (status !== 'COMPLETED') {
    const failure = await handle.result().then(
      () => status.toLowerCase(),
      (e: unknown) => (e instanceof WorkflowFailedError && e.cause ? e.cause.message : e instanceof Error ? e.message : String(e)),
    );
    throw new BatchFailedError(batchId, `${failure} (workflow ${workflowId} ended ${status.toLowerCase()}, with no report); fix: see \`ratchet status ${batchId}\``);
  }
  return (await handle.result()) as RunReport;
}

/**
 * `report` with each ticket's row joined with its ticket workflow's result: title, kind, size, time per phase, failed
 * attempts by cause, cost and tokens. A ticket whose result cannot be read (never run: done before the batch, or
 * blocked; gone from the server's retention) keeps its row as the batch recorded it. Reads 8 results at a time.
 * @returns a new report; `report` is not changed.
 */
export async function joinTicketResults(client: Client, report: RunReport): Promise<RunReport> {
  const rows = [...report.tickets];
  let cursor = 0;
  const readNext = async (): Promise<void> => {
    while (cursor < rows.length) {
      const i = cursor++;
      const row = rows[i];
      try {
        const r = (await client.workflow.getHandle(ticketWorkflowId(report.batchId, row.ticketId)).result()) as TicketReport;
        rows[i] = joined(row, r);
      } catch {
        // Not readable: the row as the batch recorded it.
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, readNext));
  return { ...report, tickets: rows };
}

/** A batch's row with what its ticket's own result adds (the result's fields that are set). */
function joined(row: TicketRow, r: TicketReport): TicketRow {
  const from = { title: r.title, phaseMs: r.phaseMs, failures: r.failures, kind: r.kind, size: r.size, costUsd: r.costUsd, costUnknownRuns: r.costUnknownRuns, tokens: r.tokens, planSize: r.planSize, profiles: r.profiles };
  return { ...row, ...Object.fromEntries(Object.entries(from).filter(([, v]) => v !== undefined)) };
}

/** The CSV's failure columns: each cause ratchet records, then those it cannot record yet (always empty). */
const CAUSE_COLUMNS: [column: string, cause: FailureCause | undefined][] = [
  ['attempts_failed_gates', 'gates'],
  ['attempts_failed_semantic_conflict', 'semantic-conflict'],
  ['attempts_failed_conflict', 'conflict'],
  ['attempts_failed_agent', 'agent'],
  ['attempts_failed_protected', 'protected'],
  ['attempts_failed_harness', 'harness'],
  ['attempts_failed_checks', 'checks'],
  ['attempts_failed_review', 'review'],
  ['attempts_failed_other', 'other'],
  // A ticket's budget gate (issue 28 item 5) does not exist yet: unknown, not 0.
  ['attempts_failed_budget', undefined],
];

/** The roles whose profile the CSV shows, one `profile_<role>` column each. */
const PROFILE_ROLES: readonly RouteRole[] = ['plan', 'implement', 'review', 'heal', 'decompose'];

/**
 * The CSV's columns, in order: `ticket`, `title`, `kind`, `size`, `outcome`, `attempts`, one `attempts_failed_<cause>`
 * per cause, `cost_usd` (what the runs that reported a cost spent), `cost_unknown_runs` (runs that reported none: the
 * cost is at least `cost_usd`), `tokens`, `agent_minutes` (plan and implement phases), `interventions`, `merge_commit`,
 * `plan_size` (`unknown`: a free-text plan), one `profile_<role>` per role (the profile that ran it, `<name> (fallback)`
 * when its route fell back), `route_fallbacks` (`<role>: <why>`, `; `-separated), `review_blocks`, `review_findings`
 * and `review_findings_resolved` (empty when not reviewed).
 */
export const CSV_COLUMNS: readonly string[] = [
  'ticket',
  'title',
  'kind',
  'size',
  'outcome',
  'attempts',
  ...CAUSE_COLUMNS.map(([column]) => column),
  'cost_usd',
  'cost_unknown_runs',
  'tokens',
  'agent_minutes',
  'interventions',
  'merge_commit',
  'plan_size',
  ...PROFILE_ROLES.map((role) => `profile_${role}`),
  'route_fallbacks',
  'review_blocks',
  'review_findings',
  'review_findings_resolved',
];

/**
 * One record per ticket, keyed by {@link CSV_COLUMNS}: numbers as text, unknown as `''` (a row without its ticket's
 * result has no kind, size, time or cost; failed attempts are unknown for a ticket whose workflow predates counting
 * them, 0 for one that made no attempt). Pure.
 */
export function csvRecords(report: RunReport): Record<string, string>[] {
  return report.tickets.map((row) => {
    // Rows leave out empty counts; the joined result says `{}` when no attempt failed; no attempt, nothing failed.
    const failures = row.failures ?? (row.attempts === 0 ? {} : undefined);
    const causes = Object.fromEntries(CAUSE_COLUMNS.map(([column, cause]) => [column, cause === undefined || failures === undefined ? '' : String(failures[cause] ?? 0)]));
    const agentMs = row.phaseMs === undefined ? undefined : (row.phaseMs.plan ?? 0) + (row.phaseMs.implement ?? 0);
    return {
      ticket: row.ticketId,
      title: row.title ?? '',
      kind: row.kind ?? '',
      size: row.size ?? '',
      outcome: row.outcome,
      attempts: String(row.attempts),
      ...causes,
      cost_usd: row.costUsd === undefined ? '' : String(row.costUsd),
      cost_unknown_runs: row.costUsd === undefined && row.costUnknownRuns === undefined ? '' : String(row.costUnknownRuns ?? 0),
      tokens: row.tokens === undefined ? '' : String(row.tokens),
      agent_minutes: agentMs === undefined ? '' : (agentMs / 60_000).toFixed(2),
      interventions: String(row.interventions?.length ?? 0),
      merge_commit: row.mergeCommit ?? '',
      plan_size: row.planSize ?? '',
      ...Object.fromEntries(PROFILE_ROLES.map((role) => [`profile_${role}`, profileCell(row.profiles?.[role])])),
      route_fallbacks: PROFILE_ROLES.flatMap((role) => (row.profiles?.[role]?.fallback ? [`${role}: ${row.profiles[role]?.fallback}`] : [])).join('; '),
      ...reviewCells(row),
    };
  });
}

/**
 * The review columns: BLOCKs, their findings, and the findings the next attempt resolved (Cursor's resolution rate:
 * resolved over findings); empty when the ticket was not reviewed.
 */
function reviewCells(row: TicketRow): Record<'review_blocks' | 'review_findings' | 'review_findings_resolved', string> {
  const blocks = (row.reviews ?? []).filter((r) => r.verdict === 'BLOCK');
  if (!row.reviews?.length) return { review_blocks: '', review_findings: '', review_findings_resolved: '' };
  const findings = blocks.reduce((n, r) => n + r.findings.length, 0);
  const resolved = blocks.reduce((n, r) => n + (r.resolved ? r.findings.length : 0), 0);
  return { review_blocks: String(blocks.length), review_findings: String(findings), review_findings_resolved: String(resolved) };
}

/** A role's profile cell: its name, marked when its route fell back (the reason is in `route_fallbacks`). */
function profileCell(p: RoleProfile | undefined): string {
  if (p === undefined) return '';
  return p.fallback ? `${p.profile} (fallback)` : p.profile;
}

/**
 * The report as CSV (RFC 4180, `\n` line ends): a header of {@link CSV_COLUMNS}, then one row per ticket. Fields with
 * a comma, a quote or a line break are quoted; a field that starts like a spreadsheet formula (`=`, `+`, `-`, `@`,
 * tab, CR: a title an agent wrote) is prefixed with `'` so no spreadsheet runs it. Pure.
 */
export function reportCsv(report: RunReport): string {
  return stringify(csvRecords(report), { header: true, columns: [...CSV_COLUMNS], escape_formulas: true });
}
