import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TrackerError } from '../../workflows/errors';
import { LocalTracker, writeTicketFile } from '../../activities/tracker/local';
import { BadInputError } from '../../workflows/errors';
import type { Ticket } from '../../workflows/types';

/** A ticket file as a person writes one: comments, unindented list, flow list, comment after the state. */
const PERSON_FILE = `# Ask from the support team, 2024-05
id: T-2
title: "Add a health endpoint"   # quoted on purpose
body: |
  The service needs GET /health.

  It returns 200.
acceptance:
- GET /health returns 200
dependsOn: [T-1]
state: todo   # ratchet sets this

# keep this comment at the end
`;

describe('LocalTracker', () => {
  let dir: string;
  let tracker: LocalTracker;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ratchet-tracker-'));
    tracker = new LocalTracker(dir);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const put = (name: string, text: string): Promise<void> => writeFile(path.join(dir, name), text);

  it('files a discovered ticket once: a retry finds it, another ticket of that id is never overwritten', async () => {
    const t: Ticket = { id: 'x-d1', title: 'Add the flag', body: 'x needs FLAG', acceptance: ['FLAG set'], dependsOn: [], kind: 'discovered', probes: [], allowPaths: [], state: 'todo' };
    assert.deepEqual(await tracker.file(t, 'ticket x attempt 1 (its agent) in batch b1'), { status: 'created' });
    assert.deepEqual(await tracker.file(t, 'ticket x attempt 1 (its agent) in batch b1'), { status: 'existing' });
    assert.deepEqual(await tracker.file({ ...t, title: 'Something else' }, 'ana'), { status: 'taken' });
    const text = await readFile(path.join(dir, 'x-d1.yaml'), 'utf8');
    assert.match(text, /^# .*\n# Filed by ratchet: discovered by ticket x attempt 1 \(its agent\) in batch b1\.$/m);
    assert.deepEqual(await tracker.get('x-d1'), t);
    await put('bad.yaml', 'not: [a ticket');
    assert.deepEqual(await tracker.file({ ...t, id: 'bad' }, 'ana'), { status: 'taken' });
  });

  it('lists ticket files sorted by name with defaults filled in', async () => {
    await put('T-2.yaml', 'id: T-2\ntitle: second\n');
    await put('T-1.yml', 'id: T-1\ntitle: first\nkind: bug\nsize: S\nstate: done\n');
    await put('README.md', 'not a ticket');

    assert.deepEqual(await tracker.list(), [
      { id: 'T-1', title: 'first', body: '', acceptance: [], dependsOn: [], kind: 'bug', size: 'S', probes: [], allowPaths: [], state: 'done' },
      { id: 'T-2', title: 'second', body: '', acceptance: [], dependsOn: [], kind: 'feature', probes: [], allowPaths: [], state: 'todo' },
    ]);
  });

  it('records states next to the ticket file and never edits the file the person wrote', async () => {
    await put('T-2.yaml', PERSON_FILE);
    assert.deepEqual(await tracker.setState('T-2', 'in-progress', { by: 'batch b1' }), { previous: 'todo' });
    assert.equal(await readFile(path.join(dir, 'T-2.yaml'), 'utf8'), PERSON_FILE);
    const record = await readFile(path.join(dir, 'T-2.state'), 'utf8');
    assert.match(record, /^# ratchet's record of ticket T-2 \(its text is in T-2.yaml\)/);
    assert.match(record, /^state: in-progress$/m);
    assert.match(record, /^by: batch b1$/m);
    assert.equal((await tracker.get('T-2'))?.state, 'in-progress');
    assert.deepEqual(await tracker.facts(['T-2']), [{ id: 'T-2', state: 'in-progress' }]);
  });

  it('keeps a multi-line note readable and returns the previous state on every write', async () => {
    await put('T-2.yaml', PERSON_FILE);
    await tracker.setState('T-2', 'awaiting-human', { note: 'gate "test" failed 3 times: see\nartifacts/T-2' });
    const t = await tracker.get('T-2');
    assert.equal(t?.state, 'awaiting-human');
    assert.equal(t?.stateNote, 'gate "test" failed 3 times: see\nartifacts/T-2');
    assert.deepEqual(await tracker.setState('T-2', 'done'), { previous: 'awaiting-human' });
    assert.equal((await tracker.get('T-2'))?.stateNote, undefined);
  });

  it('starts from the state field of the ticket file until ratchet first writes, and again when the record is deleted', async () => {
    await put('T-1.yaml', 'id: T-1\ntitle: first\nstate: done\n');
    assert.deepEqual(await tracker.facts(['T-1']), [{ id: 'T-1', state: 'done' }]);
    await tracker.setState('T-1', 'todo');
    assert.deepEqual(await tracker.facts(['T-1']), [{ id: 'T-1', state: 'todo' }]);
    await rm(path.join(dir, 'T-1.state'));
    assert.deepEqual(await tracker.facts(['T-1']), [{ id: 'T-1', state: 'done' }]);
  });

  it('writes with expect only over the expected state (or a retry of the same write), and refuses otherwise', async () => {
    await put('T-1.yaml', 'id: T-1\ntitle: first\n');
    assert.deepEqual(await tracker.setState('T-1', 'in-progress', { by: 'me', expect: 'todo' }), { previous: 'todo' });
    assert.deepEqual(await tracker.setState('T-1', 'in-progress', { by: 'me', expect: 'todo' }), { previous: 'in-progress' }, 'a retried write');
    await tracker.setState('T-1', 'done');
    assert.deepEqual(await tracker.setState('T-1', 'in-progress', { by: 'me', expect: 'todo' }), { previous: 'done', refused: 'expected' });
    assert.deepEqual(await tracker.facts(['T-1']), [{ id: 'T-1', state: 'done' }], 'a refused write changes nothing');
  });

  it('refuses a fenced write behind a later write of the same workflow chain, changing nothing; a retry or another chain writes', async () => {
    await put('T-1.yaml', 'id: T-1\ntitle: first\n');
    const run = 'run-a';
    assert.deepEqual(await tracker.setState('T-1', 'in-progress', { fence: { run, seq: 0 } }), { previous: 'todo' });
    assert.deepEqual(await tracker.setState('T-1', 'merged', { fence: { run, seq: 1 } }), { previous: 'in-progress' });
    assert.deepEqual(await tracker.setState('T-1', 'done', { fence: { run, seq: 2 } }), { previous: 'merged' });
    // A worker frozen while it held the task of write 1 resumes and runs it: the tracker already has write 2.
    assert.deepEqual(await tracker.setState('T-1', 'merged', { fence: { run, seq: 1 } }), { previous: 'done', refused: 'stale' });
    assert.deepEqual(await tracker.facts(['T-1']), [{ id: 'T-1', state: 'done' }], 'a stale write changes nothing');
    assert.deepEqual(await tracker.setState('T-1', 'done', { fence: { run, seq: 2 } }), { previous: 'done' }, 'a retry of the last write');
    // The batch (another chain) writes between two writes of the ticket; the ticket's stale write is still refused.
    assert.deepEqual(await tracker.setState('T-1', 'done', { fence: { run: 'batch', seq: 0 } }), { previous: 'done' });
    assert.equal((await tracker.setState('T-1', 'merged', { fence: { run, seq: 1 } })).refused, 'stale');
    assert.deepEqual(await tracker.setState('T-1', 'todo', { fence: { run: 'run-b', seq: 0 } }), { previous: 'done' }, 'a new chain starts at 0');
  });

  it('makes a compare-and-set atomic across processes: of two processes racing on each ticket, exactly one wins', async function () {
    this.timeout(60_000);
    const n = 25;
    for (let i = 0; i < n; i++) await put(`R-${i}.yaml`, `id: R-${i}\ntitle: race ${i}\n`);
    // Each process moves every ticket from todo to its own state; without a lock across processes both read todo.
    const program = `
      const { LocalTracker } = require(${JSON.stringify(path.resolve(__dirname, '../../activities/tracker/local.ts'))});
      const t = new LocalTracker(process.argv[1]);
      const to = process.argv[2];
      (async () => {
        await new Promise((r) => setTimeout(r, Number(process.argv[3]) - Date.now()));
        const won = [];
        await Promise.all(Array.from({ length: ${n} }, async (_, i) => {
          const r = await t.setState('R-' + i, to, { expect: 'todo', by: to });
          if (!r.refused) won.push(i);
        }));
        process.stdout.write(JSON.stringify(won));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    // Both start writing at one moment, past the time either takes to load.
    const at = String(Date.now() + 4_000);
    const run = (to: string): Promise<number[]> =>
      new Promise((resolve, reject) => {
        execFile(process.execPath, ['--require', 'tsx/cjs', '-e', program, dir, to, at], { cwd: path.resolve(__dirname, '../..') }, (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as number[]),
        );
      });
    const [a, b] = await Promise.all([run('in-progress'), run('merged')]);
    const facts = await tracker.facts(Array.from({ length: n }, (_, i) => `R-${i}`));
    for (let i = 0; i < n; i++) {
      const winners = Number(a.includes(i)) + Number(b.includes(i));
      assert.equal(winners, 1, `ticket R-${i}: ${winners} processes won the compare-and-set`);
      assert.equal(facts[i].state, a.includes(i) ? 'in-progress' : 'merged', `ticket R-${i} holds the winner's state`);
    }
    const left = (await readdir(dir)).filter((f) => f.endsWith('.lock') || f.endsWith('.tmp'));
    assert.deepEqual(left, [], 'no lock or temporary file is left behind');
  });

  it('leaves out a ticket whose state record is broken, so the oracle never counts it', async () => {
    await put('T-1.yaml', 'id: T-1\ntitle: first\n');
    await put('T-1.state', 'state: finished\n');
    assert.deepEqual(await tracker.facts(['T-1']), []);
  });

  it('keeps the last of concurrent state writes to one ticket', async () => {
    await put('T-2.yaml', PERSON_FILE);
    const states = ['in-progress', 'awaiting-human', 'merged', 'done'] as const;
    await Promise.all(states.map((s, i) => tracker.setState('T-2', s, { note: `note ${i}` })));
    const t = await tracker.get('T-2');
    assert.equal(t?.state, 'done');
    assert.equal(t?.stateNote, 'note 3');
  });

  it('rejects a state change for a ticket that has no file, as non-retryable', async () => {
    await assert.rejects(tracker.setState('T-9', 'done'), (err: unknown) => {
      assert.ok(err instanceof TrackerError);
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /ticket "T-9" has no file/);
      return true;
    });
  });

  it('returns facts for the ids that have files, leaving the others out', async () => {
    await put('T-1.yaml', 'id: T-1\ntitle: first\nstate: done\n');
    await put('T-2.yaml', 'id: T-2\ntitle: second\n');
    assert.deepEqual(await tracker.facts(['T-2', 'T-1', 'T-404']), [
      { id: 'T-2', state: 'todo' },
      { id: 'T-1', state: 'done' },
    ]);
  });

  it('rejects a field of the wrong type, naming the file, the field and the value', async () => {
    await put('T-1.yaml', 'id: T-1\ntitle: first\nacceptance: it works\n');
    const file = path.join(dir, 'T-1.yaml');
    await assert.rejects(tracker.list(), (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.equal(err.source, file);
      assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: field "acceptance" is "it works": `));
      return true;
    });
  });

  it('rejects a file whose name is not its id, naming both', async () => {
    await put('T-1.yaml', 'id: T-7\ntitle: first\n');
    await assert.rejects(
      tracker.get('T-1'),
      (err: unknown) =>
        err instanceof BadInputError &&
        err.message.includes('field "id" is "T-7" but the file is named T-1.yaml; fix: rename the file to T-7.yaml or set id to "T-1"'),
    );
  });

  it('rejects a file that is not valid YAML, naming the file', async () => {
    await put('T-1.yaml', 'id: T-1\ntitle: [unclosed\n');
    await assert.rejects(tracker.list(), (err: unknown) => err instanceof BadInputError && err.source === path.join(dir, 'T-1.yaml'));
  });

  describe('refuses a ticket file that is not one, naming it, as bad input a retry cannot fix', () => {
    const cases: [string, (file: string) => Promise<void>, RegExp][] = [
      ['a YAML alias bomb', (f) => writeFile(f, `id: T-1\ntitle: t\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n`), /not a ticket: .*alias.*at most 50 YAML aliases/i],
      ['a folder named like a ticket', (f) => mkdir(f), /is not a file \(a folder\?\)/],
      ['a link to nothing', (f) => symlink(path.join(dir, 'nowhere.yaml'), f), /is a link to nothing/],
      ['bytes that are not UTF-8', (f) => writeFile(f, Buffer.from([0x69, 0x64, 0x3a, 0x20, 0xff, 0xfe, 0x0a])), /is not UTF-8 text; fix: save it as UTF-8/],
      ['a file over the size limit', (f) => writeFile(f, `id: T-1\ntitle: t\nbody: "${'x'.repeat(70 * 1024)}"\n`), /bytes, over the 65536-byte limit for a ticket/],
    ];
    for (const [name, make, message] of cases) {
      it(`refuses ${name}`, async () => {
        const file = path.join(dir, 'T-1.yaml');
        await make(file);
        await assert.rejects(tracker.list(), (err: unknown) => {
          assert.ok(err instanceof BadInputError, String(err));
          assert.ok(err.message.startsWith(file), err.message);
          assert.match(err.message, message);
          return true;
        });
      });
    }
  });

  it('writes a ticket file a person can read, which lists back as the same ticket', async () => {
    const ticket: Ticket = {
      id: 'T-3',
      title: 'Greet by name',
      body: 'GET /hello?name=Ada answers "hello, Ada".\n\nKeep the old route.\n',
      acceptance: ['answers with the name'],
      dependsOn: ['T-1'],
      kind: 'feature',
      size: 'M',
      probes: [
        { kind: 'http', name: 'GET http://127.0.0.1:8080/hello', url: 'http://127.0.0.1:8080/hello', method: 'GET', expectStatus: 200, expectBody: 'hello', timeoutMs: 5000 },
        { kind: 'command', name: 'probe 2', command: 'npm run smoke', timeoutMs: 60000, files: ['scripts/smoke.sh'] },
      ],
      allowPaths: [],
      state: 'todo',
    };
    const file = await writeTicketFile(dir, ticket);
    assert.equal(file, path.join(dir, 'T-3.yaml'));
    const text = await readFile(file, 'utf8');
    assert.match(text, /^body: \|\n {2}GET \/hello\?name=Ada answers "hello, Ada"\.\n\n {2}Keep the old route\.\n/m);
    assert.doesNotMatch(text, /gate|name: probe 2|name: GET/);
    assert.deepEqual(await tracker.get('T-3'), ticket);
  });

  it('leaves out empty optional fields when writing a ticket file', async () => {
    const file = await writeTicketFile(dir, { id: 'T-4', title: 'Small one' });
    const text = await readFile(file, 'utf8');
    assert.equal(text.replace(/^#.*\n/gm, '').trim(), 'id: T-4\ntitle: Small one\nstate: todo');
  });
});
