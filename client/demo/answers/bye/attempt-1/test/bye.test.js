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

async function bye(query) {
  const res = await fetch(base + '/bye' + query);
  const text = await res.text();
  assert.equal(res.status, 200, 'GET /bye' + query + ' answered ' + res.status + ' ' + text);
  return text;
}

test('GET /bye says goodbye in the asked language, English by default and for unknown ones', async () => {
  assert.equal(await bye(''), 'goodbye');
  assert.equal(await bye('?lang=fr'), 'au revoir');
  assert.equal(await bye('?lang=xx'), 'goodbye');
});
