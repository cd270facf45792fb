/**
 * Benchmark: how soon another worker takes over from a worker that stops answering mid-ticket. Starts a local dev
 * server and real worker processes, twice:
 * - **SIGKILL mid-merge**: the merge is held in the repository's `post-merge` hook, the worker is killed, a second
 *   worker starts; prints the time from the kill to the retried merge's start. Bound: the merge activity's heartbeat
 *   timeout (10 s).
 * - **SIGSTOP mid-write** (a VM pause, a laptop lid, a long GC): the worker is frozen while it holds a workflow task,
 *   a second worker starts; prints the time from the stop to the ticket's next workflow task on the second worker.
 *   Bound: the workflow task timeout (10 s), once the server has dropped the frozen worker's polls (keepalive, 6 s).
 * Goal (issue 29): <= 15 s each. Usage: `npm run bench:takeover`.
 */
import type { ChildProcess } from 'node:child_process';
import { createTestEnv } from '../test/helpers/temporal';
import { frozenTakeover, midMergeTakeover, signalAll } from '../test/helpers/worker-process';

async function main(): Promise<void> {
  const env = await createTestEnv();
  const workers: ChildProcess[] = [];
  const frozen: number[] = [];
  try {
    const killed = await midMergeTakeover(env, workers);
    await killed.fixture.cleanup();
    for (const w of workers.splice(0)) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    const stopped = await frozenTakeover(env, workers, frozen);
    await stopped.fixture.cleanup();
    const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
    console.log(`                              SIGKILL mid-merge   SIGSTOP mid-write`);
    console.log(`oracle                        ${(killed.report.oracle.satisfied ? 'satisfied' : 'NOT satisfied').padEnd(20)}${stopped.report.oracle.satisfied ? 'satisfied' : 'NOT satisfied'}`);
    console.log(`merges of the ticket          ${String(killed.merges.length).padEnd(20)}${stopped.merges.length}`);
    console.log(`takeover                      ${s(killed.takeoverMs).padEnd(20)}${s(stopped.takeoverMs)}   (goal <= 15 s)`);
    console.log(`stale write after waking      ${'-'.padEnd(20)}${/state: done/.test(stopped.recordAfter) ? 'refused (tracker says done)' : 'LANDED'}`);
  } finally {
    signalAll(frozen, 'SIGCONT');
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await env.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
