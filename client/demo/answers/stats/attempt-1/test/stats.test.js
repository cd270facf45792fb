'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { listen } = require('../src/app');

let server;
let base;
before(async () => {
  server = await listen(0, '127.0.0.1', { flags: { stats: true } });
  base = 'http://127.0.0.1:' + server.address().port;
});
after(() => server.close());

async function greetings() {
  const res = await fetch(base + '/stats');
  assert.equal(res.status, 200);
  return (await res.json()).greetings;
}

test('GET /stats counts the /greet calls served since start, and nothing else', async () => {
  assert.equal(await greetings(), 0);
  await (await fetch(base + '/greet?name=a')).text();
  await (await fetch(base + '/greet?name=b')).text();
  await (await fetch(base + '/health')).text();
  assert.equal(await greetings(), 2);
});

test('GET /stats is dark while its flag is off', async (t) => {
  const dark = await listen(0, '127.0.0.1', { flags: {} });
  t.after(() => dark.close());
  assert.equal((await fetch('http://127.0.0.1:' + dark.address().port + '/stats')).status, 404);
});
