'use strict';
// The greeter's HTTP handler. Each route is its own module under src/routes/ exporting
// { method, path, handle(req, res, url) }, so adding a route never edits this file.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const metrics = require('./metrics');

const ROUTES_DIR = path.join(__dirname, 'routes');

/** Loads every route module in dir (none yet is fine). */
function loadRoutes(dir = ROUTES_DIR) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.js'))
    .sort()
    .map((file) => require(path.join(dir, file)));
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A request handler over routes; unknown method + path answers 404 JSON. */
function createHandler(routes = loadRoutes()) {
  return (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    // "/health/" is "/health": one trailing slash never changes the route ("/" itself stays "/").
    const pathname = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : url.pathname;
    const route = routes.find((r) => r.method === req.method && r.path === pathname);
    if (!route) {
      sendJson(res, 404, { error: 'not found', method: req.method, path: url.pathname });
      return;
    }
    metrics.recordServed(route.path);
    Promise.resolve()
      .then(() => route.handle(req, res, url))
      .catch((err) => {
        console.error(err);
        if (res.headersSent) res.end();
        else sendJson(res, 500, { error: 'internal error' });
      });
  };
}

/** Starts an HTTP server on port (0: any free port); resolves once it accepts connections. */
function listen(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = http.createServer(createHandler());
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

module.exports = { createHandler, listen, loadRoutes };
