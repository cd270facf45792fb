'use strict';
// The greeter's HTTP handler. Each route is its own module under src/routes/ exporting
// { method, path, handle(req, res, url) } and optionally flag: '<name>', so adding a route never edits this file.
// A route with a flag is served only while config/flags.json sets that flag to true.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const metrics = require('./metrics');

const ROUTES_DIR = path.join(__dirname, 'routes');
const FLAGS_FILE = path.join(__dirname, '..', 'config', 'flags.json');

/** Loads every route module in dir (none yet is fine). */
function loadRoutes(dir = ROUTES_DIR) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.js'))
    .sort()
    .map((file) => require(path.join(dir, file)));
}

/** The feature flags, { <name>: true|false }; a missing file means every flag is off. */
function loadFlags(file = FLAGS_FILE) {
  if (!fs.existsSync(file)) return {};
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A request handler over routes; unknown method + path, or a route whose flag is off, answers 404 JSON. */
function createHandler(routes = loadRoutes(), flags = loadFlags()) {
  const served = routes.filter((r) => r.flag === undefined || flags[r.flag] === true);
  return (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    // "/health/" is "/health": one trailing slash never changes the route ("/" itself stays "/").
    const pathname = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : url.pathname;
    const route = served.find((r) => r.method === req.method && r.path === pathname);
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

/**
 * Starts an HTTP server on port (0: any free port); resolves once it accepts connections. options.flags replaces
 * config/flags.json (tests turn a flag on this way).
 */
function listen(port, host = '127.0.0.1', options = {}) {
  return new Promise((resolve, reject) => {
    const server = http.createServer(createHandler(loadRoutes(), options.flags ?? loadFlags()));
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

module.exports = { createHandler, listen, loadFlags, loadRoutes };
