'use strict';
// Translated texts, read from build/messages.json, which `npm run build` compiles from messages/*.txt.
const fs = require('node:fs');
const path = require('node:path');

const COMPILED = path.join(__dirname, '..', 'build', 'messages.json');
let cache;

/** The text of key in lang, falling back to English; throws when the messages are not built. */
function message(lang, key) {
  if (!cache) {
    if (!fs.existsSync(COMPILED)) {
      throw new Error('build/messages.json is missing: run `npm run build` first (it compiles messages/*.txt)');
    }
    cache = JSON.parse(fs.readFileSync(COMPILED, 'utf8'));
  }
  const text = (cache[lang] || {})[key] ?? (cache.en || {})[key];
  if (text === undefined) throw new Error('no message ' + JSON.stringify(key) + ' in messages/en.txt');
  return text;
}

module.exports = { message };
