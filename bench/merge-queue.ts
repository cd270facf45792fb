/**
 * Benchmark: what the merge queue costs (issue 26, item 7), against today's unvalidated landing, in one run.
 * On one local dev server, with an in-process worker per run (createWorker), real git and boxed gate runs:
 * - plain: N independent tickets, a shell agent that writes the ticket's file, and one gate of fixed duration
 *   (`sleep 2`, then the ticket's file is checked), 16 at once. Run once with the queue's candidate validation off
 *   (`unvalidated`: the same pipeline, ticket side and queue, but the worker's `landCandidate` merges each entry in
 *   order with `mergeBranch` and runs no gate: what landing was before the queue) and once per `mergeQueue.batchSize`
 *   with the queue as it ships. Figures: landed tickets/min and its ratio to `unvalidated` (goal >= 0.8), and gate
 *   runs per landed ticket (its own validate plus its share of candidate runs; goal <= 1.3), counted as the
 *   `gate-<name>.log` files under `<artifactsDir>/<batchId>/` (attempt folders and `_queue/candidate-<n>/`; PASS_TO_PASS
 *   base runs and setup logs not counted).
 * - conflicts: the same (at the default batch size unless told), with 10% planted semantic conflicts: N/10 pairs of
 *   honest tickets, one renaming a name (`names/<pair>`) and updating every caller it sees, the other adding a caller
 *   of the name it sees; each passes the gate on the base it was cut from, and merged together they do not (the gate:
 *   every name a file in `uses/` calls is defined in `names/`). Figures: red commits on main's first-parent line (every one checked
 *   out and the gate run on it; goal 0), and the attempts the tickets took beyond one each, against the planted
 *   conflicts (one each when caught before landing).
 * The unvalidated substitution is this bench's own (`activityOverrides`, workers/worker.ts): no batch file or worker
 * setting lands an unvalidated merge.
 * Usage: `npm run bench:queue -- [sizes=24,200] [--batch-sizes 1,4,8] [--conflict-batch-sizes <default>]
 * [--max-parallel 16] [--quick] [--no-conflicts]`; `--quick`: 24 tickets at the default batch size. Figures depend on
 * the machine (and on other work on it: each row says the load average); compare the ratios.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Context } from '@temporalio/activity';
import type { temporal } from '@temporalio/proto';
import { Command } from 'commander';
import { headOf, Git, mergeBranch } from '../activities/git';
import { mergeMessage, type LandCandidateInput, type LandCandidateResult } from '../activities/merge-queue';
import { joinTicketReports } from '../client/client';
import { createWorker } from '../workers/worker';
import { batchWorkflow } from '../workflows';
import type { BatchFile } from '../workflows/input';
import { mergeQueueKey, mergeQueueWorkflowId, queueStatusQuery } from '../workflows/merge-queue/messages';
import { batchWorkflowId, TASK_QUEUE } from '../workflows/messages';
import { DEFAULT_QUEUE_BATCH, type PhaseName } from '../workflows/types';
import { makeRepo, type FixtureTicket } from '../test/fixtures/repo';
import { createTestEnv, workflowBundle } from '../test/helpers/temporal';

const run = promisify(execFile);

/** The gate's fixed duration, s. */
const GATE_SECONDS = 2;
/** Goals of issue 26, item 7. */
export const QUEUE_GOALS = { rateRatio: 0.8, gateRunsPerTicket: 1.3 } as const;

/** What one run measures: `plain` or `conflicts` (see the file comment), N tickets, how they land. */
export interface QueueRun {
  scenario: 'plain' | 'conflicts';
  n: number;
  /** `queue`: the merge queue as it ships; `unvalidated`: the same pipeline with no gate run on candidates. */
  landing: 'queue' | 'unvalidated';
  /** `mergeQueue.batchSize` of the batch file. */
  batchSize: number;
  maxParallel: number;
}

/** One run's figures; times in ms, rates in tickets/min. */
export interface QueueRow extends QueueRun {
  wallMs: number;
  landed: number;
  perMin: number;
  oracleSatisfied: boolean;
  /** Gate runs of the tickets' own validates, and of the queue's candidates. */
  validateRuns: number;
  candidateRuns: number;
  /** Candidates the queue made (validated or not: a candidate of one commit cut from the tip runs nothing). */
  candidates: number;
  /** The queue's `landCandidate` activities: their mean ms (scheduled to completed), and their sum as a share of the wall time. */
  candidateMs: number;
  queueBusy: number;
  /** Attempts over all tickets beyond one each, and the attempts the queue sent back as semantic conflicts. */
  extraAttempts: number;
  semanticConflicts: number;
  /** Planted conflicts (pairs) in the batch; 0 in `plain`. */
  planted: number;
  /** Commits on main's first-parent line, and those the gate fails on (checked only in `conflicts`). */
  firstParent: number;
  red?: number;
  /** The host's 1-minute load average, mean of the run's start and end: other work on the machine slows the runs unevenly. */
  load: number;
  /** Mean ms per ticket in each phase (`merge`: in the queue until the verdict, and the release). */
  phaseMeans: Partial<Record<PhaseName, number>>;
}

/** Every file in `uses/` calls a name (its content) that a file in `names/` defines. */
const CALLS_RESOLVE =
  'for f in uses/*; do [ -e "$f" ] || continue; n="$(cat "$f")"; cat names/* | grep -qxF "$n" || { echo "$f calls $n, which names/ does not define"; exit 1; }; done';

/**
 * The `conflicts` agent, honest: `<i>-<pair>-rename` renames `<pair>` to `<pair>_v2` in `names/<pair>` and in every
 * caller of it it sees; `<i>-<pair>-call` adds `uses/<pair>-new` calling the name `names/<pair>` defines; any other
 * ticket writes its own file.
 */
const CONFLICTS_AGENT = [
  'id="$RATCHET_TICKET_ID"; k="${id#*-}"; k="${k%-*}"',
  'case "$id" in',
  '  *-rename) echo "${k}_v2" > "names/$k"; for f in uses/"$k"-*; do echo "${k}_v2" > "$f"; done ;;',
  '  *-call) cat "names/$k" > "uses/$k-new" ;;',
  '  *) echo good > "$id.txt" ;;',
  'esac',
].join('\n');

/** The `conflicts` probe: the rename is on, the caller is there, the ticket's file is there. */
const CONFLICTS_PROBE = [
  'id="$RATCHET_TICKET_ID"; k="${id#*-}"; k="${k%-*}"',
  'case "$id" in *-rename) grep -qx "${k}_v2" "names/$k" ;; *-call) test -e "uses/$k-new" ;; *) test -f "$id.txt" ;; esac',
].join('\n');

const pad = (i: number): string => String(i).padStart(5, '0');

/** The tickets of a `conflicts` batch of `n`: round(n/10) pairs (at least one), the pair k at positions 10k and 10k+1. */
function conflictTickets(n: number): { tickets: FixtureTicket[]; pairs: string[] } {
  const pairs = Array.from({ length: Math.max(1, Math.round(n / 10)) }, (_, k) => `pair${k}`);
  const tickets = Array.from({ length: n }, (_, i): FixtureTicket => {
    const k = Math.floor(i / 10);
    if (k < pairs.length && i % 10 === 0) return { id: `t${pad(i)}-${pairs[k]}-rename`, title: `rename ${pairs[k]}` };
    if (k < pairs.length && i % 10 === 1) return { id: `t${pad(i)}-${pairs[k]}-call`, title: `call ${pairs[k]}` };
    return { id: `t${pad(i)}` };
  });
  return { tickets, pairs };
}

/**
 * The bench's stand-in for `landCandidate` with candidate validation off: each entry merged in order onto the base
 * as it is (`mergeBranch`: merge-tree, commit-tree, compare-and-swap), no gate run; the `landed` result shape, or the
 * first entry that conflicts. What a ticket's landing was before the merge queue, behind the same queue workflow.
 */
function unvalidatedLanding(git: Git): (input: LandCandidateInput) => Promise<LandCandidateResult> {
  return async ({ checks, entries }) => {
    const { ref } = checks;
    const beat = setInterval(() => Context.current().heartbeat(), 1_000);
    try {
      const base = await headOf(git, ref.repo, `refs/heads/${ref.baseBranch}`);
      const merges: { ticketId: string; commit: string }[] = [];
      for (const e of entries) {
        const r = await mergeBranch(git, { repo: ref.repo, base: ref.baseBranch, branch: e.commit, commit: e.commit, message: mergeMessage(ref.batchId, e) });
        if (!r.merged) return { status: 'conflict', ticketId: e.ticketId, paths: r.conflict ?? [] };
        merges.push({ ticketId: e.ticketId, commit: r.commit ?? '' });
      }
      return { status: 'landed', merges, validated: false, base };
    } finally {
      clearInterval(beat);
    }
  };
}

/** Gate runs under `dir` (a batch's artifacts): `gate-<name>.log` files, apart from base, setup and FAIL_TO_PASS logs. */
async function gateRuns(dir: string): Promise<{ validate: number; candidate: number }> {
  const counts = { validate: 0, candidate: 0 };
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile() || !/^gate-.*\.log$/.test(e.name) || /-(base|setup|fail-to-pass)\.log$/.test(e.name)) continue;
    const rel = path.relative(dir, path.join(e.parentPath, e.name));
    if (rel.split(path.sep)[0] === '_queue') counts.candidate++;
    else counts.validate++;
  }
  return counts;
}

/** The ms from scheduled to completed of every activity in `history` (a queue run's: its `landCandidate`s). */
function candidateActivities(history: temporal.api.history.v1.IHistory): number[] {
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
  const scheduled = new Map<number, number>();
  const out: number[] = [];
  for (const e of history.events ?? []) {
    if (e.activityTaskScheduledEventAttributes) scheduled.set(Number(e.eventId), ms(e.eventTime));
    const done = e.activityTaskCompletedEventAttributes;
    if (done) out.push(ms(e.eventTime) - (scheduled.get(Number(done.scheduledEventId)) ?? NaN));
  }
  return out;
}

/** Main's first-parent line in `repo`, and the commits on it where `check` fails on a fresh export (`git archive`). */
async function redOnMain(repo: string, check: string): Promise<{ commits: number; red: string[] }> {
  const commits = (await run('git', ['-C', repo, 'rev-list', '--first-parent', 'main'])).stdout.split('\n').filter(Boolean);
  const red: string[] = [];
  for (const c of commits) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ratchet-bench-main-'));
    try {
      await run('sh', ['-c', `git -C "${repo}" archive ${c} | tar -x -C "${dir}"`]);
      await run('sh', ['-c', check], { cwd: dir }).catch(() => red.push(c));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return { commits: commits.length, red };
}

/**
 * Runs `runs` one after another on one dev server started here, each with a worker of its own.
 * @returns one {@link QueueRow} per run, in order. @throws when a batch ends without its oracle satisfied.
 */
export async function measureQueue(runs: QueueRun[], progress: (line: string) => void = console.log): Promise<QueueRow[]> {
  // Keeps the process alive between runs: the git process is unref'd, and a wait for its exit alone (git.stop())
  // would otherwise let Node end the process at once, with status 0 and the rows unprinted.
  const alive = setInterval(() => undefined, 60_000);
  const env = await createTestEnv();
  const rows: QueueRow[] = [];
  try {
    for (const r of runs) rows.push(await measureOne(env, r, progress));
  } finally {
    await env.teardown();
    clearInterval(alive);
  }
  return rows;
}

async function measureOne(env: Awaited<ReturnType<typeof createTestEnv>>, r: QueueRun, progress: (line: string) => void): Promise<QueueRow> {
  const conflicts = r.scenario === 'conflicts' ? conflictTickets(r.n) : undefined;
  const tickets = conflicts?.tickets ?? Array.from({ length: r.n }, (_, i) => ({ id: `t${pad(i)}` }));
  const fx = await makeRepo(tickets);
  const git = new Git();
  const batchId = `queue-${r.scenario}-${r.n}-${r.landing}-${r.batchSize}-${Date.now()}`;
  try {
    if (conflicts) {
      const product = conflicts.pairs.map((k) => `mkdir -p names uses && echo ${k} > names/${k} && echo ${k} > uses/${k}-main`).join(' && ');
      await run('sh', ['-c', `${product} && git add names uses && git commit -q -m 'the product: names and their callers'`], { cwd: fx.repo });
    }
    const gate = conflicts
      ? { name: `calls resolve, ${GATE_SECONDS} s`, command: `sleep ${GATE_SECONDS}; ${CALLS_RESOLVE}` }
      : { name: `own file, ${GATE_SECONDS} s`, command: `sleep ${GATE_SECONDS}; test -f "$RATCHET_TICKET_ID.txt"` };
    const input: BatchFile & { batchId: string } = fx.batch(batchId, {
      // Boxed where bubblewrap works (the default): agents, setup steps and gates as a user's batch runs them.
      agent: { command: conflicts ? CONFLICTS_AGENT : 'echo good > "$RATCHET_TICKET_ID.txt"', timeoutMs: 60_000 },
      gates: [gate],
      probes: [{ name: 'landed', command: conflicts ? CONFLICTS_PROBE : 'test -f "$RATCHET_TICKET_ID.txt"' }],
      maxParallel: r.maxParallel,
      // One done ticket's probes re-run per deploy (the guard's default is 8): the guard's cost is not what this
      // measures.
      verify: { deadlineMs: 5_000, intervalMs: 500, guard: 1 },
      heartbeatTimeoutMs: 30_000,
      mergeQueue: { batchSize: r.batchSize },
    });
    const worker = await createWorker({
      connection: env.nativeConnection,
      workflowBundle: await workflowBundle(),
      shutdownGraceTimeMs: 1_000,
      activityDeps: { git },
      ...(r.landing === 'unvalidated' ? { activityOverrides: { landCandidate: unvalidatedLanding(git) } } : {}),
    });
    const loadBefore = os.loadavg()[0];
    const started = performance.now();
    const { report, wallMs, candidates, activities } = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(batchWorkflow, { taskQueue: TASK_QUEUE, workflowId: batchWorkflowId(batchId), args: [input] });
      const result = await handle.result();
      const wall = performance.now() - started;
      // Asked while a worker answers; then ended (it would idle for minutes on the server).
      const queue = env.client.workflow.getHandle(mergeQueueWorkflowId(mergeQueueKey(fx.repo, 'main')));
      const status = await queue.query(queueStatusQuery);
      await queue.terminate('bench run over');
      return { report: await joinTicketReports(env.client, result), wallMs: wall, candidates: status.candidates, activities: candidateActivities(await queue.fetchHistory()) };
    });
    const landed = report.tickets.filter((t) => t.mergeCommit).length;
    const runs = await gateRuns(path.join(fx.repo, '.ratchet', 'artifacts', batchId));
    const main = await redOnMain(fx.repo, conflicts ? CALLS_RESOLVE : 'true');
    const phaseTotals: Partial<Record<PhaseName, number>> = {};
    for (const t of report.tickets) for (const [p, ms] of Object.entries(t.phaseMs ?? {})) phaseTotals[p as PhaseName] = (phaseTotals[p as PhaseName] ?? 0) + (ms ?? 0);
    const row: QueueRow = {
      ...r,
      wallMs,
      landed,
      perMin: (landed / wallMs) * 60_000,
      oracleSatisfied: report.oracle.satisfied,
      validateRuns: runs.validate,
      candidateRuns: runs.candidate,
      candidates,
      candidateMs: activities.length ? activities.reduce((a, b) => a + b, 0) / activities.length : 0,
      queueBusy: activities.reduce((a, b) => a + b, 0) / wallMs,
      extraAttempts: report.tickets.reduce((sum, t) => sum + Math.max(0, t.attempts - 1), 0),
      semanticConflicts: report.tickets.reduce((sum, t) => sum + (t.semanticConflicts?.length ?? 0), 0),
      planted: conflicts?.pairs.length ?? 0,
      firstParent: main.commits,
      ...(conflicts ? { red: main.red.length } : {}),
      load: (loadBefore + os.loadavg()[0]) / 2,
      phaseMeans: Object.fromEntries(Object.entries(phaseTotals).map(([p, ms]) => [p, Math.round(ms / r.n)])),
    };
    progress(`${describe(r)}: ${(wallMs / 1000).toFixed(1)} s, ${row.perMin.toFixed(1)} landed/min, oracle ${row.oracleSatisfied ? 'satisfied' : 'NOT satisfied'}`);
    if (!row.oracleSatisfied) throw new Error(`batch ${batchId}: the oracle is not satisfied: ${JSON.stringify(report.oracle)}`);
    return row;
  } finally {
    await git.stop();
    await fx.cleanup();
  }
}

const describe = (r: QueueRun): string => `${r.scenario} ${r.n} tickets, ${r.landing === 'queue' ? `queue, batchSize ${r.batchSize}` : 'unvalidated landing'}`;

/** The `unvalidated` row of the same scenario and size as `r`, if measured. */
const baselineOf = (rows: QueueRow[], r: QueueRun): QueueRow | undefined => rows.find((b) => b.landing === 'unvalidated' && b.scenario === r.scenario && b.n === r.n);

/** Gate runs per landed ticket of a row. */
export const gateRunsPerTicket = (r: QueueRow): number => (r.validateRuns + r.candidateRuns) / Math.max(1, r.landed);

/** Landed tickets/min of a queue row against its size's unvalidated row (NaN without one). */
export const rateRatio = (rows: QueueRow[], r: QueueRow): number => r.perMin / (baselineOf(rows, r)?.perMin ?? NaN);

/**
 * The batch sizes the `plain` figures support as the default: those meeting both goals at every size, smallest first
 * (a red candidate then costs the fewest splits); when none does, the one with the best worst ratio.
 */
export function supportedBatchSizes(rows: QueueRow[]): { meeting: number[]; best: number } {
  const queue = rows.filter((r) => r.scenario === 'plain' && r.landing === 'queue');
  const sizes = [...new Set(queue.map((r) => r.batchSize))].sort((a, b) => a - b);
  const of = (b: number) => queue.filter((r) => r.batchSize === b);
  const meets = (r: QueueRow) => rateRatio(rows, r) >= QUEUE_GOALS.rateRatio && gateRunsPerTicket(r) <= QUEUE_GOALS.gateRunsPerTicket;
  const meeting = sizes.filter((b) => of(b).every(meets));
  const worst = (b: number) => Math.min(...of(b).map((r) => rateRatio(rows, r)));
  const best = meeting[0] ?? sizes.reduce((a, b) => (worst(b) > worst(a) ? b : a), sizes[0]);
  return { meeting, best };
}

/** Prints every row as a table, then which default batch size the figures support. */
export function printQueue(rows: QueueRow[]): void {
  console.log(`gate: sleep ${GATE_SECONDS} s and a check, boxed; shell agent; one dev server; an in-process worker per run`);
  console.log('scenario   tickets  landing      batch  wall s  landed/min  ratio  gate runs/ticket (validate + candidates)  candidates (mean ms, busy)  extra attempts (semantic conflicts / planted)  red on main  mean ms: implement validate merge  load');
  for (const r of rows) {
    const ratio = r.landing === 'queue' ? rateRatio(rows, r) : NaN;
    console.log(
      [
        r.scenario.padEnd(9),
        String(r.n).padStart(8),
        ` ${r.landing.padEnd(11)}`,
        (r.landing === 'queue' ? String(r.batchSize) : '-').padStart(6),
        (r.wallMs / 1000).toFixed(1).padStart(7),
        r.perMin.toFixed(1).padStart(11),
        (Number.isNaN(ratio) ? '-' : ratio.toFixed(2)).padStart(6),
        `${gateRunsPerTicket(r).toFixed(2)} (${r.validateRuns} + ${r.candidateRuns})`.padStart(41),
        `${r.candidates} (${r.candidateMs.toFixed(0)}, ${(r.queueBusy * 100).toFixed(0)}%)`.padStart(27),
        `${r.extraAttempts} (${r.semanticConflicts} / ${r.planted})`.padStart(46),
        (r.red === undefined ? '-' : `${r.red} of ${r.firstParent}`).padStart(12),
        `${r.phaseMeans.implement ?? 0} ${r.phaseMeans.validate ?? 0} ${r.phaseMeans.merge ?? 0}`.padStart(32),
        r.load.toFixed(1).padStart(5),
      ].join(' '),
    );
  }
  const plain = rows.filter((r) => r.scenario === 'plain' && r.landing === 'queue');
  if (new Set(plain.map((r) => r.batchSize)).size > 1) {
    const { meeting, best } = supportedBatchSizes(rows);
    console.log(
      meeting.length
        ? `batch sizes meeting both goals at every size: ${meeting.join(', ')}; the default they support: ${best} (DEFAULT_QUEUE_BATCH is ${DEFAULT_QUEUE_BATCH})`
        : `no batch size meets both goals at every size; the best worst ratio: ${best} (DEFAULT_QUEUE_BATCH is ${DEFAULT_QUEUE_BATCH})`,
    );
  }
}

/** A goal figure, as bench/goals.ts prints it. */
export interface QueueGoal {
  what: string;
  figure: string;
  target: string;
  met: boolean;
}

/** Issue 26's goal figures from `rows`, at the default batch size. */
export function queueGoals(rows: QueueRow[]): QueueGoal[] {
  const at = rows.filter((r) => r.landing === 'queue' && r.batchSize === DEFAULT_QUEUE_BATCH);
  return [
    ...at
      .filter((r) => r.scenario === 'plain' && baselineOf(rows, r))
      .flatMap((r) => {
        const ratio = rateRatio(rows, r);
        const runs = gateRunsPerTicket(r);
        const base = baselineOf(rows, r) as QueueRow;
        return [
          { what: `merge queue at ${r.n} tickets, landed/min to unvalidated landing`, figure: `${ratio.toFixed(2)} (${r.perMin.toFixed(0)} vs ${base.perMin.toFixed(0)}/min)`, target: `>= ${QUEUE_GOALS.rateRatio}`, met: ratio >= QUEUE_GOALS.rateRatio },
          { what: `merge queue at ${r.n} tickets, gate runs per landed ticket`, figure: `${runs.toFixed(2)} (${r.validateRuns} + ${r.candidateRuns} candidate runs)`, target: `<= ${QUEUE_GOALS.gateRunsPerTicket}`, met: runs <= QUEUE_GOALS.gateRunsPerTicket },
        ];
      }),
    ...at
      .filter((r) => r.scenario === 'conflicts')
      .flatMap((r) => [
        { what: `${r.n} tickets, ${r.planted} planted semantic conflicts: red commits on main`, figure: `${r.red ?? '?'} of ${r.firstParent} first-parent commits`, target: '0', met: r.red === 0 },
        { what: `${r.n} tickets, ${r.planted} planted semantic conflicts: extra attempts`, figure: `${r.extraAttempts} (${r.semanticConflicts} sent back by the queue)`, target: `<= ${r.planted} (one each)`, met: r.extraAttempts <= r.planted },
      ]),
  ];
}

/**
 * The runs for `sizes`: per size, `plain` unvalidated and `plain` with the queue at each of `batchSizes` (the default
 * first); then per size `conflicts` with the queue at each of `opts.conflictBatchSizes` (default: the default).
 */
export function queueRuns(sizes: number[], batchSizes: number[], opts: { maxParallel: number; conflictBatchSizes?: number[] }): QueueRun[] {
  const { maxParallel } = opts;
  return [
    ...sizes.flatMap((n): QueueRun[] => [
      { scenario: 'plain', n, landing: 'unvalidated', batchSize: DEFAULT_QUEUE_BATCH, maxParallel },
      // The default right after the unvalidated run it is compared with in the goals (the closest in time), then the
      // largest first: batch size 1 is the slowest.
      ...[...batchSizes].sort((a, b) => Number(b === DEFAULT_QUEUE_BATCH) - Number(a === DEFAULT_QUEUE_BATCH) || b - a).map((batchSize): QueueRun => ({ scenario: 'plain', n, landing: 'queue', batchSize, maxParallel })),
    ]),
    ...sizes.flatMap((n) => (opts.conflictBatchSizes ?? [DEFAULT_QUEUE_BATCH]).map((batchSize): QueueRun => ({ scenario: 'conflicts', n, landing: 'queue', batchSize, maxParallel }))),
  ];
}

/** Parses `1,4,8` into whole numbers >= 1; @throws Error naming `what` and the text otherwise. */
export function wholeNumbers(text: string, what: string): number[] {
  const xs = text.split(',').map(Number);
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`${what} "${text}": give whole numbers separated by commas, e.g. 24,200`);
  return xs;
}

async function main(): Promise<void> {
  const program = new Command('bench:queue')
    .argument('[sizes]', 'batch sizes in tickets, comma-separated', '24,200')
    .option('--batch-sizes <list>', 'mergeQueue.batchSize values to measure, comma-separated', '1,4,8')
    .option('--max-parallel <n>', 'tickets at once', '16')
    .option('--quick', `24 tickets at the default batch size (${DEFAULT_QUEUE_BATCH}) only`)
    .option('--conflict-batch-sizes <list>', `mergeQueue.batchSize values of the batches with planted semantic conflicts (default ${DEFAULT_QUEUE_BATCH})`)
    .option('--no-conflicts', 'skip the batches with planted semantic conflicts')
    .parse();
  const opts = program.opts<{ batchSizes: string; maxParallel: string; quick?: boolean; conflicts: boolean; conflictBatchSizes?: string }>();
  const sizes = opts.quick ? [24] : wholeNumbers(String(program.processedArgs[0]), 'sizes');
  const batchSizes = opts.quick ? [DEFAULT_QUEUE_BATCH] : wholeNumbers(opts.batchSizes, '--batch-sizes');
  const conflictBatchSizes = !opts.conflicts ? [] : opts.conflictBatchSizes ? wholeNumbers(opts.conflictBatchSizes, '--conflict-batch-sizes') : [DEFAULT_QUEUE_BATCH];
  const rows = await measureQueue(queueRuns(sizes, batchSizes, { maxParallel: Number(opts.maxParallel), conflictBatchSizes }));
  console.log('');
  printQueue(rows);
  console.log('');
  for (const g of queueGoals(rows)) console.log(`${g.met ? 'met    ' : 'NOT MET'}  ${g.what.padEnd(70)} ${g.figure.padEnd(36)} target ${g.target}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
