/**
 * The oracle includes main's health (issue 26 item 6): before a batch whose oracle holds may finish, its guard runs a
 * final round over every ticket it verified, against the deployment as it is after the last landing. Every probe
 * passing is recorded as the report's evidence (the last landing, when, which probes, and main's first-parent line
 * since the batch's first landing with each commit's validation); a probe that fails pauses the
 * batch at a `main-health` gate naming the regression and its culprit, until a person fixes main and sends `resume`
 * (which runs the final round again). Workflow code.
 */
import { condition, patched, proxyActivities, proxyLocalActivities, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { guardResultSignal, type GuardResult } from '../guard/messages';
import { asStepFailure } from '../local';
import { OPTIONS } from '../options';
import { repoRef, secretNames } from '../repo-ref';
import type { MainLineEntry } from '../types';
import { reopenCulprits } from './reopen';
import type { BatchSchedule } from './schedule';

const local = proxyLocalActivities<Activities>(OPTIONS.lock);
const acts = proxyActivities<Activities>(OPTIONS.quick);

/** The patch id of the final guard round; histories from before it finished on the oracle alone. */
export const MAIN_HEALTH_PATCH = 'main-health';

/**
 * Whether main is healthy for `s` to finish: true when every verified ticket's probes passed in the final round (its
 * evidence kept in `s.mainHealth`), or the batch has no guard (configs and histories from before it); false when the
 * batch is paused for main's health (just now, or still: a person's `resume` asks again).
 */
export async function mainIsHealthy(s: BatchSchedule): Promise<boolean> {
  if (s.config.verify.guard === undefined || !patched(MAIN_HEALTH_PATCH)) return true;
  if (s.state === 'paused' && s.pausedBy === 'main-health') return false;
  const r = await finalRound(s);
  if (!r.regressions.length) {
    s.mainHealth = { commit: r.lastLanding ?? '', at: r.at, probes: r.probes };
    s.mainLine = await mainLine(s);
    return true;
  }
  // A culprit of this batch that already ended done is reopened to revert its landing; main's health is asked again
  // when it ends (batch/reopen.ts).
  if ((await reopenCulprits(s, r.regressions, r.reverts)).length) return false;
  const why = r.regressions.map((g) => `${g.ticketId}'s probe "${g.probe}" fails (${g.after.slice(0, 200)}); first landing after it last passed: ${g.culprit}`).join('; ');
  s.pause('main-health', `main's health: ${why}. Fix or revert on main, then send "resume" to check again`);
  return false;
}

/**
 * Main's first-parent line since the batch's first landing, each commit with how it was validated: a ticket's merge
 * by its merge queue candidate (or its attempt, when the candidate was the attempt's own tree), a revert, or not this
 * batch's (landed some other way).
 */
async function mainLine(s: BatchSchedule): Promise<MainLineEntry[]> {
  const ours = new Map<string, { ticketId: string; validation: string }>();
  for (const row of s.reports.values()) {
    for (const l of row.landings ?? []) ours.set(l.commit, { ticketId: row.ticketId, validation: l.validated ? `candidate #${l.candidate}` : 'its attempt' });
    for (const r of row.reverts ?? []) ours.set(r.revertCommit, { ticketId: row.ticketId, validation: 'revert' });
  }
  if (!ours.size) return [];
  const line = await acts.readMainLine({ ref: repoRef(s.config), commits: [...ours.keys()] });
  return line.map((c) => ({ ...c, ...(ours.get(c.commit) ?? { validation: "not this batch's" }) }));
}

/** Asks the batch's guard for a round over every ticket of its set, and waits for the result. */
async function finalRound(s: BatchSchedule): Promise<GuardResult> {
  const { config } = s;
  const requestId = uuid4();
  let result: GuardResult | undefined;
  setHandler(guardResultSignal, (r) => {
    if (r.requestId === requestId) result ??= r;
  });
  const guard = { batchId: config.batchId, ref: repoRef(config), secrets: secretNames(config), perRound: config.verify.guard ?? 'all' };
  const request = { requester: workflowInfo().workflowId, requestId, ticketId: `batch ${config.batchId}`, commit: 'final', final: true };
  await local.enterGuard
    .executeWithOptions({ ...OPTIONS.lock, summary: `the guard's final round over ${config.batchId}'s done tickets` }, [{ guard, request, taskQueue: workflowInfo().taskQueue }])
    .catch(asStepFailure('enterGuard'));
  // No timer: a batch waits on events alone. The guard's result comes by signal; should it never come (a person
  // terminated the guard mid-round), their `resume` asks again.
  const resumes = s.batchInterventions.length;
  await condition(() => result !== undefined || s.batchInterventions.length > resumes);
  return result ?? finalRound(s);
}
