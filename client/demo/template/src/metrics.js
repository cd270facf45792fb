'use strict';
// Requests served per route path since the process started. In memory: a restart resets it.
const counts = new Map();

function recordServed(routePath) {
  counts.set(routePath, servedCount(routePath) + 1);
}

function servedCount(routePath) {
  return counts.get(routePath) || 0;
}

module.exports = { recordServed, servedCount };
