/**
 * The demo: a real, tiny Node service ("greeter") in a fresh git repository, four tickets for it, a scripted agent that
 * answers them (one answer wrong on purpose, so the feedback loop shows), and a batch file that ties them together.
 * Everything the demo runs is plain files a person can open; nothing here talks to Temporal.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import YAML from 'yaml';
import { writeTicketFile } from '../../activities/tracker/local';
import { demoAgentCommand } from '../../activities/agents/demo-agent-command';
import { batchFileSchema, parseOrThrow, type BatchFile } from '../../workflows/input';
import type { Probe, Ticket } from '../../workflows/types';

/** Files of the generated project on its first commit, path relative to the repository -> content. */
const PROJECT_FILES: Record<string, string> = {
  'package.json': `${JSON.stringify(
    {
      name: 'greeter',
      version: '1.0.0',
      private: true,
      description: 'A tiny HTTP service, the subject of the ratchet demo.',
      license: 'MIT',
      engines: { node: '>=20' },
      scripts: { test: 'node --test', start: 'node server.js' },
    },
    null,
    2,
  )}\n`,

  '.gitignore': `node_modules/
.ratchet/service.*
.ratchet/artifacts/
.ratchet/worktrees/
`,

  'README.md': `# greeter

A tiny HTTP service with no dependencies (Node 20, CommonJS).

- \`npm test\` runs every \`test/*.test.js\` with \`node --test\`.
- \`npm start\` serves on \`$PORT\` (127.0.0.1).
- \`node scripts/deploy.js --port 4100\` restarts the service in the background; pid and log in \`.ratchet/service.*\`.

## Adding a route

Add one module under \`src/routes/\` exporting \`{ method, path, handle(req, res, url) }\` (\`url\` is a parsed
\`URL\`), and its test under \`test/\`. \`src/app.js\` loads every route module at start; unknown routes answer
404 JSON. \`src/metrics.js\` counts requests served per route path since the process started.
`,

  'server.js': `'use strict';
// Entry point: serves the greeter on $PORT (127.0.0.1).
const { listen } = require('./src/app');

const port = Number(process.env.PORT || 3000);

listen(port).then(
  (server) => {
    console.log('greeter listening on http://127.0.0.1:' + server.address().port + ' (pid ' + process.pid + ')');
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
`,

  'src/app.js': `'use strict';
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
    const route = routes.find((r) => r.method === req.method && r.path === url.pathname);
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
`,

  'src/metrics.js': `'use strict';
// Requests served per route path since the process started. In memory: a restart resets it.
const counts = new Map();

function recordServed(routePath) {
  counts.set(routePath, servedCount(routePath) + 1);
}

function servedCount(routePath) {
  return counts.get(routePath) || 0;
}

module.exports = { recordServed, servedCount };
`,

  'test/app.test.js': `'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { createHandler, listen, loadRoutes } = require('../src/app');

let server;
let base;
before(async () => {
  server = await listen(0);
  base = 'http://127.0.0.1:' + server.address().port;
});
after(() => server.close());

test('answers 404 JSON for an unknown route', async () => {
  const res = await fetch(base + '/no-such-route');
  assert.equal(res.status, 404);
  assert.match(res.headers.get('content-type'), /application\\/json/);
  assert.deepEqual(await res.json(), { error: 'not found', method: 'GET', path: '/no-such-route' });
});

test('serves a route module dropped into the routes folder', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'greeter-routes-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(
    path.join(dir, 'ping.js'),
    "module.exports = { method: 'GET', path: '/ping', handle(req, res) { res.end('pong'); } };",
  );
  const local = http.createServer(createHandler(loadRoutes(dir)));
  await new Promise((resolve) => local.listen(0, '127.0.0.1', resolve));
  t.after(() => local.close());
  const res = await fetch('http://127.0.0.1:' + local.address().port + '/ping');
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'pong');
});
`,

  'scripts/deploy.js': `'use strict';
// Deploys the greeter on this machine: stops the previously deployed process, starts \`node server.js\` detached on
// the given port (output to .ratchet/service.log, never to this script's stdout, so whoever runs the deploy is not
// held open), and exits 0 once the port accepts connections.
// Usage: node scripts/deploy.js --port 4100   (or PORT=4100 node scripts/deploy.js)
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const STATE_DIR = path.join(ROOT, '.ratchet');
const PID_FILE = path.join(STATE_DIR, 'service.pid');
const LOG_FILE = path.join(STATE_DIR, 'service.log');
const READY_TIMEOUT_MS = 10000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function readPort() {
  const flag = process.argv.indexOf('--port');
  const raw = flag >= 0 ? process.argv[flag + 1] : process.env.PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error('give the port: node scripts/deploy.js --port 4100 (or PORT=4100); got ' + JSON.stringify(raw));
  }
  return port;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

// A pid file can outlive its process and the pid be reused: only stop a process that runs server.js.
function isOurServer(pid) {
  if (process.platform !== 'linux') return true;
  try {
    return fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').includes('server.js');
  } catch {
    return false;
  }
}

async function stopPrevious() {
  let pid;
  try {
    pid = Number(fs.readFileSync(PID_FILE, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid < 1 || !alive(pid) || !isOurServer(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const running = () => alive(pid) && isOurServer(pid);
  for (let i = 0; i < 50 && running(); i++) await sleep(100);
  if (running()) process.kill(pid, 'SIGKILL');
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function logTail() {
  try {
    return fs.readFileSync(LOG_FILE, 'utf8').split('\\n').slice(-20).join('\\n');
  } catch {
    return '(no log)';
  }
}

async function main() {
  const port = readPort();
  await stopPrevious();
  for (let i = 0; i < 20 && (await accepts(port)); i++) await sleep(100);
  if (await accepts(port)) throw new Error('port ' + port + ' is taken by a process this deploy did not start');

  fs.mkdirSync(STATE_DIR, { recursive: true });
  const log = fs.openSync(LOG_FILE, 'a');
  const child = spawn(process.execPath, ['server.js'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port) },
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  let exited = null;
  child.once('exit', (code, signal) => {
    exited = signal || 'exit code ' + code;
  });
  child.unref();
  fs.writeFileSync(PID_FILE, child.pid + '\\n');

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) throw new Error('server.js stopped (' + exited + '):\\n' + logTail());
    if (await accepts(port)) {
      console.log('deployed greeter on http://127.0.0.1:' + port + ' (pid ' + child.pid + ')');
      return;
    }
    await sleep(100);
  }
  throw new Error('server.js did not accept connections on port ' + port + ' within ' + READY_TIMEOUT_MS + ' ms:\\n' + logTail());
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('deploy failed: ' + err.message);
    process.exit(1);
  },
);
`,
};

/** A test file's preamble: the greeter on an ephemeral port for the file's tests. */
const TEST_PREAMBLE = `'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { listen } = require('../src/app');

let server;
let base;
before(async () => {
  server = await listen(0);
  base = 'http://127.0.0.1:' + server.address().port;
});
after(() => server.close());
`;

const HEALTH_ROUTE = `'use strict';
// Liveness: answers 200 "ok" while the process serves requests.
module.exports = {
  method: 'GET',
  path: '/health',
  handle(req, res) {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('ok');
  },
};
`;

const HEALTH_TEST = `${TEST_PREAMBLE}
test('GET /health answers 200 ok', async () => {
  const res = await fetch(base + '/health');
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok');
});
`;

function greetRoute(greeting: string): string {
  return `'use strict';
// Greets ?name=, or the world when no name is given.
module.exports = {
  method: 'GET',
  path: '/greet',
  handle(req, res, url) {
    const name = url.searchParams.get('name') || 'world';
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('${greeting}, ' + name);
  },
};
`;
}

const GREET_TEST = `${TEST_PREAMBLE}
test('GET /greet?name=ada answers hello, ada', async () => {
  const res = await fetch(base + '/greet?name=ada');
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'hello, ada');
});

test('GET /greet without a name greets the world', async () => {
  const res = await fetch(base + '/greet');
  assert.equal(await res.text(), 'hello, world');
});
`;

const VERSION_ROUTE = `'use strict';
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
`;

const VERSION_TEST = `${TEST_PREAMBLE}
const { version } = require('../package.json');

test('GET /version answers the version in package.json as JSON', async () => {
  const res = await fetch(base + '/version');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\\/json/);
  assert.deepEqual(await res.json(), { version });
});
`;

const STATS_ROUTE = `'use strict';
// Usage since the process started: how many /greet requests it has served.
const { servedCount } = require('../metrics');

module.exports = {
  method: 'GET',
  path: '/stats',
  handle(req, res) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ greetings: servedCount('/greet') }));
  },
};
`;

const STATS_TEST = `${TEST_PREAMBLE}
async function greetings() {
  const res = await fetch(base + '/stats');
  assert.equal(res.status, 200);
  return (await res.json()).greetings;
}

test('GET /stats counts the /greet calls served since start, and nothing else', async () => {
  assert.equal(await greetings(), 0);
  await (await fetch(base + '/greet?name=a')).text();
  await (await fetch(base + '/greet?name=b')).text();
  await (await fetch(base + '/health')).text();
  assert.equal(await greetings(), 2);
});
`;

/** One ticket of the demo and the scripted agent's answers to it. */
interface DemoTicket {
  ticket: Omit<Ticket, 'state'>;
  plan: string;
  attempts: { note: string; files: Record<string, string> }[];
}

function httpProbe(name: string, url: string, expectBody: string): Probe {
  return { kind: 'http', name, url, method: 'GET', expectStatus: 200, expectBody, timeoutMs: 5_000 };
}

function demoTickets(port: number): DemoTicket[] {
  const base = `http://127.0.0.1:${port}`;
  return [
    {
      ticket: {
        id: 'health',
        title: 'Add a /health endpoint',
        kind: 'feature',
        size: 'S',
        dependsOn: [],
        body: 'Deploys and monitors need a cheap way to ask whether the greeter is up. Add GET /health.',
        acceptance: [
          'GET /health answers 200 with the body `ok`',
          'It does no I/O beyond the response, so it stays fast when everything else is slow',
          'A test under test/ covers it',
        ],
        probes: [httpProbe('health answers ok', `${base}/health`, 'ok')],
      },
      plan: `Add src/routes/health.js: GET /health writes 200 text/plain "ok" and does nothing else.
Add test/health.test.js: start the app on an ephemeral port and assert status 200 and body "ok".
No existing file changes: src/app.js loads every module in src/routes/.
`,
      attempts: [
        {
          note: 'adds the route and its test',
          files: { 'src/routes/health.js': HEALTH_ROUTE, 'test/health.test.js': HEALTH_TEST },
        },
      ],
    },
    {
      ticket: {
        id: 'greet',
        title: 'Greet callers by name',
        kind: 'feature',
        size: 'S',
        dependsOn: ['health'],
        body: 'The service is called greeter and greets nobody yet. Add GET /greet?name=X answering `hello, X`.',
        acceptance: [
          'GET /greet?name=ada answers 200 with the body `hello, ada`',
          'Without a name it answers `hello, world`',
          'A test under test/ covers both',
        ],
        probes: [httpProbe('greet says hello', `${base}/greet?name=ratchet`, 'hello, ratchet')],
      },
      plan: `Add src/routes/greet.js: GET /greet reads ?name= from the parsed URL (default "world") and answers
200 text/plain "hello, <name>".
Add test/greet.test.js covering ?name=ada and the missing-name default.
`,
      attempts: [
        {
          note: 'first try misspells the greeting ("helo"); its own test catches it',
          files: { 'src/routes/greet.js': greetRoute('helo'), 'test/greet.test.js': GREET_TEST },
        },
        {
          note: 'fixes the greeting after the failing test output',
          files: { 'src/routes/greet.js': greetRoute('hello'), 'test/greet.test.js': GREET_TEST },
        },
      ],
    },
    {
      ticket: {
        id: 'version',
        title: 'Report the running version',
        kind: 'feature',
        size: 'S',
        dependsOn: ['health'],
        gate: 'plan',
        body:
          'Operators want to know which release is live. Add GET /version answering JSON `{"version":"1.0.0"}`, ' +
          'read from package.json. A person approves the plan first: the response shape becomes public API.',
        acceptance: [
          'GET /version answers 200 `application/json` with `{"version": <package.json version>}`',
          'The value comes from package.json, not a copy in the code, so a release bump needs no code change',
          'A test under test/ compares the answer with package.json',
        ],
        probes: [httpProbe('version is reported', `${base}/version`, '"version"')],
      },
      plan: `Add src/routes/version.js: GET /version reads package.json on each request and answers
200 application/json {"version": "<version>"}; reading per request keeps it true after a bump without a restart.
Add test/version.test.js comparing the answer with require('../package.json').version.
The response shape {"version": string} is the public contract this plan asks you to approve.
`,
      attempts: [
        {
          note: 'adds the route and its test',
          files: { 'src/routes/version.js': VERSION_ROUTE, 'test/version.test.js': VERSION_TEST },
        },
      ],
    },
    {
      ticket: {
        id: 'stats',
        title: 'Count greetings served',
        kind: 'feature',
        size: 'M',
        dependsOn: ['greet', 'version'],
        body:
          'We want to see whether anyone uses /greet. Add GET /stats answering JSON `{"greetings": n}`, where n is ' +
          'the number of /greet requests served since the process started.',
        acceptance: [
          'GET /stats answers 200 `application/json` with `{"greetings": n}`, n counting /greet requests since start',
          'Requests to other routes do not change the count; a restart resets it to 0',
          'A test under test/ greets twice and sees the count go from 0 to 2',
        ],
        probes: [httpProbe('stats are reported', `${base}/stats`, '"greetings"')],
      },
      plan: `Add src/routes/stats.js: GET /stats answers 200 application/json {"greetings": n} with
n = servedCount('/greet') from src/metrics.js, which src/app.js already increments per route served.
Add test/stats.test.js: 0 at start, 2 after two /greet calls, unchanged by /health.
`,
      attempts: [
        {
          note: 'adds the route and its test',
          files: { 'src/routes/stats.js': STATS_ROUTE, 'test/stats.test.js': STATS_TEST },
        },
      ],
    },
  ];
}

/** What `createDemoRepo` made; all paths absolute. */
export interface DemoRepo {
  /** The greeter's git repository (branch `main`, one commit). */
  repo: string;
  /** The batch file to start the demo with (`ratchet start` or `temporal workflow start --input-file`). */
  batchFile: string;
  /** The scripted agent's answers (YAML). */
  scriptPath: string;
  /** Where the deployed greeter answers, e.g. `http://127.0.0.1:4100`. */
  serviceUrl: string;
}

/**
 * Creates the demo under `opts.dir`: `repo/` (the greeter: a dependency-free Node 20 service, its tests, a deploy
 * script and four tickets in `.ratchet/tickets/`, committed on `main`), `demo-agent.yaml` (the scripted agent's plans
 * and attempts; ticket `greet` fails its first attempt on purpose) and `batch.json` (agent, `npm test` gate, deploy on
 * `opts.port`, probes; worktrees and artifacts under `opts.dir`, outside the repository).
 * Throws if `opts.dir/repo` already exists, and `BadInputError` if `opts.batchId` is not a valid id.
 */
export async function createDemoRepo(opts: { dir: string; port: number; batchId: string }): Promise<DemoRepo> {
  const dir = path.resolve(opts.dir);
  const repo = path.join(dir, 'repo');
  const scriptPath = path.join(dir, 'demo-agent.yaml');
  const batchFile = path.join(dir, 'batch.json');
  const serviceUrl = `http://127.0.0.1:${opts.port}`;
  const tickets = demoTickets(opts.port);

  const batch: BatchFile = {
    batchId: opts.batchId,
    repo,
    worktreesDir: path.join(dir, 'worktrees'),
    artifactsDir: path.join(dir, 'artifacts'),
    agent: { command: demoAgentCommand(scriptPath), timeoutMs: 60_000 },
    gates: [{ name: 'test', command: 'npm test', timeoutMs: 120_000 }],
    deploy: { command: `node scripts/deploy.js --port ${opts.port}`, timeoutMs: 30_000 },
    // Runs for every ticket, `health` included, so it must hold before /health exists: unknown routes answer 404.
    probes: [{ name: 'service up', http: `${serviceUrl}/`, expectStatus: 404 }],
    verify: { deadlineMs: 60_000, intervalMs: 1_000 },
    maxParallel: 2,
    maxAttempts: 3,
    heartbeatTimeoutMs: 30_000,
  };
  parseOrThrow(batchFileSchema, batch, 'batch.json');

  await mkdir(dir, { recursive: true });
  await mkdir(repo);
  for (const [file, content] of Object.entries(PROJECT_FILES)) {
    await mkdir(path.dirname(path.join(repo, file)), { recursive: true });
    await writeFile(path.join(repo, file), content);
  }
  const ticketsDir = path.join(repo, '.ratchet', 'tickets');
  await mkdir(ticketsDir, { recursive: true });
  for (const { ticket } of tickets) await writeTicketFile(ticketsDir, { ...ticket, state: 'todo' });

  const git = simpleGit(repo);
  await git.init(['-b', 'main']);
  await git.addConfig('user.name', 'ratchet demo');
  await git.addConfig('user.email', 'demo@ratchet.invalid');
  await git.addConfig('commit.gpgsign', 'false');
  await git.add('.');
  await git.commit('greeter: empty service, tests, deploy script and four tickets');

  const script = {
    tickets: Object.fromEntries(tickets.map((t) => [t.ticket.id, { plan: t.plan, attempts: t.attempts }])),
  };
  await writeFile(scriptPath, YAML.stringify(script, { blockQuote: 'literal', lineWidth: 0 }));
  await writeFile(batchFile, `${JSON.stringify(batch, null, 2)}\n`);
  return { repo, batchFile, scriptPath, serviceUrl };
}
