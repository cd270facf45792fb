/**
 * Benchmark: what the harness itself costs per ticket, with a trivial shell agent so the agent's own time is ~0.
 * Runs one batch of N tickets (chains of 4, so dependents wait on blockers) on a local dev server with an in-process
 * worker and prints wall time, throughput, time per phase, history sizes (events, bytes) and worker memory (RSS).
 * Usage: `npm run bench -- [tickets=24] [maxParallel=4]`. Figures depend on the machine; compare runs on one machine.
 */
import { temporal } from '@temporalio/proto';
import { createWorker } from '../workers/worker';
import { batchWorkflow } from '../workflows';
import { batchWorkflowId, TASK_QUEUE, ticketWorkflowId } from '../workflows/messages';
import type { PhaseName } from '../workflows/types';
import { makeRepo } from '../test/fixtures/repo';
import { createTestEnv, workflowBundle } from '../test/helpers/temporal';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 24);
  const maxParallel = Number(process.argv[3] ?? 4);
  const ids = Array.from({ length: n }, (_, i) => `t${String(i).padStart(3, '0')}`);
  const fx = await makeRepo(
    ids.map((id, i) => ({ id, dependsOn: i % 4 === 0 ? [] : [ids[i - 1]], probes: [{ command: `test -f ${id}.txt` }] })),
  );
  const env = await createTestEnv();
  const worker = await createWorker({ connection: env.nativeConnection, workflowBundle: await workflowBundle() });
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  const batchId = 'bench';
  try {
    const started = performance.now();
    const report = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(batchWorkflow, {
        taskQueue: TASK_QUEUE,
        workflowId: batchWorkflowId(batchId),
        args: [
          fx.batch(batchId, {
            agent: { command: 'echo good > "$RATCHET_TICKET_ID.txt"', timeoutMs: 60_000 },
            gates: [{ name: 'own file', command: 'test -f "$RATCHET_TICKET_ID.txt"' }],
            maxParallel,
          }),
        ],
      });
      return handle.result();
    });
    const wallMs = performance.now() - started;
    const size = async (id: string) => {
      const h = await env.client.workflow.getHandle(id).fetchHistory();
      return { events: h.events?.length ?? 0, bytes: temporal.api.history.v1.History.encode(h).finish().length };
    };
    const batchHistory = await size(batchWorkflowId(batchId));
    const ticketHistories = await Promise.all(ids.map((id) => size(ticketWorkflowId(batchId, id))));
    const phaseTotals = new Map<PhaseName, number>();
    for (const t of report.tickets) for (const [p, ms] of Object.entries(t.phaseMs)) phaseTotals.set(p as PhaseName, (phaseTotals.get(p as PhaseName) ?? 0) + (ms ?? 0));

    const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
    console.log(`tickets                 ${n} (chains of 4), maxParallel ${maxParallel}, oracle ${report.oracle.satisfied ? 'satisfied' : 'NOT satisfied'}`);
    console.log(`wall time               ${(wallMs / 1000).toFixed(1)} s`);
    console.log(`throughput              ${((n / wallMs) * 60_000).toFixed(1)} tickets/min`);
    console.log(`mean ticket, per phase  ${[...phaseTotals].map(([p, ms]) => `${p} ${Math.round(ms / n)} ms`).join(', ')}`);
    console.log(`batch history           ${batchHistory.events} events, ${batchHistory.bytes} bytes (${Math.round(batchHistory.bytes / n)} bytes per ticket)`);
    console.log(`ticket history (mean)   ${mean(ticketHistories.map((h) => h.events))} events, ${mean(ticketHistories.map((h) => h.bytes))} bytes`);
    console.log(`worker process peak RSS ${Math.round(peakRss / 1024 / 1024)} MB (worker and client in one process)`);
  } finally {
    clearInterval(sampler);
    await env.teardown();
    await fx.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
