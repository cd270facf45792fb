/**
 * Revert on regression (issue 26 item 5): when the guard's round after this ticket's landing finds an earlier
 * ticket's probe broken (twice, on the same deployment) and this landing is the first after which it failed, the
 * merge is undone through the merge queue (a revert commit computed without a checkout, validated like any
 * candidate), deployed, and the guard runs again; the ticket goes back to work with the regression as feedback and
 * lands again later. `revert.mode` and the bounds decide how (batch file `revert`): `auto` (after `vetoMs` on a durable
 * timer during which a person's `reject` at the `revert` gate keeps the merge), `propose` (a person decides at the
 * gate), `off` (recorded only); past `maxPerBatch` reverts a person decides. A revert is never itself reverted
 * automatically: its landing is never a suspect (workflows/guard/state.ts). With the GitHub forge the revert is a pull
 * request labelled `ratchet:revert` that ratchet validates and lands (ticket/revert-github.ts). Workflow code.
 */
import { patched } from '@temporalio/workflow';
import type { RevertConfig, Regression } from '../types';
import type { TicketEffects } from './effects';
import { guarded } from './heal';
import { joinGuard, leaveGuard } from './guard';
import { queued } from './queue';
import { GITHUB_REVERT_PATCH, revertOnGitHub } from './revert-github';
import { deployAndGuard } from './verify';

/** `revert` when the batch file has none (configs from before it). */
const DEFAULT_REVERT: RevertConfig = { mode: 'auto', maxPerBatch: 3, vetoMs: 0 };

/** One line per regression: whose probe, what it answered before and after, and the suspects. */
function evidence(regs: Regression[]): string {
  return regs.map((r) => `ticket ${r.ticketId}'s probe "${r.probe}" fails (before: ${r.before}; now: ${r.after}); landings since it last passed: ${r.suspects.join(', ')}`).join('\n');
}

/**
 * Handles the regressions this ticket's landing caused (`regs`, all with it as culprit; `reverts`: how many this
 * batch landed so far).
 * @returns `reverted` when its merge was undone and the ticket goes back to work (feedback recorded, merge commit
 *   cleared, tracker `in-progress`), `kept` when the merge stays (mode `off`, a person's keep, or a revert that
 *   could not land).
 */
export async function onRegression(fx: TicketEffects, regs: Regression[], reverts: number): Promise<'reverted' | 'kept'> {
  const { state: s, ticket, config } = fx;
  const rc = config.revert ?? DEFAULT_REVERT;
  const merge = s.mergeCommit ?? '';
  const what = `${ticket.id}'s merge ${merge.slice(0, 10)} broke what was done:\n${evidence(regs)}`;
  // A merge that stays: the ticket's own probes passed, so it joins the guard set like any verified ticket.
  const keep = async (): Promise<'kept'> => {
    await joinGuard(fx, merge);
    return 'kept';
  };
  if (rc.mode === 'off') return keep();
  let by = 'auto';
  if (rc.mode === 'propose' || reverts >= rc.maxPerBatch) {
    const why = rc.mode === 'propose' ? 'revert.mode is "propose"' : `${reverts} reverts landed in this batch (revert.maxPerBatch ${rc.maxPerBatch})`;
    if ((await fx.humanGate('revert', `${what}\nApprove to revert it (${why}); reject keeps it.`)) === 'reject') return keep();
    by = s.interventions[s.interventions.length - 1]?.by ?? 'a person';
  } else if (rc.vetoMs > 0) {
    const verdict = await fx.humanGate('revert', `${what}\nReverting in ${rc.vetoMs} ms unless a person rejects (keeps the merge).`, { limitMs: rc.vetoMs, unanswered: 'approve' });
    if (verdict === 'reject') return keep();
  }
  if (config.forge?.kind === 'github') {
    if (patched(GITHUB_REVERT_PATCH)) {
      const gh = await revertOnGitHub(fx, regs, merge, config.forge);
      if ('merged' in gh) return reverted(fx, regs, merge, gh.merged, by);
      if ('failed' in gh) await fx.humanGate('revert', `${what}\nThe revert could not land: ${gh.failed}. Revert by hand and approve, or reject to keep the merge.`);
      return keep();
    }
    // Histories from before the patch: a person reverts on GitHub, and approving sends the ticket back to work.
    if ((await fx.humanGate('revert', `${what}\nRevert ${merge.slice(0, 10)} on GitHub (a revert pull request), then approve; reject keeps it.`)) === 'reject') return keep();
    return backToWork(fx, regs, merge, { revertCommit: 'on GitHub', by: s.interventions[s.interventions.length - 1]?.by ?? 'a person', restored: false });
  }
  fx.enter('merge', `reverting ${merge.slice(0, 10)}`);
  const v = await queued(fx, merge, merge, true);
  if (v.outcome !== 'merged') {
    const why = v.outcome === 'semantic-conflict' ? `the revert fails gates ${v.gates.map((g) => g.name).join(', ')}` : v.outcome === 'conflict' ? `the revert conflicts in ${v.paths.join(', ')}` : v.message;
    // Nothing more ratchet can do safely: a person reverts by hand or keeps it.
    await fx.humanGate('revert', `${what}\nThe revert could not land: ${why}. Revert by hand and approve, or reject to keep the merge.`);
    return keep();
  }
  return reverted(fx, regs, merge, v.commit, by);
}

/**
 * A reopened ticket (batch/reopen.ts): the batch's final guard round found `reopen.merge`, this ticket's landing from
 * its earlier run, broke done tickets. Handled as a regression found right after the landing (the same modes, bounds,
 * gates and queue).
 * @returns as {@link onRegression}.
 */
export async function revertEarlierLanding(fx: TicketEffects, reopen: { merge: string; regressions: Regression[]; reverts: number }): Promise<'reverted' | 'kept'> {
  fx.state.mergeCommit = reopen.merge;
  return onRegression(fx, reopen.regressions, reopen.reverts);
}

/**
 * The revert `commit` of `merge` landed: it is deployed with the guard's round after it, which says whether the
 * damaged tickets' probes pass again, and the ticket goes back to work.
 */
async function reverted(fx: TicketEffects, regs: Regression[], merge: string, commit: string, by: string): Promise<'reverted'> {
  const after = await deployAndGuard(fx, { commit, revertOf: merge });
  const broken = 'failed' in after ? regs : (after.guard?.regressions ?? []);
  const restored = regs.every((r) => !broken.some((b) => b.ticketId === r.ticketId && b.probe === r.probe));
  return backToWork(fx, regs, merge, { revertCommit: commit, by, restored });
}

/** The merge is undone: the ticket leaves the guard set, loses its merge, and gets the regression as feedback. */
async function backToWork(fx: TicketEffects, regs: Regression[], merge: string, how: { revertCommit: string; by: string; restored: boolean }): Promise<'reverted'> {
  const { state: s, ticket, config } = fx;
  s.reverts.push({ ticketId: ticket.id, merge, regressions: regs, ...how });
  await leaveGuard(fx);
  s.mergeCommit = undefined;
  s.addFeedback(
    `Your merge ${merge.slice(0, 10)} was reverted (${how.revertCommit.slice(0, 10)}) because it broke work that was done:\n${evidence(regs)}\n` +
      `The next attempt starts from the ${config.baseBranch} with the revert; make the change keep those working.`,
  );
  await guarded(fx, 'recording in-progress in the tracker', () => fx.writeState('in-progress', `reverted: ${regs.map((r) => `${r.ticketId}/${r.probe}`).join(', ')}`));
  return 'reverted';
}
