/**
 * The local tracker: a folder of YAML ticket files, `<ticketsDir>/<id>.yaml`, that a person reads and edits.
 * ratchet writes only `state` and `stateNote`, in place, keeping the rest of the file as the person wrote it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Mutex } from 'async-mutex';
import { Document, isMap, isScalar, parseDocument, Scalar } from 'yaml';
import { BadInputError, ID_PATTERN, parseOrThrow, ticketFileSchema } from '../../workflows/input';
import { TICKET_STATES, type Probe, type Ticket, type TicketFact, type TicketState } from '../../workflows/types';
import { ConfigError, TrackerError } from '../errors';
import type { Tracker } from './tracker';

const TICKET_FILE = /\.ya?ml$/;
/** The tracker's note on the last state change; tracker-owned, so it is not part of the ticket schema. */
const NOTE = 'stateNote';

// One writer per file in this process; readers need no lock because writes replace the file atomically.
const fileLocks = new Map<string, Mutex>();

function lockFor(file: string): Mutex {
  const key = path.resolve(file);
  let lock = fileLocks.get(key);
  if (!lock) {
    lock = new Mutex();
    fileLocks.set(key, lock);
  }
  return lock;
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

/** Parses a ticket file's text (pure). @throws BadInputError naming `file`, the field and the value. */
function parseTicket(text: string, file: string): Ticket {
  const ticket = parseOrThrow(ticketFileSchema, parseYaml(text, file).toJS(), file);
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

/**
 * Replaces the value of top-level `key` with `rendered` (or removes the key when undefined), touching no other line.
 * Returns undefined when the file's shape is not one this simple edit handles.
 */
function editLine(text: string, key: string, rendered: string | undefined): string | undefined {
  const map = parseDocument(text).contents;
  if (!isMap(map) || map.flow) return undefined;
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
  const value = pair?.value;
  if (pair && !(isScalar(value) && value.range && value.range[0] < value.range[1])) return undefined;
  if (rendered === undefined) {
    if (!pair || !isScalar(value) || !isScalar(pair.key) || !pair.key.range || !value.range) return text;
    const start = text.lastIndexOf('\n', pair.key.range[0] - 1) + 1;
    const newline = text.indexOf('\n', value.range[1] - 1);
    return text.slice(0, start) + (newline === -1 ? '' : text.slice(newline + 1));
  }
  if (isScalar(value) && value.range) return text.slice(0, value.range[0]) + rendered + text.slice(value.range[1]);
  // A new key goes on the line after `state` when there is one, else at the end.
  const state = map.items.find((p) => isScalar(p.key) && p.key.value === 'state')?.value;
  const after = isScalar(state) && state.range ? text.indexOf('\n', state.range[1]) : -1;
  const at = after === -1 ? text.length : after + 1;
  const head = text.slice(0, at);
  return `${head}${head && !head.endsWith('\n') ? '\n' : ''}${key}: ${rendered}\n${text.slice(at)}`;
}

/** `text` with `state` set and `stateNote` set or removed (pure). Edits in place when it can; see `editLine`. */
function withState(text: string, state: TicketState, note: string | undefined, source: string): string {
  const doc = parseYaml(text, source);
  if (!isMap(doc.contents)) throw new BadInputError(source, ['the file must be a mapping of fields such as "id: T-1"']);
  doc.set('state', state);
  if (note === undefined) doc.delete(NOTE);
  else doc.set(NOTE, note);
  const step = editLine(text, 'state', state);
  // JSON strings are valid YAML double-quoted scalars: one line, whatever the note holds.
  const edited = step === undefined ? undefined : editLine(step, NOTE, note === undefined ? undefined : JSON.stringify(note));
  if (edited !== undefined) {
    const check = parseDocument(edited);
    if (!check.errors.length && isDeepStrictEqual(check.toJS(), doc.toJS())) return edited;
  }
  // Keeps comments, but re-indents and re-spaces parts of the file.
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
   * Sets `state` in the ticket's file and sets `stateNote` to `note`, or removes it when `note` is omitted. Only
   * those lines change: comments and formatting stay as the person wrote them. The file is replaced atomically;
   * writing the same state again leaves the file untouched.
   * @throws TrackerError (non-retryable) when the ticket has no file; BadInputError for an unknown state or bad YAML.
   */
  async setState(id: string, state: TicketState, note?: string): Promise<void> {
    if (!TICKET_STATES.includes(state)) {
      throw new BadInputError(`ticket ${id}`, [`state "${String(state)}" is not one of ${TICKET_STATES.join(', ')}`]);
    }
    const file = await this.fileOf(id);
    if (file === undefined) {
      throw new TrackerError(`ticket "${id}" has no file in ${this.ticketsDir} (looked for ${id}.yaml and ${id}.yml)`, true);
    }
    await lockFor(file).runExclusive(async () => {
      const text = await fs.readFile(file, 'utf8');
      const next = withState(text, state, note, file);
      if (next !== text) await writeAtomic(file, next);
    });
  }

  /** The state of each of `ids` that has a ticket file; ids with no file are absent. */
  async facts(ids: string[]): Promise<TicketFact[]> {
    const tickets = await Promise.all(ids.map((id) => this.get(id)));
    return tickets.filter((t): t is Ticket => t !== undefined).map((t) => ({ id: t.id, state: t.state }));
  }

  private async read(file: string): Promise<Ticket> {
    return parseTicket(await fs.readFile(file, 'utf8'), file);
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
  return { ...name, command: p.command, timeoutMs: p.timeoutMs };
}

/**
 * Writes `<dir>/<id>.yaml` for `ticket` in the form a person would write it (a multi-line body as a block scalar,
 * empty optional fields left out, `state` last, `todo` unless given), replacing any file of that name. Used by the
 * demo and tests.
 * @returns the file's path. @throws BadInputError when the ticket would not pass the ticket file schema.
 */
export async function writeTicketFile(dir: string, ticket: Partial<Ticket> & { id: string; title: string }): Promise<string> {
  const file = path.join(dir, `${ticket.id}.yaml`);
  const fields: Record<string, unknown> = { id: ticket.id, title: ticket.title };
  if (ticket.kind) fields.kind = ticket.kind;
  if (ticket.size) fields.size = ticket.size;
  if (ticket.gate) fields.gate = ticket.gate;
  if (ticket.dependsOn?.length) fields.dependsOn = ticket.dependsOn;
  if (ticket.body) fields.body = ticket.body;
  if (ticket.acceptance?.length) fields.acceptance = ticket.acceptance;
  if (ticket.probes?.length) fields.probes = ticket.probes.map(probeToFile);
  fields.state = ticket.state ?? 'todo';
  parseOrThrow(ticketFileSchema, fields, file);

  const doc = new Document(fields);
  doc.commentBefore = ' ratchet ticket: edit freely; ratchet writes only "state" and "stateNote".';
  const body = doc.get('body', true);
  if (isScalar(body) && ticket.body?.includes('\n')) body.type = Scalar.BLOCK_LITERAL;
  await fs.mkdir(dir, { recursive: true });
  await writeAtomic(file, doc.toString({ lineWidth: 0 }));
  return file;
}
