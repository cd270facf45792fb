/**
 * Batch files: reading one from disk and refusing bad input (JSON syntax, schema, repository) before anything starts.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { batchFileSchema, ID_PATTERN, parseOrThrow, type BatchFile } from '../workflows/input';
import { BadInputError } from '../workflows/errors';
import { rootMessage } from './errors';

/**
 * A batch file ready to start: the JSON as written (so the worker re-validates exactly what a person wrote), with
 * `repo` made absolute and `batchId` always set.
 */
export type StartableBatch = BatchFile & { batchId: string; repo: string };

/** 1-based line and column of a character offset in `text`. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

/** Reads and parses JSON; a syntax error becomes a BadInputError naming the file, line and column. */
export async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder' : rootMessage(err);
    throw new BadInputError(file, [`${why}; fix: pass the path of a batch JSON file`]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const lineCol = /\(line (\d+) column (\d+)\)/.exec(message);
    const position = /at position (\d+)/.exec(message);
    let where = '';
    if (lineCol) where = ` at line ${lineCol[1]}, column ${lineCol[2]}`;
    else if (position) {
      const { line, column } = lineColumn(text, Number(position[1]));
      where = ` at line ${line}, column ${column}`;
    } else if (/end of JSON input/i.test(message)) {
      const { line, column } = lineColumn(text, text.length);
      where = ` at line ${line}, column ${column} (end of file)`;
    }
    throw new BadInputError(file, [
      `not valid JSON${where}: ${message}; fix: correct the JSON syntax (quotes, commas, brackets)`,
    ]);
  }
}

/** Checks that `repo` (absolute) is a folder with `.git` (a folder, or a file in a linked worktree). */
export async function checkRepo(file: string, written: string, repo: string): Promise<void> {
  const shown = written === repo ? `"${repo}"` : `"${written}" (resolved to ${repo})`;
  const stat = await fs.stat(repo).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw new BadInputError(file, [
      `field "repo" is ${shown}: no such folder; fix: point "repo" at a git repository (relative paths are ` +
        'resolved against the batch file\'s folder)',
    ]);
  }
  if (!(await fs.stat(path.join(repo, '.git')).catch(() => undefined))) {
    throw new BadInputError(file, [
      `field "repo" is ${shown}: not a git repository (no .git); fix: run \`git init\` there and commit, ` +
        'or point "repo" at an existing git repository',
    ]);
  }
}

/**
 * Loads a batch file and rejects bad input before anything starts.
 *
 * Validates with `batchFileSchema`, resolves a relative `repo` against the batch file's folder, checks the repo is a
 * git repository, and sets `batchId` (from the file, else the file name without extension).
 * @param file - path of the batch JSON file.
 * @returns the batch as written, with `repo` absolute and `batchId` set.
 * @throws BadInputError naming the file, the field, the value and the fix (JSON syntax errors give line/column), or
 *   the size of a batch over {@link MAX_START_BYTES}.
 */
export async function loadBatchFile(file: string): Promise<StartableBatch> {
  const json = await readJson(file);
  const parsed = parseOrThrow(batchFileSchema, json, file);
  const raw = json as BatchFile;
  const repo = path.resolve(path.dirname(path.resolve(file)), parsed.repo);
  await checkRepo(file, parsed.repo, repo);
  const batchId = parsed.batchId ?? path.basename(file, path.extname(file));
  if (!ID_PATTERN.test(batchId)) {
    throw new BadInputError(file, [
      `batch id "${batchId}" (taken from the file name) must match [A-Za-z0-9._-]{1,64}; fix: add a "batchId" ` +
        'field such as "release-1" to the file, or rename the file to use only letters, digits, ".", "_" and "-"',
    ]);
  }
  const batch = { ...raw, repo, batchId };
  const bytes = Buffer.byteLength(JSON.stringify(batch));
  if (bytes > MAX_START_BYTES) {
    throw new BadInputError(file, [
      `is ${bytes} bytes as the batch's start input, over the ${MAX_START_BYTES}-byte limit (Temporal refuses payloads over 2 MB); ` +
        'fix: keep ticket text in ticket files (ticketsDir) and long prompt rules in a file the agent reads, or split the batch',
    ]);
  }
  return batch;
}

/** Most a batch file may weigh as the batch's start input (JSON), bytes: Temporal refuses payloads over 2 MB. */
export const MAX_START_BYTES = 1_500_000;
