'use strict';
// The running version, read from package.json on each request so a release bump needs no code change.
const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_JSON = path.join(__dirname, '..', '..', 'package.json');

module.exports = {
  method: 'GET',
  path: '/version',
  handle(req, res) {
    const { version } = JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8'));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ version }));
  },
};
