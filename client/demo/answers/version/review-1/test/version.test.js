'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { listen } = require('../src/app');

let server;
let base;
before(async () => {
  server = await listen(0);
  base = 'http://127.0.0.1:' + server.address().port;
});
after(() => server.close());

const { version } = require('../package.json');

test('GET /version answers the version in package.json as JSON', async () => {
  const res = await fetch(base + '/version');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/json/);
  assert.deepEqual(await res.json(), { version });
});
