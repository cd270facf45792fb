'use strict';
// Greets ?name= at the top of its voice, or the world when no name is given.
const { nameOf } = require('../names');

module.exports = {
  method: 'GET',
  path: '/shout',
  handle(req, res, url) {
    const name = nameOf(url);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(('hello, ' + name + '!').toUpperCase());
  },
};
