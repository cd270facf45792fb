import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { openBox } from '../../activities/box/box';
import { allowed, startEgress } from '../../activities/box/egress';
import { createSandboxProbe, findBwrap } from '../../activities/box/sandbox';
import { commandEnv } from '../../activities/env';
import { runCommand } from '../../activities/process';

const run = promisify(execFile);

/** A server on loopback standing for what a box must not reach (the Temporal frontend, a worker's port) or may. */
async function listen(body: string): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((_req, res) => res.end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('egress allowlist', () => {
  it('matches a domain exactly, and "*.domain" its subdomains and itself, case-insensitively', () => {
    assert.equal(allowed('api.anthropic.com', ['api.anthropic.com']), true);
    assert.equal(allowed('API.Anthropic.com.', ['api.anthropic.com']), true);
    assert.equal(allowed('evil-api.anthropic.com', ['api.anthropic.com']), false);
    assert.equal(allowed('api.anthropic.com.evil.net', ['api.anthropic.com']), false);
    assert.equal(allowed('registry.npmjs.org', ['*.npmjs.org']), true);
    assert.equal(allowed('npmjs.org', ['*.npmjs.org']), true);
    assert.equal(allowed('npmjs.org.evil.net', ['*.npmjs.org']), false);
    assert.equal(allowed('127.0.0.1', []), false);
  });

  it('tunnels to an allowed host and refuses any other, recording what was refused', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-egress-'));
    const { server, port } = await listen('allowed\n');
    const egress = await startEgress(path.join(dir, 'e.sock'), ['localhost'], [port]);
    try {
      // curl speaks to the proxy over its unix socket as a plain HTTP proxy request (absolute URL).
      const through = await run('curl', ['-sS', '--max-time', '5', '--unix-socket', egress.socket, '--request-target', `http://localhost:${port}/`, 'http://proxy/']);
      assert.equal(through.stdout, 'allowed\n');
      const refused = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '--unix-socket', egress.socket, '--request-target', `http://127.0.0.1:${port}/`, 'http://proxy/']);
      assert.equal(refused.stdout, '407');
      assert.deepEqual(egress.refused, [`127.0.0.1:${port}`]);
    } finally {
      await egress.close();
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a box with network', function () {
  before(async function () {
    if ((await findBwrap()) === undefined) this.skip();
  });

  it('reaches the outside only through the proxy: a worker port is refused both directly and through it', async () => {
    const wt = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-netbox-')));
    const { server, port } = await listen('worker port\n');
    const box = await openBox(createSandboxProbe(), { cwd: wt, writable: [wt], hidden: [], binds: [], network: ['api.anthropic.com'], what: 'the agent', workerEnv: {} });
    try {
      const command =
        `curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:${port}/ ; echo direct=$?; ` +
        `curl -sS -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:${port}/ ; echo " proxied=$?"; ` +
        'echo "proxy=$HTTPS_PROXY"';
      const r = await runCommand({
        command,
        cwd: wt,
        env: commandEnv({ protocol: box.env }),
        exactEnv: true,
        prefix: box.prefix,
        timeoutMs: 20_000,
        logPath: path.join(wt, 'run.log'),
      });
      assert.equal(r.exitCode, 0, r.tail);
      assert.match(r.tail, /direct=7\n/, 'no route from the box to the worker: curl cannot connect (7)');
      assert.match(r.tail, /407 proxied=0\n/, 'the proxy refuses a host the batch does not allow');
      assert.match(r.tail, /proxy=http:\/\/127\.0\.0\.1:3128\n/);
      assert.ok(!r.tail.includes('worker port'), r.tail);
      assert.deepEqual(box.refused(), [`127.0.0.1:${port}`]);
      assert.equal(r.killed, 0, 'the bridge is not counted as a process the command left');
    } finally {
      await box.close();
      server.close();
      fs.rmSync(wt, { recursive: true, force: true });
    }
  });
});
