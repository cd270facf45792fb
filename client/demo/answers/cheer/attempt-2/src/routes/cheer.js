'use strict';
// Cheers ?name=, or the world when no name is given.
const { callerName } = require('../names');

module.exports = {
  method: 'GET',
  path: '/cheer',
  handle(req, res, url) {
    const name = callerName(url);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('well done, ' + name + '!');
  },
};
