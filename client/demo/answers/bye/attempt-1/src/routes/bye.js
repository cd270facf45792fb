'use strict';
// Says goodbye in the caller's language (?lang=, default en); the texts live in messages/<lang>.txt.
const { message } = require('../messages');

module.exports = {
  method: 'GET',
  path: '/bye',
  handle(req, res, url) {
    const text = message(url.searchParams.get('lang') || 'en', 'bye');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(text);
  },
};
