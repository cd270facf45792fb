/**
 * What agent runs cost (issue 28 items 5 and 7): money and tokens per role and profile, as the agents reported them
 * (`AgentRun.costUsd`, `tokens`: the result file's, or a preset's output). A run that reported none is counted as
 * unknown, never as zero: totals are "at least" figures with the unknown runs named beside them. Pure.
 */
import type { AgentRun, RouteRole } from './types';

/** One role and profile's runs: how many, what the ones that said cost in all, and how many said nothing. */
export interface CostEntry {
  role: RouteRole;
  profile: string;
  runs: number;
  /** US dollars, summed over the runs that reported a cost. */
  usd: number;
  tokens: number;
  /** Runs that reported no cost (their cost is unknown), and no tokens. */
  usdUnknown: number;
  tokensUnknown: number;
}

/** A ticket's spend so far, by role and profile. */
export class CostLedger {
  readonly entries: CostEntry[];

  constructor(entries: CostEntry[] = []) {
    this.entries = entries.map((e) => ({ ...e }));
  }

  /** Adds one agent run of `role` by `profile`. */
  add(role: RouteRole, profile: string, run: Pick<AgentRun, 'costUsd' | 'tokens'>): void {
    let e = this.entries.find((x) => x.role === role && x.profile === profile);
    if (!e) {
      e = { role, profile, runs: 0, usd: 0, tokens: 0, usdUnknown: 0, tokensUnknown: 0 };
      this.entries.push(e);
    }
    e.runs++;
    if (typeof run.costUsd === 'number' && Number.isFinite(run.costUsd) && run.costUsd >= 0) e.usd += run.costUsd;
    else e.usdUnknown++;
    if (typeof run.tokens === 'number' && Number.isFinite(run.tokens) && run.tokens >= 0) e.tokens += run.tokens;
    else e.tokensUnknown++;
  }

  /** Runs in all. */
  get runs(): number {
    return this.entries.reduce((n, e) => n + e.runs, 0);
  }

  /** Dollars the runs that reported a cost spent (rounded to the cent's hundredth), or undefined when none reported one. */
  get usd(): number | undefined {
    const known = this.entries.filter((e) => e.runs > e.usdUnknown);
    return known.length ? Math.round(known.reduce((n, e) => n + e.usd, 0) * 10_000) / 10_000 : undefined;
  }

  /** Tokens the runs that reported them used, or undefined when none did. */
  get tokens(): number | undefined {
    const known = this.entries.filter((e) => e.runs > e.tokensUnknown);
    return known.length ? known.reduce((n, e) => n + e.tokens, 0) : undefined;
  }

  /** Runs whose cost is unknown. */
  get usdUnknown(): number {
    return this.entries.reduce((n, e) => n + e.usdUnknown, 0);
  }

  /** `$0.42 (2 runs of unknown cost)`, `unknown (3 runs)`, or `$0.42`. */
  describe(): string {
    const usd = this.usd;
    const unknown = this.usdUnknown;
    if (usd === undefined) return this.runs ? `unknown (${this.runs} run${this.runs === 1 ? '' : 's'} reported no cost)` : '$0 (no agent run yet)';
    return `$${usd.toFixed(2)}${unknown ? ` and ${unknown} run${unknown === 1 ? '' : 's'} of unknown cost` : ''}`;
  }
}
