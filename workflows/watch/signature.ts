/**
 * signatureWorkflow (issue 27 item 2): one per failure signature of a watch, `signature-<watchId>-<signature>`,
 * started by the first run that sees the failure (signal-with-start of `failureSeen`) and found by every later one:
 * two runs racing on one failure reach the same workflow, so one ticket is filed, by the server's id, never by a
 * read-then-create. Its life: observed (seen once) -> confirmed (seen in `confirmAfterRuns` runs, or twice on one
 * commit) -> filed (a `bug` ticket in the watch's tracker with the check, the failing test, the message, the output
 * tail, the commits and the command to reproduce). A failure that passed when its check ran again on the same commit
 * is flaky: filed at once as a `flaky` ticket for a person (PERSON_KINDS: no batch runs it unless named). A failure the check could not even run to (a time-out, a check
 * that could not start) is infrastructure: confirmed but never filed for an agent. Deterministic: filing is the
 * `fileTicket` activity.
 */
import { condition, continueAsNew, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { OPTIONS } from '../options';
import type { Ticket } from '../types';
import type { WatchConfig } from './input';
import { detectedTicketId, failureSeenSignal, signatureStatusQuery, type FailureSeen, type SignatureInput, type SignatureStatus } from './messages';

/** A signature nobody sees for this long ends; a later sighting starts it again (and files anew). */
const IDLE_MS = 30 * 24 * 3600_000;
/** Distinct run ids kept to count runs once each (a retried report signals twice). */
const RUNS_KEPT = 100;

const acts = proxyActivities<Activities>(OPTIONS.quick);

/** Keeps one failure's lifecycle; see the file comment. */
export async function signatureWorkflow(input: SignatureInput): Promise<void> {
  const { watch, signature } = input;
  let status = input.status;
  const runIds: string[] = [...(input.runIds ?? [])];
  const sightings: FailureSeen[] = [...(input.pending ?? [])];
  setHandler(failureSeenSignal, (f) => void sightings.push(f));
  setHandler(signatureStatusQuery, () => status);

  while (!workflowInfo().continueAsNewSuggested) {
    if (!(await condition(() => sightings.length > 0, IDLE_MS))) return;
    const f = sightings.shift() as FailureSeen;
    if (runIds.includes(f.runId)) continue;
    runIds.push(f.runId);
    while (runIds.length > RUNS_KEPT) runIds.shift();
    const again = status?.commits.includes(f.commit) ?? false;
    status = seen(status, watch, signature, f);
    // Confirmed: seen in `confirmAfterRuns` runs, or twice on one commit.
    if (status.state === 'observed' && (status.runs >= watch.confirmAfterRuns || again || f.failure.flaky === true || f.failure.systemic === true)) status.state = 'confirmed';
    if (status.state === 'confirmed' && !status.failure.infra) {
      const ticket = detectedTicket(watch, status);
      await acts.fileTicket({ ticketsDir: watch.ticketsDir, ticket, by: `watch ${watch.watchId}` });
      status = { ...status, state: 'filed', ticketId: ticket.id };
    }
    setCurrentDetails(details(status));
  }
  await continueAsNew<typeof signatureWorkflow>({ ...input, ...(status ? { status } : {}), pending: sightings, runIds });
}

/** The status after one more sighting (a run not counted before). */
function seen(s: SignatureStatus | undefined, watch: WatchConfig, signature: string, f: FailureSeen): SignatureStatus {
  if (!s) return { watchId: watch.watchId, signature, state: 'observed', occurrences: 1, runs: 1, commits: [f.commit], firstSeen: f.at, lastSeen: f.at, failure: f.failure };
  const commits = s.commits.includes(f.commit) ? s.commits : [...s.commits, f.commit].slice(-20);
  return { ...s, occurrences: s.occurrences + 1, runs: s.runs + 1, commits, lastSeen: Math.max(s.lastSeen, f.at), failure: f.failure };
}

/**
 * The `bug` ticket of a confirmed failure: the check, the failing test, the message, the output tail, the commits it
 * failed on and how to reproduce; its probe is the check's command (done means the check passes on the deployed base).
 */
export function detectedTicket(watch: WatchConfig, s: SignatureStatus): Ticket {
  const f = s.failure;
  const check = watch.checks.find((c) => c.name === f.check);
  const command = check?.command ?? f.check;
  const what = f.kind === 'test' ? `test ${f.id}` : `check ${f.check}`;
  return {
    id: detectedTicketId(s.signature),
    title: (f.systemic ? `systemic: ${f.message}` : f.flaky ? `flaky: ${what} fails now and then on ${watch.baseBranch}` : `${what} fails on ${watch.baseBranch}`).slice(0, 200),
    body: [
      f.systemic
        ? `ratchet's watch \`${watch.watchId}\` judged a run's failures systemic (signature \`${s.signature}\`): ${f.message}. Filed for a person; no agent is sent to fix it.`
        : f.flaky
        ? `ratchet's watch \`${watch.watchId}\` saw this fail and then pass when the check ran again on the same commit (signature \`${s.signature}\`): flaky. Filed for a person; no agent is sent to fix it.`
        : `ratchet's watch \`${watch.watchId}\` found this failing in ${s.runs} scheduled runs (signature \`${s.signature}\`).`,
      '',
      `- check: \`${f.check}\` (\`${command}\`)`,
      f.kind === 'test' ? `- failing test: \`${f.id}\`` : '',
      `- message: ${f.message || '(none)'}`,
      f.location ? `- location: ${f.location}` : '',
      `- commits it failed on: ${s.commits.map((c) => c.slice(0, 10)).join(', ')}`,
      `- reproduce: check out \`${watch.baseBranch}\` and run \`${command}\``,
      '',
      'Output tail:',
      '```',
      f.tail.slice(-3000),
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

function details(s: SignatureStatus): string {
  return [
    `**signature** \`${s.signature}\` of watch \`${s.watchId}\`: ${s.state}${s.ticketId ? ` as ticket \`${s.ticketId}\`` : ''}`,
    `${s.failure.kind === 'test' ? `test \`${s.failure.id}\`` : `check \`${s.failure.check}\``}: ${s.failure.message}`,
    `seen ${s.occurrences} times in ${s.runs} runs on ${s.commits.length} commits, first ${new Date(s.firstSeen).toISOString()}, last ${new Date(s.lastSeen).toISOString()}`,
  ].join('\n\n');
}
