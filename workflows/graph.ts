/**
 * The dependency graph of a batch: validation and the ready set. Pure functions, used by the batch workflow and
 * by `loadBatch`; tested without a server.
 */
import type { TicketKind, TicketState } from './types';

export interface GraphNode {
  id: string;
  dependsOn: string[];
}

/**
 * Finds one dependency cycle, as the list of ids along it with the first repeated at the end
 * (`['a', 'b', 'a']`), or `undefined` when the graph is acyclic. Unknown dependencies are ignored here.
 */
export function findCycle(nodes: GraphNode[]): string[] | undefined {
  const deps = new Map(nodes.map((n) => [n.id, n.dependsOn]));
  const colour = new Map<string, 'grey' | 'black'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    colour.set(id, 'grey');
    path.push(id);
    for (const dep of deps.get(id) ?? []) {
      if (!deps.has(dep)) continue;
      const c = colour.get(dep);
      if (c === 'grey') return [...path.slice(path.indexOf(dep)), dep];
      if (c === undefined) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    path.pop();
    colour.set(id, 'black');
    return undefined;
  };
  for (const n of nodes) {
    if (!colour.has(n.id)) {
      const found = visit(n.id);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Checks a batch's graph: duplicate ids, dependencies on ids not in the batch, and cycles.
 * Returns one line per problem, each naming the ticket, the value and the fix; empty when the graph is sound.
 */
export function graphProblems(nodes: GraphNode[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const n of nodes) {
    if (seen.has(n.id)) problems.push(`duplicate ticket id "${n.id}": give each ticket its own id`);
    seen.add(n.id);
  }
  for (const n of nodes) {
    for (const dep of n.dependsOn) {
      if (!seen.has(dep)) {
        problems.push(
          `ticket "${n.id}" field "dependsOn" names unknown ticket "${dep}": add that ticket to the batch or remove the dependency`,
        );
      }
      if (dep === n.id) problems.push(`ticket "${n.id}" depends on itself: remove "${dep}" from its dependsOn`);
    }
  }
  const cycle = findCycle(nodes.map((n) => ({ id: n.id, dependsOn: n.dependsOn.filter((d) => d !== n.id) })));
  if (cycle) problems.push(`dependency cycle ${cycle.join(' -> ')}: remove one of these dependsOn edges`);
  return problems;
}

/**
 * The ready set (DESIGN.md): tickets not started whose every dependency is done, in input order.
 * `started` holds ids already scheduled in this batch run; `states` is the tracker's view.
 */
export function readySet(nodes: GraphNode[], states: ReadonlyMap<string, TicketState>, started: ReadonlySet<string>): string[] {
  return nodes
    .filter((n) => !started.has(n.id))
    .filter((n) => {
      const s = states.get(n.id);
      return s !== 'done' && s !== 'human-gated';
    })
    .filter((n) => n.dependsOn.every((d) => states.get(d) === 'done'))
    .map((n) => n.id);
}

/**
 * Orders ready tickets for starting (issue 28 item 6): by the rank of their kind in `order`, then as given (the
 * tracker's order, which {@link readySet} keeps). Kinds `order` leaves out rank after the named ones; a ticket whose
 * kind is unknown (`kindOf` gives `undefined`: a node loaded before kinds were kept) ranks as `feature`, a ticket
 * file's default. `'tracker'` keeps `ids` as given.
 * @returns a new array; stable, so tickets of one kind keep their order.
 */
export function inStartOrder(ids: readonly string[], kindOf: (id: string) => TicketKind | undefined, order: readonly TicketKind[] | 'tracker'): string[] {
  if (order === 'tracker') return [...ids];
  const rank = (id: string): number => {
    const at = order.indexOf(kindOf(id) ?? 'feature');
    return at === -1 ? order.length : at;
  };
  return ids.map((id, i) => ({ id, i, r: rank(id) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.id);
}

/**
 * Tickets that can never become ready because a dependency, directly or through others, is human-gated.
 * The batch records them as human-gated too, naming the blocker, so the oracle can close.
 */
export function blockedByHumanGate(nodes: GraphNode[], states: ReadonlyMap<string, TicketState>): Map<string, string> {
  const blocked = new Map<string, string>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const n of nodes) {
      const s = states.get(n.id);
      if (blocked.has(n.id) || s === 'done' || s === 'human-gated') continue;
      const gatedDep = n.dependsOn.find((d) => states.get(d) === 'human-gated' || blocked.has(d));
      if (gatedDep !== undefined) {
        blocked.set(n.id, blocked.get(gatedDep) ?? gatedDep);
        changed = true;
      }
    }
  }
  return blocked;
}
