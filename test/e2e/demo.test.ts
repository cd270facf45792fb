import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { simpleGit } from 'simple-git';
import { freePort } from '../../client/demo-command';
import { ensureDevServer, type DevServer } from '../../deploy/dev-server';

const run = promisify(execFile);

describe('ratchet demo, the main job a new user runs', function () {
  this.timeout(300_000);
  let server: DevServer;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ratchet-demo-test-'));
    const [port, uiPort] = [await freePort(), await freePort()];
    server = await ensureDevServer({ address: `127.0.0.1:${port}`, uiPort, dbFile: path.join(dir, 'temporal.sqlite'), log: () => undefined });
  });

  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('ends with the oracle satisfied, the report, real merges on main and the service stopped', async () => {
    const ratchet = path.resolve(__dirname, '../../client/bin/ratchet.js');
    const demoDir = path.join(dir, 'demo');
    const { stdout } = await run(process.execPath, [ratchet, 'demo', '--address', server.address, '--dir', demoDir], { maxBuffer: 16 * 1024 * 1024 });

    assert.match(stdout, /Oracle: satisfied/);
    assert.match(stdout, /greet +implement +attempt 2\/3 after: Attempt 1: gate "test" \(exit 1\) failed/);
    assert.match(stdout, /temporal workflow update execute (--address \S+ )?--workflow-id ticket-demo-\S+-version --name approve/);
    assert.match(stdout, /Interventions: 1 \(approve 1\)/);
    const merges = await simpleGit(path.join(demoDir, 'repo')).raw(['log', '--merges', '--format=%s', 'main']);
    assert.deepEqual(
      merges.trim().split('\n').map((s) => s.split(' ')[2]).sort(),
      ['greet', 'health', 'slash', 'stats', 'version'],
    );
    // The regression guard and the protected paths, as the report shows them.
    assert.match(stdout, /^ {2}slash: a trailing slash reaches the same route$/m);
    assert.match(stdout, /^Tamperings caught: 1$/m);
    assert.match(stdout, /^ {2}slash attempt 1 changed protected package\.json: attempt failed$/m);
    assert.equal(await simpleGit(path.join(demoDir, 'repo')).raw(['status', '--porcelain']), '', 'the checkout is clean');
    assert.match(stdout, /Stopped the demo service/);
  });
});
