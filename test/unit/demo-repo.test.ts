import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { simpleGit } from 'simple-git';
import YAML from 'yaml';
import { createDemoRepo, type DemoRepo } from '../../client/demo/demo-repo';
import { batchFileSchema, parseOrThrow, ticketFileSchema, type ParsedTicket } from '../../workflows/input';
import type { Probe } from '../../workflows/types';

const run = promisify(execFile);
const RUN_LIMIT = { timeout: 60_000 };

interface Script {
  tickets: Record<string, { plan: string; attempts: { note: string; files: Record<string, string> }[]; heals?: { verdict: string; change?: unknown }[] }>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function readTickets(repo: string): Promise<ParsedTicket[]> {
  const dir = path.join(repo, '.ratchet', 'tickets');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(
    files.map(async (f) => parseOrThrow(ticketFileSchema, YAML.parse(await readFile(path.join(dir, f), 'utf8')), f)),
  );
}

/** A clone of the demo repository with `files` written in, as an agent's worktree would hold them. */
async function cloneWith(demo: DemoRepo, target: string, files: Record<string, string>): Promise<string> {
  await simpleGit().clone(demo.repo, target);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(target, file)), { recursive: true });
    await writeFile(path.join(target, file), content);
  }
  return target;
}

async function checkProbe(probe: Probe): Promise<void> {
  assert.equal(probe.kind, 'http');
  if (probe.kind !== 'http') return;
  const res = await fetch(probe.url, { method: probe.method });
  const body = await res.text();
  assert.equal(res.status, probe.expectStatus, `${probe.name}: status of ${probe.url}`);
  if (probe.expectBody !== undefined) assert.ok(body.includes(probe.expectBody), `${probe.name}: body ${body}`);
}

describe('createDemoRepo', () => {
  let dir: string;
  let demo: DemoRepo;
  let script: Script;
  const deployedPidFiles: string[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ratchet-demo-repo-'));
    demo = await createDemoRepo({ dir: path.join(dir, 'demo'), port: await freePort(), batchId: 'demo-unit' });
    script = YAML.parse(await readFile(demo.scriptPath, 'utf8')) as Script;
  });

  after(async () => {
    for (const pidFile of deployedPidFiles) {
      const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('makes a git repository on main with one clean commit', async () => {
    const git = simpleGit(demo.repo);
    assert.equal((await git.branchLocal()).current, 'main');
    assert.equal((await git.log()).total, 1);
    assert.ok((await git.status()).isClean());
    const tracked = (await git.raw(['ls-files', '.ratchet/tickets'])).trim().split('\n').sort();
    assert.deepEqual(
      tracked,
      ['bye', 'cheer', 'flags', 'greet', 'health', 'rename', 'shout', 'slash', 'stats', 'version'].map((id) => `.ratchet/tickets/${id}.yaml`),
    );
  });

  it('files ten tickets: health, then greet, version (plan gate) and the bug slash, then stats, flags and bye; rename then cheer; shout', async () => {
    const tickets = await readTickets(demo.repo);
    const deps = Object.fromEntries(tickets.map((t) => [t.id, t.dependsOn]));
    assert.deepEqual(deps, {
      bye: ['flags'],
      cheer: ['rename'],
      flags: ['stats'],
      greet: ['health'],
      health: [],
      rename: [],
      shout: [],
      slash: ['health'],
      stats: ['greet', 'version'],
      version: ['health'],
    });
    assert.deepEqual(tickets.filter((t) => t.kind === 'bug').map((t) => t.id), ['slash']);
    assert.deepEqual(tickets.filter((t) => t.gate === 'plan').map((t) => t.id), ['version']);
    for (const t of tickets) {
      assert.equal(t.state, 'todo');
      assert.ok(t.body.length > 0, `${t.id} has a body`);
      assert.ok(t.acceptance.length >= 2, `${t.id} has acceptance criteria`);
      // A rename changes nothing a probe could see.
      assert.equal(t.probes.length, t.kind === 'refactor' ? 0 : 1, `${t.id} has a probe`);
    }
  });

  it('generates a greeter whose npm test passes as committed', async () => {
    const { stdout } = await run('npm', ['test'], { cwd: demo.repo, ...RUN_LIMIT });
    assert.match(stdout, /ℹ fail 0/);
  });

  it('writes a batch file that validates, gates on npm test and deploys on the service port', async () => {
    const batch = parseOrThrow(batchFileSchema, JSON.parse(await readFile(demo.batchFile, 'utf8')), 'batch.json');
    assert.equal(batch.batchId, 'demo-unit');
    assert.equal(batch.repo, demo.repo);
    assert.ok(batch.agent?.command?.includes(demo.scriptPath));
    assert.deepEqual(batch.gates.map((g) => [g.command, g.files, g.junit, g.tests]), [['npm test', ['package.json'], 'junit.xml', ['test/**']]]);
    assert.match(batch.deploy?.command ?? '', /scripts\/deploy\.js/);
    assert.equal(batch.probes[0]?.kind === 'http' && batch.probes[0].url, `${demo.serviceUrl}/`);
    assert.deepEqual([batch.maxParallel, batch.maxAttempts, batch.verify.guard], [3, 3, 'all']);
    assert.equal(batch.harness?.setup.length ?? 0, 0, 'the harness starts without the build step: the heal adds it');
    assert.ok(batch.heal?.command.includes(demo.scriptPath), 'the heal agent is the scripted agent');
  });

  it("scripts a bye answer that fails npm test until npm run build has run, and a heal that adds that setup step", async () => {
    const bye = script.tickets.bye;
    assert.ok(bye && bye.attempts.length === 1);
    const health = script.tickets.health?.attempts[0]?.files ?? {};
    const clone = await cloneWith(demo, path.join(dir, 'bye-unbuilt'), { ...health, ...bye.attempts[0].files });
    await assert.rejects(run('npm', ['test'], { cwd: clone, ...RUN_LIMIT }), (err: { stdout?: string }) => {
      assert.match(err.stdout ?? '', /build\/messages\.json is missing: run `npm run build` first/);
      return true;
    });
    assert.deepEqual(bye.heals?.map((h) => [h.verdict, h.change]), [['harness-gap', { harness: { setup: [{ command: 'npm run build' }] } }]]);
    await run('npm', ['run', 'build'], { cwd: clone, ...RUN_LIMIT });
    await run('npm', ['test'], { cwd: clone, ...RUN_LIMIT });
  });

  it('scripts a first greet attempt that npm test rejects', async () => {
    const first = script.tickets.greet?.attempts[0];
    assert.ok(first);
    const clone = await cloneWith(demo, path.join(dir, 'greet-first'), first.files);
    await assert.rejects(run('npm', ['test'], { cwd: clone, ...RUN_LIMIT }), (err: { stdout?: string }) => {
      assert.match(err.stdout ?? '', /helo, ada/);
      return true;
    });
  });

  it('scripts a first slash attempt that narrows the test script, and a second whose new test fails on the base code', async () => {
    const [cheat, fix] = script.tickets.slash?.attempts ?? [];
    assert.ok(cheat && fix);
    assert.ok(Object.keys(cheat.files).includes('package.json'), 'the first attempt touches the gate\'s protected file');
    const health = script.tickets.health?.attempts[0]?.files ?? {};
    const withTest = await cloneWith(demo, path.join(dir, 'slash-test-only'), { ...health, 'test/slash.test.js': fix.files['test/slash.test.js'] as string });
    await assert.rejects(run('npm', ['test'], { cwd: withTest, ...RUN_LIMIT }), (err: { stdout?: string }) => {
      assert.match(err.stdout ?? '', /a trailing slash reaches the same route/);
      return true;
    });
  });

  it("scripts a shout whose first answer passes npm test on its own base and fails with rename's, and a second that passes", async () => {
    const [first, second] = script.tickets.shout?.attempts ?? [];
    const rename = script.tickets.rename?.attempts[0]?.files ?? {};
    assert.ok(first && second);
    await run('npm', ['test'], { cwd: await cloneWith(demo, path.join(dir, 'shout-alone'), first.files), ...RUN_LIMIT });
    const merged = await cloneWith(demo, path.join(dir, 'shout-merged'), { ...rename, ...first.files });
    await assert.rejects(run('npm', ['test'], { cwd: merged, ...RUN_LIMIT }), (err: { stdout?: string }) => {
      assert.match(err.stdout ?? '', /GET \/shout\?name=ada answers HELLO, ADA!/);
      return true;
    });
    await run('npm', ['test'], { cwd: await cloneWith(demo, path.join(dir, 'shout-second'), { ...rename, ...second.files }), ...RUN_LIMIT });
  });

  it('scripts a first flags answer that passes npm test and drops the stats flag', async () => {
    const [first] = script.tickets.flags?.attempts ?? [];
    assert.ok(first);
    assert.deepEqual(JSON.parse(first.files['config/flags.json'] as string), { flags: true });
    await run('npm', ['test'], { cwd: await cloneWith(demo, path.join(dir, 'flags-first'), first.files), ...RUN_LIMIT });
  });

  it('scripts final answers that pass npm test and every probe once deployed', async () => {
    const finals = Object.values(script.tickets).map((t) => t.attempts[t.attempts.length - 1]?.files ?? {});
    const clone = await cloneWith(demo, path.join(dir, 'all-done'), Object.assign({}, ...finals));
    await run('npm', ['run', 'build'], { cwd: clone, ...RUN_LIMIT });
    await run('npm', ['test'], { cwd: clone, ...RUN_LIMIT });

    const batch = parseOrThrow(batchFileSchema, JSON.parse(await readFile(demo.batchFile, 'utf8')), 'batch.json');
    deployedPidFiles.push(path.join(clone, '.ratchet', 'service.pid'));
    // execFile resolves only once the deploy's stdout closes: a service holding it open would time this out.
    await run('/bin/sh', ['-c', batch.deploy?.command ?? 'false'], { cwd: clone, timeout: 20_000 });

    const probes = [...batch.probes, ...(await readTickets(clone)).flatMap((t) => t.probes)];
    assert.equal(probes.length, 10);
    for (const probe of probes) await checkProbe(probe);
  });
});
