/**
 * Nothing a step starts outlives the step (issue 29 part 7): every process a gate, probe, setup step or agent started
 * is found and killed when the step ends, and counted.
 *
 * How they are found, and why this way:
 * - A process group is not enough: `setsid`, `nohup ... &` under a shell with job control, and double-forked daemons
 *   leave it, and their parent is init by then, so a process tree (ps-list, tree-kill) loses them too.
 * - A cgroup would hold them all, but a worker can rarely write one (no delegated cgroup v2 subtree under a plain
 *   user, nor in most containers).
 * - In the box (sandbox.ts) a pid namespace holds them: bwrap's monitor exits when the command's first process does,
 *   `--die-with-parent` then kills the namespace's init, and the kernel kills everything left in it. No process can
 *   leave a pid namespace. {@link BOX_COUNTER} counts what was left before that happens.
 * - Outside the box every process of a step carries a mark in its environment ({@link STEP_MARK_VAR}, unique per run),
 *   inherited by every descendant however it detaches; after the step, /proc is swept for processes that carry it or
 *   still share the step's process group or session. A process that empties its environment (`env -i`) and leaves the
 *   session escapes the sweep: the box is the stronger guarantee, the sweep the fallback where there is none.
 *
 * Linux only (/proc); elsewhere only the process group is killed.
 */
import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';

/**
 * The environment variable that marks every process of one step run: space-separated marks, the run's own last; a
 * step run inside another (ratchet's own tests run as a gate) keeps the outer mark, so the outer sweep finds it too.
 */
export const STEP_MARK_VAR = 'RATCHET_STEP_RUN';

/**
 * Set by a box's network bridge (sandbox.ts) to its own pid for {@link BOX_COUNTER}, which removes it from the
 * command's environment and counts neither the bridge nor its per-connection children.
 */
export const BRIDGE_PID_VAR = 'RATCHET_BOX_BRIDGE';

/** The file descriptor on which a box's {@link BOX_COUNTER} reports how many processes the command left in it. */
export const BOX_REPORT_FD = 3;

/**
 * Run as the box's first process, before `/bin/sh -c <command>` (its `"$@"`): runs the command with the report fd
 * closed, then counts the live processes left in the box's pid namespace (all of /proc there, but its init and
 * itself), writes the number on fd {@link BOX_REPORT_FD} and exits with the command's status. When it exits, the box
 * ends and the kernel kills what it counted. One line: it is shown in the step's log header. The command can forge
 * the number (it may write to this shell's fd through /proc), never keep a process alive.
 */
export const BOX_COUNTER = [
  '/bin/sh',
  '-c',
  `b=\${${BRIDGE_PID_VAR}:-none}; unset ${BRIDGE_PID_VAR}; "$@" ${BOX_REPORT_FD}>&-; rc=$?; n=0; for p in /proc/[0-9]*; do p=\${p#/proc/}; ` +
    '[ "$p" = 1 ] || [ "$p" = $$ ] || [ "$p" = "$b" ] && continue; ' +
    'read -r s 2>/dev/null <"/proc/$p/stat" || continue; set -- ${s##*") "}; [ "$2" = "$b" ] && continue; ' +
    'case $1 in Z*|X*) ;; *) n=$((n + 1)) ;; esac; done; ' +
    `{ echo "$n" >&${BOX_REPORT_FD}; } 2>/dev/null; exit $rc`,
  'ratchet-box',
];

/** Time between SIGTERM and SIGKILL to a step's processes, ms. */
const KILL_GRACE_MS = 3000;
/** Poll interval while waiting for a step's processes to disappear, ms. */
const POLL_MS = 50;
/** How long SIGKILL is sent again after the grace (to a process forking as it dies, or one we may not signal), ms. */
const KILL_ROUNDS_MS = 2000;

/** One step run's processes: its mark and the process ratchet spawned for it. */
export interface StepProcesses {
  /** This run's own mark: the last word of {@link STEP_MARK_VAR} in its processes' environment. */
  mark: string;
  /** Pid of the process spawned for the step: the leader of its process group and session. */
  leader: number;
}

/** A new mark for a step run: a random UUID. */
export function newStepMark(): string {
  return randomUUID();
}

/** The value of {@link STEP_MARK_VAR} for a run marked `mark` started by a process whose environment is `env`. */
export function stepMarkValue(mark: string, env: NodeJS.ProcessEnv = process.env): string {
  const outer = env[STEP_MARK_VAR]?.trim();
  return outer ? `${outer} ${mark}` : mark;
}

/** A live process of a step, as {@link findStepProcesses} sees it. */
export interface StepProcess {
  pid: number;
  /**
   * True for what runs the step rather than what it started: the spawned process itself (the command's shell, or
   * the box's bwrap), and in a box its init, its {@link BOX_COUNTER} and the command's shell (that counter's child).
   */
  runner: boolean;
  /** True when it lives in a pid namespace below the worker's (a box). */
  boxed: boolean;
  /** True when it is in the step's process group. */
  grouped: boolean;
}

/**
 * The live processes (zombies excluded) of the step run `step`: those whose environment carries its mark, and those
 * still in its process group or session that carry no other run's mark. The worker itself is never one.
 * @returns in no particular order. Where there is no /proc (not Linux), the leader alone while its group is alive.
 *   Never throws.
 */
export async function findStepProcesses(step: StepProcesses): Promise<StepProcess[]> {
  const entries = await fsp.readdir('/proc').catch(() => undefined);
  if (entries === undefined || !entries.includes('self')) {
    // No procfs (not Linux): the process group is all that can be seen, standing in as its leader.
    return send(-step.leader, 0) ? [{ pid: step.leader, runner: true, boxed: false, grouped: true }] : [];
  }
  const depth = (await nsPids('self'))?.length ?? 1;
  const found: { pid: number; ppid: number; pgrp: number; ns?: number[] }[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) return;
      const stat = await readProc(entry, 'stat');
      if (stat === undefined) return;
      const [state, ppid, pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') return;
      const marks = markOf(await readProc(entry, 'environ'));
      const grouped = Number(pgrp) === step.leader || Number(session) === step.leader;
      if (!(marks?.includes(step.mark) ?? false) && !(grouped && marks === undefined)) return;
      found.push({ pid: Number(entry), ppid: Number(ppid), pgrp: Number(pgrp), ns: await nsPids(entry) });
    }),
  );
  // In a box, bwrap's init is pid 1 and its first process (the counter) pid 2; the counter's only child is the shell.
  const boxed = (p: (typeof found)[number]): boolean => (p.ns?.length ?? depth) > depth;
  const counters = new Set(found.filter((p) => boxed(p) && p.ns?.length === depth + 1 && p.ns[depth] === 2).map((p) => p.pid));
  return found.map((p) => ({
    pid: p.pid,
    boxed: boxed(p),
    grouped: p.pgrp === step.leader,
    runner: p.pid === step.leader || (boxed(p) && p.ns?.length === depth + 1 && p.ns[depth] <= 2) || counters.has(p.ppid),
  }));
}

/** What {@link endStepProcesses} killed, runners not counted. */
export interface Killed {
  /** Processes in the worker's own pid namespace. */
  outside: number;
  /** Processes in a box's pid namespace (which the box's end kills anyway). */
  boxed: number;
}

/**
 * Kills every process of the step run `step` ({@link findStepProcesses}): SIGTERM (to each, and to its process
 * group), then SIGKILL to whatever is still there after `graceMs`, and again to anything that appears (a process
 * forking as it dies) until none is left or 2 s more have passed.
 * @param graceMs ms between SIGTERM and SIGKILL; default {@link KILL_GRACE_MS}.
 * @returns how many processes it killed (signalled, or found gone by then: the box may end first), runners (the
 *   command's shell, the box) not counted. Never throws.
 */
export async function endStepProcesses(step: StepProcesses, graceMs = KILL_GRACE_MS): Promise<Killed> {
  const started = performance.now();
  const termed = new Set<number>();
  /** Processes it may not signal (another user's: a setuid program the step ran): no reason to wait for them. */
  const stuck = new Set<number>();
  const killed = new Map<number, boolean>();
  let groupTermed = false;
  for (;;) {
    const found = (await findStepProcesses(step)).filter((p) => !stuck.has(p.pid));
    const late = performance.now() - started >= graceMs;
    if (found.length === 0 || performance.now() - started >= graceMs + KILL_ROUNDS_MS) break;
    const sig = late ? 'SIGKILL' : 'SIGTERM';
    // The group as a whole too: a child forked after the listing is in it, and gets the signal with the rest. Only
    // while a process of the step is in it: a group id is free for reuse once its group is empty.
    if ((late || !groupTermed) && found.some((p) => p.grouped)) groupTermed = send(-step.leader, sig) || groupTermed;
    for (const p of found) {
      if (!late && termed.has(p.pid)) continue;
      // Gone already counts: the group's signal, or a box that ended with its bwrap, may have been first.
      const sent = signal(p.pid, sig);
      if (sent === 'denied') {
        stuck.add(p.pid);
        continue;
      }
      termed.add(p.pid);
      if (!p.runner) killed.set(p.pid, p.boxed);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const boxed = [...killed.values()].filter(Boolean).length;
  return { outside: killed.size - boxed, boxed };
}

/** Sends `sig` to `pid` (a group when negative); false when it is gone or may not be signalled. */
function send(pid: number, sig: NodeJS.Signals | 0): boolean {
  return signal(pid, sig) === 'sent';
}

/** Sends `sig` to `pid`: `gone` when there is no such process (any more), `denied` when it is not ours to signal. */
function signal(pid: number, sig: NodeJS.Signals | 0): 'sent' | 'gone' | 'denied' {
  try {
    process.kill(pid, sig);
    return 'sent';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'denied';
  }
}

/** The marks in an environ block (NUL-separated `NAME=value`); undefined when it has none or could not be read. */
function markOf(environ: string | undefined): string[] | undefined {
  if (!environ) return undefined;
  const prefix = `${STEP_MARK_VAR}=`;
  const entry = environ.split('\0').find((e) => e.startsWith(prefix));
  return entry === undefined ? undefined : entry.slice(prefix.length).split(' ').filter(Boolean);
}

/** The `NSpid` line of /proc/<pid>/status: its pid in each pid namespace from /proc's own down to its own. */
async function nsPids(pid: string): Promise<number[] | undefined> {
  const status = await readProc(pid, 'status');
  const line = status?.split('\n').find((l) => l.startsWith('NSpid:'));
  return line?.slice('NSpid:'.length).trim().split(/\s+/).map(Number);
}

async function readProc(pid: string, file: string): Promise<string | undefined> {
  return fsp.readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => undefined);
}
