/**
 * `ratchet watch start|status|pause|resume|stop|wont-fix` (issue 27): a watch file becomes one Temporal Schedule,
 * `watch-<watchId>`, whose runs (`watchRunWorkflow`) check the base's tip every `everyMs`. Overlap SKIP (a run still
 * going makes the next one wait for the next interval), an explicit catchup window, and pauseOnFailure: a run fails
 * only on a harness fault (finding failures is data), and then the Schedule pauses for a person. The plain
 * `temporal schedule toggle|trigger|backfill|delete --schedule-id watch-<watchId>` commands and the Web UI's Schedules
 * page work on it the same way.
 */
import path from 'node:path';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { BadInputError, GateRejectedError } from '../workflows/errors';
import { TASK_QUEUE } from '../workflows/messages';
import { toWatchConfig, type WatchConfig } from '../workflows/watch/input';
import { signatureOfWorkflowId, signatureStatusQuery, signatureWorkflowId, watchScheduleId, wontFixUpdate, type SignatureStatus, type WontFixAnswer, type WontFixRequest } from '../workflows/watch/messages';
import { rootMessage } from './errors';
import { notFound } from './status';
import { checkRepo, readJson } from './batch-file';

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
 * Creates the watch's Schedule (`watch-<watchId>`).
 * @returns the schedule id.
 * @throws BadInputError when a Schedule of that watch exists (fix: `ratchet watch stop <watchId>` first).
 */
export async function startWatch(client: Client, watch: WatchConfig): Promise<string> {
  const scheduleId = watchScheduleId(watch.watchId);
  const exists = await client.schedule.getHandle(scheduleId).describe().then(() => true, (err: unknown) => (err instanceof ScheduleNotFoundError ? false : Promise.reject(err)));
  if (exists) throw new BadInputError(`watch ${watch.watchId}`, [`a Schedule ${scheduleId} exists already; fix: \`ratchet watch stop ${watch.watchId}\` first, or give the watch another "watchId"`]);
  await client.schedule.create({
    scheduleId,
    spec: { intervals: [{ every: watch.everyMs }] },
    action: { type: 'startWorkflow', workflowType: 'watchRunWorkflow', args: [watch], taskQueue: TASK_QUEUE, workflowId: `watch-run-${watch.watchId}` },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: watch.catchupWindowMs, pauseOnFailure: true },
    state: { note: `ratchet watch ${watch.watchId}: ${watch.checks.map((c) => c.name).join(', ')} on ${watch.baseBranch} every ${watch.everyMs} ms` },
  });
  return scheduleId;
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
  return {
    scheduleId,
    paused: d.state.paused,
    ...(d.state.note ? { note: d.state.note } : {}),
    runs: d.info.numActionsTaken,
    next: d.info.nextActionTimes.map((t) => t.getTime()),
    signatures: signatures.sort((a, b) => a.firstSeen - b.firstSeen),
  };
}

/** Pauses, resumes or deletes the watch's Schedule (`note`: why, shown in the Web UI). */
export async function controlWatch(client: Client, watchId: string, what: 'pause' | 'resume' | 'stop', note: string): Promise<void> {
  const handle = client.schedule.getHandle(watchScheduleId(watchId));
  try {
    if (what === 'pause') await handle.pause(note);
    else if (what === 'resume') await handle.unpause(note);
    else await handle.delete();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new BadInputError(`watch ${watchId}`, [`no Schedule ${watchScheduleId(watchId)}; fix: check the id (\`temporal schedule list\`)`]);
    throw err;
  }
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
  ].filter(Boolean);
  return (
    `  ${g.signature} ${g.state}${g.ticketId ? ` as ${g.ticketId}` : ''}${tickets}: ${what}: ${g.failure.message.slice(0, 120)} ` +
    `(${g.occurrences} in ${g.runs} runs, first ${new Date(g.firstSeen).toISOString()}, last ${new Date(g.lastSeen).toISOString()}${extra.map((e) => `; ${e}`).join('')})`
  );
}

/** `ratchet watch status` as text: the Schedule, then one line per signature. */
export function formatWatchStatus(s: WatchStatus): string {
  return [
    `Watch ${s.scheduleId}: ${s.paused ? 'paused' : 'running'}, ${s.runs} runs${s.next.length ? `, next at ${new Date(s.next[0]).toISOString()}` : ''}${s.note ? ` (${s.note})` : ''}`,
    `Signatures: ${s.signatures.length}`,
    ...s.signatures.map(signatureLine),
  ].join('\n');
}
