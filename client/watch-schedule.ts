/**
 * `ratchet watch start|status|pause|resume|stop` (issue 27): a watch file becomes one Temporal Schedule,
 * `watch-<watchId>`, whose runs (`watchRunWorkflow`) check the base's tip every `everyMs`. Overlap SKIP (a run still
 * going makes the next one wait for the next interval), an explicit catchup window, and pauseOnFailure: a run fails
 * only on a harness fault (finding failures is data), and then the Schedule pauses for a person. The plain
 * `temporal schedule toggle|trigger|backfill|delete --schedule-id watch-<watchId>` commands and the Web UI's Schedules
 * page work on it the same way.
 */
import path from 'node:path';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { BadInputError } from '../workflows/errors';
import { TASK_QUEUE } from '../workflows/messages';
import { toWatchConfig, type WatchConfig } from '../workflows/watch/input';
import { signatureStatusQuery, watchScheduleId, type SignatureStatus } from '../workflows/watch/messages';
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
    if (!wf.workflowId.startsWith(`signature-${watchId}-`) || wf.status.name !== 'RUNNING') continue;
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

/** `ratchet watch status` as text: the Schedule, then one line per signature. */
export function formatWatchStatus(s: WatchStatus): string {
  return [
    `Watch ${s.scheduleId}: ${s.paused ? 'paused' : 'running'}, ${s.runs} runs${s.next.length ? `, next at ${new Date(s.next[0]).toISOString()}` : ''}${s.note ? ` (${s.note})` : ''}`,
    `Signatures: ${s.signatures.length}`,
    ...s.signatures.map(
      (g) =>
        `  ${g.signature} ${g.state}${g.ticketId ? ` as ${g.ticketId}` : ''}: ${g.failure.kind === 'test' ? g.failure.id : g.failure.check}: ${g.failure.message.slice(0, 120)} ` +
        `(${g.occurrences} in ${g.runs} runs, first ${new Date(g.firstSeen).toISOString()}, last ${new Date(g.lastSeen).toISOString()})`,
    ),
  ].join('\n');
}
