'use strict';
// Deploys the greeter on this machine: builds the messages (scripts/build.js), stops the previously deployed
// process, starts `node server.js` detached on
// the given port (output to .ratchet/service.log, never to this script's stdout, so whoever runs the deploy is not
// held open), and exits 0 once the port accepts connections.
// Usage: node scripts/deploy.js --port 4100   (or PORT=4100 node scripts/deploy.js)
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { build } = require('./build');

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
    return fs.readFileSync(LOG_FILE, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

async function main() {
  const port = readPort();
  build();
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
  fs.writeFileSync(PID_FILE, child.pid + '\n');

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) throw new Error('server.js stopped (' + exited + '):\n' + logTail());
    if (await accepts(port)) {
      console.log('deployed greeter on http://127.0.0.1:' + port + ' (pid ' + child.pid + ')');
      return;
    }
    await sleep(100);
  }
  throw new Error('server.js did not accept connections on port ' + port + ' within ' + READY_TIMEOUT_MS + ' ms:\n' + logTail());
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('deploy failed: ' + err.message);
    process.exit(1);
  },
);
