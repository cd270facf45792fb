/**
 * Benchmark: what the harness itself costs per ticket, with a trivial shell agent so the agent's own time is ~0.
 * Runs the same batch of N tickets (chains of 4, so dependents wait on blockers) three times, side by side on one
 * local dev server with an in-process worker:
 * - `unboxed`: agent.sandbox "none": the agent, the setup steps and the gates unboxed (gates on an export of the
 *   commit all the same), a plain gate;
 * - `boxed`: the agent and the gate runs in bubblewrap (skipped where bwrap does not work), no network;
 * - `boxed+guard`: also a gate that writes a JUnit report, so the regression guard runs (base run per base commit).
 * Prints per variant: wall time, throughput, time per phase, history sizes (events, bytes) and worker memory (RSS),
 * then what the box costs per attempt (implement and validate, boxed - unboxed), the guard's cost and the throughput
 * ratios to `unboxed` (issue 25's goal: boxed within 15%).
 * Usage: `npm run bench:overhead -- [tickets=24] [maxParallel=4]`. Figures depend on the machine; compare runs on one machine.
 */
import { temporal } from '@temporalio/proto';
import { createSandboxProbe } from '../activities/box/sandbox';
import { joinTicketReports } from '../client/client';
import { createWorker } from '../workers/worker';
import { batchWorkflow } from '../workflows';
import type { BatchFile } from '../workflows/input';
import { batchWorkflowId, TASK_QUEUE, ticketWorkflowId } from '../workflows/messages';
import type { PhaseName } from '../workflows/types';
import { makeRepo } from '../test/fixtures/repo';
import { createTestEnv, workflowBundle } from '../test/helpers/temporal';

/** A gate that checks the ticket's file and writes a one-test JUnit report, as a real test runner would. */
const JUNIT_GATE = {
  name: 'own file',
  command:
    'if test -f "$RATCHET_TICKET_ID.txt"; then s=""; else s="<failure/>"; fi; ' +
    'printf \'<testsuites><testcase name="%s file">%s</testcase></testsuites>\' "$RATCHET_TICKET_ID" "$s" > junit.xml; ' +
    'test -f "$RATCHET_TICKET_ID.txt"',
  junit: 'junit.xml',
};
const PLAIN_GATE = { name: 'own file', command: 'test -f "$RATCHET_TICKET_ID.txt"' };

interface Variant {
  name: string;
  sandbox: 'bwrap' | 'none';
  gate: BatchFile['gates'] extends (infer G)[] | undefined ? G : never;
}

export interface Figures {
  variant: string;
  wallMs: number;
  perMin: number;
  phaseMeans: Map<PhaseName, number>;
  lines: string[];
}

/**
 * Runs the variants (see the module's doc) on one dev server started here.
 * @param n tickets per batch; @param maxParallel tickets at once.
 * @returns one {@link Figures} per variant, `unboxed` first.
 */
export async function measureOverhead(n: number, maxParallel: number): Promise<Figures[]> {
  const ids = Array.from({ length: n }, (_, i) => `t${String(i).padStart(3, '0')}`);
  const boxed = (await createSandboxProbe().bwrap()) !== undefined;
  const variants: Variant[] = [
    { name: 'unboxed', sandbox: 'none', gate: PLAIN_GATE },
    ...(boxed
      ? [
          { name: 'boxed', sandbox: 'bwrap' as const, gate: PLAIN_GATE },
          { name: 'boxed+guard', sandbox: 'bwrap' as const, gate: JUNIT_GATE },
        ]
      : [{ name: 'unboxed+guard', sandbox: 'none' as const, gate: JUNIT_GATE }]),
  ];
  if (!boxed) console.log('bubblewrap does not work here: the sandbox is not measured');

  const env = await createTestEnv();
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  const results: Figures[] = [];
  try {
    for (const v of variants) {
      const fx = await makeRepo(
        ids.map((id, i) => ({ id, dependsOn: i % 4 === 0 ? [] : [ids[i - 1]], probes: [{ command: `test -f ${id}.txt` }] })),
      );
      const batchId = `bench-${v.name.replace('+', '-')}`;
      try {
        // A worker runs once: one per variant, all on the same server.
        const worker = await createWorker({ connection: env.nativeConnection, workflowBundle: await workflowBundle() });
        peakRss = 0;
        const started = performance.now();
        const report = await worker.runUntil(async () => {
          const handle = await env.client.workflow.start(batchWorkflow, {
            taskQueue: TASK_QUEUE,
            workflowId: batchWorkflowId(batchId),
            args: [
              fx.batch(batchId, {
                agent: { command: 'echo good > "$RATCHET_TICKET_ID.txt"', timeoutMs: 60_000, sandbox: v.sandbox },
                gates: [v.gate],
                maxParallel,
              }),
            ],
          });
          // The rows' time per phase is in the ticket workflows' results.
          return joinTicketReports(env.client, await handle.result());
        });
        const wallMs = performance.now() - started;
        const size = async (id: string) => {
          const h = await env.client.workflow.getHandle(id).fetchHistory();
          return { events: h.events?.length ?? 0, bytes: temporal.api.history.v1.History.encode(h).finish().length };
        };
        const batchHistory = await size(batchWorkflowId(batchId));
        const ticketHistories = await Promise.all(ids.map((id) => size(ticketWorkflowId(batchId, id))));
        const phaseTotals = new Map<PhaseName, number>();
        for (const t of report.tickets) {
          for (const [p, ms] of Object.entries(t.phaseMs ?? {})) phaseTotals.set(p as PhaseName, (phaseTotals.get(p as PhaseName) ?? 0) + (ms ?? 0));
        }
        const phaseMeans = new Map([...phaseTotals].map(([p, ms]) => [p, Math.round(ms / n)]));
        const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
        const perMin = (n / wallMs) * 60_000;
        results.push({
          variant: v.name,
          wallMs,
          perMin,
          phaseMeans,
          lines: [
            `tickets                 ${n} (chains of 4), maxParallel ${maxParallel}, oracle ${report.oracle.satisfied ? 'satisfied' : 'NOT satisfied'}`,
            `wall time               ${(wallMs / 1000).toFixed(1)} s`,
            `throughput              ${perMin.toFixed(1)} tickets/min`,
            `mean ticket, per phase  ${[...phaseMeans].map(([p, ms]) => `${p} ${ms} ms`).join(', ')}`,
            `batch history           ${batchHistory.events} events, ${batchHistory.bytes} bytes (${Math.round(batchHistory.bytes / n)} bytes per ticket)`,
            `ticket history (mean)   ${mean(ticketHistories.map((h) => h.events))} events, ${mean(ticketHistories.map((h) => h.bytes))} bytes`,
            `worker process peak RSS ${Math.round(peakRss / 1024 / 1024)} MB (worker and client in one process)`,
          ],
        });
      } finally {
        await fx.cleanup();
      }
    }
  } finally {
    clearInterval(sampler);
    await env.teardown();
  }
  return results;
}

/** Phase `p`'s mean per ticket in `r`, ms (0 when absent). */
const phase = (r: Figures | undefined, p: PhaseName): number => r?.phaseMeans.get(p) ?? 0;

/** What boxing costs: the boxed variant's throughput against the unboxed one's, and per attempt, ms. */
export function boxCost(results: Figures[]): { ratio: number; implementMs: number; validateMs: number } | undefined {
  const [base] = results;
  const boxed = results.find((r) => r.variant === 'boxed');
  if (!base || !boxed) return undefined;
  return { ratio: boxed.perMin / base.perMin, implementMs: phase(boxed, 'implement') - phase(base, 'implement'), validateMs: phase(boxed, 'validate') - phase(base, 'validate') };
}

/** Prints every variant's figures, then the side-by-side lines. */
export function printOverhead(results: Figures[]): void {
  for (const r of results) console.log(`\n== ${r.variant}\n${r.lines.join('\n')}`);
  const [base] = results;
  const byName = (name: string) => results.find((r) => r.variant === name);
  console.log('\n== side by side (one attempt per ticket)');
  const sandboxed = byName('boxed');
  const cost = boxCost(results);
  if (cost) {
    console.log(`box cost per attempt      ${cost.implementMs} ms (implement: the agent and its setup steps, boxed - unboxed)`);
    console.log(`box cost per attempt      ${cost.validateMs} ms (validate: the gate runs, boxed - unboxed)`);
  }
  const guarded = byName('boxed+guard') ?? byName('unboxed+guard');
  const beforeGuard = sandboxed ?? base;
  if (guarded) console.log(`guard cost per attempt    ${phase(guarded, 'validate') - phase(beforeGuard, 'validate')} ms (validate, with - without a JUnit report)`);
  for (const r of results.slice(1)) console.log(`throughput ${r.variant.padEnd(14)} ${((r.perMin / base.perMin) * 100).toFixed(0)}% of unboxed`);
}

async function main(): Promise<void> {
  printOverhead(await measureOverhead(Number(process.argv[2] ?? 24), Number(process.argv[3] ?? 4)));
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
