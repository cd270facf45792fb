/**
 * The activity factory. Workers call `createActivities(deps)`; workflows type their proxies with
 * `ReturnType<typeof createActivities>` through `import type` only.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Agent } from './agents/agent';
import { commandAgent } from './agents/command';
import { createTrackers, fileTicket, loadBatch, readGateAnswer, readTracker, setTicketState, type Trackers } from './batch';
import { Git } from './git';
import { githubFromEnv, type GitHub } from './github/client';
import { liveness } from './context';
import { toFailure } from './errors';
import { asOutage, type Needs } from './outage';
import { selfHeal, smokeCheck, type HealInput, type SmokeInput } from './heal';
import { implement, type ImplementInput } from './implement';
import { deploy, merge, releaseTicket, type DeployInput, type MergeInput, type ReleaseInput } from './merge';
import { requestLock, type RequestLockInput } from './lock';
import { enterGuard, type EnterGuardInput } from './guard';
import { knownSignatures, reportFailures, reportPasses, runChecks, watchRef, type ReportFailuresInput, type ReportPassesInput, type RunChecksInput } from './watch';
import { readDetectedTicket, reopenTicket, type DetectedTicketRef, type ReopenInput } from './watch-ticket';
import { firstBadCommit, type FirstBadInput } from './watch-bisect';
import { askFixSlot, handToIntake, type AskFixSlotInput, type HandToIntakeInput } from './watch-intake';
import { enterMergeQueue, landCandidate, readMainLine, type EnterMergeQueueInput, type LandCandidateInput, type MainLineInput } from './merge-queue';
import { createForges, landPullRequest, openPullRequest, openRevertPullRequest, updatePullRequest, type LandInput, type OpenPullRequestInput, type OpenRevertInput, type UpdatePullRequestInput } from './pull-request';
import { plan, type PlanInput } from './plan';
import { decompose, fileEpicTickets, type DecomposeInput, type FileEpicTicketsInput } from './decompose';
import { review, type ReviewInput } from './review';
import { createSandboxProbe, type SandboxProbe } from './box/sandbox';
import { validate, type ValidateInput } from './validate';
import { verifyLive, type VerifyInput } from './verify-live';
import { readTicketEnd, type ReadTicketEndInput } from './ticket-end';
import type { Client } from '@temporalio/client';
import type { AgentConfig, RepoRef } from '../workflows/types';

export interface ActivityDeps {
  /** Builds the agent for a batch's `agent` config; defaults to the command adapter. */
  agentFor?: (config: AgentConfig) => Agent;
  /** The worker's environment: where `envFrom` values come from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Whether bubblewrap works here; default a probe made for this worker. */
  sandbox?: SandboxProbe;
  /**
   * Aborted when the worker process is told to stop (SIGINT/SIGTERM): running agents, gates and deploys are stopped
   * at once and their activity attempts fail, to be retried on another worker.
   */
  stopping?: AbortSignal;
  /**
   * The worker's GitHub client, for batches whose tracker or forge is GitHub; default one made on first use from the
   * worker's environment (`githubFromEnv`: RATCHET_GITHUB_TOKEN or GITHUB_TOKEN, GITHUB_API_URL).
   */
  github?: GitHub;
  /**
   * A Temporal client of the worker's own connection, for the steps that read the server (`readTicketEnd`); made by
   * `createWorker`. Without one those steps fail.
   */
  client?: Client;
  /** The worker's trackers; default `createTrackers` over `github`. */
  trackers?: Trackers;
  /**
   * The worker's git client (its git process, repository locks and caches); default one made here. Activities of one
   * worker must share one: the repository locks serialize their merges.
   */
  git?: Git;
  /**
   * This worker's worker-specific task queue (workers/worker.ts): returned with the results of the steps that leave a
   * ticket's worktree here (plan, implement, validate), so the ticket's next steps are sent to this worker.
   */
  hostTaskQueue?: string;
  /**
   * A folder of this worker's own for worktrees (`ratchet worker --worktrees`): a batch's worktrees then go to
   * `<worktreesRoot>/<repository folder name>-<8 hex digits>` instead of the batch's `worktreesDir` (see
   * {@link workerWorktrees}). Default: the batch's.
   */
  worktreesRoot?: string;
}

/**
 * The folder this worker keeps a batch's worktrees in: the repository's `worktreesDir` (the batch's), or with a
 * `worktreesRoot` a folder in it named after the repository (its folder name and the first 8 hex digits of the
 * sha-256 of its path, so two repositories of one name do not meet).
 */
export function workerWorktrees(ref: Pick<RepoRef, 'repo' | 'worktreesDir'>, worktreesRoot: string | undefined): string {
  if (!worktreesRoot) return ref.worktreesDir;
  const key = `${path.basename(ref.repo).replace(/[^A-Za-z0-9._-]/g, '-')}-${createHash('sha256').update(path.resolve(ref.repo)).digest('hex').slice(0, 8)}`;
  return path.resolve(worktreesRoot, key);
}

/**
 * Wraps an activity: it heartbeats while it runs (every third of its heartbeat timeout), so a worker that dies
 * mid-activity is noticed within that timeout rather than the start-to-close timeout; a failure while a folder the
 * step `needs` is gone or unwritable is an outage (`OutageError`, activities/outage.ts), whatever the error said; and
 * bad input and other non-retryable errors become typed `ApplicationFailure`s.
 */
function boundary<A extends unknown[], R>(fn: (...args: A) => Promise<R>, needs?: (...args: A) => Needs | undefined): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const { heartbeat, tickMs } = liveness();
    const ticker = setInterval(() => heartbeat(), tickMs);
    try {
      return await fn(...args);
    } catch (err) {
      return toFailure(await asOutage(err, needs?.(...args)));
    } finally {
      clearInterval(ticker);
    }
  };
}

/** What a step over the repository needs: the repository, and its worktrees and artifacts folders. */
const repoNeeds = (input: { ref: RepoRef }): Needs => ({ present: [input.ref.repo], create: [input.ref.worktreesDir, input.ref.artifactsDir] });
/** What a local tracker's step needs: its tickets folder (a GitHub tracker's outages are GitHub's own errors). */
const trackerNeeds = (input: { ticketsDir: string; tracker?: { kind: string } }): Needs | undefined =>
  input.tracker?.kind === 'github' ? undefined : { present: [input.ticketsDir], create: [] };

/** Returns every activity ratchet's workflows call, keyed by activity type name. */
export function createActivities(deps: ActivityDeps = {}) {
  const agentFor = deps.agentFor ?? commandAgent;
  const env = deps.env ?? process.env;
  const stopping = deps.stopping;
  const git = deps.git ?? new Git();
  const step = { env, sandbox: deps.sandbox ?? createSandboxProbe(env), stopping, git };
  let github = deps.github;
  const githubClient = (): GitHub => (github ??= githubFromEnv(env, (line) => console.warn(`ratchet worker: ${line}`)));
  const trackers = deps.trackers ?? createTrackers(githubClient);
  const forges = createForges(githubClient);
  /** The input with its repository as this worker sees it: worktrees in this worker's folder. */
  const here = <I extends { ref: RepoRef }>(input: I): I =>
    deps.worktreesRoot ? { ...input, ref: { ...input.ref, worktreesDir: workerWorktrees(input.ref, deps.worktreesRoot) } } : input;
  /** The result, with this worker's task queue when it has one: the ticket's worktree is here now. */
  const heldHere = <R extends object>(result: R): R & { hostTaskQueue?: string } => (deps.hostTaskQueue ? { ...result, hostTaskQueue: deps.hostTaskQueue } : result);
  return {
    loadBatch: boundary((input: Parameters<typeof loadBatch>[0]) => loadBatch(input, { env, trackers, git })),
    readTracker: boundary((input: Parameters<typeof readTracker>[1]) => readTracker(trackers, input), trackerNeeds),
    setTicketState: boundary((input: Parameters<typeof setTicketState>[1]) => setTicketState(trackers, input), trackerNeeds),
    fileTicket: boundary((input: Parameters<typeof fileTicket>[1]) => fileTicket(trackers, input)),
    requestLock: boundary((input: RequestLockInput) => requestLock(input)),
    enterMergeQueue: boundary((input: EnterMergeQueueInput) => enterMergeQueue(input)),
    enterGuard: boundary((input: EnterGuardInput) => enterGuard(input)),
    readGateAnswer: boundary((input: Parameters<typeof readGateAnswer>[1]) => readGateAnswer(trackers, input)),
    plan: boundary(async (input: PlanInput) => heldHere(await plan(agentFor(input.agent), here(input), step)), (i) => repoNeeds(here(i))),
    review: boundary((input: ReviewInput) => review(agentFor(input.agent), here(input), step), (i) => repoNeeds(here(i))),
    decompose: boundary(async (input: DecomposeInput) => heldHere(await decompose(agentFor(input.agent), here(input), step, trackers)), (i) => repoNeeds(here(i))),
    fileEpicTickets: boundary((input: FileEpicTicketsInput) => {
      if (!deps.client) throw new Error('this worker has no Temporal client for fileEpicTickets (createWorker makes one)');
      return fileEpicTickets(deps.client, input);
    }),
    implement: boundary(async (input: ImplementInput) => heldHere(await implement(agentFor(input.agent), here(input), step)), (i) => repoNeeds(here(i))),
    validate: boundary(async (input: ValidateInput) => heldHere(await validate(here(input), step)), (i) => repoNeeds(here(i))),
    selfHeal: boundary((input: HealInput) => selfHeal(agentFor, here(input), step), (i) => repoNeeds(here(i))),
    smokeCheck: boundary((input: SmokeInput) => smokeCheck(here(input), step), (i) => repoNeeds(here(i))),
    merge: boundary((input: MergeInput) => merge(git, here(input)), (i) => repoNeeds(here(i))),
    readMainLine: boundary((input: MainLineInput) => readMainLine(git, input), (i) => repoNeeds(here(i))),
    releaseTicket: boundary((input: ReleaseInput) => releaseTicket(git, here(input)), (i) => repoNeeds(here(i))),
    landCandidate: boundary((input: LandCandidateInput) => landCandidate({ ...input, checks: here(input.checks) }, step), (i) => repoNeeds(here(i.checks))),
    openPullRequest: boundary((input: OpenPullRequestInput) => openPullRequest(git, forges, trackers, input)),
    landPullRequest: boundary((input: LandInput) => landPullRequest(git, forges, input)),
    updatePullRequest: boundary((input: UpdatePullRequestInput) => updatePullRequest(git, forges, { ...input, checks: here(input.checks) }, step), (i) => repoNeeds(here(i.checks))),
    openRevertPullRequest: boundary((input: OpenRevertInput) => openRevertPullRequest(git, forges, { ...input, checks: here(input.checks) }, step), (i) => repoNeeds(here(i.checks))),
    deploy: boundary((input: DeployInput) => deploy(here(input), { env, stopping, git }), (i) => repoNeeds(here(i))),
    verifyLive: boundary((input: VerifyInput) => verifyLive(here(input), { env, git }), (i) => repoNeeds(here(i))),
    runChecks: boundary((input: RunChecksInput) => runChecks(input, step), (i) => repoNeeds({ ref: watchRef(i.watch) })),
    reportFailures: boundary((input: ReportFailuresInput) => reportFailures(input)),
    reportPasses: boundary((input: ReportPassesInput) => reportPasses(input)),
    knownSignatures: boundary((input: { watchId: string; signatures: string[] }) => knownSignatures(input)),
    readDetectedTicket: boundary((input: DetectedTicketRef) => readDetectedTicket(trackers, input)),
    reopenTicket: boundary((input: ReopenInput) => reopenTicket(trackers, input), trackerNeeds),
    firstBadCommit: boundary((input: FirstBadInput) => firstBadCommit(input, step), (i) => repoNeeds({ ref: watchRef(i.watch) })),
    askFixSlot: boundary((input: AskFixSlotInput) => askFixSlot(input)),
    handToIntake: boundary((input: HandToIntakeInput) => handToIntake(input)),
    readTicketEnd: boundary((input: ReadTicketEndInput) => {
      if (!deps.client) throw new Error('this worker has no Temporal client for readTicketEnd (createWorker makes one)');
      return readTicketEnd(deps.client, git, input);
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * The activities workflows run as local activities (in the worker that runs the workflow, recorded as one marker
 * event, with no activity task to match): the tracker's reads and writes and the lock's request, each milliseconds
 * of I/O on a ticket's or batch's critical path; and the merge queue's and the guard's requests.
 */
export const LOCAL_ACTIVITIES = ['readTracker', 'setTicketState', 'requestLock', 'enterMergeQueue', 'enterGuard'] as const;

/** The {@link LOCAL_ACTIVITIES}, for a worker that runs workflows and no other activity. */
export function createLocalActivities(deps: ActivityDeps = {}): Pick<Activities, (typeof LOCAL_ACTIVITIES)[number]> {
  const all = createActivities(deps);
  return { readTracker: all.readTracker, setTicketState: all.setTicketState, requestLock: all.requestLock, enterMergeQueue: all.enterMergeQueue, enterGuard: all.enterGuard };
}
