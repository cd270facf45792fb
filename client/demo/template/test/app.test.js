'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { createHandler, listen, loadRoutes } = require('../src/app');

let server;
let base;
before(async () => {
  server = await listen(0);
  base = 'http://127.0.0.1:' + server.address().port;
});
after(() => server.close());

test('answers 404 JSON for an unknown route', async () => {
  const res = await fetch(base + '/no-such-route');
  assert.equal(res.status, 404);
  assert.match(res.headers.get('content-type'), /application\/json/);
  assert.deepEqual(await res.json(), { error: 'not found', method: 'GET', path: '/no-such-route' });
});

test('serves a route module dropped into the routes folder', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'greeter-routes-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(
    path.join(dir, 'ping.js'),
    "module.exports = { method: 'GET', path: '/ping', handle(req, res) { res.end('pong'); } };",
  );
  const local = http.createServer(createHandler(loadRoutes(dir)));
  await new Promise((resolve) => local.listen(0, '127.0.0.1', resolve));
  t.after(() => local.close());
  const res = await fetch('http://127.0.0.1:' + local.address().port + '/ping');
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'pong');
});

test('serves a route behind a flag only while the flag is on', async (t) => {
  const routes = [{ method: 'GET', path: '/beta', flag: 'beta', handle: (req, res) => res.end('beta') }];
  const ask = async (flags) => {
    const local = http.createServer(createHandler(routes, flags));
    await new Promise((resolve) => local.listen(0, '127.0.0.1', resolve));
    t.after(() => local.close());
    return (await fetch('http://127.0.0.1:' + local.address().port + '/beta')).status;
  };
  assert.equal(await ask({}), 404);
  assert.equal(await ask({ beta: false }), 404);
  assert.equal(await ask({ beta: true }), 200);
});
