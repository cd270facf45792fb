/**
 * `ratchet watch start|status|pause|resume|stop|wont-fix` (issue 27): a watch file becomes one Temporal Schedule,
 * `watch-<watchId>`, whose runs (`watchRunWorkflow`) check the base's tip every `everyMs`. Overlap SKIP (a run still
 * going makes the next one wait for the next interval), an explicit catchup window, and pauseOnFailure: a run fails
 * only on a harness fault (finding failures is data), and then the Schedule pauses for a person. The plain
 * `temporal schedule toggle|trigger|backfill|delete --schedule-id watch-<watchId>` commands and the Web UI's Schedules
 * page work on it the same way.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { BadInputError, GateRejectedError } from '../workflows/errors';
import { batchStatusQuery, batchWorkflowId, TASK_QUEUE, type BatchStatus } from '../workflows/messages';
import { fixCapStatusQuery, fixCapWorkflowId, type FixCapStatus } from '../workflows/watch/caps';
import { intakeBatchFile, intakeBatchId } from '../workflows/watch/intake';
import { toWatchConfig, type WatchConfig } from '../workflows/watch/input';
import { signatureOfWorkflowId, signatureStatusQuery, signatureWorkflowId, watchScheduleId, wontFixUpdate, type SignatureStatus, type WontFixAnswer, type WontFixRequest } from '../workflows/watch/messages';
import { rootMessage } from './errors';
import { notFound } from './status';
import { checkRepo, readJson } from './batch-file';
import { startBatch } from './start';

/**
 * Reads and checks a watch file (its folders resolved against `repo`, `repo` against the file's folder).
 * @throws BadInputError naming the file, the field, the value and the fix.
 */
export async function loadWatchFile(file: string): Promise<WatchConfig> {
  const raw = (await readJson(file)) as Record<string, unknown>;
  const withId: Record<string, unknown> = { watchId: path.basename(file, path.extname(file)), ...raw };
  const written = typeof withId.repo === 'string' ? withId.repo : '';
  const repo = path.resolve(path.dirname(path.resolve(file)), written);
  const config = toWatchConfig({ ...withId, ...(written ? { repo } : {}) }, path.resolve, file);
  await checkRepo(file, written, repo);
  return config;
}

/**
 * Creates the watch's Schedule (`watch-<watchId>`), after starting its intake batch (`batch-intake-<watchId>`) when the
 * watch file has `batch` settings, or finding it running: started through `ratchet start`'s checks (a worker
 * validates it, the tracker's claim), so bad batch settings are refused before anything is scheduled.
 * @returns the schedule id, and the intake batch's workflow id when it has one (`started`: by this call).
 * @throws BadInputError when a Schedule of that watch exists (fix: `ratchet watch stop <watchId>` first), or the
 *   intake batch is refused (see `startBatch`).
 */
export async function startWatch(client: Client, watch: WatchConfig): Promise<string> {
  return (await startWatchAndIntake(client, watch)).scheduleId;
}

/** {@link startWatch}, saying what became of the intake batch. */
export async function startWatchAndIntake(client: Client, watch: WatchConfig): Promise<{ scheduleId: string; intake?: { workflowId: string; started: boolean } }> {
  const scheduleId = watchScheduleId(watch.watchId);
  const exists = await client.schedule.getHandle(scheduleId).describe().then(() => true, (err: unknown) => (err instanceof ScheduleNotFoundError ? false : Promise.reject(err)));
  if (exists) throw new BadInputError(`watch ${watch.watchId}`, [`a Schedule ${scheduleId} exists already; fix: \`ratchet watch stop ${watch.watchId}\` first, or give the watch another "watchId"`]);
  const intake = watch.batch ? await startIntake(client, watch) : undefined;
  await client.schedule.create({
    scheduleId,
    spec: { intervals: [{ every: watch.everyMs }] },
    action: { type: 'startWorkflow', workflowType: 'watchRunWorkflow', args: [watch], taskQueue: TASK_QUEUE, workflowId: `watch-run-${watch.watchId}` },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: watch.catchupWindowMs, pauseOnFailure: true },
    state: { note: `ratchet watch ${watch.watchId}: ${watch.checks.map((c) => c.name).join(', ')} on ${watch.baseBranch} every ${watch.everyMs} ms` },
  });
  return { scheduleId, ...(intake ? { intake } : {}) };
}

/** Starts the watch's intake batch, or finds it running. @returns its workflow id, and whether this started it. */
async function startIntake(client: Client, watch: WatchConfig): Promise<{ workflowId: string; started: boolean }> {
  const workflowId = batchWorkflowId(intakeBatchId(watch.watchId));
  const running = await client.workflow
    .getHandle(workflowId)
    .describe()
    .then((d) => d.status.name === 'RUNNING', (err: unknown) => (err instanceof WorkflowNotFoundError ? false : Promise.reject(err)));
  if (running) return { workflowId, started: false };
  // The tracker's claim names the folder by its real path: it must exist before the batch loads.
  await mkdir(watch.ticketsDir, { recursive: true });
  await startBatch(client, intakeBatchFile(watch));
  return { workflowId, started: true };
}

/** What `ratchet watch status` shows: the Schedule's state and every signature of the watch. */
export interface WatchStatus {
  scheduleId: string;
  paused: boolean;
  note?: string;
  /** Runs started so far and when the next ones are due (ms since epoch). */
  runs: number;
  next: number[];
  signatures: SignatureStatus[];
  /** The intake batch (`intake-<watchId>`): its state and tickets, when it runs; and the fix caps, when they run. */
  intake?: { batchId: string; state: BatchStatus['state']; tickets: number; running: number };
  caps?: FixCapStatus;
}

/**
 * The watch's Schedule and its signatures (every `signatureWorkflow` whose id starts with `signature-<watchId>-`,
 * queried for its status).
 * @throws BadInputError when the watch has no Schedule.
 */
export async function watchStatus(client: Client, watchId: string): Promise<WatchStatus> {
  const scheduleId = watchScheduleId(watchId);
  const d = await client.schedule
    .getHandle(scheduleId)
    .describe()
    .catch((err: unknown) => {
      if (err instanceof ScheduleNotFoundError) throw new BadInputError(`watch ${watchId}`, [`no Schedule ${scheduleId}; fix: \`ratchet watch start <watch.json>\` first, or check the id`]);
      throw err;
    });
  const signatures: SignatureStatus[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'signatureWorkflow'` })) {
    if (signatureOfWorkflowId(watchId, wf.workflowId) === undefined || wf.status.name !== 'RUNNING') continue;
    const s = await client.workflow.getHandle(wf.workflowId).query(signatureStatusQuery).catch(() => undefined);
    if (s) signatures.push(s);
  }
  const intake = await client.workflow
    .getHandle(batchWorkflowId(intakeBatchId(watchId)))
    .query(batchStatusQuery)
    .then((b) => ({ batchId: b.batchId, state: b.state, tickets: b.tickets.length, running: b.tickets.filter((t) => t.running).length }), () => undefined);
  const caps = await client.workflow.getHandle(fixCapWorkflowId(watchId)).query(fixCapStatusQuery).catch(() => undefined);
  return {
    ...(intake ? { intake } : {}),
    ...(caps ? { caps } : {}),
    scheduleId,
    paused: d.state.paused,
    ...(d.state.note ? { note: d.state.note } : {}),
    runs: d.info.numActionsTaken,
    next: d.info.nextActionTimes.map((t) => t.getTime()),
    signatures: signatures.sort((a, b) => a.firstSeen - b.firstSeen),
  };
}

/**
 * Pauses, resumes or deletes the watch's Schedule (`note`: why, shown in the Web UI); `stop` also cancels its intake
 * batch and its fix caps when they run (tickets already started run on; the tracker keeps every ticket).
 * @returns for `stop`, the workflows it cancelled.
 */
export async function controlWatch(client: Client, watchId: string, what: 'pause' | 'resume' | 'stop', note: string): Promise<{ cancelled: string[] }> {
  const handle = client.schedule.getHandle(watchScheduleId(watchId));
  try {
    if (what === 'pause') await handle.pause(note);
    else if (what === 'resume') await handle.unpause(note);
    else await handle.delete();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new BadInputError(`watch ${watchId}`, [`no Schedule ${watchScheduleId(watchId)}; fix: check the id (\`temporal schedule list\`)`]);
    throw err;
  }
  const cancelled: string[] = [];
  if (what !== 'stop') return { cancelled };
  for (const id of [batchWorkflowId(intakeBatchId(watchId)), fixCapWorkflowId(watchId)]) {
    const wf = client.workflow.getHandle(id);
    const running = await wf.describe().then((d) => d.status.name === 'RUNNING', () => false);
    if (!running) continue;
    await wf.cancel();
    cancelled.push(id);
  }
  return { cancelled };
}

/**
 * A person's "won't fix" on a signature of a watch: the validated `wontFix` update on
 * `signature-<watchId>-<signature>` (nothing more is filed for it while its normalized first line stays the same).
 * @returns the workflow's answer: the signature, its ticket, the normalized line it holds for.
 * @throws GateRejectedError with the validator's message (a blank reason, won't fix already); BadInputError naming
 *   the signature when it has no running workflow.
 */
export async function wontFix(client: Client, watchId: string, signature: string, request: WontFixRequest): Promise<WontFixAnswer> {
  const workflowId = signatureWorkflowId(watchId, signature);
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate(wontFixUpdate, { args: [request] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new GateRejectedError(rootMessage(err));
    return notFound(err, `signature ${signature} of watch ${watchId}`, workflowId);
  }
}

/** A signature's line in `ratchet watch status`: state, tickets, green runs, won't fix. */
function signatureLine(g: SignatureStatus): string {
  const what = g.failure.kind === 'test' ? g.failure.id : g.failure.check;
  const tickets = g.tickets.length > 1 ? ` (tickets ${g.tickets.join(', ')})` : '';
  const extra = [
    g.state === 'fixed' ? `green ${g.greenRuns} runs since the fix` : '',
    g.reopened ? `reopened ${g.reopened}x` : '',
    g.wontFix ? `won't fix by ${g.wontFix.by}: ${g.wontFix.reason.slice(0, 80)}; ${g.suppressed} not filed` : '',
    g.waiting ? `waiting: ${g.waiting.split(':')[0]}` : '',
    g.intake && !g.waiting ? `in ${g.intake}` : '',
    g.bisect?.firstBad ? `first bad ${g.bisect.firstBad.slice(0, 10)}` : g.bisectFailed ? 'bisect failed' : '',
  ].filter(Boolean);
  return (
    `  ${g.signature} ${g.state}${g.ticketId ? ` as ${g.ticketId}` : ''}${tickets}: ${what}: ${g.failure.message.slice(0, 120)} ` +
    `(${g.occurrences} in ${g.runs} runs, first ${new Date(g.firstSeen).toISOString()}, last ${new Date(g.lastSeen).toISOString()}${extra.map((e) => `; ${e}`).join('')})`
  );
}

/** `ratchet watch status` as text: the Schedule, then one line per signature. */
export function formatWatchStatus(s: WatchStatus): string {
  const waiting = s.signatures.filter((g) => g.waiting).length;
  return [
    `Watch ${s.scheduleId}: ${s.paused ? 'paused' : 'running'}, ${s.runs} runs${s.next.length ? `, next at ${new Date(s.next[0]).toISOString()}` : ''}${s.note ? ` (${s.note})` : ''}`,
    s.intake ? `Intake batch ${s.intake.batchId}: ${s.intake.state}, ${s.intake.tickets} tickets, ${s.intake.running} running` : 'Intake batch: none running (detected tickets are filed into the tracker for a person\'s batch)',
    s.caps ? `Fix caps: ${s.caps.grantedLastHour} of ${s.caps.maxFixesPerHour} handed over in the last hour, at most ${s.caps.maxFixesPerRun} per run; ${s.caps.waiting.length} waiting` : '',
    `Signatures: ${s.signatures.length}${waiting ? ` (${waiting} waiting: fix cap)` : ''}`,
    ...s.signatures.map(signatureLine),
  ]
    .filter((l) => l !== '')
    .join('\n');
}
