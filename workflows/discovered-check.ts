/**
 * What checks a discovered ticket an agent filed (issue 25 item 7, DESIGN.md "Trust boundaries"): an agent's own
 * words ("nothing to do") are not a definition of done, so its ticket runs on its own only when something executable
 * decides it, else a person approves it first. Pure: no SDK call and no I/O; the batch applies it when it files the
 * work (batch/effects.ts) and when it starts the ticket (batch/schedule.ts); tested without a server.
 *
 * The checks, in order:
 * - `failing-test`: a `bug` ticket in a batch with a gate that declares its test report (`junit`) and its test files
 *   (`tests`): the regression guard requires a test that fails on the base's code and passes on the branch.
 * - `finder-probes`: an activation gap a heal filed after its ticket's verify-live failed: the gap blocks that ticket,
 *   which verifies live again once the gap is done (the probe that failed decides), and the gap ticket is verified
 *   live with that ticket's own frozen probes when it has some.
 * - else `approve`: it waits at the `unchecked-discovery` gate for a person's approve before its plan.
 * An agent never writes a probe: a command it chose would be a check it chose.
 */
import type { DiscoveredRecord, Gate, Probe, TicketKind } from './types';

/** How an agent-filed discovered ticket is checked, and the sentence that says so. */
export interface DiscoveredCheck {
  check: NonNullable<DiscoveredRecord['check']>;
  note: string;
}

/**
 * The check of discovered work `work` filed by `filedBy`.
 * @param finderProbes - the frozen ticket probes of the ticket whose agent or heal found it (empty when none).
 * @param gates - the batch's gates.
 * @returns undefined for a person's work (a person filed it: their word is the check), else the check.
 */
export function discoveredCheck(work: { kind: TicketKind }, filedBy: DiscoveredRecord['filedBy'], finderProbes: readonly Probe[], gates: readonly Gate[]): DiscoveredCheck | undefined {
  if (filedBy.kind === 'person') return undefined;
  if (work.kind === 'bug' && gates.some((g) => g.junit !== undefined && g.tests.length > 0)) {
    return { check: 'failing-test', note: 'checked by the regression guard: it must bring a test that fails on the base and passes on its branch' };
  }
  if (filedBy.heal !== undefined) {
    // The gap blocks its finder, which verifies live again once the gap is done: the finder's failing probe (a
    // ticket probe, or a batch probe such as the GitHub demo's) is the check, whatever probes the gap has itself.
    const own = finderProbes.length ? `verified live with the probes of ${filedBy.ticketId}, and ` : '';
    return { check: 'finder-probes', note: `${own}checked by ${filedBy.ticketId} verifying live again once it is done: it closes that ticket's activation gap` };
  }
  const why = work.kind === 'bug' ? 'a bug ticket, but no gate declares both its test report ("junit") and its test files ("tests")' : 'no probes of its own and not a bug ticket with a test-report gate';
  return {
    check: 'approve',
    note: `waits for a person's approve before it starts: an agent filed it and nothing executable checks it (${why}); approve to run it, reject to leave it human-gated`,
  };
}

/**
 * What a discovered ticket starts with, by its filing record (undefined: not discovered, or filed by older code).
 * @param frozenProbes - the frozen ticket probes by ticket id (the definition of done of the batch).
 * @returns `probes` to verify it with (the finder's, for `finder-probes`), and `approveFirst`: why it waits for a
 *   person before its plan (for `approve`).
 */
export function startTerms(record: DiscoveredRecord | undefined, frozenProbes: Readonly<Record<string, Probe[]>>): { probes?: Probe[]; approveFirst?: string } {
  if (record?.check === 'approve') return { approveFirst: record.reason ?? 'an agent filed it and nothing executable checks it' };
  if (record?.check === 'finder-probes' && record.filedBy.kind === 'agent') return { probes: frozenProbes[record.filedBy.ticketId] ?? [] };
  return {};
}
