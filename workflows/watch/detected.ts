/**
 * What a signature writes and shows (issue 27 items 2, 4 and 5), pure: the ticket it files (the first, or a
 * recurrence linked to the ticket before), the evidence a reopened ticket gains, the signature's state as its
 * ticket's tracker state says, and its Web UI view.
 */
import type { Ticket, TicketState } from '../types';
import { describeBisect } from './bisect';
import type { WatchConfig } from './input';
import { detectedTicketId, type FailureSeen, type SignatureState, type SignatureStatus, type WatchRunResult } from './messages';

/** Output kept in a ticket's body, characters: the first filing's tail, and each reopening's. */
const TAIL_CHARS = 3000;
const REOPEN_TAIL_CHARS = 1500;

/**
 * The `n`th ticket of a confirmed failure (`bug-<signature>`, then `-2`, `-3`...): the check, the failing test, the
 * message, the output tail, the commits it failed on and how to reproduce; a recurrence names `previous`, the ticket
 * closed before it. Its probe is the check's command (done means the check passes on the deployed base).
 */
export function detectedTicket(watch: WatchConfig, s: SignatureStatus, n = 1, previous?: string): Ticket {
  const f = s.failure;
  const check = watch.checks.find((c) => c.name === f.check);
  const command = check?.command ?? f.check;
  const what = f.kind === 'test' ? `test ${f.id}` : `check ${f.check}`;
  const again = previous ? ' again' : '';
  return {
    id: detectedTicketId(s.signature, n),
    title: (f.systemic ? `systemic: ${f.message}` : f.flaky ? `flaky: ${what} fails now and then on ${watch.baseBranch}` : `${what} fails on ${watch.baseBranch}${again}`).slice(0, 200),
    body: [
      f.systemic
        ? `ratchet's watch \`${watch.watchId}\` judged a run's failures systemic (signature \`${s.signature}\`): ${f.message}. Filed for a person; no agent is sent to fix it.`
        : f.flaky
          ? `ratchet's watch \`${watch.watchId}\` saw this fail and then pass when the check ran again on the same commit (signature \`${s.signature}\`): flaky. Filed for a person; no agent is sent to fix it.`
          : `ratchet's watch \`${watch.watchId}\` found this failing in ${s.runs} scheduled runs (signature \`${s.signature}\`).`,
      previous ? `It came back after ticket \`${previous}\` fixed it and the check stayed green: a recurrence, linked to \`${previous}\`.` : '',
      '',
      `- check: \`${f.check}\` (\`${command}\`)`,
      f.kind === 'test' ? `- failing test: \`${f.id}\`` : '',
      `- message: ${f.message || '(none)'}`,
      f.location ? `- location: ${f.location}` : '',
      `- commits it failed on: ${s.commits.map((c) => c.slice(0, 10)).join(', ')}`,
      // The first bad commit (and the ticket whose merge it is), or why the bisect could not say.
      ...(s.bisect ? describeBisect(s.bisect) : s.bisectFailed !== undefined ? [`- first bad commit: unknown: the bisect failed (${s.bisectFailed})`] : []),
      previous ? `- previous ticket: \`${previous}\`` : '',
      `- reproduce: check out \`${watch.baseBranch}\` and run \`${command}\``,
      '',
      'Output tail:',
      '```',
      f.tail.slice(-TAIL_CHARS),
      '```',
    ]
      .filter((l) => l !== '')
      .join('\n'),
    acceptance: [`\`${command}\` passes on ${watch.baseBranch}`],
    dependsOn: [],
    kind: f.systemic ? 'systemic' : f.flaky ? 'flaky' : 'bug',
    probes: [{ kind: 'command', name: `check ${f.check} passes`, command, timeoutMs: check?.timeoutMs ?? 10 * 60_000, files: [] }],
    allowPaths: [],
    state: 'todo',
  };
}

/** The line of a reopening's evidence that names its run: a body holding it has this run's evidence already. */
export const reopenMarker = (runId: string): string => `Failed again in run \`${runId}\``;

/** What a reopened ticket's body gains: the run, the commit, the message and the output tail of the new failure. */
export function reopenEvidence(f: FailureSeen, greenRuns: number): string {
  return [
    `## ${reopenMarker(f.runId)}`,
    '',
    `The tracker said this ticket was done, and the check failed again ${greenRuns ? `after ${greenRuns} green runs` : 'before any green run'}: reopened.`,
    '',
    `- commit: ${f.commit}`,
    `- at: ${new Date(f.at).toISOString()}`,
    `- message: ${f.failure.message || '(none)'}`,
    '',
    'Output tail:',
    '```',
    f.failure.tail.slice(-REOPEN_TAIL_CHARS),
    '```',
  ].join('\n');
}

/**
 * The signature's state as its ticket's tracker state says (the tracker is the oracle of "fixed", never an agent):
 * `todo` filed, `done` fixed, `human-gated` won't fix (a person rejected it), any other fixing (a batch has it).
 */
export function stateOfTicket(state: TicketState): Extract<SignatureState, 'filed' | 'fixing' | 'fixed' | 'wont-fix'> {
  return state === 'todo' ? 'filed' : state === 'done' ? 'fixed' : state === 'human-gated' ? 'wont-fix' : 'fixing';
}

/**
 * Whether a run that did not see a signature of `check` was green for it: its check ran to its end (`ran`); a
 * systemic signature of many checks at once (`*`) needs every check of the watch to have run.
 */
export function greenFor(watch: WatchConfig, check: string, ran: string[]): boolean {
  return check === '*' ? watch.checks.every((c) => ran.includes(c.name)) : ran.includes(check);
}

/**
 * The checks of a run whose result says which of their failures are gone: those that passed, and those that failed
 * with a report naming each failing test. A check that timed out, could not start, or failed as a whole without a
 * report says nothing about the failures it held before: a run is not green for them.
 */
export function checksThatRan(result: WatchRunResult): string[] {
  return result.checks
    .filter((c) => c.passed || result.failures.filter((f) => f.check === c.name).every((f) => f.kind === 'test' && !f.infra))
    .map((c) => c.name);
}

/** The signature's Web UI view (`setCurrentDetails`): state, ticket, counts, green runs, won't fix. */
export function signatureDetails(s: SignatureStatus, closeAfter: number): string {
  const iso = (ms: number): string => new Date(ms).toISOString();
  return [
    `**signature** \`${s.signature}\` of watch \`${s.watchId}\`: ${s.state}${s.ticketId ? ` as ticket \`${s.ticketId}\`` : ''}${s.trackerState ? ` (tracker: ${s.trackerState})` : ''}`,
    `${s.failure.kind === 'test' ? `test \`${s.failure.id}\`` : `check \`${s.failure.check}\``}: ${s.failure.message}`,
    `seen ${s.occurrences} times in ${s.runs} runs on ${s.commits.length} commits, first ${iso(s.firstSeen)}, last ${iso(s.lastSeen)}`,
    s.state === 'fixed' || s.greenRuns ? `green runs since the fix: ${s.greenRuns} of ${closeAfter}` : '',
    s.tickets.length > 1 || s.reopened ? `tickets: ${s.tickets.join(', ')}; reopened ${s.reopened} times` : '',
    s.closedAt ? `closed ${iso(s.closedAt)}` : '',
    s.wontFix ? `won't fix (${s.wontFix.by}, ${iso(s.wontFix.at)}): ${s.wontFix.reason}; ${s.suppressed} sightings not filed` : '',
    s.bisect?.firstBad ? `first bad commit \`${s.bisect.firstBad.slice(0, 10)}\`${s.bisect.ticket ? ` (merge of ticket \`${s.bisect.ticket.ticketId}\`)` : ''}` : s.bisectFailed ? `bisect failed: ${s.bisectFailed}` : '',
    s.waiting ? `waiting: ${s.waiting}` : s.intake ? `handed to intake batch \`${s.intake}\`` : '',
  ]
    .filter(Boolean)
    .join('\n\n');
}
