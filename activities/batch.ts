/**
 * Activities of the batch: load and validate the batch before anything starts, read facts for the oracle, and
 * write ticket states (only the harness writes states).
 */
import { createHash } from 'node:crypto';
import { lstat, realpath, stat as fsStat } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { assertGitRepo, blobDigests, canonical, ensureExcluded, headOf, type Git } from './git';
import { resolveEnvFrom } from './env';
import { GitHubTracker } from './tracker/github';
import { LOCK_SUFFIX, LocalTracker, STATE_SUFFIX } from './tracker/local';
import { toolFiles } from './tool-files';
import type { GitHub } from './github/client';
import type { StateWrite, StateWritten, Tracker } from './tracker/tracker';
import { graphProblems } from '../workflows/graph';
import { BadInputError } from '../workflows/errors';
import { batchFileSchema, ID_PATTERN, parseOrThrow, toBatchConfig } from '../workflows/input';
import { definitionOfDone } from '../workflows/done';
import { encodeCarry, endDone, loadedCarry } from '../workflows/carry';
import {
  PERSON_KINDS,
  type BatchConfig,
  type DefinitionOfDone,
  type GateCursor,
  type LoadedBatch,
  type Ticket,
  type TicketFact,
  type TicketNode,
  type TicketState,
  type TrackerConfig,
  type TrackerDecision,
} from '../workflows/types';

/**
 * Most a loaded batch (config and tickets, or graph nodes) may weigh, and most its carry may weigh at continue-as-new
 * with every ticket ended, bytes: both travel in payloads, which Temporal caps at 2 MB (the rest is room for tampers,
 * heals and discovered work).
 */
const MAX_LOADED_BYTES = 1_500_000;
const MAX_CARRY_BYTES = 1_700_000;

/** Which tracker an activity works on: the batch's `tracker` (absent: the local one over `ticketsDir`). */
export interface TrackerRef {
  ticketsDir: string;
  tracker?: TrackerConfig;
}

/** Returns the tracker of a batch; see {@link createTrackers}. */
export type Trackers = (ref: TrackerRef) => Tracker;

/**
 * The worker's trackers, made once per tickets folder or GitHub repository and kept (the local tracker's per-file
 * write locks and the GitHub tracker's ETags are shared by every activity of this worker).
 * @param github the worker's GitHub client, made on first use (so a worker without a token runs local batches).
 */
export function createTrackers(github: () => GitHub): Trackers {
  const made = new Map<string, Tracker>();
  return (ref) => {
    const t = ref.tracker?.kind === 'github' ? ref.tracker : undefined;
    const key = t ? `github:${t.repo}:${t.labelPrefix}:${JSON.stringify([t.labels, t.milestone ?? null, t.issues])}` : `local:${ref.ticketsDir}`;
    let tracker = made.get(key);
    if (!tracker) {
      tracker = t ? new GitHubTracker(github(), t) : new LocalTracker(ref.ticketsDir);
      made.set(key, tracker);
    }
    return tracker;
  };
}

/**
 * Validates the raw batch input (as typed into `temporal workflow start --input-file`) and loads its tickets.
 * `workflowId` must be `batch-<batchId>`; `batchId` defaults to the workflow id without that prefix.
 * Throws `BadInputError` (non-retryable at the activity boundary) naming the field, the value and the fix for: schema
 * errors, a relative/missing/non-git repo or missing base branch, bad ticket files, duplicate ids, unknown
 * dependencies, cycles, unknown ids in `tickets`, and tickets with no verify-live probe; a `ticketsDir`,
 * `worktreesDir` or `artifactsDir` that is a file (or has one in its way) or the repository's own folder; a local
 * branch `ratchet` or `ratchet/<batchId>` (the tickets' branches could not be made); a ticket's `<id>.state` record
 * that is a folder; `ConfigError` when an `envFrom` name is missing from `env` (the worker's environment). Nothing is
 * written before every check has passed (the exclude entries are the one write, last). Completes `config.protectedPaths`; `trackerKey`
 * names the tracker for the batch's claim. The tickets come back as graph nodes (`TicketNode`: what a batch keeps; it
 * reads a whole ticket when it starts it), and a batch whose carry would pass the payload limit once every ticket has
 * ended is refused, naming its size.
 */
export async function loadBatch(
  input: { raw: unknown; workflowId: string },
  deps: { env: NodeJS.ProcessEnv; trackers: Trackers; git: Git },
): Promise<LoadedBatch> {
  const { env, trackers, git } = deps;
  const file = parseOrThrow(batchFileSchema, input.raw, 'batch input');
  const fromId = input.workflowId.startsWith('batch-') ? input.workflowId.slice('batch-'.length) : undefined;
  const batchId = file.batchId ?? fromId;
  if (batchId === undefined || !ID_PATTERN.test(batchId)) {
    throw new BadInputError('batch input', [
      `workflow id "${input.workflowId}" gives no valid batch id: start it with --workflow-id batch-<id>, <id> matching [A-Za-z0-9._-]{1,64}`,
    ]);
  }
  if (fromId !== batchId) {
    throw new BadInputError('batch input', [
      `field "batchId" is "${batchId}" but the workflow id is "${input.workflowId}": start it with --workflow-id batch-${batchId}`,
    ]);
  }
  if (!path.isAbsolute(file.repo)) {
    throw new BadInputError('batch input', [
      `field "repo" is "${file.repo}": not an absolute path; fix: give the absolute path of the git repository as the worker's host sees it`,
    ]);
  }
  const config = toBatchConfig(file, batchId, (repo, p) => path.resolve(repo, p));
  await assertGitRepo(git, config.repo, config.baseBranch);
  for (const [field, names] of [
    ['agent.envFrom', config.agent.envFrom],
    ...Object.entries(config.agents ?? {}).map(([name, a]) => [`agents.${name}.envFrom`, a.envFrom] as const),
    ...config.gates.map((g, i) => [`gates[${i}].envFrom`, g.envFrom] as const),
    ['deploy.envFrom', config.deploy?.envFrom ?? []],
  ] as const) {
    resolveEnvFrom([...names], env, field);
  }
  const local = config.tracker?.kind !== 'github';
  const places = [
    ...(local ? [await folderProblem('ticketsDir', file.ticketsDir, config.ticketsDir, config.repo)] : []),
    await folderProblem('worktreesDir', file.worktreesDir, config.worktreesDir, config.repo),
    await folderProblem('artifactsDir', file.artifactsDir, config.artifactsDir, config.repo),
    ...(await branchProblems(git, config.repo, batchId)),
  ].filter((p): p is string => p !== undefined);
  if (places.length) throw new BadInputError('batch input', places);

  const all = await trackers(config).list();
  const tickets = selectTickets(all, config);
  const records = local ? await stateRecordProblems(config.ticketsDir, tickets) : [];
  if (records.length) throw new BadInputError(`batch ${batchId}`, records);
  config.protectedPaths = protectedPaths(config, tickets);
  const problems = graphProblems(tickets);
  for (const t of tickets) {
    if (config.probes.length === 0 && t.probes.length === 0) {
      problems.push(
        `ticket "${t.id}" has no verify-live probe: add "probes" to the batch file or the ticket file (merged is not shipped until a probe says so)`,
      );
    }
  }
  // Safe by default (issue 25): a bug is done when its failing test passes, which only a test report shows; without
  // one, an agent that skips or deletes the failing test would pass every gate.
  const bugs = tickets.filter((t) => t.kind === 'bug' && t.state !== 'done');
  if (bugs.length && !config.gates.some((g) => g.junit !== undefined)) {
    problems.push(
      `ticket${bugs.length > 1 ? 's' : ''} ${bugs.map((t) => `"${t.id}"`).join(', ')} of kind "bug" ${bugs.length > 1 ? 'need' : 'needs'} a gate that declares its test report, and no gate does: ` +
        'without one a fix that skips or deletes the failing test passes; fix: add "junit" (the JUnit XML report the gate\'s test run writes) to the gate that runs the tests, or give the ticket another kind',
    );
  }
  if (tickets.length === 0 && !config.intake) {
    problems.push(
      config.tracker?.kind === 'github'
        ? `the tracker selects no issues of ${config.tracker.repo}: label some with ${config.tracker.labels.map((l) => `"${l}"`).join(', ') || 'the selection'} or fix "tracker"`
        : `no tickets in "${config.ticketsDir}": add ticket files (<id>.yaml) there`,
    );
  }
  if (problems.length) throw new BadInputError(`batch ${batchId}`, problems);
  // One batch at a time per tracker: a tickets folder, or a GitHub repository's issues under one label prefix.
  const trackerName = config.tracker?.kind === 'github' ? `github:${config.tracker.repo}:${config.tracker.labelPrefix}` : await realpath(config.ticketsDir);
  const trackerKey = createHash('sha256').update(trackerName).digest('hex').slice(0, 20);
  const definition = definitionOfDone(config, tickets, await protectedDigests(git, config, await headOf(git, config.repo, config.baseBranch)));
  const loaded: LoadedBatch = { config, tickets: tickets.map(nodeOf), doneFingerprint: fingerprint(definition), definitionOfDone: definition, trackerKey };
  const tooLarge = sizeProblem(loaded);
  if (tooLarge) throw new BadInputError(`batch ${batchId}`, [tooLarge]);
  // The only write, once every check has passed: bad input leaves the repository as it was.
  await ensureExcluded(
    git,
    config.repo,
    [config.worktreesDir, config.artifactsDir].map((p) => path.relative(config.repo, p)).filter((p) => !p.startsWith('..')),
    [
      { folder: config.ticketsDir, glob: `*${STATE_SUFFIX}` },
      { folder: config.ticketsDir, glob: `*${LOCK_SUFFIX}` },
    ],
  );
  return loaded;
}

/**
 * Why the folder `dir` (the batch's `field`, written as `written`) cannot be used, if it cannot: a file is there or
 * in its way (no folder can be made), or it is the repository's own folder (the tickets would lose their
 * protected-path cover; worktrees and artifacts would land among the repository's files). A folder not made yet is
 * fine: ratchet makes it when it first writes there.
 */
async function folderProblem(field: string, written: string, dir: string, repo: string): Promise<string | undefined> {
  const shown = `field "${field}" is ${JSON.stringify(written)}${written === dir ? '' : ` (${dir})`}`;
  const usual = JSON.stringify(`.ratchet/${field.replace(/Dir$/, '')}`);
  for (let at = dir; ; at = path.dirname(at)) {
    const found = await lstat(at).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ENOTDIR' ? undefined : null));
    if (found === null) return undefined; // unreadable (EACCES...): the step that writes there says so
    // A link is what it points at; a dangling one is made on first write, like a missing folder.
    const kind = found?.isSymbolicLink() ? await fsStat(at).catch(() => undefined) : found;
    if (found && (!kind || kind.isDirectory())) break;
    if (kind) {
      const what = found?.isSymbolicLink() ? 'a link to a file' : 'a file';
      return at === dir
        ? `${shown}: ${what}, not a folder; fix: move or delete that file, or point ${field} at a folder, such as ${usual}`
        : `${shown}: ${at} is ${what}, so no folder can be made there; fix: move or delete that file, or point ${field} at another folder`;
    }
    if (path.dirname(at) === at) break;
  }
  if ((await canonical(dir)) !== (await canonical(repo))) return undefined;
  const why = field === 'ticketsDir' ? 'the tickets would lose their protected-path cover (an attempt could edit them)' : "ratchet would write among the repository's own files";
  return `${shown}: the repository's own folder, so ${why}; fix: use a folder inside it, such as ${usual}`;
}

/**
 * Local branches that keep git from making the tickets' branches `ratchet/<batchId>/<id>`: a branch `ratchet`, or
 * `ratchet/<batchId>` (a branch cannot be a folder of other branches too).
 */
async function branchProblems(git: Git, repo: string, batchId: string): Promise<string[]> {
  const problems: string[] = [];
  for (const branch of ['ratchet', `ratchet/${batchId}`]) {
    const { code } = await git.run(repo, ['show-ref', '--verify', '--quiet', `refs/heads/${branch}`], [0, 1]);
    if (code !== 0) continue;
    problems.push(
      `field "repo" is ${JSON.stringify(repo)}: it has a local branch "${branch}", so git cannot create the tickets' branches ` +
        `"ratchet/${batchId}/<id>" beside it; fix: rename it (git branch -m ${branch} <new-name>) or delete it (git branch -D ${branch})`,
    );
  }
  return problems;
}

/**
 * Tickets whose state record (`<id>.state` beside the ticket file) is there but is no file (a folder, a fifo): the
 * tracker could neither read nor write the ticket's state.
 */
async function stateRecordProblems(ticketsDir: string, tickets: Ticket[]): Promise<string[]> {
  const problems: string[] = [];
  for (const t of tickets) {
    const record = path.join(ticketsDir, `${t.id}${STATE_SUFFIX}`);
    const stat = await lstat(record).catch(() => undefined);
    if (!stat || stat.isFile() || stat.isSymbolicLink()) continue;
    problems.push(
      `ticket "${t.id}": its state record ${record} is ${stat.isDirectory() ? 'a folder' : 'not a file'}, so ratchet can neither read nor write ` +
        `the ticket's state; fix: remove it (rm -r ${JSON.stringify(record)}); the ticket then starts from the "state" field of its file`,
    );
  }
  return problems;
}

/**
 * Why `loaded` is too large to travel in Temporal's payloads (2 MB each), if it is: the result itself over
 * {@link MAX_LOADED_BYTES}, or the batch's carry once every ticket has ended over {@link MAX_CARRY_BYTES}, measured
 * with the carry's own wire form.
 */
function sizeProblem(loaded: LoadedBatch): string | undefined {
  const bytes = Buffer.byteLength(JSON.stringify(loaded));
  const perTicket = Object.keys(loaded.definitionOfDone?.ticketProbes ?? {}).length ? ', move ticket probes to the batch\'s "probes"' : '';
  if (bytes > MAX_LOADED_BYTES) {
    return (
      `the batch's graph (ids, titles, edges) and definition of done come to ${bytes} bytes, over the ` +
      `${MAX_LOADED_BYTES}-byte limit of what a batch carries (Temporal refuses payloads over 2 MB); fix: split the batch with "tickets"` +
      `${perTicket}, or shorten the longest titles`
    );
  }
  const carry = endedCarryBytes(loaded);
  if (carry <= MAX_CARRY_BYTES) return undefined;
  return (
    `a batch of ${loaded.tickets.length} tickets carries ~${carry} bytes into its next run once they have all ended, over the ${MAX_CARRY_BYTES}-byte ` +
    `limit (Temporal refuses payloads over 2 MB); fix: split the batch with "tickets"${perTicket}, or shorten the longest titles`
  );
}

/** A ticket's graph node: what a batch keeps of it. */
function nodeOf(t: Ticket): TicketNode {
  const node: TicketNode = { id: t.id, title: t.title, dependsOn: t.dependsOn, state: t.state, kind: t.kind };
  if (t.stateNote !== undefined) node.stateNote = t.stateNote;
  return node;
}

/**
 * The bytes a batch over `nodes` carries at continue-as-new once every ticket has ended done (evidence with a merge
 * commit and a report row each): the carry's own wire form, measured, not estimated.
 */
function endedCarryBytes(loaded: LoadedBatch): number {
  const startedAt = Date.now();
  const carry = loadedCarry(loaded, startedAt);
  // A batch of 10,000 tickets runs for hours: ended times 8 digits after its start.
  for (const t of loaded.tickets) endDone(carry, t.id, '0'.repeat(40), startedAt + 10_000_000);
  return Buffer.byteLength(JSON.stringify(encodeCarry(carry)));
}

function selectTickets(all: Ticket[], config: BatchConfig): Ticket[] {
  // A watch's intake batch takes its tickets through `discover` only, each handed over by its signature (docs/watch.md).
  if (config.intake) return [];
  // Flaky and systemic tickets are a person's (PERSON_KINDS): run only when named.
  if (config.tickets.length === 0) return all.filter((t) => !PERSON_KINDS.includes(t.kind));
  const byId = new Map(all.map((t) => [t.id, t]));
  const unknown = config.tickets.filter((id) => !byId.has(id));
  if (unknown.length) {
    throw new BadInputError('batch input', [
      `field "tickets" names ${unknown.map((u) => `"${u}"`).join(', ')} not found in ${config.tracker?.kind === 'github' ? `the issues the tracker selects in ${config.tracker.repo}` : `"${config.ticketsDir}"`}: fix the id or add the ticket`,
    ]);
  }
  return config.tickets.map((id) => byId.get(id) as Ticket);
}

/**
 * Every protected path of a batch (DESIGN.md "Trust boundaries"), as globs relative to the repository: the tickets
 * folder and `.ratchet/` (when inside the repository), every file a gate or probe declares it runs, the files each
 * gate's tool reads first (`toolFiles`: a `GNUmakefile` beside a listed `Makefile`, npm's lock files for `npm test`),
 * and the batch file's own `protectedPaths`. Sorted, without duplicates.
 */
export function protectedPaths(config: BatchConfig, tickets: Ticket[]): string[] {
  const inRepo = (abs: string): string[] => {
    const rel = path.relative(config.repo, abs);
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? [`${rel.split(path.sep).join('/')}/**`] : [];
  };
  const probeFiles = [...config.probes, ...tickets.flatMap((t) => t.probes)].flatMap((p) => (p.kind === 'command' ? p.files : []));
  const all = [
    '.ratchet/**',
    ...inRepo(config.ticketsDir),
    ...config.gates.flatMap((g) => g.files),
    ...config.gates.flatMap((g) => toolFiles(g)),
    ...probeFiles,
    ...config.protectedPaths,
  ];
  return [...new Set(all)].sort();
}

/**
 * Content digests of the protected files at `commit` (git blob ids), outside the tickets folder (discovered tickets
 * join it while a batch runs, and ratchet writes it, never an attempt).
 */
export async function protectedDigests(git: Git, config: BatchConfig, commit: string): Promise<Record<string, string>> {
  const tickets = path.relative(config.repo, config.ticketsDir).split(path.sep).join('/');
  const isProtected = picomatch(config.protectedPaths, { dot: true });
  const inTickets = (p: string): boolean => !tickets.startsWith('..') && (p === tickets || p.startsWith(`${tickets}/`));
  return blobDigests(git, config.repo, commit, (p) => isProtected(p) && !inTickets(p));
}

/**
 * The fingerprint of a frozen definition of done (DESIGN.md "frozen verifier"): a sha256 hex digest of it (gates,
 * probes, protected paths and their files' digests, allowed paths, the oracle policy); any change to those changes it.
 */
export function fingerprint(definition: DefinitionOfDone): string {
  return createHash('sha256').update(JSON.stringify(definition)).digest('hex');
}

/**
 * Reads the tracker's state of each of `ids`: the oracle's only input. A ticket starting reads itself whole with its
 * first write (`setTicketState` with `whole`).
 * @returns the facts; ids without a ticket are absent.
 */
export async function readTracker(trackers: Trackers, input: TrackerRef & { ids: string[] }): Promise<{ facts: TicketFact[] }> {
  return { facts: await trackers(input).facts(input.ids) };
}

/**
 * Sets a ticket's state in the tracker (set-state, so a retry writes the same thing); `by` names the writer
 * (`batch <id>`). Returns the state just before, for the caller's tamper check, and with `whole` the ticket as the
 * tracker has it (read in the same call: a ticket workflow started from its graph node reads itself so). With
 * `expect`, a compare-and-set, and with `fence`, a fenced write (`Tracker.setState`): `refused` says why nothing was
 * written.
 * @throws TrackerError (non-retryable) when the tracker has no such ticket.
 */
export async function setTicketState(
  trackers: Trackers,
  input: TrackerRef & { ticketId: string; state: TicketState; whole?: boolean } & StateWrite,
): Promise<StateWritten & { ticket?: Ticket }> {
  const tracker = trackers(input);
  const { note, by, expect, fence } = input;
  const [written, ticket] = await Promise.all([
    tracker.setState(input.ticketId, input.state, { note, by, expect, fence }),
    input.whole ? tracker.get(input.ticketId) : undefined,
  ]);
  if (written.refused === 'stale' && fence) {
    // Said here too: a worker that lost its task never hands this answer to a workflow that will run it.
    console.warn(
      `ratchet worker: ticket ${input.ticketId}: stale write refused (${input.state}, write ${fence.seq} of workflow run ${fence.run}): ` +
        'the tracker holds a later write of that workflow; this worker lost the task while it was stopped',
    );
  }
  return ticket ? { ...written, ticket } : written;
}

/**
 * A person's answer to the human gate `ticketId` waits at, as its tracker records it (see `Tracker.gateAnswer`);
 * trackers without answers (the local one) return `{}`.
 */
export async function readGateAnswer(
  trackers: Trackers,
  input: TrackerRef & { ticketId: string; after?: GateCursor },
): Promise<{ cursor?: GateCursor; answer?: TrackerDecision }> {
  const tracker = trackers(input);
  return tracker.gateAnswer ? tracker.gateAnswer(input.ticketId, input.after) : {};
}

/**
 * Files a discovered ticket in the tracker (see `Tracker.file`): `created`, `existing` (a retry of this call) or
 * `taken` (the id names another ticket; the caller picks another id). Each of `blocks` (tickets that wait for the new
 * one) gets the edge in trackers that keep edges (`Tracker.link`).
 */
export async function fileTicket(
  trackers: Trackers,
  input: TrackerRef & { ticket: Ticket; by: string; blocks?: string[] },
): Promise<{ status: 'created' | 'existing' | 'taken' }> {
  const tracker = trackers(input);
  const r = await tracker.file(input.ticket, input.by);
  if (r.status !== 'taken' && tracker.link) for (const b of input.blocks ?? []) await tracker.link(b, input.ticket.id);
  return r;
}
