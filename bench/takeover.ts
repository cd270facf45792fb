/**
 * Benchmark: how soon another worker takes over when a worker process dies mid-merge. Starts a local dev server and
 * a real worker process, holds its merge in the repository's `post-merge` hook, SIGKILLs it, starts a second worker,
 * and prints the time from the kill to the retried merge's start, with one merge on main. The bound is the merge
 * activity's heartbeat timeout (10 s); before heartbeats it was the 2-minute start-to-close timeout.
 * Usage: `npm run bench:takeover`.
 */
import type { ChildProcess } from 'node:child_process';
import { createTestEnv } from '../test/helpers/temporal';
import { midMergeTakeover } from '../test/helpers/worker-process';

async function main(): Promise<void> {
  const env = await createTestEnv();
  const workers: ChildProcess[] = [];
  try {
    const t = await midMergeTakeover(env, workers);
    try {
      console.log(`oracle                      ${t.report.oracle.satisfied ? 'satisfied' : 'NOT satisfied'}`);
      console.log(`merges of the ticket        ${t.merges.length}`);
      console.log(`takeover after a kill       ${(t.takeoverMs / 1000).toFixed(1)} s (merge heartbeat timeout 10 s; start-to-close 120 s)`);
    } finally {
      await t.fixture.cleanup();
    }
  } finally {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await env.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
