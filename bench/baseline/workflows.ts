/**
 * The raw-Temporal baseline of the benchmark (issue 9): the same workflow shape as a ratchet batch with nothing of
 * ratchet in it. A parent starts one child per ticket by the dependency graph, at most `maxParallel` at once, and
 * each child runs no-op activities in the order a ticket runs its own (tracker write, plan, implement, validate,
 * merge, tracker write, verify-live, tracker write). What ratchet costs per ticket is its rate against this one.
 */
import { condition, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type * as activities from './activities';

const { noop } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });

/** The activities of one ticket of a ratchet batch, in order, as no-ops. */
const STEPS = ['in-progress', 'plan', 'implement', 'validate', 'merge', 'merged', 'verify-live', 'done'];

export async function baselineTicket(id: string): Promise<string> {
  for (const step of STEPS) await noop(`${id} ${step}`);
  return id;
}

/** Runs `tickets` (id, dependsOn) by their graph, `maxParallel` children at once; returns the ids in end order. */
export async function baselineBatch(tickets: { id: string; dependsOn: string[] }[], maxParallel: number): Promise<string[]> {
  const done: string[] = [];
  const finished = new Set<string>();
  const started = new Set<string>();
  let running = 0;
  while (finished.size < tickets.length) {
    for (const t of tickets) {
      if (running >= maxParallel) break;
      if (started.has(t.id) || !t.dependsOn.every((d) => finished.has(d))) continue;
      started.add(t.id);
      running++;
      void executeChild(baselineTicket, { workflowId: `${workflowInfo().workflowId}-${t.id}`, args: [t.id] }).then((id) => {
        running--;
        finished.add(id);
        done.push(id);
      });
    }
    const before = finished.size;
    await condition(() => finished.size > before);
  }
  return done;
}
