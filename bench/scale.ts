/**
 * Benchmark: ratchet against a raw-Temporal baseline at growing batch sizes (issue 9's goal figures).
 * For each run (N tickets in chains of `chain`, so dependents wait on blockers, at most `maxParallel` at once), on one
 * local dev server, one after another:
 * - `baseline`: bench/baseline/workflows.ts, the same parent/child shape with no-op activities;
 * - `ratchet`: a real batch (real git repository, worktrees, merges, tracker files) with a no-op agent that writes
 *   the ticket's file, one plain gate and one probe (the batch's, naming the ticket), unboxed, run by a real
 *   `ratchet worker` process started by this one (workers/main.ts, role `split`: its workflows process, the
 *   activities process it starts, and the git process that one starts: activities/git/process.ts). Its RSS and CPU
 *   are those three processes' alone: this process's client, the baseline's worker and its bundling are not counted.
 * Prints per run: tickets/min of both and ratchet's rate as a ratio of the baseline's, ratchet's wall time, unblock
 * latency p50/p99 (a blocker's ticket workflow closed -> its dependent's first activity started; ratchet's, and the
 * baseline's as the floor of this workflow shape on this server), the batch's history per ticket (events and bytes,
 * over every run when it continued as new), the longest history (batch runs, tickets, the merge lock's runs) and the
 * worker's peak RSS (its three processes).
 * Usage: `npm run bench:scale -- [sizes=24,200] [maxParallel=16] [chain=4]`. Figures depend on the machine; compare
 * ratios. `npm run bench` runs it with the rest of the goal figures (bench/goals.ts).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import * as baselineActivities from './baseline/activities';
import { baselineBatch } from './baseline/workflows';
import { batchWorkflow } from '../workflows';
import { lockWorkflowId } from '../workflows/lock';
import { batchWorkflowId, TASK_QUEUE, ticketWorkflowId } from '../workflows/messages';
import { makeRepo } from '../test/fixtures/repo';
import { createTestEnv } from '../test/helpers/temporal';

const BASELINE_QUEUE = 'ratchet-bench-baseline';

/**
 * The largest batch the baseline runs. It keeps one history (it does not continue as new) of ~6 events a ticket, and
 * Temporal ends a workflow at 51,200 events: a 10,000-ticket baseline was ended by the server ("Workflow history count
 * exceeds limit") after 14 minutes. Larger runs print no baseline and no ratio (the 10,000-ticket goal is its time).
 */
const BASELINE_MAX_TICKETS = 5_000;

/** One measured run; rates in tickets/min, times in ms, bytes, RSS in MB. */
export interface ScaleRow {
  n: number;
  maxParallel: number;
  chain: number;
  ratchetMs: number;
  baselinePerMin: number;
  ratchetPerMin: number;
  unblockP50: number;
  unblockP99: number;
  /**
   * The unblock latency's p50 by stage, ms: `batch` (the blocker's workflow closed -> the dependent's workflow
   * started: the batch hears of the end and starts the child), `firstTask` (-> the workflow task that schedules its
   * first activity completed: the child's first task, with the tracker write it waits for), `dispatch` (-> that
   * activity started on a worker).
   */
  unblockStagesP50: { batch: number; firstTask: number; dispatch: number };
  /** The same figures of the baseline's run (NaN when it did not run): the floor of this shape on this server. */
  baselineUnblockP50: number;
  baselineUnblockP99: number;
  baselineUnblockStagesP50: { batch: number; firstTask: number; dispatch: number };
  eventsPerTicket: number;
  bytesPerTicket: number;
  longestHistory: number;
  /** The largest single event of the batch's runs, bytes (a run's start with its carry, the report, loadBatch's result): Temporal refuses a payload over 2 MB. */
  largestEventBytes: number;
  runs: number;
  peakRssMb: number;
  /** Each process's own peak over the run, MB: the workflows process, the activities process and its git process. */
  peakRssByProcessMb: { workflows: number; activities: number; git: number };
  /**
   * CPU time per ticket of the ratchet run, ms, by process: the dev server, the workflows process, the activities
   * process, its git process, and the processes those two started and reaped (git commands, the agent, gates,
   * probes); and the baseline's server and worker together, for scale.
   */
  cpu: { server: number; workflows: number; activities: number; git: number; children: number; baseline: number };
}

/** What to run: `n` tickets in chains of `chain` (1: all independent), at most `maxParallel` at once. */
export interface ScaleRun {
  n: number;
  maxParallel: number;
  chain: number;
}

const graph = ({ n, chain }: ScaleRun) =>
  Array.from({ length: n }, (_, i) => ({ id: `t${String(i).padStart(5, '0')}`, dependsOn: i % chain === 0 ? [] : [`t${String(i - 1).padStart(5, '0')}`] }));

function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Every run of the workflow `id` (a batch that continued as new has several), with its history. */
async function histories(client: Client, id: string): Promise<temporal.api.history.v1.IHistory[]> {
  const runs: string[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${id}'` })) runs.push(w.runId);
  return Promise.all(runs.map((runId) => client.workflow.getHandle(id, runId).fetchHistory()));
}

/** Unblock latency over one run, ms: p50, p99 and the p50 of each stage (see {@link ScaleRow.unblockStagesP50}). */
interface Unblock {
  p50: number;
  p99: number;
  stagesP50: ScaleRow['unblockStagesP50'];
  /** The longest of the ticket workflows' histories, events. */
  longestHistory: number;
}

/**
 * Unblock latency (a blocker's workflow closed -> its dependent's first activity started) of one run, from its ticket
 * workflows' histories: `historyOf(id)` fetches ticket `id`'s (ratchet's ticket workflow, or the baseline's child).
 */
async function unblockOf(tickets: { id: string; dependsOn: string[] }[], historyOf: (id: string) => Promise<temporal.api.history.v1.IHistory>): Promise<Unblock> {
  const closed = new Map<string, number>();
  const firstActivity = new Map<string, number>();
  const startedAt = new Map<string, number>();
  const firstScheduledBy = new Map<string, number>();
  let longestHistory = 0;
  for (const t of tickets) {
    const evs = (await historyOf(t.id)).events ?? [];
    longestHistory = Math.max(longestHistory, evs.length);
    closed.set(t.id, ms(evs[evs.length - 1]?.eventTime));
    const first = evs.find((e) => e.activityTaskStartedEventAttributes);
    if (first) firstActivity.set(t.id, ms(first.eventTime));
    startedAt.set(t.id, ms(evs[0]?.eventTime));
    const scheduled = evs.find((e) => e.activityTaskScheduledEventAttributes);
    const byTask = Number(scheduled?.activityTaskScheduledEventAttributes?.workflowTaskCompletedEventId ?? 0);
    const task = evs.find((e) => Number(e.eventId) === byTask);
    if (task) firstScheduledBy.set(t.id, ms(task.eventTime));
  }
  const dependents = tickets.filter((t) => t.dependsOn.length);
  const blockerClosed = (t: { dependsOn: string[] }): number => Math.max(...t.dependsOn.map((d) => closed.get(d) ?? NaN));
  const unblock = dependents.map((t) => (firstActivity.get(t.id) ?? NaN) - blockerClosed(t));
  return {
    p50: percentile(unblock, 50),
    p99: percentile(unblock, 99),
    stagesP50: {
      batch: percentile(dependents.map((t) => (startedAt.get(t.id) ?? NaN) - blockerClosed(t)), 50),
      firstTask: percentile(dependents.map((t) => (firstScheduledBy.get(t.id) ?? NaN) - (startedAt.get(t.id) ?? NaN)), 50),
      dispatch: percentile(dependents.map((t) => (firstActivity.get(t.id) ?? NaN) - (firstScheduledBy.get(t.id) ?? NaN)), 50),
    },
    longestHistory,
  };
}

/** Resident memory of process `pid`, bytes (0 when it is gone or unknown). */
function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Number(kb ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** CPU time of process `pid`, ms: its own (user + system) and that of its children it has reaped; zeros when gone. */
function cpuOf(pid: number | undefined): { own: number; reaped: number } {
  if (pid === undefined) return { own: 0, reaped: 0 };
  try {
    // Fields after the command's closing parenthesis: utime is the 12th, stime, cutime, cstime follow (clock ticks, 100 a second on Linux).
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const tick = 10;
    return { own: (Number(f[11]) + Number(f[12])) * tick, reaped: (Number(f[13]) + Number(f[14])) * tick };
  } catch {
    return { own: 0, reaped: 0 };
  }
}

/** The pid of the child of `parent` (default this process) running `name` (the dev server the SDK started), if any. */
function childNamed(name: string, parent = process.pid): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.split(') ')[1].split(' ')[1]);
      if (ppid === parent && stat.includes(`(${name})`)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/**
 * A running `ratchet worker` (role `split`): the pids of its workflows process and of its activities process, and
 * that of the activities process's git process (it starts on the first git command; undefined before).
 */
interface WorkerProcess {
  workflows: number;
  activities: number;
  git: () => number | undefined;
  /** SIGTERM to the worker (it stops its activities process); resolves when it has exited. */
  stop: () => Promise<void>;
}

/**
 * Starts `ratchet worker` (client/bin/ratchet.js; role `split`) on the dev server at `address`, as a user would, and waits
 * until both of its processes poll.
 * @throws Error with the worker's last output when it exits first or does not poll within 120 s.
 */
async function startWorkerProcess(address: string): Promise<WorkerProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: address };
  for (const k of ['RATCHET_WORKER_ROLE', 'RATCHET_METRICS_ADDRESS', 'RATCHET_WORKTREES_DIR', 'RATCHET_WORKER_ID', 'TEMPORAL_NAMESPACE']) delete env[k];
  // `npx ratchet worker`, without npx's own process: the bin itself, so its shebang's node flags apply.
  const child = spawn(path.join(__dirname, '..', 'client', 'bin', 'ratchet.js'), ['worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const tail: string[] = [];
  let polling = 0;
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ratchet worker did not poll within 120 s:\n${tail.join('\n')}`)), 120_000);
    const read = (line: string): void => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      // The workflows process and its activities process each say so once they poll.
      if (/ polling /.test(line) && ++polling === 2) {
        clearTimeout(timer);
        resolve();
      }
    };
    createInterface({ input: child.stdout }).on('line', read);
    createInterface({ input: child.stderr }).on('line', read);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`ratchet worker exited (${child.exitCode ?? child.signalCode}):\n${tail.join('\n')}`));
    });
  });
  try {
    await ready;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const activities = childNamed('node', child.pid);
  if (child.pid === undefined || activities === undefined) throw new Error('ratchet worker: its activities process was not found');
  let git: number | undefined;
  return {
    workflows: child.pid,
    activities,
    git: () => {
      if (git === undefined || rssOf(git) === 0) git = childNamed('node', activities);
      return git;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** CPU ms so far of the dev server, the worker's workflows process, its activities process, its git process and their reaped children. */
function cpuNow(server: number | undefined, worker: WorkerProcess | undefined): { server: number; workflows: number; activities: number; git: number; children: number } {
  const a = cpuOf(worker?.activities);
  const g = cpuOf(worker?.git());
  return { server: cpuOf(server).own, workflows: cpuOf(worker?.workflows).own, activities: a.own, git: g.own, children: a.reaped + g.reaped };
}

const bytesOf = (h: temporal.api.history.v1.IHistory): number => temporal.api.history.v1.History.encode(h).finish().length;
const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/**
 * Runs the baseline and a ratchet batch for each of `runs`, one after another, on one fresh dev server.
 * @returns one row per run. @throws when a batch ends without the oracle satisfied.
 */
export async function measureScale(runs: ScaleRun[], progress: (line: string) => void = console.log): Promise<ScaleRow[]> {
  const env = await createTestEnv();
  let worker: WorkerProcess | undefined;
  let peakRss = 0;
  const peakBy = { workflows: 0, activities: 0, git: 0 };
  // The worker's RSS: its workflows process, its activities process and that one's git process.
  const sampler = setInterval(() => {
    const workflows = rssOf(worker?.workflows);
    const activities = rssOf(worker?.activities);
    const git = rssOf(worker?.git());
    peakRss = Math.max(peakRss, workflows + activities + git);
    peakBy.workflows = Math.max(peakBy.workflows, workflows);
    peakBy.activities = Math.max(peakBy.activities, activities);
    peakBy.git = Math.max(peakBy.git, git);
  }, 100);
  const rows: ScaleRow[] = [];
  try {
    const baseline = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: BASELINE_QUEUE,
      workflowsPath: require.resolve('./baseline/workflows'),
      activities: baselineActivities,
    });
    worker = await startWorkerProcess(env.address);
    const server = childNamed('temporal');
    await baseline.runUntil(async () => {
      for (const run of runs) {
        const { n, maxParallel } = run;
        const tickets = graph(run);
        let started = performance.now();
        // The baseline's worker runs in this process.
        const baselineCpu = cpuOf(server).own + cpuOf(process.pid).own;
        let baselinePerMin = NaN;
        let baselineUnblock: Unblock | undefined;
        const baselineId = `baseline-${n}-${Date.now()}`;
        if (n <= BASELINE_MAX_TICKETS) {
          await env.client.workflow.execute(baselineBatch, { taskQueue: BASELINE_QUEUE, workflowId: baselineId, args: [tickets, maxParallel] });
          baselinePerMin = (n / (performance.now() - started)) * 60_000;
        }
        const baselineAfter = cpuOf(server).own + cpuOf(process.pid).own;
        // Read after its CPU is counted: fetching histories costs the server too.
        if (n <= BASELINE_MAX_TICKETS) baselineUnblock = await unblockOf(tickets, (id) => env.client.workflow.getHandle(`${baselineId}-${id}`).fetchHistory());

        // One batch probe that names the ticket (RATCHET_TICKET_ID), not a probe per ticket: 10,000 tickets' own
        // probes would make the batch's frozen definition of done larger than a batch may carry (loadBatch refuses it).
        const fx = await makeRepo(tickets);
        const batchId = `scale-${n}-${maxParallel}-${Date.now()}`;
        try {
          peakRss = 0;
          peakBy.workflows = peakBy.activities = peakBy.git = 0;
          started = performance.now();
          const cpuBefore = cpuNow(server, worker);
          const report = await env.client.workflow.execute(batchWorkflow, {
            taskQueue: TASK_QUEUE,
            workflowId: batchWorkflowId(batchId),
            args: [
              fx.batch(batchId, {
                agent: { command: 'echo good > "$RATCHET_TICKET_ID.txt"', timeoutMs: 60_000, sandbox: 'none' },
                gates: [{ name: 'own file', command: 'test -f "$RATCHET_TICKET_ID.txt"' }],
              probes: [{ command: 'test -f "$RATCHET_TICKET_ID.txt"' }],
                maxParallel,
              }),
            ],
          });
          const ratchetMs = performance.now() - started;
          // Printed at once: the figures below take minutes to gather at 10,000 tickets, and a failure there must not lose it.
          progress(`ratchet batch of ${n} (${maxParallel} at once, chains of ${run.chain}) ended after ${(ratchetMs / 1000).toFixed(1)} s, oracle ${report.oracle.satisfied ? 'satisfied' : 'NOT satisfied'}`);
          const cpuAfter = cpuNow(server, worker);
          const perTicket = (k: keyof typeof cpuAfter): number => (cpuAfter[k] - cpuBefore[k]) / n;
          const cpu = {
            server: perTicket('server'),
            workflows: perTicket('workflows'),
            activities: perTicket('activities'),
            git: perTicket('git'),
            children: perTicket('children'),
            baseline: n <= BASELINE_MAX_TICKETS ? (baselineAfter - baselineCpu) / n : NaN,
          };
          const peakRssMb = peakRss / 1024 / 1024;
          if (!report.oracle.satisfied) throw new Error(`batch ${batchId}: the oracle is not satisfied`);
          const batchRuns = await histories(env.client, batchWorkflowId(batchId));
          const events = batchRuns.reduce((sum, h) => sum + (h.events?.length ?? 0), 0);
          const bytes = batchRuns.reduce((sum, h) => sum + bytesOf(h), 0);
          // A loop, not Math.max(...): a 10,000-ticket batch's runs hold ~200,000 events, more arguments than a call takes.
          let largestEventBytes = 0;
          for (const h of batchRuns) {
            for (const e of h.events ?? []) largestEventBytes = Math.max(largestEventBytes, temporal.api.history.v1.HistoryEvent.encode(e).finish().length);
          }
          const lockRuns = await histories(env.client, lockWorkflowId(`merge:${fx.repo}@main`));
          const unblock = await unblockOf(tickets, (id) => env.client.workflow.getHandle(ticketWorkflowId(batchId, id)).fetchHistory());
          const longest = Math.max(unblock.longestHistory, ...[...batchRuns, ...lockRuns].map((h) => h.events?.length ?? 0));
          rows.push({
            ...run,
            ratchetMs,
            baselinePerMin,
            ratchetPerMin: (n / ratchetMs) * 60_000,
            unblockP50: unblock.p50,
            unblockP99: unblock.p99,
            unblockStagesP50: unblock.stagesP50,
            baselineUnblockP50: baselineUnblock?.p50 ?? NaN,
            baselineUnblockP99: baselineUnblock?.p99 ?? NaN,
            baselineUnblockStagesP50: baselineUnblock?.stagesP50 ?? { batch: NaN, firstTask: NaN, dispatch: NaN },
            eventsPerTicket: events / n,
            bytesPerTicket: bytes / n,
            longestHistory: longest,
            largestEventBytes,
            runs: batchRuns.length,
            peakRssMb,
            peakRssByProcessMb: { workflows: peakBy.workflows / 1024 / 1024, activities: peakBy.activities / 1024 / 1024, git: peakBy.git / 1024 / 1024 },
            cpu,
          });
          progress(`${n} tickets, ${maxParallel} at once, chains of ${run.chain}: measured`);
        } finally {
          await fx.cleanup();
        }
      }
    });
  } finally {
    clearInterval(sampler);
    await worker?.stop();
    await env.teardown();
  }
  return rows;
}

/** Prints `rows` as a table. */
export function printScale(rows: ScaleRow[]): void {
  console.log('no-op agent, unboxed; one dev server; one `ratchet worker` process (workflows), its activities process and that one\'s git process');
  console.log('tickets  width  chain  baseline/min  ratchet/min  ratio  ratchet s  unblock p50/p99 ms  batch events/ticket  batch bytes/ticket  largest event KB  runs  longest history  peak RSS MB (workflows + activities + git)');
  for (const r of rows) {
    console.log(
      [
        String(r.n).padStart(7),
        String(r.maxParallel).padStart(6),
        String(r.chain).padStart(6),
        (r.baselinePerMin > 0 ? r.baselinePerMin.toFixed(0) : '-').padStart(13),
        r.ratchetPerMin.toFixed(0).padStart(12),
        (r.baselinePerMin > 0 ? `${((r.ratchetPerMin / r.baselinePerMin) * 100).toFixed(0)}%` : '-').padStart(6),
        (r.ratchetMs / 1000).toFixed(1).padStart(10),
        (r.unblockP50 >= 0 ? `${r.unblockP50.toFixed(0)}/${r.unblockP99.toFixed(0)}` : '-').padStart(19),
        r.eventsPerTicket.toFixed(1).padStart(20),
        r.bytesPerTicket.toFixed(0).padStart(19),
        (r.largestEventBytes / 1024).toFixed(0).padStart(17),
        String(r.runs).padStart(5),
        String(r.longestHistory).padStart(16),
        `${r.peakRssMb.toFixed(0)} (${r.peakRssByProcessMb.workflows.toFixed(0)} + ${r.peakRssByProcessMb.activities.toFixed(0)} + ${r.peakRssByProcessMb.git.toFixed(0)})`.padStart(24),
      ].join(' '),
    );
  }
  console.log('CPU ms per ticket (ratchet run): server  workflows  activities  git process  their children (git commands, agent, gates, probes)  all | baseline (server and worker)');
  for (const r of rows) {
    const all = r.cpu.server + r.cpu.workflows + r.cpu.activities + r.cpu.git + r.cpu.children;
    console.log(
      [String(r.n).padStart(7), ...[r.cpu.server, r.cpu.workflows, r.cpu.activities, r.cpu.git, r.cpu.children, all].map((x) => x.toFixed(0).padStart(10)), '|', (r.cpu.baseline >= 0 ? r.cpu.baseline.toFixed(0) : '-').padStart(6)].join(' '),
    );
  }
  console.log('unblock p50 by stage, ms: batch (blocker closed -> dependent started)  first task (-> its first activity scheduled)  dispatch (-> started)  all | the baseline\'s, p50/p99 and stages');
  const figure = (x: number): string => (x >= 0 ? x.toFixed(0) : '-');
  for (const r of rows) {
    const { batch, firstTask, dispatch } = r.unblockStagesP50;
    const b = r.baselineUnblockStagesP50;
    if (batch >= 0) {
      console.log(
        [String(r.n).padStart(7), ...[batch, firstTask, dispatch, r.unblockP50].map((x) => figure(x).padStart(10)), '|', `${figure(r.baselineUnblockP50)}/${figure(r.baselineUnblockP99)}`.padStart(9), ...[b.batch, b.firstTask, b.dispatch].map((x) => figure(x).padStart(6))].join(' '),
      );
    }
  }
}

async function main(): Promise<void> {
  const sizes = (process.argv[2] ?? '24,200').split(',').map(Number);
  const maxParallel = Number(process.argv[3] ?? 16);
  const chain = Number(process.argv[4] ?? 4);
  const rows = await measureScale(sizes.map((n) => ({ n, maxParallel, chain })));
  console.log('');
  printScale(rows);
  console.log('targets: ratio >= 50% at every size; unblock p50 <= 150 ms, p99 <= 500 ms; every history < 10,240 events; every payload < 2,048 KB; RSS <= 512 MB at 200 in flight');
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
