/**
 * Reading back what a box wrote (an agent's result file, a gate's JUnit report) on the worker's side, where nothing
 * confines the read: a file the box made can be a symlink to the worker's `/proc/self/environ` or a credentials file,
 * sit under a symlinked folder, or be a FIFO that blocks the reader forever. {@link readBoxFile} reads only a regular
 * file that really lies inside the folder the box could write.
 */
import { constants, promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** Why a file a box wrote was not read: names the file and the reason, never its content. */
export class BoxFileError extends Error {
  constructor(
    readonly file: string,
    readonly why: string,
  ) {
    super(`${file} was not read: ${why}`);
    this.name = 'BoxFileError';
  }
}

/**
 * Reads `rel` under `root` as UTF-8, only if it is a regular file of at most `maxBytes` bytes whose path, once every
 * symlink of its folders is resolved, is still inside `root`, and which is not itself a symlink (opened with
 * `O_NOFOLLOW`; `O_NONBLOCK` so a FIFO cannot hold the read).
 * @returns the content, or undefined when there is no such file.
 * @throws BoxFileError naming `rel` when it is a symlink, leaves `root`, is not a regular file or is too large.
 */
export async function readBoxFile(root: string, rel: string, maxBytes: number): Promise<string | undefined> {
  const full = path.resolve(root, rel);
  const realRoot = await fsp.realpath(root);
  const folder = await fsp.realpath(path.dirname(full)).catch(() => undefined);
  if (folder === undefined) return undefined;
  const inside = path.relative(realRoot, folder);
  if (inside.startsWith('..') || path.isAbsolute(inside)) throw new BoxFileError(rel, `its folder resolves outside ${root}`);
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path.join(folder, path.basename(full)), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new BoxFileError(rel, 'it is a symlink');
    throw new BoxFileError(rel, `it cannot be opened (${code ?? String(err)})`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new BoxFileError(rel, 'it is not a regular file');
    if (st.size > maxBytes) throw new BoxFileError(rel, `${st.size} bytes is over the ${maxBytes}-byte limit`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
