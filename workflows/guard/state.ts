/**
 * What the guard knows (issue 26 item 4): the tickets of the batch whose probes passed live (the guard set), the
 * landings in the order they deployed, the landing after which each ticket's probes last passed, and the rotation
 * through the set when a round checks only some of it. Pure: no SDK call, no clock; workflows/guard.ts drives it.
 */
import type { FlakyProbe, GuardedTicket, GuardSnapshot, Regression } from './messages';

type Member = GuardSnapshot['set'][number];

export class GuardSet {
  private readonly set: Member[];
  private readonly landings: GuardSnapshot['landings'];
  private cursor: number;
  readonly regressions: Regression[];
  readonly flaky: FlakyProbe[];

  constructor(snapshot?: GuardSnapshot) {
    this.set = [...(snapshot?.set ?? [])];
    this.landings = [...(snapshot?.landings ?? [])];
    this.cursor = snapshot?.cursor ?? 0;
    this.regressions = [...(snapshot?.regressions ?? [])];
    this.flaky = [...(snapshot?.flaky ?? [])];
  }

  /** Records a landing (a ticket's merge, or a revert) that a round follows. @returns its index. */
  landed(ticketId: string, commit: string, revertOf?: string): number {
    // The final round follows the last landing; it is none itself.
    if (commit === 'final') return this.landings.length - 1;
    const last = this.landings[this.landings.length - 1];
    // A round asked again for the same landing (a retried request) is the same landing.
    if (last && last.ticketId === ticketId && last.commit === commit) return this.landings.length - 1;
    this.landings.push({ ticketId, commit, ...(revertOf ? { revertOf } : {}) });
    return this.landings.length - 1;
  }

  /**
   * The tickets a round checks: all of them (`final`, or `perRound` is `all`), else the next `perRound` in rotation,
   * so every one is re-checked in turn. The ticket that just landed is not its own guard.
   */
  choose(perRound: number | 'all', final: boolean, except?: string): GuardedTicket[] {
    const pool = this.set.filter((m) => m.ticketId !== except);
    if (final || perRound === 'all' || pool.length <= perRound) return pool.map(({ ticketId, probes }) => ({ ticketId, probes }));
    const start = this.cursor % pool.length;
    const chosen = [...pool.slice(start), ...pool.slice(0, start)].slice(0, perRound);
    this.cursor = (start + perRound) % pool.length;
    return chosen.map(({ ticketId, probes }) => ({ ticketId, probes }));
  }

  /** A ticket's probes passed after landing `at`: that is now the last landing they passed after. */
  passed(ticketId: string, at: number, answer: string): void {
    const m = this.set.find((x) => x.ticketId === ticketId);
    if (m) Object.assign(m, { lastPass: Math.max(m.lastPass, at), lastAnswer: answer });
  }

  /**
   * A ticket's probe failed twice after landing `at`: a regression. Its suspects are the landings after the one its
   * probes last passed after, up to `at`, reverts left out; the first is the culprit (the first landing after which
   * the probe failed).
   */
  regressed(ticketId: string, probe: string, at: number, after: string): Regression | undefined {
    const m = this.set.find((x) => x.ticketId === ticketId);
    if (!m) return undefined;
    const since = this.landings.slice(m.lastPass + 1, at + 1).filter((l) => !l.revertOf && l.ticketId !== ticketId);
    const first = since[0] ?? this.landings[at];
    const r: Regression = { ticketId, probe, before: m.lastAnswer, after, suspects: since.map((l) => l.ticketId), culprit: first.ticketId, culpritCommit: first.commit };
    this.regressions.push(r);
    return r;
  }

  /** Records a probe that failed once and passed on the re-run. */
  flakyProbe(f: FlakyProbe): void {
    this.flaky.push(f);
  }

  /** Adds a ticket whose own probes passed after its landing `commit` (or updates it, when it landed again). */
  join(t: GuardedTicket, commit: string): void {
    let at = -1;
    for (let i = this.landings.length - 1; i >= 0; i--) {
      if (this.landings[i].ticketId === t.ticketId && this.landings[i].commit === commit) {
        at = i;
        break;
      }
    }
    const m = this.set.find((x) => x.ticketId === t.ticketId);
    if (m) Object.assign(m, { probes: t.probes, lastPass: Math.max(at, m.lastPass) });
    else this.set.push({ ...t, lastPass: at, lastAnswer: 'passed when it was verified' });
  }

  /** A ticket whose landing was reverted leaves the set until it lands and is verified again. */
  leave(ticketId: string): void {
    const i = this.set.findIndex((x) => x.ticketId === ticketId);
    if (i >= 0) this.set.splice(i, 1);
  }

  /** The last landing's commit (a round's own request is one: the final round's is skipped), or undefined. */
  lastLanding(): string | undefined {
    return [...this.landings].reverse().find((l) => l.commit !== 'final')?.commit;
  }

  /** Reverts landed so far (landings that undo another). */
  reverts(): number {
    return this.landings.filter((l) => l.revertOf).length;
  }

  size(): number {
    return this.set.length;
  }

  snapshot(): GuardSnapshot {
    return { set: this.set.map((m) => ({ ...m })), landings: [...this.landings], cursor: this.cursor, regressions: [...this.regressions], flaky: [...this.flaky] };
  }
}
