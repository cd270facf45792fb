/**
 * An epic's decomposition, checked before anything is filed (docs/epics.md, issue 28 item 1). Pure: no SDK call and no
 * I/O; the epic's ticket workflow applies it to each answer of its `decompose` agent and to a person's edit at the
 * `decomposition` gate; tested without a server (test/unit/epic.test.ts).
 *
 * An answer is a list of sub-tickets (or `{"tickets": [...]}`). Every problem is named, none stops the others from
 * being found:
 * - schema: each sub-ticket's fields (zod), named by its place and title;
 * - more than `maxTickets`, or none;
 * - ids: twice in the set, or (as filed, `<epic>-<id>`) already a ticket of the tracker;
 * - `dependsOn`: an id not in the set, the sub-ticket itself, or a cycle (named);
 * - no executable acceptance check (see {@link checkOf});
 * - a title that, normalized ({@link normalTitle}), is already a ticket's in the tracker or another sub-ticket's.
 */
import picomatch from 'picomatch';
import { z } from 'zod';
import { DISCOVERED_BODY_CHARS, DISCOVERED_TITLE_CHARS } from '../discovery';
import { findCycle } from '../graph';
import { idProblem } from '../ids';
import { formatIssues, ticketFileSchema } from '../input';
import { PERSON_KINDS, TICKET_KINDS, type Gate, type Probe, type TicketKind } from '../types';

/** The kinds a sub-ticket may have: any an agent implements (not an epic, not the kinds left to people). */
export const SUB_TICKET_KINDS = TICKET_KINDS.filter((k) => k !== 'epic' && !PERSON_KINDS.includes(k)) as [TicketKind, ...TicketKind[]];

/** One proposed sub-ticket, as the `decompose` agent writes it. */
export const subTicketSchema = z
  .object({
    id: z.string().optional(),
    title: z.string().trim().min(1).max(DISCOVERED_TITLE_CHARS),
    body: z.string().max(DISCOVERED_BODY_CHARS).default(''),
    acceptance: z.array(z.string().min(1)).min(1),
    kind: z.enum(SUB_TICKET_KINDS),
    size: z.enum(['S', 'M', 'L']),
    dependsOn: z.array(z.string()).default([]),
    paths: z.array(z.string().min(1)).default([]),
    /** Names of the epic's probes, and probes of its own as a ticket file writes them (checked in {@link checkOf}). */
    probes: z.array(z.union([z.string().min(1), z.record(z.string(), z.unknown())])).optional(),
  })
  .strict();

/** A sub-ticket that passed the check, as it is shown at the gate and filed. */
export interface SubTicket {
  /** Its id in the answer (`id`, else its 1-based place), which `dependsOn` and a patch name. */
  localId: string;
  /** The id it is filed under: `<epic id>-<localId>`. */
  id: string;
  title: string;
  body: string;
  acceptance: string[];
  kind: TicketKind;
  size: 'S' | 'M' | 'L';
  /** Filed ids of the sub-tickets it waits for. */
  dependsOn: string[];
  paths: string[];
  /** Probes the epic runs for it once every sub-ticket is done: its own, and the epic's it names. */
  probes: Probe[];
  /** What checks it executably, one line. */
  checkedBy: string;
}

/** What the check needs besides the answer. */
export interface DecompositionContext {
  epicId: string;
  /** The epic's own probes (frozen with the batch): a sub-ticket may name one as its check. */
  epicProbes: readonly Probe[];
  /** The batch's gates: a sub-ticket touching a path one of their `tests` globs matches brings a test they run. */
  gates: readonly Pick<Gate, 'name' | 'tests'>[];
  /** The tracker's tickets now (id and title), for duplicates. */
  existing: readonly { id: string; title: string }[];
  maxTickets: number;
}

export type DecompositionVerdict = { ok: true; tickets: SubTicket[] } | { ok: false; problems: string[] };

/** A title for comparison: lower case, letters and digits only, single spaces (`Add  the "parser"!` -> `add the parser`). */
export function normalTitle(title: string): string {
  return title
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** The list an answer holds: itself when it is an array, its `tickets` when it is an object with one; else undefined. */
export function proposedList(answer: unknown): unknown[] | undefined {
  if (Array.isArray(answer)) return answer;
  if (typeof answer === 'object' && answer !== null && Array.isArray((answer as { tickets?: unknown }).tickets)) return (answer as { tickets: unknown[] }).tickets;
  return undefined;
}

/**
 * Checks a decomposition `answer` (the agent's result, or the list after a person's patch).
 * @returns the sub-tickets in filing order (each after the ones it depends on), or every problem found, one line each
 *   naming the sub-ticket, the value and the fix.
 */
export function checkDecomposition(answer: unknown, ctx: DecompositionContext): DecompositionVerdict {
  const list = proposedList(answer);
  if (list === undefined) {
    return { ok: false, problems: [`the answer is ${describe(answer)}, not a list of sub-tickets; fix: write {"tickets": [{"title", "body", "acceptance", "kind", "size", "dependsOn", "paths", "probes"?}, ...]} to the result file`] };
  }
  const problems: string[] = [];
  if (list.length === 0) problems.push('the answer holds no sub-tickets; fix: split the epic into at least one');
  if (list.length > ctx.maxTickets) {
    problems.push(`the answer holds ${list.length} sub-tickets, more than decompose.maxTickets (${ctx.maxTickets}); fix: merge the smallest, or leave some for a later epic`);
  }
  const parsed: { n: number; t: z.output<typeof subTicketSchema>; localId: string; name: string }[] = [];
  list.forEach((raw, i) => {
    const r = subTicketSchema.safeParse(raw, { reportInput: true });
    const title = typeof (raw as { title?: unknown } | null)?.title === 'string' ? (raw as { title: string }).title : undefined;
    const at = `sub-ticket ${i + 1}${title ? ` ("${title}")` : ''}`;
    if (!r.success) {
      problems.push(...formatIssues(r.error).map((line) => `${at}: ${line}`));
      return;
    }
    const localId = r.data.id ?? String(i + 1);
    parsed.push({ n: i + 1, t: r.data, localId, name: `sub-ticket "${localId}" ("${r.data.title}")` });
  });

  // Ids: unique in the set, valid and new once filed.
  const byLocal = new Map<string, (typeof parsed)[number]>();
  const existingIds = new Set(ctx.existing.map((e) => e.id));
  for (const p of parsed) {
    if (byLocal.has(p.localId)) {
      problems.push(`${p.name}: id "${p.localId}" is also sub-ticket ${byLocal.get(p.localId)?.n}'s; fix: give each sub-ticket its own id`);
      continue;
    }
    byLocal.set(p.localId, p);
    const filedAs = `${ctx.epicId}-${p.localId}`;
    const bad = idProblem(filedAs);
    if (bad) problems.push(`${p.name}: it would be filed as "${filedAs}", which ${bad}; fix: a shorter id of letters, digits, '.', '_' and '-'`);
    else if (existingIds.has(filedAs)) problems.push(`${p.name}: the tracker already has a ticket "${filedAs}"; fix: pick another id`);
  }

  // Edges: within the set, not to itself, no cycle.
  for (const p of parsed) {
    for (const dep of p.t.dependsOn) {
      if (dep === p.localId) problems.push(`${p.name}: "dependsOn" names the sub-ticket itself; fix: remove "${dep}"`);
      else if (!byLocal.has(dep)) problems.push(`${p.name}: "dependsOn" names "${dep}", which is no sub-ticket of this answer (ids: ${[...byLocal.keys()].join(', ')}); fix: name one of them or remove it`);
    }
  }
  const cycle = findCycle([...byLocal.values()].map((p) => ({ id: p.localId, dependsOn: p.t.dependsOn.filter((d) => d !== p.localId) })));
  if (cycle) problems.push(`dependency cycle ${cycle.map((id) => `"${id}"`).join(' -> ')}: no order can run them; fix: remove one of these dependsOn edges`);

  // Each sub-ticket's executable acceptance check.
  const checks = new Map<string, { probes: Probe[]; checkedBy: string }>();
  for (const p of byLocal.values()) {
    const c = checkOf(p.t, ctx);
    if ('problem' in c) problems.push(`${p.name}: ${c.problem}`);
    else checks.set(p.localId, c);
  }

  // Duplicates: of the tracker's tickets, and within the set.
  const trackerTitles = new Map(ctx.existing.map((e) => [normalTitle(e.title), e.id]));
  const seenTitles = new Map<string, string>();
  for (const p of parsed) {
    const key = normalTitle(p.t.title);
    const there = trackerTitles.get(key);
    if (there !== undefined) problems.push(`${p.name}: duplicates ticket ${there} of the tracker (same title); fix: drop it, or depend on ${there} by saying so in the epic`);
    const twin = seenTitles.get(key);
    if (twin !== undefined) problems.push(`${p.name}: duplicates sub-ticket "${twin}" (same title); fix: merge them or tell them apart`);
    else seenTitles.set(key, p.localId);
  }

  if (problems.length) return { ok: false, problems };
  return { ok: true, tickets: filingOrder([...byLocal.values()]).map((p) => toSubTicket(p.t, p.localId, ctx.epicId, checks.get(p.localId) as { probes: Probe[]; checkedBy: string })) };
}

/**
 * A sub-ticket's executable acceptance check, the first that applies:
 * 1. a probe of its own (`probes` holds a probe object): the epic runs it once every sub-ticket is done;
 * 2. a probe of the epic's, named in `probes` (a string): the epic runs it then too;
 * 3. a gate test path: a path in `paths` that a `tests` glob of one of the batch's gates matches (the gate runs that
 *    test on its branch, and the regression guard keeps it passing).
 * A name that is no probe of the epic's is a problem of its own. Words (`acceptance`) alone are not a check.
 */
export function checkOf(t: Pick<z.output<typeof subTicketSchema>, 'probes' | 'paths'>, ctx: Pick<DecompositionContext, 'epicProbes' | 'gates'>): { probes: Probe[]; checkedBy: string } | { problem: string } {
  const written = (t.probes ?? []).filter((p) => typeof p !== 'string');
  const parsed = ticketFileSchema.shape.probes.safeParse(written, { reportInput: true });
  if (!parsed.success) return { problem: `its probes of its own: ${formatIssues(parsed.error).join('; ')}` };
  const own: Probe[] = parsed.data;
  const named: Probe[] = [];
  for (const p of t.probes ?? []) {
    if (typeof p !== 'string') continue;
    const found = ctx.epicProbes.find((e) => e.name === p);
    if (!found) {
      const have = ctx.epicProbes.length ? `its probes: ${ctx.epicProbes.map((e) => `"${e.name}"`).join(', ')}` : 'it has none';
      return { problem: `"probes" names "${p}", which is no probe of the epic's (${have}); fix: name one of them or write a probe` };
    }
    named.push(found);
  }
  const probes = [...own, ...named];
  if (probes.length) return { probes, checkedBy: `probes ${probes.map((p) => p.name).join(', ')}` };
  for (const g of ctx.gates) {
    if (!g.tests.length) continue;
    const isTest = picomatch(g.tests, { dot: true });
    const test = t.paths.find((p) => isTest(p));
    if (test !== undefined) return { probes: [], checkedBy: `gate ${g.name} runs ${test}` };
  }
  const tests = ctx.gates.flatMap((g) => g.tests);
  return {
    problem:
      'it has no executable acceptance check: no probe of its own, none of the epic\'s named, and no path in "paths" that a gate runs as a test' +
      `${tests.length ? ` (${tests.join(', ')})` : ' (no gate declares "tests")'}; fix: add a probe, name one of the epic's, or list the test file it adds`,
  };
}

/** The sub-tickets in an order where each comes after the ones it depends on (the answer's order otherwise). */
function filingOrder<T extends { localId: string; t: { dependsOn: string[] } }>(list: T[]): T[] {
  const done = new Set<string>();
  const out: T[] = [];
  while (out.length < list.length) {
    const next = list.find((p) => !done.has(p.localId) && p.t.dependsOn.every((d) => done.has(d)));
    if (!next) break; // unreachable after the cycle check
    done.add(next.localId);
    out.push(next);
  }
  return out;
}

function toSubTicket(t: z.output<typeof subTicketSchema>, localId: string, epicId: string, check: { probes: Probe[]; checkedBy: string }): SubTicket {
  return {
    localId,
    id: `${epicId}-${localId}`,
    title: t.title,
    body: t.body,
    acceptance: t.acceptance,
    kind: t.kind,
    size: t.size,
    dependsOn: t.dependsOn.map((d) => `${epicId}-${d}`),
    paths: t.paths,
    probes: check.probes,
    checkedBy: check.checkedBy,
  };
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return 'nothing';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The feedback a refused answer gives the next `decompose` run: every problem, one a line. */
export function refusalFeedback(run: number, problems: readonly string[]): string {
  return [`Decomposition ${run} was refused; nothing was filed. Fix every problem below and answer the whole list again:`, ...problems.map((p) => `- ${p}`)].join('\n');
}
