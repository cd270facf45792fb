/**
 * Discovered work (DESIGN.md "discovered work"): the pure rules the batch applies before it files a ticket that an
 * agent or a person found mid-run. No I/O; used by the batch workflow (and its `discover` update's validator) and
 * tested without a server.
 */
import { graphProblems, type GraphNode } from './graph';
import { ID_FIX_TEXT, idProblem } from './ids';
import type { DiscoverRequest } from './messages';
import { TICKET_KINDS, type DiscoveredRecord, type DiscoveredWork, type DiscoveryLimits, type Probe, type TicketKind } from './types';

/** Longest title and body of a discovered ticket, characters (they travel in payloads and land in the tracker). */
export const DISCOVERED_TITLE_CHARS = 200;
export const DISCOVERED_BODY_CHARS = 8_000;

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Checks the shape of a `discover` update's payload and turns it into discovered work.
 * @throws Error naming the field, the value and the fix (the update's caller sees it; nothing is filed).
 */
export function discoverRequestToWork(req: DiscoverRequest): DiscoveredWork {
  const usage = 'payload {"by": "<who>", "title": "<title>", "id"?, "body"?, "acceptance"?: [...], "kind"?, "dependsOn"?: [...], "blocks"?: [...]}';
  if (typeof req !== 'object' || req === null) throw new Error(`discover needs a ${usage}`);
  if (typeof req.by !== 'string' || req.by.trim() === '') throw new Error(`discover field "by" is ${JSON.stringify(req.by)}: say who files it; ${usage}`);
  if (typeof req.title !== 'string' || req.title.trim() === '' || req.title.length > DISCOVERED_TITLE_CHARS) {
    throw new Error(`discover field "title" is ${JSON.stringify(req.title)}: give a title of 1 to ${DISCOVERED_TITLE_CHARS} characters`);
  }
  if (req.body !== undefined && (typeof req.body !== 'string' || req.body.length > DISCOVERED_BODY_CHARS)) {
    throw new Error(`discover field "body" must be text of at most ${DISCOVERED_BODY_CHARS} characters`);
  }
  if (req.id !== undefined) {
    const problem = idProblem(req.id);
    if (problem) throw new Error(`discover field "id" is ${JSON.stringify(req.id)}: it ${problem}; fix: ${ID_FIX_TEXT}, or leave it out`);
  }
  if (req.kind !== undefined && !TICKET_KINDS.includes(req.kind)) {
    throw new Error(`discover field "kind" is ${JSON.stringify(req.kind)}: use one of ${TICKET_KINDS.join(', ')}`);
  }
  for (const field of ['acceptance', 'dependsOn', 'blocks'] as const) {
    if (req[field] !== undefined && !isStringList(req[field])) throw new Error(`discover field "${field}" must be a list of strings`);
  }
  const probes = probesOf(req.probes);
  return {
    ...(probes.length ? { probes } : {}),
    id: req.id,
    title: req.title.trim(),
    body: req.body ?? '',
    acceptance: req.acceptance ?? [],
    kind: (req.kind ?? 'discovered') as TicketKind,
    dependsOn: [...new Set(req.dependsOn ?? [])],
    blocks: [...new Set(req.blocks ?? [])],
  };
}

/**
 * A `discover` request's own probes (a watch's check): a list of command probes `{kind: "command", name, command,
 * timeoutMs, files}` or HTTP probes `{kind: "http", name, url, method, expectStatus, timeoutMs}`, as the batch file's
 * `probes` resolve to.
 * @throws Error naming the entry and the fix.
 */
function probesOf(probes: unknown): Probe[] {
  if (probes === undefined) return [];
  if (!Array.isArray(probes) || probes.length > 20) throw new Error('discover field "probes" must be a list of at most 20 probes');
  return probes.map((p: Partial<Probe> | null, i) => {
    const ok = typeof p === 'object' && p !== null && typeof p.name === 'string' && p.name !== '' && typeof p.timeoutMs === 'number' && p.timeoutMs > 0 &&
      ((p.kind === 'command' && typeof p.command === 'string' && p.command.trim() !== '' && isStringList(p.files)) ||
        (p.kind === 'http' && typeof p.url === 'string' && typeof p.method === 'string' && typeof p.expectStatus === 'number'));
    if (!ok) throw new Error(`discover field "probes[${i}]" is ${JSON.stringify(p)?.slice(0, 200)}: give {"kind": "command", "name", "command", "timeoutMs", "files": []} or {"kind": "http", "name", "url", "method", "expectStatus", "timeoutMs"}`);
    return p as Probe;
  });
}

/**
 * Why `work` cannot join the batch now, or undefined when it can: an id already in the batch, edges to tickets not in
 * the batch, a `blocks` edge to a ticket already started (other than the agent's own, through `blocksThisTicket`, or
 * an epic, which waits for its sub-tickets so), or a cycle (named).
 * @param nodes - the batch's graph now; `started` - tickets scheduled already.
 */
export function discoveryProblem(
  work: DiscoveredWork & { id: string },
  nodes: readonly (GraphNode & { kind?: TicketKind })[],
  started: ReadonlySet<string>,
  filedBy: DiscoveredRecord['filedBy'],
): string | undefined {
  const known = new Set(nodes.map((n) => n.id));
  if (known.has(work.id)) return `ticket id "${work.id}" is already in the batch; pick another id`;
  for (const [field, list] of [['dependsOn', work.dependsOn], ['blocks', work.blocks]] as const) {
    const unknown = list.filter((id) => !known.has(id));
    if (unknown.length) return `field "${field}" names ${unknown.map((u) => `"${u}"`).join(', ')}, not in the batch; name tickets of this batch`;
  }
  const own = filedBy.kind === 'agent' ? filedBy.ticketId : undefined;
  // A running epic waits for its sub-tickets as a ticket waits for its own discovered blockers (docs/epics.md).
  const epics = new Set(nodes.filter((n) => n.kind === 'epic').map((n) => n.id));
  const late = work.blocks.filter((id) => started.has(id) && id !== own && !epics.has(id));
  if (late.length) return `field "blocks" names ${late.map((u) => `"${u}"`).join(', ')}, already started; a discovered ticket can only block tickets not started yet (or an epic)`;
  const graph = nodes.map((n) => ({ id: n.id, dependsOn: work.blocks.includes(n.id) ? [...n.dependsOn, work.id] : n.dependsOn }));
  const problems = graphProblems([...graph, { id: work.id, dependsOn: work.dependsOn }]);
  return problems.length ? problems.join('; ') : undefined;
}

/** Whether an agent's discovered work is over the cap: the batch's filed count, or the finding ticket's. */
export function overCap(records: readonly DiscoveredRecord[], ticketId: string, limits: DiscoveryLimits): string | undefined {
  const filed = records.filter((r) => r.filedBy.kind === 'agent' && r.status === 'filed');
  if (filed.length >= limits.maxPerBatch) return `the batch's agents filed ${filed.length} discovered tickets (cap ${limits.maxPerBatch})`;
  const mine = filed.filter((r) => r.filedBy.kind === 'agent' && r.filedBy.ticketId === ticketId).length;
  if (mine >= limits.maxPerTicket) return `ticket ${ticketId}'s agents filed ${mine} discovered tickets (cap ${limits.maxPerTicket} per ticket)`;
  return undefined;
}

/**
 * The `n`th candidate id for discovered work found by `ticketId` (`<ticketId>-d<n>`, cut to fit 64 characters), or
 * `discovered-<n>` for a person's; candidates that break the id rules fall back to `discovered-<n>`.
 */
export function discoveredId(ticketId: string | undefined, n: number): string {
  if (ticketId === undefined) return `discovered-${n}`;
  const suffix = `-d${n}`;
  const id = `${ticketId.slice(0, 64 - suffix.length)}${suffix}`;
  return idProblem(id) === undefined ? id : `discovered-${n}`;
}
