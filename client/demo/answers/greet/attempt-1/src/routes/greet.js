'use strict';
// Greets ?name=, or the world when no name is given.
module.exports = {
  method: 'GET',
  path: '/greet',
  handle(req, res, url) {
    const name = url.searchParams.get('name') || 'world';
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('helo, ' + name);
  },
};
