'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { nameOf } = require('../src/names');

test('reads ?name=, trimmed, with a fallback when it is missing or blank', () => {
  assert.equal(nameOf(new URL('http://x/?name=%20ada%20')), 'ada');
  assert.equal(nameOf(new URL('http://x/?name=')), 'world');
  assert.equal(nameOf(new URL('http://x/'), 'you'), 'you');
});
