'use strict';
// Liveness: answers 200 "ok" while the process serves requests.
module.exports = {
  method: 'GET',
  path: '/health',
  handle(req, res) {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('ok');
  },
};
