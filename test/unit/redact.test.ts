import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { Redactor, redactingStream } from '../../activities/redact';
import { batchRedactor } from '../../activities/secrets';

/** A destination that keeps every byte written to it. */
class Sink extends Writable {
  readonly chunks: Buffer[] = [];
  ended = false;

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk);
    cb();
  }

  override _final(cb: () => void): void {
    this.ended = true;
    cb();
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Writes `chunks` one by one into a redacting stream over a Sink and resolves with what reached the Sink. */
async function through(redactor: Redactor, chunks: Buffer[]): Promise<Sink> {
  const sink = new Sink();
  const stream = redactingStream(redactor, sink);
  for (const c of chunks) stream.write(c);
  await new Promise<void>((r) => stream.end(() => r()));
  return sink;
}

const KEY = 'sk-live-0123456789';

describe('Redactor', () => {
  it('replaces every occurrence of every secret with its name', () => {
    const r = new Redactor({ API_KEY: KEY, DB_PASSWORD: 'hunter22' });
    assert.equal(
      r.redact(`key=${KEY} pw=hunter22 again ${KEY}`),
      'key=[redacted:API_KEY] pw=[redacted:DB_PASSWORD] again [redacted:API_KEY]',
    );
  });

  it('ignores empty values and values shorter than 4 characters', () => {
    const r = new Redactor({ EMPTY: '', ONE: '1', SHORT: 'abc', OK: 'abcd' });
    assert.equal(r.redact('1 abc abcd 123'), '1 abc [redacted:OK] 123');
    assert.equal(new Redactor({ ONE: '1', EMPTY: '' }).active, false);
  });

  it('redacts a secret that contains another whole, under its own name', () => {
    const r = new Redactor({ SHORT: 'cdef', LONG: 'abcdefgh' });
    assert.equal(r.redact('xabcdefghx cdef'), 'x[redacted:LONG]x [redacted:SHORT]');
  });

  it('treats secret values literally, special characters included', () => {
    const r = new Redactor({ PW: 'a.b*c$&(d' });
    assert.equal(r.redact('a.b*c$&(d aXbbc$&(d'), '[redacted:PW] aXbbc$&(d');
  });

  it('returns text unchanged when there are no secrets', () => {
    const r = new Redactor({});
    const text = 'nothing to hide';
    assert.equal(r.active, false);
    assert.equal(r.redact(text), text);
    assert.equal(r.redactFrom(text, 8), 'to hide');
  });

  it('redactFrom replaces a secret cut by the start whole instead of leaving its end in clear', () => {
    const r = new Redactor({ API_KEY: KEY });
    const text = `aaa ${KEY} bbb ${KEY}`;
    const from = text.indexOf(KEY) + 5;
    assert.equal(r.redactFrom(text, from), '[redacted:API_KEY] bbb [redacted:API_KEY]');
    assert.equal(r.redactFrom(text, text.indexOf(' bbb')), ' bbb [redacted:API_KEY]');
  });
});

describe('redactingStream', () => {
  const redactor = new Redactor({ API_KEY: KEY, PW: 'pässwörd' });
  const text = `start ${KEY} middle pässwörd and ${KEY}end`;
  const expected = 'start [redacted:API_KEY] middle [redacted:PW] and [redacted:API_KEY]end';

  it('redacts a secret split across two chunks, wherever the split falls', async () => {
    const bytes = Buffer.from(text);
    for (let at = 0; at <= bytes.length; at++) {
      const sink = await through(redactor, [bytes.subarray(0, at), bytes.subarray(at)]);
      assert.equal(sink.text(), expected, `split at byte ${at}`);
    }
  });

  it('redacts when every byte arrives alone, without mangling multi-byte characters', async () => {
    const bytes = Buffer.from(`é ${text} 日本`);
    const sink = await through(redactor, [...bytes].map((b) => Buffer.from([b])));
    assert.equal(sink.text(), `é ${expected} 日本`);
  });

  it('never splits a surrogate pair between two writes', async () => {
    const r = new Redactor({ LONGER_SECRET: 'x'.repeat(12) });
    const emoji = `ab😀${'c'.repeat(10)}`;
    for (let at = 0; at <= Buffer.byteLength(emoji); at++) {
      const bytes = Buffer.from(emoji);
      const sink = await through(r, [bytes.subarray(0, at), bytes.subarray(at)]);
      assert.equal(sink.text(), emoji, `split at byte ${at}`);
    }
  });

  it('ends the destination, and its end callback comes after the destination finished', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-redact-'));
    try {
      const file = path.join(dir, 'log.txt');
      const stream = redactingStream(redactor, fs.createWriteStream(file));
      stream.write(`token ${KEY.slice(0, 7)}`);
      stream.write(`${KEY.slice(7)} done`);
      await new Promise<void>((r) => stream.end(() => r()));
      assert.equal(fs.readFileSync(file, 'utf8'), 'token [redacted:API_KEY] done');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('release writes out what it held back while the stream stays open', async () => {
    const sink = new Sink();
    const stream = redactingStream(redactor, sink);
    stream.write(`${KEY}\n=== exit 0\n`);
    await stream.release();
    assert.equal(sink.text(), '[redacted:API_KEY]\n=== exit 0\n');
    assert.equal(sink.ended, false);
  });

  it('passes bytes through untouched when there are no secrets', async () => {
    const raw = [Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('plain')];
    const sink = await through(new Redactor({}), raw);
    assert.deepEqual(Buffer.concat(sink.chunks), Buffer.concat(raw));
    assert.equal(sink.ended, true);
  });

  it('fails with the error of its destination', async () => {
    const broken = new Writable({ write: (_c, _e, cb) => cb(new Error('disk full')) });
    const stream = redactingStream(redactor, broken);
    const failed = new Promise<Error>((r) => stream.once('error', r));
    stream.write('some output that is long enough to be written out');
    assert.equal((await failed).message, 'disk full');
  });
});

describe('batchRedactor', () => {
  it("redacts the worker's own credentials even when the batch names none, and a named secret under the batch's name", () => {
    const env = {
      PATH: '/usr/bin:/bin',
      HOME: '/home/ratchet',
      GITHUB_TOKEN: 'ghp_workertoken123456',
      TEMPORAL_API_KEY: 'tmprl-key-abcdef',
      DB_PASS: 'hunter2hunter2',
      MODEL_KEY: 'sk-model-key-987654',
    };
    const r = batchRedactor(['MODEL_KEY'], env);
    const text = `path /usr/bin:/bin home /home/ratchet token ghp_workertoken123456 key tmprl-key-abcdef db hunter2hunter2 model sk-model-key-987654`;
    assert.equal(
      r.redact(text),
      'path /usr/bin:/bin home /home/ratchet token [redacted:GITHUB_TOKEN] key [redacted:TEMPORAL_API_KEY] db [redacted:DB_PASS] model [redacted:MODEL_KEY]',
    );
  });
});
