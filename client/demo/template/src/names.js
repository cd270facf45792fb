'use strict';
// The caller's name, as the routes that address the caller read it.

/** ?name= of a request's parsed URL, trimmed; `fallback` when it is missing or blank. */
function nameOf(url, fallback = 'world') {
  const name = (url.searchParams.get('name') || '').trim();
  return name === '' ? fallback : name;
}

module.exports = { nameOf };
