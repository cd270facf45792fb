/**
 * The fix caps of a watch (issue 27 item 4, seed 003's "at most 5 fixes per run"): at most `maxFixesPerRun` tickets
 * handed to the intake batch's agents per scheduled run, and `maxFixesPerHour` per hour. One small workflow per watch,
 * `fix-cap-<watchId>`, keeps the count: a signature asks it for a slot (`fixSlotAsked`, signal-with-start from the
 * `askFixSlot` activity) before it hands its ticket over, and waits, visibly ("waiting: fix cap"), until it answers
 * (`fixSlotGranted`, a signal to the signature's workflow). A request waits in order; one over the run's cap is
 * granted when a later run sees its failure again (it asks again, for that run), one over the hour's cap when the
 * oldest grant of the hour is an hour old (a durable timer). Deterministic: the clock is the workflow's.
 */
import { condition, continueAsNew, defineQuery, defineSignal, getExternalWorkflowHandle, log, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';

const HOUR_MS = 3600_000;
/** Runs whose grant counts are kept (a run's failures ask within seconds of each other). */
const RUNS_KEPT = 50;
/** The room ends once nothing waits and no grant is younger than this: a later ask starts it again. */
const IDLE_MS = HOUR_MS;

/** A signature's ask: which signature (its workflow answers), for which run, when (ms since epoch). */
export interface FixSlotAsk {
  signature: string;
  workflowId: string;
  runId: string;
  at: number;
}

/** A granted slot: for which run, when (ms since epoch). */
export interface FixSlotGrant {
  signature: string;
  runId: string;
  at: number;
}

/** What the room keeps (and carries when it continues as new). */
export interface FixCapState {
  maxFixesPerRun: number;
  maxFixesPerHour: number;
  /** Grants of the last hour, oldest first. */
  grants: FixSlotGrant[];
  /** Grants per run, for the last runs. */
  perRun: [string, number][];
  /** Asks not granted yet, in order. */
  waiting: FixSlotAsk[];
}

/** What `fixCapStatus` answers: the caps, grants in the last hour, and what waits and why. */
export interface FixCapStatus {
  maxFixesPerRun: number;
  maxFixesPerHour: number;
  grantedLastHour: number;
  waiting: { signature: string; runId: string; since: number; why: string }[];
}

export const fixSlotAskedSignal = defineSignal<[FixSlotAsk]>('fixSlotAsked');
export const fixSlotGrantedSignal = defineSignal<[FixSlotGrant]>('fixSlotGranted');
export const fixCapStatusQuery = defineQuery<FixCapStatus>('fixCapStatus');

/** The caps' workflow id of a watch. */
export const fixCapWorkflowId = (watchId: string): string => `fix-cap-${watchId}`;

/** The caps' rules over their state. Pure. */
export class FixCaps {
  constructor(readonly state: FixCapState) {}

  /** Takes an ask: a signature asking again (for a later run) keeps its place and asks for that run. */
  ask(a: FixSlotAsk): void {
    const w = this.state.waiting.find((x) => x.signature === a.signature);
    if (w) w.runId = a.runId;
    else this.state.waiting.push({ ...a });
  }

  /** Grants of the last hour at `now`. */
  hourCount(now: number): number {
    return this.state.grants.filter((g) => g.at > now - HOUR_MS).length;
  }

  private runCount(runId: string): number {
    return this.state.perRun.find(([r]) => r === runId)?.[1] ?? 0;
  }

  /** Why `a` waits at `now`, or undefined when it may be granted. */
  why(a: Pick<FixSlotAsk, 'runId'>, now: number): string | undefined {
    if (this.hourCount(now) >= this.state.maxFixesPerHour) return `maxFixesPerHour ${this.state.maxFixesPerHour} handed over in the last hour`;
    if (this.runCount(a.runId) >= this.state.maxFixesPerRun) return `maxFixesPerRun ${this.state.maxFixesPerRun} handed over for run ${a.runId}; a later run that sees it again hands it over`;
    return undefined;
  }

  /** Grants what the caps allow at `now`, in order. @returns the asks granted. */
  pump(now: number): FixSlotAsk[] {
    this.state.grants = this.state.grants.filter((g) => g.at > now - HOUR_MS);
    const granted: FixSlotAsk[] = [];
    for (const a of [...this.state.waiting]) {
      if (this.why(a, now)) continue;
      this.state.waiting.splice(this.state.waiting.indexOf(a), 1);
      this.state.grants.push({ signature: a.signature, runId: a.runId, at: now });
      const run = this.state.perRun.find(([r]) => r === a.runId);
      if (run) run[1] += 1;
      else this.state.perRun.push([a.runId, 1]);
      while (this.state.perRun.length > RUNS_KEPT) this.state.perRun.shift();
      granted.push(a);
    }
    return granted;
  }

  /** Ms until the hour's cap frees a slot for a waiting ask, or undefined when none waits on it. */
  nextFreeMs(now: number): number | undefined {
    if (!this.state.waiting.length || this.hourCount(now) < this.state.maxFixesPerHour) return undefined;
    const oldest = this.state.grants.find((g) => g.at > now - HOUR_MS);
    return oldest ? Math.max(1, oldest.at + HOUR_MS - now + 1) : undefined;
  }

  status(now: number): FixCapStatus {
    const s = this.state;
    return {
      maxFixesPerRun: s.maxFixesPerRun,
      maxFixesPerHour: s.maxFixesPerHour,
      grantedLastHour: this.hourCount(now),
      waiting: s.waiting.map((a) => ({ signature: a.signature, runId: a.runId, since: a.at, why: this.why(a, now) ?? 'being granted' })),
    };
  }
}

/** The room's input: the watch's caps, and what it carried (continue-as-new). */
export interface FixCapInput {
  watchId: string;
  maxFixesPerRun: number;
  maxFixesPerHour: number;
  state?: FixCapState;
}

/** Keeps a watch's fix caps; see the file comment. Ends when idle for an hour. */
export async function fixCapWorkflow(input: FixCapInput): Promise<void> {
  const caps = new FixCaps(input.state ?? { maxFixesPerRun: input.maxFixesPerRun, maxFixesPerHour: input.maxFixesPerHour, grants: [], perRun: [], waiting: [] });
  // A watch file restarted with other caps: the latest say.
  Object.assign(caps.state, { maxFixesPerRun: input.maxFixesPerRun, maxFixesPerHour: input.maxFixesPerHour });
  const asks: FixSlotAsk[] = [];
  setHandler(fixSlotAskedSignal, (a) => void asks.push(a));
  setHandler(fixCapStatusQuery, () => caps.status(Date.now()));
  let lastActive = Date.now();
  while (!workflowInfo().continueAsNewSuggested) {
    // Every grant is at most as recent as the last ask or wait, so an hour idle after it no grant counts any more.
    const wait = caps.nextFreeMs(Date.now()) ?? (caps.state.waiting.length ? undefined : Math.max(1_000, lastActive + IDLE_MS + 1 - Date.now()));
    const woke = wait === undefined ? await condition(() => asks.length > 0).then(() => true) : await condition(() => asks.length > 0, wait);
    if (!woke && !caps.state.waiting.length && caps.hourCount(Date.now()) === 0 && !asks.length) return;
    if (asks.length || caps.state.waiting.length) lastActive = Date.now();
    for (const a of asks.splice(0)) caps.ask(a);
    for (const a of caps.pump(Date.now())) {
      await getExternalWorkflowHandle(a.workflowId)
        .signal(fixSlotGrantedSignal, { signature: a.signature, runId: a.runId, at: Date.now() })
        .catch((err: unknown) => log.warn(`fix slot for ${a.signature}: its workflow ${a.workflowId} could not be told (${(err as Error).message})`));
    }
    const st = caps.status(Date.now());
    setCurrentDetails(`**fix caps** of watch \`${input.watchId}\`: ${st.grantedLastHour} of ${st.maxFixesPerHour} handed over in the last hour, at most ${st.maxFixesPerRun} per run; ${st.waiting.length} waiting`);
  }
  await continueAsNew<typeof fixCapWorkflow>({ ...input, state: { ...caps.state, waiting: [...caps.state.waiting, ...asks] } });
}
