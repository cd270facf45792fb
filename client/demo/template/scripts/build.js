'use strict';
// Compiles the translations in messages/<lang>.txt (key=text lines, # comments) into build/messages.json,
// { <lang>: { <key>: <text> } }, which src/messages.js reads. build/ is not in git: run this after a checkout.
// Usage: node scripts/build.js   (npm run build)
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const SOURCE = path.join(ROOT, 'messages');
const TARGET = path.join(ROOT, 'build', 'messages.json');

function parse(file) {
  const messages = {};
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) return;
    const eq = text.indexOf('=');
    if (eq <= 0) throw new Error(file + ':' + (i + 1) + ': expected key=text, got ' + JSON.stringify(line));
    messages[text.slice(0, eq).trim()] = text.slice(eq + 1).trim();
  });
  return messages;
}

function build() {
  const compiled = {};
  for (const file of fs.readdirSync(SOURCE).filter((f) => f.endsWith('.txt')).sort()) {
    compiled[path.basename(file, '.txt')] = parse(path.join(SOURCE, file));
  }
  fs.mkdirSync(path.dirname(TARGET), { recursive: true });
  fs.writeFileSync(TARGET, JSON.stringify(compiled, null, 2) + '\n');
  return Object.keys(compiled);
}

if (require.main === module) {
  const langs = build();
  console.log('built ' + path.relative(ROOT, TARGET) + ' (' + langs.join(', ') + ')');
}

module.exports = { build };
