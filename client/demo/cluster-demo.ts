/**
 * The demo batch on a real cluster with several worker processes, one of them killed mid-batch.
 *
 * Brings the cluster up on --port (default 7333, so a dev server on 7233/8233 keeps running), starts N worker
 * processes (`ratchet --address ... worker`), builds the demo repository of `ratchet demo` (ten tickets, a plan gate,
 * a self-heal, an activation gap, a semantic conflict, a regression reverted) and starts its batch through the public contract. Once the first ticket is done it
 * SIGKILLs the first worker seen running an agent or a gate (or the activity types given by --kill-during), watches another worker take the activity over,
 * waits for the batch's report and checks the base branch: exactly one merge commit per ticket (and one more per landing reverted). At the end it stops
 * the workers, the demo service and, unless --keep-cluster, the cluster it started.
 *
 * `npx tsx client/demo/cluster-demo.ts [--port 7333] [--workers 3] [--dir <folder>] [--keep-cluster] [--ui] [--kill-during merge]`
 * Exit 0 when the oracle is satisfied, a worker was killed and every done ticket has one merge; 1 otherwise.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import type { Client } from '@temporalio/client';
import { simpleGit } from 'simple-git';
import { approve, connect, loadBatchFile, startBatch, watchBatch, type WatchChange } from '../client';
import { freePort } from './demo-command';
import { createDemoRepo } from './demo-repo';
import { formatReport } from '../format';
import { TASK_QUEUE, ticketWorkflowId } from '../../workflows/messages';
import { uiLink } from '../../deploy/dev-server';
import type { RunReport } from '../../workflows/types';
import { clusterDown, clusterUp } from '../../deploy/cluster/cluster';
import { isAlive, tail } from '../../deploy/cluster/proc';

/** Options of {@link runClusterDemo}. */
export interface ClusterDemoOptions {
  /** Frontend port of the cluster; default 7333. */
  port?: number;
  /** Worker processes to start; default 3 (at least 2: one is killed). */
  workers?: number;
  /** Folder for the demo repository and the worker logs; default a fresh temp folder. */
  dir?: string;
  /** Leave a cluster this run started running at the end. */
  keepCluster?: boolean;
  /** Give up on the batch after this long, ms; default 15 min. */
  timeoutMs?: number;
  /** Activity types to kill a worker under; default {@link DEFAULT_KILL_DURING}. */
  killDuring?: string[];
  /** Also run the cluster's Web UI (see `cluster up --ui`) and print the batch's link. */
  ui?: boolean;
}

/** One worker process of the run. */
interface WorkerProcess {
  n: number;
  pid: number;
  child: ChildProcess;
  logFile: string;
  exited: Promise<void>;
}

/** What the kill did and what followed. */
interface KillRecord {
  worker: number;
  pid: number;
  ticketId: string;
  activity: string;
  attempt: number;
  /** ms since the batch started. */
  atMs: number;
  /** The activity's next attempt: which worker took it and after how long (ms after the kill). */
  takenOverBy?: { worker: number; afterMs: number; attempt: number };
  /** Set when the activity left the pending list before a takeover was seen (it finished on its next attempt). */
  finishedAfterMs?: number;
}

/** PendingActivityState.STARTED in Temporal's API: a worker holds the activity. */
const ACTIVITY_STARTED = 2;
/** Activities worth killing a worker under: agent runs and gates, long enough for the kill to land mid-work. */
export const DEFAULT_KILL_DURING = ['implement', 'validate', 'plan', 'selfHeal', 'deploy'];
const ROOT = path.resolve(__dirname, '..', '..');

const out = (line = ''): void => void process.stdout.write(`${line}\n`);

/**
 * Starts worker n as `client/bin/ratchet.js --address <address> worker --worktrees <dir>/worktrees-<n>`, output
 * to `<dir>/worker-<n>.log`: each worker keeps its worktrees in a folder of its own, as workers on separate hosts
 * would, and so has a worker-specific task queue of its own.
 */
function startWorker(n: number, address: string, dir: string): WorkerProcess {
  const logFile = path.join(dir, `worker-${n}.log`);
  const fd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // The bin itself, as npx runs it: its shebang's Node flags apply.
    child = spawn(path.join(ROOT, 'client', 'bin', 'ratchet.js'), ['--address', address, 'worker', '--worktrees', path.join(dir, `worktrees-${n}`)], {
      cwd: ROOT,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    fs.closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start worker ${n}; see ${logFile}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { n, pid: child.pid, child, logFile, exited };
}

/**
 * The worker of ours that a poller's or an activity's identity (`<pid>@<host>`) belongs to: a worker runs its
 * workflows in the process we started and its activities in a child process of it (`ratchet worker`'s split role).
 */
function workerOf(workers: WorkerProcess[], identity: string | undefined): WorkerProcess | undefined {
  const pid = Number((identity ?? '').split('@')[0]);
  return workers.find((w) => w.pid === pid) ?? workers.find((w) => w.pid === parentOf(pid));
}

/** The parent pid of `pid` (Linux /proc), or undefined when it has exited or cannot be read. */
function parentOf(pid: number): number | undefined {
  try {
    // Field 4 of /proc/<pid>/stat, after the command name in parentheses (which may hold spaces).
    return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Waits until every worker polls task queue `ratchet` for workflow and activity tasks. @throws when one exits first. */
async function waitForPollers(client: Client, workers: WorkerProcess[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = workers.find((w) => w.child.exitCode !== null || w.child.signalCode !== null);
    if (dead) throw new Error(`worker ${dead.n} exited at start. Log tail (${dead.logFile}):\n${tail(fs.readFileSync(dead.logFile, 'utf8'))}`);
    const polling = async (taskQueueType: number): Promise<Set<number>> => {
      const { pollers } = await client.workflowService.describeTaskQueue({
        namespace: client.options.namespace,
        taskQueue: { name: TASK_QUEUE },
        taskQueueType,
      });
      return new Set((pollers ?? []).flatMap((p) => workerOf(workers, p.identity ?? undefined)?.n ?? []));
    };
    const [workflowPollers, activityPollers] = [await polling(1), await polling(2)]; // TASK_QUEUE_TYPE_WORKFLOW, _ACTIVITY
    if (workers.every((w) => workflowPollers.has(w.n) && activityPollers.has(w.n))) return;
    if (Date.now() > deadline) throw new Error(`not every worker polls task queue ${TASK_QUEUE} after ${timeoutMs / 1000} s; see ${workers[0].logFile}`);
    await sleep(500);
  }
}

/** Started activities of a running ticket workflow: type, id, attempt and the identity of the worker that holds each. */
async function startedActivities(client: Client, batchId: string, ticketId: string): Promise<{ id: string; type: string; attempt: number; identity: string }[]> {
  const description = await client.workflow.getHandle(ticketWorkflowId(batchId, ticketId)).describe().catch(() => undefined);
  if (!description || description.status.name !== 'RUNNING') return [];
  return (description.raw.pendingActivities ?? [])
    .filter((a) => a.state === ACTIVITY_STARTED)
    .map((a) => ({
      id: a.activityId ?? '',
      type: a.activityType?.name ?? '?',
      attempt: a.attempt ?? 1,
      identity: a.lastWorkerIdentity ?? '',
    }));
}

/**
 * Once `armed()` is true, finds a worker of ours holding a started activity of a type in `during`, SIGKILLs it (its
 * activities process exits with it), then follows that ticket's activity of that type until another worker holds it
 * (the same activity retried, or validate taken over on the shared queue after the batch's `hostWaitMs`) or the
 * ticket has none pending for 10 s.
 * @returns the record, or undefined when the batch ended (signal aborted) first.
 */
async function killOneWorker(
  client: Client,
  batchId: string,
  tickets: () => string[],
  workers: WorkerProcess[],
  during: Set<string>,
  armed: () => boolean,
  since: number,
  signal: AbortSignal,
  say: (line: string) => void,
): Promise<KillRecord | undefined> {
  let record: KillRecord | undefined;
  let killedIdentity = '';
  while (!signal.aborted && !record) {
    await sleep(200);
    if (!armed()) continue;
    for (const ticketId of tickets()) {
      for (const a of await startedActivities(client, batchId, ticketId)) {
        const w = workerOf(workers, a.identity);
        if (!w || !isAlive(w.pid) || !during.has(a.type)) continue;
        process.kill(w.pid, 'SIGKILL');
        killedIdentity = a.identity;
        record = { worker: w.n, pid: w.pid, ticketId, activity: a.type, attempt: a.attempt, atMs: Date.now() - since };
        say(`KILL: SIGKILL worker ${w.n} (pid ${w.pid}) while it runs ${a.type} (attempt ${a.attempt}) of ticket ${ticketId}`);
        break;
      }
      if (record) break;
    }
  }
  if (!record) return undefined;
  const kill = record;
  const killedAt = Date.now();
  // The activity shows the dead worker as its holder until its heartbeat times out; a takeover is a live worker of ours.
  const dead = killedIdentity;
  let lastPending = killedAt;
  while (!signal.aborted) {
    await sleep(500);
    const again = (await startedActivities(client, batchId, kill.ticketId)).find((a) => a.type === kill.activity);
    const w = again && again.identity !== dead ? workerOf(workers, again.identity) : undefined;
    if (again && w && w.n !== kill.worker) {
      kill.takenOverBy = { worker: w.n, afterMs: Date.now() - killedAt, attempt: again.attempt };
      say(`TAKEOVER: ${kill.activity} of ${kill.ticketId} runs again on worker ${w.n} ` +
        `(activity attempt ${again.attempt}), ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
      break;
    }
    const description = await client.workflow.getHandle(ticketWorkflowId(batchId, kill.ticketId)).describe().catch(() => undefined);
    // Between a step given up on the dead worker's queue and its run on the shared queue, none is pending for a moment.
    if (description?.raw.pendingActivities?.some((a) => a.activityType?.name === kill.activity)) lastPending = Date.now();
    if (Date.now() - lastPending > 10_000) {
      kill.finishedAfterMs = lastPending - killedAt;
      say(`TAKEOVER: ${kill.activity} of ${kill.ticketId} is no longer pending ${(kill.finishedAfterMs / 1000).toFixed(1)} s after the kill`);
      break;
    }
  }
  return kill;
}

/** Merge commits on `base` by ticket id, from their subjects (`ratchet: merge <ticketId> (<batchId>): <title>`). */
async function mergesByTicket(repo: string, base: string, batchId: string): Promise<{ byTicket: Map<string, string[]>; other: string[] }> {
  const lines = (await simpleGit(repo).raw(['log', '--merges', '--format=%H %s', base])).trim().split('\n').filter(Boolean);
  const byTicket = new Map<string, string[]>();
  const other: string[] = [];
  const pattern = new RegExp(`^ratchet: merge (\\S+) \\(${batchId.replace(/[.]/g, '\\.')}\\)`);
  for (const line of lines) {
    const [sha, ...subject] = line.split(' ');
    const m = pattern.exec(subject.join(' '));
    if (!m) other.push(line);
    else byTicket.set(m[1], [...(byTicket.get(m[1]) ?? []), sha]);
  }
  return { byTicket, other };
}

/** Stops the deployed demo service through the pid file its deploy script writes. */
function stopService(repo: string): number | undefined {
  const pidFile = path.join(repo, '.ratchet', 'service.pid');
  const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : '');
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  process.kill(pid, 'SIGTERM');
  return pid;
}

/** SIGTERM to every live worker, SIGKILL to those still alive after 15 s. */
async function stopWorkers(workers: WorkerProcess[]): Promise<void> {
  const live = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  for (const w of live) w.child.kill('SIGTERM');
  const graceOver = new AbortController();
  const escalate = sleep(15_000, undefined, { signal: graceOver.signal }).then(
    () => live.forEach((w) => w.child.kill('SIGKILL')),
    () => undefined, // all exited in time
  );
  await Promise.all(live.map((w) => w.exited));
  graceOver.abort();
  await escalate;
}

/**
 * Runs the demo on the cluster (see the file comment) and prints what happened.
 * @returns 0 when the oracle is satisfied, a worker was killed and each done ticket has exactly one merge; else 1.
 * @throws Error when the cluster cannot start, a worker dies at start, or the batch cannot be started.
 */
export async function runClusterDemo(opts: ClusterDemoOptions = {}): Promise<number> {
  const port = opts.port ?? 7333;
  const workerCount = opts.workers ?? 3;
  const t0 = Date.now();
  const stamp = (): string => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s]`;
  const say = (line: string): void => out(`${stamp()} ${line}`);
  const dir = opts.dir ? path.resolve(opts.dir) : fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-cluster-demo-'));
  fs.mkdirSync(dir, { recursive: true });

  const cluster = await clusterUp({ port, ui: opts.ui, log: (line) => say(`cluster: ${line}`) });
  say(`Cluster ${cluster.started ? 'started' : 'already running'}: Temporal at ${cluster.address} (pid ${cluster.pid}), ${cluster.postgres}`);
  const workers: WorkerProcess[] = [];
  let client: Client | undefined;
  let repo: string | undefined;
  const stopHunt = new AbortController();
  try {
    for (let n = 1; n <= workerCount; n++) workers.push(startWorker(n, cluster.address, dir));
    say(`Started ${workerCount} workers: ${workers.map((w) => `#${w.n} pid ${w.pid}`).join(', ')} (logs ${dir}/worker-<n>.log)`);
    client = await connect(cluster.address, cluster.namespace);
    await waitForPollers(client, workers, 180_000);
    say(`All ${workerCount} workers poll task queue "${TASK_QUEUE}"`);

    const batchId = `cluster-demo-${new Date().toISOString().replace(/[-:T]/g, '').slice(2, 12)}-${randomBytes(2).toString('hex')}`;
    const demo = await createDemoRepo({ dir: path.join(dir, batchId), port: await freePort(), batchId });
    repo = demo.repo;
    const batch = await loadBatchFile(demo.batchFile);
    const base = batch.baseBranch ?? 'main';
    const batchStart = Date.now();
    const { workflowId } = await startBatch(client, batch);
    say(`Started batch ${batchId} (workflow ${workflowId}) on ${demo.repo}`);
    if (cluster.uiUrl) say(`Web UI: ${uiLink(cluster.uiUrl, workflowId, cluster.namespace)}`);

    const temporal = client;
    const tickets = new Set<string>();
    let firstDone = false;
    const answered = new Set<string>();
    const answers: Promise<unknown>[] = [];
    const onChange = (line: string, change: WatchChange): void => {
      say(line);
      if (change.kind !== 'ticket') return;
      tickets.add(change.ticketId);
      if (change.state === 'done') firstDone = true;
      if (change.waitingFor === 'plan' && !answered.has(change.ticketId)) {
        answered.add(change.ticketId);
        answers.push(approve(temporal, batchId, change.ticketId, { by: 'cluster-demo', comment: 'approved by client/demo/cluster-demo' })
          .then(() => say(`approved the plan of ${change.ticketId} (update approve)`), (e: unknown) => say(`approve ${change.ticketId}: ${String(e)}`)));
      }
    };
    const during = new Set(opts.killDuring ?? DEFAULT_KILL_DURING);
    const hunt = killOneWorker(temporal, batchId, () => [...tickets], workers, during, () => firstDone, batchStart, stopHunt.signal, say);
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? 15 * 60_000);
    let report: RunReport;
    try {
      report = await watchBatch(temporal, batchId, onChange, { signal: timeout });
    } finally {
      stopHunt.abort();
    }
    const kill = await hunt;
    await Promise.allSettled(answers);
    const batchMs = Date.now() - batchStart;

    out('');
    out(formatReport(report));
    out('');
    const { byTicket, other } = await mergesByTicket(demo.repo, base, batchId);
    out(`Merge commits on ${base} (git log --merges ${base}), per ticket:`);
    let onePerTicket = true;
    for (const row of report.tickets) {
      const shas = byTicket.get(row.ticketId) ?? [];
      // A landing the guard reverted (`flags`'s first) stays a merge commit of its own, undone by a revert commit.
      const reverted = (report.reverts ?? []).filter((r) => r.ticketId === row.ticketId).map((r) => r.merge);
      const matches = row.outcome !== 'done' ||
        (shas.length === 1 + reverted.length && row.mergeCommit === shas[0] && shas.slice(1).every((s) => reverted.includes(s)));
      if (!matches) onePerTicket = false;
      out(`  ${row.ticketId.padEnd(10)} ${row.outcome.padEnd(12)} attempts ${String(row.attempts).padEnd(3)} merges ${shas.length}  ` +
        `${shas.map((s) => s.slice(0, 10)).join(', ') || '-'}${row.mergeCommit && shas[0] !== row.mergeCommit ? `  (report says ${row.mergeCommit.slice(0, 10)})` : ''}` +
        `${matches ? '' : '  <- NOT one merge'}`);
    }
    const unknown = [...byTicket.keys()].filter((id) => !report.tickets.some((t) => t.ticketId === id));
    if (unknown.length || other.length) {
      onePerTicket = false;
      out(`  unexpected merges: ${[...unknown, ...other].join('; ')}`);
    }
    out('');
    out('Summary');
    out(`  cluster:  Temporal ${cluster.address} on ${cluster.postgres}`);
    out(`  workers:  ${workerCount} processes; ${kill
      ? `worker ${kill.worker} (pid ${kill.pid}) SIGKILLed ${(kill.atMs / 1000).toFixed(1)} s into the batch, during ${kill.activity} ` +
        `(attempt ${kill.attempt}) of ${kill.ticketId}; ${kill.takenOverBy
          ? `worker ${kill.takenOverBy.worker} ran it again ${(kill.takenOverBy.afterMs / 1000).toFixed(1)} s later (attempt ${kill.takenOverBy.attempt})`
          : kill.finishedAfterMs !== undefined ? `it left the pending list ${(kill.finishedAfterMs / 1000).toFixed(1)} s later` : 'no takeover seen'}`
      : 'NO worker was killed (the batch ended first)'}`);
    out(`  batch:    ${report.oracle.satisfied ? 'oracle satisfied' : `oracle NOT satisfied (pending ${report.oracle.pending.join(', ')})`}; ` +
      `${report.oracle.done.length} done, ${report.oracle.humanGated.length} human-gated, in ${(batchMs / 1000).toFixed(1)} s`);
    out(`  merges:   ${onePerTicket ? 'exactly one merge commit per done ticket on' : 'NOT one merge commit per done ticket on'} ${base} ` +
      `(${[...byTicket.values()].flat().length} merges)`);
    out(`  repo:     ${demo.repo}`);
    return report.oracle.satisfied && kill !== undefined && onePerTicket ? 0 : 1;
  } finally {
    stopHunt.abort();
    await stopWorkers(workers);
    say(`Stopped the workers (${workers.map((w) => `#${w.n}: ${w.child.signalCode ?? `exit ${w.child.exitCode}`}`).join(', ')})`);
    if (repo) {
      const pid = stopService(repo);
      if (pid) say(`Stopped the demo service (pid ${pid})`);
    }
    await client?.connection.close();
    if (cluster.started && !opts.keepCluster) {
      for (const line of await clusterDown({ port })) say(`cluster: ${line}`);
    } else {
      say(`The cluster keeps running at ${cluster.address}; stop it with: npm run cluster -- down --port ${port}`);
    }
  }
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new InvalidArgumentError('expected a whole number');
  return n;
}

if (require.main === module) {
  const program = new Command('cluster-demo')
    .description('Run the demo batch on a real cluster with several workers and kill one of them mid-batch')
    .option('--port <n>', 'frontend port of the cluster (default 7333)', count)
    .option('--workers <n>', 'worker processes (default 3; at least 2)', count)
    .option('--dir <path>', 'folder for the demo repository and worker logs (default: a fresh temp folder)')
    .option('--keep-cluster', 'leave a cluster this run started running')
    .option('--ui', 'also run the Web UI on frontend port + 1000 and print the batch\'s link')
    .option('--kill-during <types>', `activity types to kill a worker under, comma-separated (default ${DEFAULT_KILL_DURING.join(',')})`,
      (v: string) => v.split(',').map((t) => t.trim()).filter(Boolean))
    .action(async (o: ClusterDemoOptions) => {
      if ((o.workers ?? 3) < 2) throw new InvalidArgumentError('--workers must be at least 2: one is killed');
      process.exitCode = await runClusterDemo(o);
    });
  program.parseAsync(process.argv).catch((err: unknown) => {
    console.error(`cluster-demo: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
