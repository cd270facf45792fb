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

test('GET /cheer?name=ada answers well done, ada!', async () => {
  const res = await fetch(base + '/cheer?name=ada');
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'well done, ada!');
});

test('GET /cheer without a name addresses the world', async () => {
  const res = await fetch(base + '/cheer');
  assert.equal(await res.text(), 'well done, world!');
});
