import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commandAgent } from '../../activities/agents/command';
import { readBoxFile } from '../../activities/box/read-back';
import { readReports } from '../../activities/regression';

/** The worker's side of a box's writes: a folder the box could write, and a secret of the worker's beside it. */
describe('reading back what a box wrote', () => {
  let base: string;
  let box: string;
  let secret: string;
  const canary = `canary-${process.pid}`;
  beforeEach(() => {
    base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-readback-')));
    box = path.join(base, 'box');
    fs.mkdirSync(box);
    secret = path.join(base, 'credentials.json');
    fs.writeFileSync(secret, JSON.stringify({ token: canary }));
  });
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  it('reads a regular file inside the folder, and answers undefined for none', async () => {
    fs.writeFileSync(path.join(box, 'r.json'), '{"ok":true}');
    assert.equal(await readBoxFile(box, 'r.json', 1024), '{"ok":true}');
    assert.equal(await readBoxFile(box, 'missing.json', 1024), undefined);
  });

  it('refuses a symlink, a symlinked folder, a FIFO (without blocking) and an oversized file, never reading them', async () => {
    fs.symlinkSync(secret, path.join(box, 'link.json'));
    fs.symlinkSync(base, path.join(box, 'up'));
    execFileSync('mkfifo', [path.join(box, 'fifo.json')]);
    fs.writeFileSync(path.join(box, 'big.json'), 'x'.repeat(2048));
    await assert.rejects(readBoxFile(box, 'link.json', 1024), /link\.json was not read: it is a symlink/);
    await assert.rejects(readBoxFile(box, 'up/credentials.json', 1024), /its folder resolves outside/);
    await assert.rejects(readBoxFile(box, 'fifo.json', 1024), /it is not a regular file/);
    await assert.rejects(readBoxFile(box, 'big.json', 1024), /2048 bytes is over the 1024-byte limit/);
  });

  it("an agent's result file linked to a worker's file is ignored, and nothing of that file reaches the run", async () => {
    const resultFile = path.join(box, 'result.json');
    const agent = commandAgent({ command: `ln -s '${secret}' "$RATCHET_RESULT_FILE"` });
    const run = await agent.run(
      { role: 'implement', cwd: box, promptFile: path.join(base, 'prompt.md'), resultFile, transcriptPath: path.join(base, 't.log'), env: {}, timeoutMs: 10_000 },
      {},
    );
    assert.equal(run.exitCode, 0, run.summary);
    assert.equal(run.result, undefined);
    assert.match(run.summary, /result file ignored: result\.json was not read: it is a symlink/);
    assert.ok(!JSON.stringify(run).includes(canary));
  });

  it("a gate's JUnit report linked to a worker's file, or under a linked folder, is not read: the gate fails", async () => {
    fs.symlinkSync(secret, path.join(box, 'junit.xml'));
    // Not listed at all (a symlink is not walked), so the gate counts as writing no report, which fails it.
    assert.deepEqual(await readReports(box, 'junit.xml'), { tests: [], files: [] });
    fs.rmSync(path.join(box, 'junit.xml'));
    fs.mkdirSync(path.join(base, 'reports'));
    fs.writeFileSync(path.join(base, 'reports', 'a.xml'), '<testsuite><testcase name="forged"/></testsuite>');
    fs.symlinkSync(path.join(base, 'reports'), path.join(box, 'reports'));
    await assert.rejects(readReports(box, 'reports/**/*.xml'), /reports\/a\.xml: could not be read: its folder resolves outside/);
  });
});
