/**
 * The local tracker: a folder of YAML ticket files, `<ticketsDir>/<id>.yaml`, that a person writes and reads, and
 * next to each one the tracker's record of its state, `<id>.state`, that only ratchet writes.
 *
 * Why two files (DESIGN.md "Trust boundaries"): the ticket text is tracked in git like any other file, but states
 * are not. A state record is an ignored file (ratchet adds `<ticketsDir>/*.state` to `.git/info/exclude`), so:
 * - the user's checkout stays clean after a batch (`git status` shows nothing, `git checkout .` reopens nothing);
 * - a ticket branch cannot carry a state into the base through a merge (records are not in any commit, and every
 *   path under the tickets folder is protected, so an attempt that touches one fails);
 * - an agent's worktree has no state records at all.
 * Until ratchet first writes a ticket's record, its state is the `state` field of the ticket file (default `todo`),
 * so a person can mark a ticket done by hand before a batch. Delete `<id>.state` to reset a ticket to that field.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Mutex } from 'async-mutex';
import lockfile from 'proper-lockfile';
import { Document, isScalar, parseDocument, Scalar } from 'yaml';
import { ID_PATTERN, parseOrThrow, ticketFileSchema } from '../../workflows/input';
import { TICKET_STATES, type Probe, type Ticket, type TicketFact, type TicketState } from '../../workflows/types';
import { BadInputError, ConfigError, TrackerError } from '../../workflows/errors';
import { isStale, withFence, type StateWrite, type StateWritten, type Tracker } from './tracker';

const TICKET_FILE = /\.ya?ml$/;

// One writer per file in this process, in call order; readers need no lock because writes replace files atomically.
const fileLocks = new Map<string, Mutex>();

/** Suffix of the lock proper-lockfile holds next to a file while one process writes it (a folder, excluded from git). */
export const LOCK_SUFFIX = '.lock';
/**
 * How long a held lock may go without its holder refreshing it before another process takes it over, ms
 * (proper-lockfile refreshes it every half of this while the holder lives; a holder killed mid-write stops).
 */
const LOCK_STALE_MS = 10_000;

/** Longest wait for a lock another process holds, ms (past its stale time, so a dead holder's lock is taken over). */
const LOCK_WAIT_MS = 30_000;

/** Takes `key`'s lock across processes, waiting while another holds it (see {@link exclusive}). */
async function lockHeld(key: string): Promise<() => Promise<void>> {
  const until = Date.now() + LOCK_WAIT_MS;
  for (let waitMs = 5; ; waitMs = Math.min(waitMs * 2, 1_000)) {
    try {
      return await lockfile.lock(key, { realpath: false, lockfilePath: `${key}${LOCK_SUFFIX}`, stale: LOCK_STALE_MS, retries: 0 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED' || Date.now() >= until) throw err;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

/**
 * Runs `fn` holding the write lock of `file`: first this process's own (so its writes land in call order), then the
 * lock every process and host sharing the folder honours (proper-lockfile: an atomic `mkdir` of `<file>.lock`, taken
 * over when its holder stopped refreshing it for {@link LOCK_STALE_MS}). Waits for a held lock (5 ms doubling to 1 s)
 * up to {@link LOCK_WAIT_MS}; any other error (the folder gone or unwritable) is thrown at once.
 * @throws the lock's error (`ELOCKED`) when it stayed held that long, else the file system's; a retried activity
 *   tries again.
 */
async function exclusive<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const key = path.resolve(file);
  let mutex = fileLocks.get(key);
  if (!mutex) {
    mutex = new Mutex();
    fileLocks.set(key, mutex);
  }
  return mutex.runExclusive(async () => {
    const release = await lockHeld(key);
    try {
      return await fn();
    } finally {
      await release().catch(() => undefined); // taken over as stale: the lock is someone else's now
    }
  });
}

/** Writes `text` to a temporary file next to `file` and renames it over `file`, so readers never see half a file. */
async function writeAtomic(file: string, text: string): Promise<void> {
  const mode = (await fs.stat(file).catch(() => undefined))?.mode;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await fs.open(tmp, 'w', mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
}

function parseYaml(text: string, source: string): Document.Parsed {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new BadInputError(source, doc.errors.map((e) => `not valid YAML: ${e.message}`));
  return doc;
}

/** Largest ticket file ratchet reads, bytes: a ticket travels in workflow payloads (2 MB hard limit each). */
export const MAX_TICKET_BYTES = 64 * 1024;
/** YAML aliases a ticket file may expand (an alias bomb would otherwise blow up to gigabytes). */
const MAX_YAML_ALIASES = 50;

/**
 * Reads a ticket file as text, refusing what is not one: a folder, a dangling link, a file over
 * {@link MAX_TICKET_BYTES}, or bytes that are not UTF-8.
 * @throws BadInputError naming the file, what is wrong and the fix (non-retryable: a retry cannot fix it).
 */
async function readTicketText(file: string): Promise<string> {
  const stat = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new BadInputError(file, ['is a link to nothing (or vanished while read); fix: point it at a ticket file or remove it']);
    throw err;
  });
  if (!stat.isFile()) throw new BadInputError(file, ['is not a file (a folder?); fix: ticket files are <id>.yaml files; move it out of the tickets folder']);
  if (stat.size > MAX_TICKET_BYTES) {
    throw new BadInputError(file, [`is ${stat.size} bytes, over the ${MAX_TICKET_BYTES}-byte limit for a ticket; fix: keep the ticket short and link to longer documents`]);
  }
  const bytes = await fs.readFile(file);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new BadInputError(file, ['is not UTF-8 text; fix: save it as UTF-8']);
  }
}

/** Parses a ticket file's text (pure). @throws BadInputError naming `file`, the field and the value. */
function parseTicket(text: string, file: string): Ticket {
  let value: unknown;
  try {
    value = parseYaml(text, file).toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(file, [`not a ticket: ${(err as Error).message} (at most ${MAX_YAML_ALIASES} YAML aliases); fix: write the fields out`]);
  }
  const ticket = parseOrThrow(ticketFileSchema, value, file);
  const base = path.basename(file);
  const named = base.replace(TICKET_FILE, '');
  if (ticket.id !== named) {
    const ext = path.extname(base);
    throw new BadInputError(file, [
      `field "id" is "${ticket.id}" but the file is named ${base}; fix: rename the file to ${ticket.id}${ext} or set id to "${named}"`,
    ]);
  }
  return ticket;
}

/** Suffix of a ticket's state record next to its `<id>.yaml`. */
export const STATE_SUFFIX = '.state';

interface StateRecord {
  state: TicketState;
  note?: string;
  /** The highest fence number written per workflow chain (see `Fence`). */
  fences: Record<string, number>;
}

/** Parses a state record (pure); undefined when it is not one (a person or an agent broke it). */
function parseStateRecord(text: string): StateRecord | undefined {
  const doc = parseDocument(text);
  if (doc.errors.length) return undefined;
  const value = doc.toJS() as { state?: unknown; note?: unknown; fences?: unknown } | null;
  if (!value || !TICKET_STATES.includes(value.state as TicketState)) return undefined;
  const fences: Record<string, number> = {};
  if (value.fences && typeof value.fences === 'object') {
    for (const [run, seq] of Object.entries(value.fences)) if (Number.isSafeInteger(seq)) fences[run] = seq as number;
  }
  return { state: value.state as TicketState, note: typeof value.note === 'string' ? value.note : undefined, fences };
}

/** The text of a state record (pure): a comment for the person who opens it, then the fields. */
function renderStateRecord(id: string, rec: StateRecord, by: string | undefined, at: Date): string {
  const fields: Record<string, unknown> = { state: rec.state };
  if (rec.note !== undefined) fields.note = rec.note;
  if (by !== undefined) fields.by = by;
  fields.at = at.toISOString();
  if (Object.keys(rec.fences).length) fields.fences = rec.fences;
  const doc = new Document(fields);
  doc.commentBefore =
    ` ratchet's record of ticket ${id} (its text is in ${id}.yaml). Written by ratchet only; ignored by git.\n` +
    ` Delete this file to reset the ticket to the "state" field of ${id}.yaml.`;
  return doc.toString({ lineWidth: 0 });
}

/** A `Tracker` over `<ticketsDir>/<id>.yaml` (or `.yml`) files; see the module comment. */
export class LocalTracker implements Tracker {
  /** @param ticketsDir absolute folder of ticket files. */
  constructor(readonly ticketsDir: string) {}

  /**
   * Every `*.yaml` / `*.yml` ticket file, sorted by file name.
   * @throws ConfigError when the folder does not exist; BadInputError naming the file, field and value of a bad file.
   */
  async list(): Promise<Ticket[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.ticketsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new ConfigError(
        `field "ticketsDir" is "${this.ticketsDir}": no such folder; fix: create it and add ticket files (<id>.yaml), or point ticketsDir at them`,
      );
    }
    const files = names.filter((n) => TICKET_FILE.test(n) && !n.startsWith('.')).sort();
    return Promise.all(files.map((n) => this.read(path.join(this.ticketsDir, n))));
  }

  /** The ticket in `<id>.yaml` (or `.yml`), or undefined when there is no such file. @throws BadInputError. */
  async get(id: string): Promise<Ticket | undefined> {
    const file = await this.fileOf(id);
    return file === undefined ? undefined : this.read(file);
  }

  /**
   * Writes the ticket's state record `<id>.state` (state, `note`, `by`, time, fences); the ticket file is never
   * touched. Read, compare and write happen under the record's lock, which every process sharing the folder honours,
   * and the record is replaced atomically; writing the same state, note and fence again leaves it untouched.
   * @returns the state just before this write (the record's, else the ticket file's field); `refused` and nothing
   *   written when `write.expect` or `write.fence` says so (see `Tracker.setState`).
   * @throws TrackerError (non-retryable) when the ticket has no file; BadInputError for an unknown state.
   */
  async setState(id: string, state: TicketState, write: StateWrite = {}): Promise<StateWritten> {
    if (!TICKET_STATES.includes(state)) {
      throw new BadInputError(`ticket ${id}`, [`state "${String(state)}" is not one of ${TICKET_STATES.join(', ')}`]);
    }
    const { note, by, expect, fence } = write;
    const record = this.recordOf(id);
    // The in-process lock is taken before any await, so concurrent writes land in call order: the last call wins.
    return exclusive(record, async (): Promise<StateWritten> => {
      const file = await this.fileOf(id);
      if (file === undefined) {
        throw new TrackerError(`ticket "${id}" has no file in ${this.ticketsDir} (looked for ${id}.yaml and ${id}.yml)`, true);
      }
      const current = await this.readRecord(id);
      // No valid record yet: the ticket file's own field is the state (read() would look for the record again).
      const previous = current?.state ?? parseTicket(await readTicketText(file), file).state;
      const seen = current?.fences ?? {};
      if (isStale(seen, fence)) return { previous, refused: 'stale' };
      if (expect !== undefined && previous !== expect && previous !== state) return { previous, refused: 'expected' };
      const fences = withFence(seen, fence);
      if (current?.state !== state || current.note !== note || JSON.stringify(fences) !== JSON.stringify(seen)) {
        await writeAtomic(record, renderStateRecord(id, { state, note, fences }, by, new Date()));
      }
      return { previous };
    });
  }

  /**
   * Writes `<id>.yaml` for a discovered ticket (kind, body, acceptance, dependsOn as given; state `todo`), with a
   * comment naming who found it. See {@link Tracker.file}.
   * @throws BadInputError when the ticket would not pass the ticket file schema.
   */
  async file(ticket: Ticket, by: string): Promise<{ status: 'created' | 'existing' | 'taken' }> {
    // A watch may file the first ticket of a repository that has no tickets folder yet.
    await fs.mkdir(this.ticketsDir, { recursive: true });
    return exclusive(path.join(this.ticketsDir, `${ticket.id}.yaml`), async () => {
      const existing = await this.get(ticket.id).catch(() => null);
      if (existing === null) return { status: 'taken' as const }; // a file of that name that is not a valid ticket
      if (existing) return { status: existing.title === ticket.title && existing.body === ticket.body ? ('existing' as const) : ('taken' as const) };
      await writeTicketFile(this.ticketsDir, { ...ticket, state: 'todo' }, `discovered by ${by}`);
      return { status: 'created' as const };
    });
  }

  /**
   * The state of each of `ids` that has a ticket file; ids with no file, or with a state record that is not one
   * (broken by hand or by an agent), are absent: the oracle treats absence as not done.
   */
  async facts(ids: string[]): Promise<TicketFact[]> {
    const facts = await Promise.all(
      ids.map(async (id): Promise<TicketFact | undefined> => {
        const file = await this.fileOf(id);
        if (file === undefined) return undefined;
        const text = await fs.readFile(this.recordOf(id), 'utf8').catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        });
        if (text !== undefined) {
          const rec = parseStateRecord(text);
          return rec && { id, state: rec.state };
        }
        return { id, state: (await this.read(file)).state };
      }),
    );
    return facts.filter((f): f is TicketFact => f !== undefined);
  }

  /** Absolute path of ticket `id`'s state record. @throws BadInputError for an id outside the id pattern. */
  recordOf(id: string): string {
    if (!ID_PATTERN.test(id)) throw new BadInputError(`ticket id "${id}"`, ['must match [A-Za-z0-9._-]{1,64}']);
    return path.join(this.ticketsDir, `${id}${STATE_SUFFIX}`);
  }

  private async readRecord(id: string): Promise<StateRecord | undefined> {
    const text = await fs.readFile(this.recordOf(id), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : parseStateRecord(text);
  }

  /** The ticket in `file`, its state and note taken from its state record when there is a valid one. */
  private async read(file: string): Promise<Ticket> {
    const ticket = parseTicket(await readTicketText(file), file);
    const rec = await this.readRecord(ticket.id);
    return rec ? { ...ticket, state: rec.state, stateNote: rec.note } : ticket;
  }

  private async fileOf(id: string): Promise<string | undefined> {
    // Also keeps ids such as "../x" from naming files outside the folder.
    if (!ID_PATTERN.test(id)) throw new BadInputError(`ticket id "${id}"`, ['must match [A-Za-z0-9._-]{1,64}']);
    for (const ext of ['.yaml', '.yml']) {
      const file = path.join(this.ticketsDir, `${id}${ext}`);
      if (await fs.access(file).then(() => true, () => false)) return file;
    }
    return undefined;
  }
}

/** A probe in the ticket file's shape; fields that equal what the schema fills in by itself are left out. */
function probeToFile(p: Probe, index: number): Record<string, unknown> {
  if (p.kind === 'http') {
    const name = p.name === `${p.method} ${p.url}` ? {} : { name: p.name };
    const body = p.expectBody === undefined ? {} : { expectBody: p.expectBody };
    return { ...name, http: p.url, method: p.method, expectStatus: p.expectStatus, ...body, timeoutMs: p.timeoutMs };
  }
  const name = p.name === `probe ${index + 1}` ? {} : { name: p.name };
  return { ...name, command: p.command, timeoutMs: p.timeoutMs, ...(p.files?.length ? { files: p.files } : {}) };
}

/**
 * Writes `<dir>/<id>.yaml` for `ticket` in the form a person would write it (a multi-line body as a block scalar,
 * empty optional fields left out, `state` last, `todo` unless given), replacing any file of that name; `provenance`
 * (who filed it) goes in its header comment. Used by the tracker for discovered work, the demo and tests.
 * @returns the file's path. @throws BadInputError when the ticket would not pass the ticket file schema.
 */
export async function writeTicketFile(dir: string, ticket: Partial<Ticket> & { id: string; title: string }, provenance?: string): Promise<string> {
  const file = path.join(dir, `${ticket.id}.yaml`);
  const fields: Record<string, unknown> = { id: ticket.id, title: ticket.title };
  if (ticket.kind) fields.kind = ticket.kind;
  if (ticket.size) fields.size = ticket.size;
  if (ticket.gate) fields.gate = ticket.gate;
  if (ticket.land) fields.land = ticket.land;
  if (ticket.dependsOn?.length) fields.dependsOn = ticket.dependsOn;
  if (ticket.body) fields.body = ticket.body;
  if (ticket.acceptance?.length) fields.acceptance = ticket.acceptance;
  if (ticket.probes?.length) fields.probes = ticket.probes.map(probeToFile);
  if (ticket.allowPaths?.length) fields.allowPaths = ticket.allowPaths;
  fields.state = ticket.state ?? 'todo';
  parseOrThrow(ticketFileSchema, fields, file);

  const doc = new Document(fields);
  doc.commentBefore =
    ' ratchet ticket: edit freely. "state" is the starting state; ratchet records later states in ' +
    `${ticket.id}${STATE_SUFFIX}.` +
    (provenance ? `\n Filed by ratchet: ${provenance.replace(/\s+/g, ' ')}.` : '');
  const body = doc.get('body', true);
  if (isScalar(body) && ticket.body?.includes('\n')) body.type = Scalar.BLOCK_LITERAL;
  await fs.mkdir(dir, { recursive: true });
  await writeAtomic(file, doc.toString({ lineWidth: 0 }));
  return file;
}
