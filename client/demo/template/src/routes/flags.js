'use strict';
// The feature flags as config/flags.json sets them on the running service. Internal, so it ships dark (README).
const { loadFlags } = require('../app');

module.exports = {
  method: 'GET',
  path: '/flags',
  flag: 'flags',
  handle(req, res) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(loadFlags()));
  },
};
