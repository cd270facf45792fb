/**
 * Where a ticket's prompts, transcripts and gate logs live on disk. Only paths travel in payloads.
 * Layout: `<artifactsDir>/<batchId>/<ticketId>/<step>/...`, step being `plan` or `attempt-<n>`.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OutageError } from '../workflows/errors';
import type { RepoRef } from '../workflows/types';

/**
 * Creates and returns the folder for one step of one ticket (absolute path).
 * @throws OutageError when the repository is gone (the ticket waits for it): its folders are never re-created as an
 *   empty skeleton of ratchet's own.
 */
export async function stepDir(ref: RepoRef, ticketId: string, step: string): Promise<string> {
  if (!(await stat(ref.repo).then((s) => s.isDirectory(), () => false))) {
    throw new OutageError(`outage: the repository ${ref.repo} is gone (moved, deleted or unmounted); the ticket waits for it to come back`);
  }
  const dir = path.join(ref.artifactsDir, ref.batchId, ticketId, step);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Writes `text` to `file`, creating folders; returns `file`. */
export async function writeArtifact(file: string, text: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text, 'utf8');
  return file;
}

/** Keeps the last `maxBytes` (UTF-16 units, close enough for ASCII logs) of `text`, marking the cut. */
export function tail(text: string, maxBytes = 4096): string {
  return text.length <= maxBytes ? text : `...[${text.length - maxBytes} earlier characters cut]\n${text.slice(-maxBytes)}`;
}
