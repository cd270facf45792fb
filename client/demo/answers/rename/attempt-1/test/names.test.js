'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { callerName } = require('../src/names');

test('reads ?name=, trimmed, with a fallback when it is missing or blank', () => {
  assert.equal(callerName(new URL('http://x/?name=%20ada%20')), 'ada');
  assert.equal(callerName(new URL('http://x/?name=')), 'world');
  assert.equal(callerName(new URL('http://x/'), 'you'), 'you');
});
