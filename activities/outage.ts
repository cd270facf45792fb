/**
 * Outages (DESIGN.md "Trust boundaries": a harness fault is never the agent's failure): whether a step failed because
 * what it needs from the machine is not there right now, the repository, its worktrees or artifacts folder, or the
 * tickets folder gone or not writable. The activity boundary asks this when a step fails, so any error the missing
 * folder caused (git's, Node's, ours) becomes one `OutageError` the ticket rides out.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { OutageError } from '../workflows/errors';

/** The folders a step needs: each must exist and be writable (`create`: may be made, so its nearest ancestor must be). */
export interface Needs {
  /** Folders that must be there (the repository, the tickets folder). */
  present: string[];
  /** Folders a step makes when missing (worktrees, artifacts). */
  create: string[];
}

/** Why `dir` cannot be written now (`EACCES`, `EROFS`, ...), or undefined when it can. */
async function unwritable(dir: string): Promise<string | undefined> {
  try {
    await fs.access(dir, constants.W_OK);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** The nearest folder at or above `dir` that exists. */
async function nearestExisting(dir: string): Promise<string> {
  let at = path.resolve(dir);
  for (;;) {
    if (await fs.stat(at).then((s) => s.isDirectory(), () => false)) return at;
    const up = path.dirname(at);
    if (up === at) return at;
    at = up;
  }
}

/**
 * What is missing or unwritable among `needs`, in words for a person (`the repository /x is gone (moved or
 * deleted)`), or undefined when everything is there. Reads the file system only.
 */
export async function outageOf(needs: Needs): Promise<string | undefined> {
  for (const dir of needs.present) {
    const st = await fs.stat(dir).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) return `${dir} is gone (${st.code ?? st.message}: moved, deleted or unmounted)`;
    if (!st.isDirectory()) return `${dir} is no longer a folder`;
    const why = await unwritable(dir);
    if (why) return `${dir} cannot be written (${why})`;
  }
  for (const dir of needs.create) {
    const at = await nearestExisting(dir);
    const why = await unwritable(at);
    if (why) return `${at} cannot be written (${why}), so ${dir} cannot be used`;
  }
  return undefined;
}

/**
 * `err` as an {@link OutageError} when the step's folders are missing or unwritable now (the cause then is the
 * outage, whatever the error says), else `err` unchanged. An `OutageError` already is one.
 */
export async function asOutage(err: unknown, needs: Needs | undefined): Promise<unknown> {
  if (err instanceof OutageError || !needs) return err;
  const outage = await outageOf(needs).catch(() => undefined);
  if (!outage) return err;
  const detail = err instanceof Error ? err.message.split('\n')[0].slice(0, 300) : String(err);
  return new OutageError(`outage: ${outage}; the step failed with: ${detail}`);
}
