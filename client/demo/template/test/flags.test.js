'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { listen } = require('../src/app');

async function ask(flags, t) {
  const server = await listen(0, '127.0.0.1', { flags });
  t.after(() => server.close());
  return fetch('http://127.0.0.1:' + server.address().port + '/flags');
}

test('GET /flags answers config/flags.json while its flag is on', async (t) => {
  const res = await ask({ flags: true }, t);
  assert.equal(res.status, 200);
  assert.equal(typeof (await res.json()), 'object');
});

test('GET /flags is dark while its flag is off', async (t) => {
  assert.equal((await ask({}, t)).status, 404);
});
