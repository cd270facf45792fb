/**
 * Shared helpers for mocha tests that need a Temporal server or the workflow bundle.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ensureDevServer } from '../../deploy/dev-server';
import { resolveTemporalCli } from '../../deploy/temporal-cli';
import { TemporalCliNotFoundError } from '../../workflows/errors';
import type { ActivityDeps } from '../../activities';
import { createWorker, type RatchetWorker } from '../../workers/worker';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

/**
 * Starts a local dev server (random free port, in-memory db, no Web UI) with ratchet's search attributes registered,
 * stopped by the environment's `teardown()` (and killed if this process exits first).
 *
 * Uses the CLI from resolveTemporalCli (which may build it with Go, minutes the first time). Only when none can be
 * found or built does it fall back to the SDK's own download, as DESIGN.md "Running Temporal here" orders.
 * @returns the environment; the caller must `await env.teardown()`.
 * @throws Error if no CLI is found, built or downloaded (the message says what to install), or the server fails.
 */
export async function createTestEnv(): Promise<TestWorkflowEnvironment> {
  try {
    // The CLI ensureDevServer will run (resolved again there, from its cache).
    await resolveTemporalCli();
  } catch (err) {
    if (!(err instanceof TemporalCliNotFoundError)) throw err;
    try {
      return await TestWorkflowEnvironment.createLocal({
        server: { executable: { type: 'cached-download' }, searchAttributes: SEARCH_ATTRIBUTES },
      });
    } catch (downloadErr) {
      const reason = downloadErr instanceof Error ? downloadErr.message : String(downloadErr);
      throw new Error(`${err.message}\n(The SDK's own download failed too: ${reason})`, { cause: downloadErr });
    }
  }
  // Started here, not by TestWorkflowEnvironment.createLocal: the SDK gives the server 5 s to answer (sdk-core's
  // ephemeral_server: 50 tries 100 ms apart), and on a busy 2-core machine (a workflow bundle building, a cold binary)
  // it took longer: "ephemeral server ... did not start within 5s" failed a whole suite's before-all in CI.
  // ensureDevServer waits up to 60 s and says why when it gives up.
  const server = await ensureDevServer({ address: `127.0.0.1:${await freePort()}`, inMemory: true, headless: true, attached: true, log: () => {} });
  try {
    const env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address });
    const teardown = env.teardown.bind(env);
    // The environment's teardown closes its connections; the server is ours to stop.
    env.teardown = async () => {
      try {
        await teardown();
      } finally {
        await server.stop();
      }
    };
    return env;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** A TCP port free on 127.0.0.1 a moment ago (the OS picks it). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Tests print the SDK's warnings and errors only (RATCHET_TEST_LOG=DEBUG|INFO shows more). */
const quiet = new DefaultLogger((process.env.RATCHET_TEST_LOG as 'DEBUG' | 'INFO' | undefined) ?? 'WARN');
try {
  Runtime.install({ logger: quiet });
} catch {
  // Another test file in this process installed it first: same settings.
}

/**
 * The workflow bundle for workflows/index.ts, built once per process (bundling takes seconds) and shared by tests.
 * @throws Error if bundling fails (e.g. a workflow imports a Node module); later calls rethrow the same error.
 */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows/index'), logger: quiet });
  return bundle;
}

/**
 * A fresh id for workflows, batches or tickets, so tests sharing a server never collide.
 * @returns `${prefix}-${8 hex chars}`, truncated to match [A-Za-z0-9._-]{1,64}.
 * @throws Error if prefix contains characters outside [A-Za-z0-9._-].
 */
export function uniqueId(prefix: string): string {
  if (!/^[A-Za-z0-9._-]*$/.test(prefix)) throw new Error(`uniqueId prefix '${prefix}' must match [A-Za-z0-9._-]*`);
  const suffix = randomBytes(4).toString('hex');
  return `${prefix.slice(0, 64 - suffix.length - 1)}-${suffix}`;
}

/**
 * The first argument of the first `activityType` activity a workflow history scheduled, decoded (what the step was
 * given: a ticket's plan gets the ticket as its workflow read it, say).
 * @throws Error when the history scheduled no such activity.
 */
export function scheduledInput<T>(history: temporal.api.history.v1.IHistory, activityType: string): T {
  const scheduled = (history.events ?? []).find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType);
  const payload = scheduled?.activityTaskScheduledEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error(`the history scheduled no ${activityType} activity`);
  return defaultPayloadConverter.fromPayload<T>(payload as Payload);
}

/**
 * For a mocha `describe` block: a dev server and one ratchet worker for its tests (started in `before`, stopped in
 * `after`), plus the repository fixtures its tests make, cleaned up after. Call it at the top of the block;
 * `activityDeps` (e.g. the worker's environment) go to the worker's activities.
 * @returns getters for the environment and a `track` that registers a fixture for clean-up.
 */
export function useServerAndWorker(opts: { activityDeps?: ActivityDeps } = {}): {
  env: () => TestWorkflowEnvironment;
  track: <F extends { cleanup(): Promise<void> }>(fixture: F) => F;
} {
  let env: TestWorkflowEnvironment | undefined;
  let worker: RatchetWorker | undefined;
  let running: Promise<void> | undefined;
  const fixtures: { cleanup(): Promise<void> }[] = [];
  before(async function () {
    this.timeout(300_000);
    env = await createTestEnv();
    worker = await createWorker({
      connection: env.nativeConnection,
      workflowBundle: await workflowBundle(),
      shutdownGraceTimeMs: 1_000,
      ...(opts.activityDeps ? { activityDeps: opts.activityDeps } : {}),
    });
    running = worker.run();
  });
  after(async () => {
    try {
      worker?.shutdown();
      await running;
    } finally {
      // Always, even when the worker failed: an orphaned dev server would outlive the test run.
      await env?.teardown();
      await Promise.all(fixtures.map((f) => f.cleanup()));
    }
  });
  return {
    env: () => {
      if (!env) throw new Error('useServerAndWorker: the server is not up yet (use it inside tests, not at describe time)');
      return env;
    },
    track: (fixture) => {
      fixtures.push(fixture);
      return fixture;
    },
  };
}
