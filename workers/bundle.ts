/**
 * The workflow bundle of a worker process, built in a short-lived child process.
 *
 * A worker given `workflowsPath` bundles workflows/index.ts with webpack inside its own process. That left ~140 MB of
 * resident memory behind in the worker for its whole life (measured here: RSS 136 -> 286 MB across
 * `bundleWorkflowCode`, 277 MB after a full GC, with 59 MB of heap in use), and a worker's RSS also makes every child
 * process it starts dearer (workers/activities-process.ts). Built in a child, the bundle costs the worker only its
 * code (~2 MB).
 *
 * Run as a script (`node --require tsx/cjs workers/bundle.ts <file>`), it writes the bundle's code to `<file>`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

/** The workflow code a worker runs: workflows/index.ts and what it imports. */
export const WORKFLOWS_PATH = require.resolve('../workflows/index');

/**
 * Builds the bundle of {@link WORKFLOWS_PATH} in a child process (`node --require tsx/cjs` this file) and reads it back.
 * Takes as long as bundling in this process (seconds), plus the child's start (~1 s).
 * @returns `{ code }`, the bundle for `WorkerOptions.workflowBundle` (~2 MB of JavaScript with its source map inline).
 * @throws Error with the child's stderr when the bundle fails to build (e.g. a workflow imports a Node module).
 */
export async function buildWorkflowBundle(): Promise<{ code: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ratchet-bundle-'));
  try {
    const file = path.join(dir, 'workflow-bundle.js');
    try {
      await promisify(execFile)(process.execPath, ['--require', require.resolve('tsx/cjs'), __filename, file], { maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr?.trim();
      throw new Error(`the workflow bundle of ${WORKFLOWS_PATH} failed to build${stderr ? `:\n${stderr}` : ''}`, { cause: err });
    }
    return { code: await readFile(file, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(file: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  await writeFile(file, code);
}

if (require.main === module) {
  main(process.argv[2]).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
