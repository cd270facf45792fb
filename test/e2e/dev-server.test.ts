import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { parseAddress } from '../../deploy/address';
import { ensureDevServer, uiLink, type DevServer } from '../../deploy/dev-server';

const execFileAsync = promisify(execFile);

/** A TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

describe('dev server launcher', function () {
  let dir: string;
  let address: string;
  let uiPort: number;
  let server: DevServer | undefined;

  before(async function () {
    // The first run on a machine may build the Temporal CLI with Go, which takes minutes.
    this.timeout(15 * 60_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-dev-server-'));
    address = `127.0.0.1:${await freePort()}`;
    uiPort = await freePort();
    server = await ensureDevServer({ address, uiPort, dbFile: path.join(dir, 'dev.sqlite'), log: () => {} });
  });

  after(async function () {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts a server when none answers, logging next to the db', function () {
    assert.ok(server);
    assert.equal(server.started, true);
    assert.equal(server.address, address);
    assert.equal(server.uiUrl, `http://127.0.0.1:${uiPort}`);
    assert.equal(server.logFile, path.join(dir, 'dev.log'));
  });

  it('registers the four ratchet search attributes with their types', async function () {
    const connection = await Connection.connect({ address });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      assert.deepEqual(
        {
          RatchetBatch: customAttributes.RatchetBatch,
          RatchetTicket: customAttributes.RatchetTicket,
          RatchetPhase: customAttributes.RatchetPhase,
          RatchetAttempt: customAttributes.RatchetAttempt,
        },
        {
          RatchetBatch: encodeSearchAttributeIndexedValueType('KEYWORD'),
          RatchetTicket: encodeSearchAttributeIndexedValueType('KEYWORD'),
          RatchetPhase: encodeSearchAttributeIndexedValueType('KEYWORD'),
          RatchetAttempt: encodeSearchAttributeIndexedValueType('INT'),
        },
      );
    } finally {
      await connection.close();
    }
  });

  it('reuses a server already answering on the address', async function () {
    const again = await ensureDevServer({ address, uiPort, dbFile: path.join(dir, 'other.sqlite'), log: () => {} });
    assert.equal(again.started, false);
    await again.stop();
    assert.equal(await portOpen(parseAddress(address).port), true, 'stop() of a reused server must not kill it');
    assert.equal(fs.existsSync(path.join(dir, 'other.sqlite')), false);
  });

  it('links to a workflow in the Web UI', function () {
    assert.equal(
      uiLink('http://127.0.0.1:8233', 'batch/demo 1'),
      'http://127.0.0.1:8233/namespaces/default/workflows/batch%2Fdemo%201',
    );
  });

  it('lets a program that stops an in-memory server go on after the stop (nothing else keeps it alive)', async function () {
    this.timeout(120_000);
    // A program whose only pending work is the stop: the stop itself must keep it alive until the server has exited.
    const script = [
      "const { ensureDevServer } = require('./deploy/dev-server');",
      `ensureDevServer({ address: '127.0.0.1:${await freePort()}', inMemory: true, headless: true, attached: true, log: () => {} })`,
      "  .then((s) => s.stop()).then(() => console.log('after the stop'));",
    ].join('\n');
    const { stdout } = await execFileAsync(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], { cwd: path.join(__dirname, '../..') });
    assert.equal(stdout.trim(), 'after the stop');
  });

  it('stops the server it started, freeing the port', async function () {
    assert.ok(server);
    await server.stop();
    assert.equal(await portOpen(parseAddress(address).port), false);
  });
});
