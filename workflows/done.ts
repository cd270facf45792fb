/**
 * The definition of done and the harness as data (DESIGN.md "frozen verifier"), and the self-heal tripwire: pure
 * functions over a batch's config, used by `loadBatch` (to freeze the definition at batch start) and by the ticket
 * workflow (to judge a heal's proposed change). No I/O.
 */
import { ORACLE_POLICY } from './oracle';
import type { BatchConfig, DefinitionOfDone, HarnessSettings, Ticket } from './types';

/**
 * The definition of done of `config` and its tickets, with `files` (protected file -> content digest) as given.
 * Everything here decides whether work is done; none of it is the harness.
 */
export function definitionOfDone(config: BatchConfig, tickets: readonly Ticket[], files: Record<string, string>): DefinitionOfDone {
  return {
    gates: config.gates,
    probes: config.probes,
    // Only tickets that have some (absent reads as none): the definition travels with a batch of thousands.
    ticketProbes: Object.fromEntries(tickets.filter((t) => t.probes.length).map((t) => [t.id, t.probes])),
    allowPaths: Object.fromEntries(tickets.filter((t) => t.allowPaths.length).map((t) => [t.id, t.allowPaths])),
    protectedPaths: config.protectedPaths,
    oracle: ORACLE_POLICY,
    files,
  };
}

/**
 * The part of the definition of done one ticket's workflow needs: the batch-wide parts and this ticket's own probes
 * and allowed paths (a heal's tripwire compares the batch-wide parts; the ticket's own are frozen as they are).
 */
export function definitionFor(definition: DefinitionOfDone, ticketId: string): DefinitionOfDone {
  const own = <T>(m: Record<string, T>): Record<string, T> => (ticketId in m ? { [ticketId]: m[ticketId] } : {});
  return { ...definition, ticketProbes: own(definition.ticketProbes), allowPaths: own(definition.allowPaths) };
}

/** Canonical JSON (object keys sorted) for comparing plain data. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/**
 * What differs between the frozen definition of done and another, one line per difference naming the part (a gate
 * by name, a probe, a protected file, ...); empty when they are the same.
 */
export function doneDifferences(frozen: DefinitionOfDone, now: DefinitionOfDone): string[] {
  const out: string[] = [];
  const byName = <T extends { name: string }>(what: string, a: readonly T[], b: readonly T[]): void => {
    const names = [...new Set([...a.map((x) => x.name), ...b.map((x) => x.name)])];
    for (const name of names) {
      const x = a.find((g) => g.name === name);
      const y = b.find((g) => g.name === name);
      if (!x) out.push(`adds ${what} "${name}"`);
      else if (!y) out.push(`removes ${what} "${name}"`);
      else if (canonical(x) !== canonical(y)) out.push(`changes ${what} "${name}"`);
    }
  };
  byName('gate', frozen.gates, now.gates);
  byName('probe', frozen.probes, now.probes);
  const ticketIds = [frozen.ticketProbes, now.ticketProbes, frozen.allowPaths, now.allowPaths].flatMap((m) => Object.keys(m));
  for (const id of new Set(ticketIds)) {
    if (canonical(frozen.ticketProbes[id] ?? []) !== canonical(now.ticketProbes[id] ?? [])) out.push(`changes the probes of ticket ${id}`);
    if (canonical(frozen.allowPaths[id] ?? []) !== canonical(now.allowPaths[id] ?? [])) out.push(`changes the allowPaths of ticket ${id}`);
  }
  if (canonical([...frozen.protectedPaths].sort()) !== canonical([...now.protectedPaths].sort())) out.push('changes the protected paths');
  if (frozen.oracle !== now.oracle) out.push('changes the oracle policy');
  for (const file of [...new Set([...Object.keys(frozen.files), ...Object.keys(now.files)])].sort()) {
    const a = frozen.files[file];
    const b = now.files[file];
    if (a === b) continue;
    out.push(a === undefined ? `adds protected file ${file}` : b === undefined || b === 'missing' ? `deletes protected file ${file}` : `changes protected file ${file}`);
  }
  return out;
}

/** The harness part of a batch's config: what a heal may change. */
export function harnessOf(config: BatchConfig): HarnessSettings {
  return {
    setup: config.harness.setup,
    promptRules: config.harness.promptRules,
    agentTimeoutMs: config.agent.timeoutMs,
    maxAttempts: config.maxAttempts,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    verify: config.verify,
  };
}

/** `config` with the harness part replaced by `h`. */
export function withHarness(config: BatchConfig, h: HarnessSettings): BatchConfig {
  return {
    ...config,
    harness: { setup: h.setup, promptRules: h.promptRules },
    agent: { ...config.agent, timeoutMs: h.agentTimeoutMs },
    maxAttempts: h.maxAttempts,
    heartbeatTimeoutMs: h.heartbeatTimeoutMs,
    verify: h.verify,
  };
}

/** JSON merge patch (RFC 7386): objects merge key by key, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key], value);
  }
  return base;
}

/** Default limit of a setup step a heal adds without one, ms. */
const SETUP_TIMEOUT_MS = 10 * 60_000;
/** `verify.stableRounds` of a heal's proposal that leaves it out: the batch file's default. */
const STABLE_ROUNDS = 5;
const MAX_MS = 2_147_483_647;

/**
 * The tripwire (DESIGN.md "frozen verifier"): applies a heal's proposed `change` (a JSON merge patch over the
 * batch's config) and judges it. Accepted only when the definition of done, recomputed with the heal's changes to
 * protected files (`protectedChanged`: path -> new digest or `missing`), equals the frozen one, and nothing but the
 * harness changed (setup, prompt rules, agent time limit, attempts, heartbeat timeout, verify timing).
 * @returns the config to use from now on, or the differences that reject the heal (one line each).
 */
export function tripwire(
  config: BatchConfig,
  frozen: DefinitionOfDone,
  change: unknown,
  protectedChanged: Record<string, string>,
): { config: BatchConfig; differences: [] } | { differences: string[] } {
  const proposed = mergePatch(config, change ?? {}) as BatchConfig;
  // Tickets are not part of the config a heal patches: their probes and allowPaths are compared as frozen.
  const now = { ...definitionOfDone(proposed, [], { ...frozen.files, ...protectedChanged }), ticketProbes: frozen.ticketProbes, allowPaths: frozen.allowPaths };
  const differences = doneDifferences(frozen, now);
  // Outside the definition of done, only the harness may move: compare the rest with the harness put back.
  const before = withHarness(config, harnessOf(config));
  const rest = withHarness(proposed, harnessOf(config));
  for (const key of [...new Set([...Object.keys(before), ...Object.keys(rest)])].sort()) {
    const k = key as keyof BatchConfig;
    if (['gates', 'probes', 'protectedPaths'].includes(key)) continue;
    if (canonical(before[k]) !== canonical(rest[k])) differences.push(`changes "${key}", which is not the harness`);
  }
  // How many done tickets each deploy re-checks is how done tickets stay done (issue 26), not timing: a heal keeps it.
  if (canonical(proposed.verify?.guard ?? null) !== canonical(config.verify.guard ?? null)) differences.push('changes "verify.guard", which keeps done tickets done, not the harness');
  let harness: HarnessSettings;
  try {
    harness = checkedHarness(harnessOf(proposed));
  } catch (err) {
    differences.push((err as Error).message);
    return { differences };
  }
  if (differences.length) return { differences };
  return { config: withHarness(config, harness), differences: [] };
}

/** The harness with defaults filled in, or an Error naming what is malformed (a heal's JSON is untrusted). */
function checkedHarness(h: HarnessSettings): HarnessSettings {
  const ms = (v: unknown, field: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > MAX_MS) throw new Error(`proposes ${field} = ${JSON.stringify(v)}, not a time in ms`);
    return v;
  };
  if (!Array.isArray(h.setup)) throw new Error('proposes a harness.setup that is not a list');
  const setup = h.setup.map((s: unknown, i) => {
    const step = (s ?? {}) as { command?: unknown; timeoutMs?: unknown };
    if (typeof step.command !== 'string' || step.command.trim() === '') throw new Error(`proposes harness.setup[${i}] without a command`);
    return { command: step.command, timeoutMs: step.timeoutMs === undefined ? SETUP_TIMEOUT_MS : ms(step.timeoutMs, `harness.setup[${i}].timeoutMs`) };
  });
  if (!Array.isArray(h.promptRules) || !h.promptRules.every((r) => typeof r === 'string')) throw new Error('proposes harness.promptRules that are not a list of text');
  if (!Number.isInteger(h.maxAttempts) || h.maxAttempts < 1 || h.maxAttempts > 20) throw new Error(`proposes maxAttempts = ${JSON.stringify(h.maxAttempts)}, not 1 to 20`);
  const verify = (h.verify ?? {}) as HarnessSettings['verify'];
  return {
    setup,
    promptRules: h.promptRules,
    agentTimeoutMs: ms(h.agentTimeoutMs, 'agent.timeoutMs'),
    maxAttempts: h.maxAttempts,
    heartbeatTimeoutMs: ms(h.heartbeatTimeoutMs, 'heartbeatTimeoutMs'),
    verify: {
      deadlineMs: ms(verify.deadlineMs, 'verify.deadlineMs'),
      intervalMs: ms(verify.intervalMs, 'verify.intervalMs'),
      stableRounds: verify.stableRounds === undefined ? STABLE_ROUNDS : ms(verify.stableRounds, 'verify.stableRounds'),
      ...(verify.guard !== undefined ? { guard: verify.guard } : {}),
    },
  };
}
