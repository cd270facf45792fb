/**
 * Keeps secret values out of what ratchet writes or returns (command tails, logs, transcripts, artifacts): every
 * occurrence of a secret's value becomes `[redacted:NAME]` (DESIGN "Trust boundaries").
 */
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * Values shorter than this many characters are not redacted: a secret of "1" would turn every digit of a log into a
 * marker and hide everything else worth reading, and a value that short is no secret worth the damage.
 */
export const MIN_SECRET_LENGTH = 4;

interface Match {
  start: number;
  end: number;
  name: string;
}

/**
 * Replaces secret values in text. Built once per command from the secrets that command may see.
 *
 * Rules: values shorter than {@link MIN_SECRET_LENGTH} characters and empty values are ignored; longer values are
 * tried first, so a secret that contains another is redacted whole under its own name; two names with the same
 * value redact under the first name given.
 */
export class Redactor {
  /** Longest secret, in UTF-16 code units (JavaScript string length); 0 when there is nothing to redact. */
  readonly maxLength: number;
  /** Longest secret in UTF-8, bytes; 0 when there is nothing to redact. */
  readonly maxBytes: number;
  private readonly nameOf = new Map<string, string>();
  private readonly pattern: RegExp | undefined;

  /** @param secrets name -> value, e.g. `{ ANTHROPIC_API_KEY: process.env.ANTHROPIC_API_KEY }`. */
  constructor(secrets: Record<string, string>) {
    for (const [name, value] of Object.entries(secrets)) {
      if (value.length >= MIN_SECRET_LENGTH && !this.nameOf.has(value)) this.nameOf.set(value, name);
    }
    // Alternation tries alternatives in order: longest first makes the longest secret at a position win.
    const values = [...this.nameOf.keys()].sort((a, b) => b.length - a.length);
    this.maxLength = values[0]?.length ?? 0;
    this.maxBytes = Math.max(0, ...values.map((v) => Buffer.byteLength(v)));
    this.pattern = values.length === 0 ? undefined : new RegExp(values.map(escapeRegExp).join('|'), 'g');
  }

  /** False when there is nothing to redact: every method then returns its input unchanged. */
  get active(): boolean {
    return this.pattern !== undefined;
  }

  /** `text` with every secret value replaced by `[redacted:NAME]`. */
  redact(text: string): string {
    if (this.pattern === undefined) return text;
    return text.replace(this.pattern, (value) => marker(this.nameOf.get(value) ?? '?'));
  }

  /**
   * The redacted end of `text` from index `from` (UTF-16 code units): like `redact(text.slice(from))`, except that a
   * secret that starts before `from` and ends after it is replaced whole instead of leaving its cut-off end in clear.
   * For a tail cut out of a longer output: pass the tail plus the {@link maxLength} - 1 characters before it.
   */
  redactFrom(text: string, from: number): string {
    if (from <= 0) return this.redact(text);
    if (this.pattern === undefined) return text.slice(from);
    let out = '';
    let pos = from;
    for (const m of this.matches(text)) {
      if (m.end <= from) continue;
      out += text.slice(pos, Math.max(pos, m.start)) + marker(m.name);
      pos = m.end;
    }
    return out + text.slice(pos);
  }

  /**
   * Splits a piece of a stream for redaction: `settled` is the redacted start of `text`, which no text that follows
   * can change; `rest` is the end that might still be the start of a secret (at most {@link maxLength} - 1
   * characters), to be put in front of the next piece. A surrogate pair is never split.
   */
  redactSettled(text: string): { settled: string; rest: string } {
    if (this.pattern === undefined) return { settled: text, rest: '' };
    // A secret starting before `end` lies wholly inside `text`, whatever follows.
    let end = Math.max(0, text.length - (this.maxLength - 1));
    if (end > 0 && end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
    let settled = '';
    let pos = 0;
    for (const m of this.matches(text)) {
      if (m.start >= end) break;
      settled += text.slice(pos, m.start) + marker(m.name);
      pos = m.end;
    }
    end = Math.max(end, pos);
    return { settled: settled + text.slice(pos, end), rest: text.slice(end) };
  }

  private matches(text: string): Match[] {
    const found: Match[] = [];
    if (this.pattern === undefined) return found;
    const re = new RegExp(this.pattern);
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      found.push({ start: m.index, end: m.index + m[0].length, name: this.nameOf.get(m[0]) ?? '?' });
    }
    return found;
  }
}

/** A writable stream that redacts; see {@link redactingStream}. */
export class RedactingStream extends Writable {
  private readonly decoder = new StringDecoder('utf8');
  private held = '';

  constructor(
    private readonly redactor: Redactor,
    private readonly dest: NodeJS.WritableStream,
  ) {
    super();
    dest.on('error', (err: Error) => this.destroy(err));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.redactor.active) {
      this.dest.write(chunk);
    } else {
      const { settled, rest } = this.redactor.redactSettled(this.held + this.decoder.write(chunk));
      this.held = rest;
      if (settled !== '') this.dest.write(settled);
    }
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    const last = this.redactor.active ? this.redactor.redact(this.held + this.decoder.end()) : '';
    this.held = '';
    if (last !== '') this.dest.write(last);
    this.dest.end(() => callback());
  }

  /**
   * Writes out the held-back end, redacted, as if the text so far were complete, and resolves once `dest` has
   * taken it. Call it in the same tick as writing a line no secret can run across (e.g. a footer ratchet writes), so
   * a reader of `dest` sees that line while the stream stays open. Does nothing while a write is still queued (the
   * stream is corked): the held text then comes out with the next writes or the end.
   */
  release(): Promise<void> {
    if (this.destroyed || this.writableLength > 0) return Promise.resolve();
    const text = this.redactor.redact(this.held);
    this.held = '';
    return new Promise((resolve) => this.dest.write(text, () => resolve()));
  }
}

/**
 * A stream that writes everything written to it into `dest` with secrets redacted, for log files and transcripts.
 *
 * Redacts across chunk boundaries: the last {@link Redactor.maxLength} - 1 characters of what arrived are held back
 * until more data or the end arrives, so a secret split across two chunks never reaches `dest`. Chunks are decoded
 * with a `StringDecoder`, so a multi-byte UTF-8 character split across chunks is not mangled. Ending this stream
 * ends `dest`, and its `finish` (the `end` callback) comes after `dest` has finished; an error of `dest` destroys
 * this stream with that error.
 *
 * Writes go to `dest` synchronously and backpressure is left to `dest` (as when writing to it directly). With no
 * secrets the chunks are forwarded as they are, without decoding.
 */
export function redactingStream(redactor: Redactor, dest: NodeJS.WritableStream): RedactingStream {
  return new RedactingStream(redactor, dest);
}

function marker(name: string): string {
  return `[redacted:${name}]`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
