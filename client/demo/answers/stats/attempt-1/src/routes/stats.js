'use strict';
// Usage since the process started: how many /greet requests it has served. Internal, so it ships dark (README).
const { servedCount } = require('../metrics');

module.exports = {
  method: 'GET',
  path: '/stats',
  flag: 'stats',
  handle(req, res) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ greetings: servedCount('/greet') }));
  },
};
