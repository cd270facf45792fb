/**
 * The `ratchet` command as a user meets it: a real process, its exit code and what it prints.
 * `--address 127.0.0.1:1` (nothing listens there) proves validation happens before any connection: a command that
 * tried to reach Temporal would exit 3, not 2.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { equivalentTemporalCommand, formatReport, loadBatchFile } from '../../client/client';
import { formatQueue, formatStatus } from '../../client/format';
import { EXIT } from '../../client/errors';

const BIN = path.resolve(__dirname, '../../client/bin/ratchet.js');
const NOWHERE = ['--address', '127.0.0.1:1'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ratchet ...args` in `cwd` and collects what a user would see. */
function ratchet(args: string[], cwd = process.cwd()): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, TEMPORAL_ADDRESS: '', TEMPORAL_NAMESPACE: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('ratchet CLI', function () {
  this.timeout(60_000);
  let dir: string;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ratchet-cli-'));
    await fs.mkdir(path.join(dir, 'repo', '.git'), { recursive: true });
    await fs.mkdir(path.join(dir, 'plain-folder'));
  });

  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Writes a batch file into the fixture folder and returns its path. */
  async function batchFile(name: string, text: string): Promise<string> {
    const file = path.join(dir, name);
    await fs.writeFile(file, text);
    return file;
  }

  const valid = { repo: 'repo', agent: { command: 'echo' } };

  it('lists every command and the exit codes in --help', async () => {
    const { code, stdout } = await ratchet(['--help']);
    assert.equal(code, EXIT.OK);
    for (const command of ['demo', 'start', 'watch', 'status', 'report', 'approve', 'reject', 'resume', 'server', 'worker']) {
      assert.match(stdout, new RegExp(`^  ${command}\\b`, 'm'), `--help lists ${command}`);
    }
    for (const option of ['--address', '--namespace']) assert.ok(stdout.includes(option), `--help lists ${option}`);
    assert.match(stdout, /Exit codes:/);
    for (const code of [0, 1, 2, 3, 4, 130]) assert.match(stdout, new RegExp(`^  ${code}\\s+\\S`, 'm'), `exit ${code}`);
  });

  it('refuses a worker metrics address that is not host:port before connecting, naming the fix', async () => {
    const { code, stderr } = await ratchet(['worker', '--metrics', '9464', ...NOWHERE]);
    assert.equal(code, EXIT.BAD_INPUT, stderr);
    assert.match(stderr, /--metrics.*"9464" is not host:port; fix: e\.g\. 0\.0\.0\.0:9464/s);
  });

  it('exits 2 on an unknown command', async () => {
    const { code, stderr } = await ratchet(['launch']);
    assert.equal(code, EXIT.BAD_INPUT);
    assert.match(stderr, /unknown command 'launch'/);
  });

  it('rejects a batch file with a JSON syntax error, naming the file, line and column', async () => {
    const file = await batchFile('syntax.json', '{\n  "repo": "repo",\n  "agent": { "command": "echo" },\n}\n');
    const { code, stdout, stderr } = await ratchet(['start', file, ...NOWHERE]);
    assert.equal(code, EXIT.BAD_INPUT, stderr);
    assert.match(stderr, /syntax\.json/);
    assert.match(stderr, /not valid JSON at line 4, column 1/);
    assert.match(stderr, /fix: /);
    assert.doesNotMatch(stdout, /Started/);
  });

  it('rejects maxParallel "two", naming the field, the value and the fix', async () => {
    const file = await batchFile('two.json', JSON.stringify({ ...valid, maxParallel: 'two' }));
    const { code, stdout, stderr } = await ratchet(['start', file, ...NOWHERE]);
    assert.equal(code, EXIT.BAD_INPUT, stderr);
    assert.match(stderr, /field "maxParallel" is "two": expected number.*; fix: /);
    assert.doesNotMatch(stdout, /Started/);
  });

  it('refuses a secret in agent.env before connecting, naming the field, its kind and the fix, never the value (issue 25 item 8)', async () => {
    const token = `ghp_${'Zq7'.repeat(12)}`; // a fake in GitHub's shape
    const file = await batchFile('secret.json', JSON.stringify({ ...valid, agent: { command: 'echo', env: { GITHUB_TOKEN: token, NOTE: `use ${token}` } } }));
    const { code, stdout, stderr } = await ratchet(['start', file, ...NOWHERE]);
    assert.equal(code, EXIT.BAD_INPUT, stderr);
    assert.match(stderr, /field "agent\.env\.GITHUB_TOKEN" looks like a secret by its name.*fix: remove it from agent\.env, add "GITHUB_TOKEN" to agent\.envFrom/);
    assert.match(stderr, /field "agent\.env\.NOTE" has a value that looks like a secret \(a GitHub token .*not shown here\)/);
    assert.ok(!stderr.includes(token) && !stdout.includes(token), 'the token is shown');
    assert.doesNotMatch(stdout, /Started/);
  });

  it('rejects a repo folder that is not a git repository', async () => {
    const file = await batchFile('not-git.json', JSON.stringify({ ...valid, repo: 'plain-folder' }));
    const { code, stdout, stderr } = await ratchet(['start', file, ...NOWHERE]);
    assert.equal(code, EXIT.BAD_INPUT, stderr);
    assert.match(stderr, /field "repo" is "plain-folder" \(resolved to .*plain-folder\): not a git repository/);
    assert.match(stderr, /fix: run `git init` there/);
    assert.doesNotMatch(stdout, /Started/);
  });

  it('rejects the batch id "bad id!", naming the field, the value and the fix', async () => {
    const file = await batchFile('bad-id.json', JSON.stringify({ ...valid, batchId: 'bad id!' }));
    const { code, stdout, stderr } = await ratchet(['start', file, ...NOWHERE]);
    assert.equal(code, EXIT.BAD_INPUT, stderr);
    assert.match(stderr, /field "batchId" is "bad id!": must match \[A-Za-z0-9._-\]\{1,64\}; fix: use only letters/);
    assert.doesNotMatch(stdout, /Started/);
  });

  it('rejects a batch id taken from a file name that is not a valid id', async () => {
    const file = await batchFile('my batch.json', JSON.stringify(valid));
    const { code, stderr } = await ratchet(['start', file, ...NOWHERE]);
    assert.equal(code, EXIT.BAD_INPUT, stderr);
    assert.match(stderr, /batch id "my batch" \(taken from the file name\).*fix: add a "batchId" field/);
  });

  it('only connects once the batch file is valid, and says how to reach Temporal when it cannot', async () => {
    const file = await batchFile('good.json', JSON.stringify(valid));
    const { code, stderr } = await ratchet(['start', file, ...NOWHERE]);
    assert.equal(code, EXIT.UNREACHABLE, stderr);
    assert.match(stderr, /cannot reach Temporal at 127\.0\.0\.1:1/);
  });

  it('refuses `report` with both --csv and --json before connecting, naming the fix', async () => {
    const { code, stdout, stderr } = await ratchet(['report', 'x', '--csv', '--json', ...NOWHERE]);
    assert.equal(code, EXIT.BAD_INPUT, stderr);
    assert.equal(stdout, '');
    assert.match(stderr, /bad input in ratchet report:\n {2}--csv and --json are both given; fix: give one/);
  });

  it('refuses `approve --patch` that is not a JSON list before connecting, naming the fix', async () => {
    const bad = await ratchet(['approve', 'x', 'ep', '--patch', '{op: replace}', ...NOWHERE]);
    assert.equal(bad.code, EXIT.BAD_INPUT, bad.stderr);
    assert.match(bad.stderr, /bad input in --patch:\n {2}is not JSON \(.*\); fix: give RFC 6902 operations such as/);
    const notList = await ratchet(['approve', 'x', 'ep', '--patch', '{"op": "remove", "path": "/1"}', ...NOWHERE]);
    assert.equal(notList.code, EXIT.BAD_INPUT, notList.stderr);
    assert.match(notList.stderr, /is \{"op": "remove", "path": "\/1"\}, not a list; fix: give a JSON array/);
  });

  it('exits 3 with a hint when `status` cannot reach Temporal', async () => {
    const { code, stdout, stderr } = await ratchet(['status', 'x', ...NOWHERE]);
    assert.equal(code, EXIT.UNREACHABLE, stderr);
    assert.equal(stdout, '');
    assert.match(stderr, /cannot reach Temporal at 127\.0\.0\.1:1/);
    assert.match(stderr, /ratchet server/);
    assert.match(stderr, /TEMPORAL_ADDRESS/);
    assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  });
});

describe('client library helpers', () => {
  it('loads a batch file with repo made absolute and the batch id taken from the file name', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ratchet-load-'));
    try {
      await fs.mkdir(path.join(dir, 'repo', '.git'), { recursive: true });
      await fs.writeFile(path.join(dir, 'nightly.json'), JSON.stringify({ repo: 'repo', agent: { command: 'echo' } }));
      const batch = await loadBatchFile(path.join(dir, 'nightly.json'));
      assert.equal(batch.repo, path.join(dir, 'repo'));
      assert.equal(batch.batchId, 'nightly');
      assert.deepEqual(batch.agent, { command: 'echo' }, 'the batch travels as written, defaults left to the worker');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('says how many tickets a status lists of how many, by state, and how to page through the rest', () => {
    const ticket = { id: 't0', title: 'first', dependsOn: [], state: 'done' as const, running: false };
    const status = {
      batchId: 'big',
      state: 'running' as const,
      tickets: [ticket],
      oracle: { satisfied: false, done: [], humanGated: [], pending: [] },
      trackerTampers: [],
      discovered: [],
      heals: [],
      interventions: { total: 0, byKind: {} },
    };
    const text = formatStatus({ ...status, ticketCount: 3_000, counts: { done: 1_000, todo: 2_000 } });
    assert.match(text, /Tickets: 3000 \(done 1000, todo 2000\); listed: 1\./);
    assert.match(text, /--workflow-id batch-big --name status --input '\{"from":1\}'/);
    assert.doesNotMatch(formatStatus({ ...status, ticketCount: 1 }), /listed/, 'a status that lists every ticket says nothing more');
  });

  it('prints the exact Temporal CLI command equivalent to `ratchet approve`', () => {
    assert.equal(
      equivalentTemporalCommand('approve', 'b1', 'greet', { by: 'ana' }),
      `temporal workflow update execute --workflow-id ticket-b1-greet --name approve --input '{"by":"ana"}'`,
    );
    assert.equal(
      equivalentTemporalCommand('reject', 'b1', 'greet', { by: 'ana', comment: "it's wrong" }, { address: 'h:7000' }),
      `temporal workflow update execute --address h:7000 --workflow-id ticket-b1-greet --name reject ` +
        `--input '{"by":"ana","comment":"it'\\''s wrong"}'`,
    );
  });

  it('reports outcome, attempts, merge commit, phase times, interventions and the oracle verdict', () => {
    const text = formatReport({
      batchId: 'b1',
      oracle: { satisfied: false, done: ['health'], humanGated: [], pending: ['greet'] },
      tickets: [
        {
          ticketId: 'health',
          title: 'Add /health',
          outcome: 'done',
          attempts: 2,
          mergeCommit: '0123456789abcdef',
          phases: [],
          phaseMs: { implement: 1_500, validate: 250 },
          interventions: [],
          tamperings: [{ ticketId: 'health', attempt: 1, paths: ['Makefile'] }],
          guardedBy: ['test > health answers ok'],
        },
      ],
      trackerTampers: [{ ticketId: 'greet', from: 'todo', to: 'done', at: 0, seenBy: 'batch' }],
      tamperingsCaught: [{ ticketId: 'health', attempt: 1, paths: ['Makefile'] }],
      discovered: [{ ticketId: 'greet-d1', title: 'Add a config flag', filedBy: { kind: 'agent', ticketId: 'greet', attempt: 1 }, dependsOn: [], blocks: ['greet'], status: 'filed', at: 0 }],
      heals: [{ ticketId: 'greet', n: 1, stop: 'attempts exhausted', verdict: 'harness-gap', outcome: 'rejected', reason: 'make the gate pass', differences: ['changes gate "test"'], at: 0 }],
      interventions: {
        total: 1,
        byKind: { approve: 1 },
        list: [{ kind: 'approve', ticketId: 'health', gate: 'plan', by: 'ana', at: 0 }],
      },
      startedAt: 0,
      ms: 65_000,
      doneFingerprint: 'x',
    });
    assert.match(text, /^health\s+done\s+2\s+0123456\s+1\.5s\s+250ms\s+unknown$/m);
    // No agent reported a cost: unknown, never $0.
    assert.match(text, /^Cost: unknown \(no agent reported one\)$/m);
    assert.match(text, /^Interventions: 1 \(approve 1\)$/m);
    assert.match(text, /^Oracle: NOT satisfied \(1 done, 0 human-gated, pending: greet\)$/m);
    assert.match(text, /^ {2}health: test > health answers ok$/m);
    assert.match(text, /^Tamperings caught: 1$/m);
    assert.match(text, /^Self-heals: 1 \(accepted 0, rejected by the tripwire 1, churn 0, smoke check failed 0, activation gaps filed 0, handed over 0\)$/m);
    assert.match(text, /^ {2}greet heal 1 rejected: it changes gate "test" \(harness-gap: make the gate pass\)$/m);
    assert.match(text, /^ {2}"Add a config flag" found by ticket greet attempt 1 \(blocks greet\): filed as greet-d1$/m);
    assert.match(text, /^ {2}health attempt 1 changed protected Makefile: attempt failed$/m);
    assert.match(text, /^ {2}greet: todo -> done \(seen by the batch\); waiting for a person$/m);
  });

  it('adds up what agents reported each ticket cost, and names the tickets whose cost is unknown instead of counting 0', () => {
    const row = (ticketId: string, extra: object) => ({ ticketId, title: ticketId, outcome: 'done' as const, attempts: 1, phases: [], phaseMs: {}, interventions: [], tamperings: [], guardedBy: [], ...extra });
    const text = formatReport({
      batchId: 'b1',
      oracle: { satisfied: true, done: ['a', 'b', 'c'], humanGated: [], pending: [] },
      tickets: [row('a', { costUsd: 0.5 }), row('b', { costUsd: 0.25, costUnknownRuns: 1 }), row('c', {})],
      interventions: { total: 0, byKind: {}, list: [] },
      startedAt: 0,
      ms: 1_000,
      doneFingerprint: 'x',
    } as unknown as Parameters<typeof formatReport>[0]);
    assert.match(text, /^a\s+done\s+1\s+-\s+\$0\.50$/m);
    assert.match(text, /^b\s+done\s+1\s+-\s+\$0\.25\+$/m);
    assert.match(text, /^c\s+done\s+1\s+-\s+unknown$/m);
    assert.match(text, /^Cost: \$0\.75 reported by agents, and unknown for b, c \(at least that much more\)$/m);
  });

  it('reports what kept main moving forward: semantic conflicts, regressions with culprits, reverts, flaky probes, main\'s health', () => {
    const text = formatReport({
      batchId: 'b2',
      oracle: { satisfied: true, done: ['route-a', 'route-b'], humanGated: [], pending: [] },
      tickets: [],
      trackerTampers: [],
      tamperingsCaught: [],
      discovered: [],
      heals: [],
      interventions: { total: 0, byKind: {}, list: [] },
      semanticConflicts: [{ ticketId: 'describe', attempt: 1, candidate: 2, base: 'abcdef0123', gates: ['calls resolve'], tests: [], landedSince: ['ratchet: merge rename (b2): rename'] }],
      regressions: [{ ticketId: 'route-a', probe: 'route a on', before: 'exit 0', after: 'exit 1', suspects: ['route-b'], culprit: 'route-b', culpritCommit: '1111111aaaa' }],
      reverts: [{ ticketId: 'route-b', merge: '1111111aaaa', revertCommit: '2222222bbbb', regressions: [], by: 'auto', restored: true }],
      flaky: [{ ticketId: 'route-a', probe: 'slow start', detail: 'exit 7', seenAfter: 'route-b' }],
      mainHealth: { commit: '3333333cccc', at: 0, probes: ['route-a: route a on', 'route-b: route b on'] },
      mainLine: [
        { commit: '1111111aaaa', subject: 'ratchet: merge route-b (b2): b', ticketId: 'route-b', validation: 'candidate #3' },
        { commit: '4444444dddd', subject: 'hotfix by hand', validation: "not this batch's" },
      ],
      startedAt: 0,
      ms: 1_000,
      doneFingerprint: 'x',
    });
    assert.match(text, /^ {2}describe attempt 1 failed calls resolve merged onto abcdef0 \(landed since its base: 1\)$/m);
    assert.match(text, /^ {2}route-a's probe "route a on" broke after route-b landed \(1111111\)$/m);
    assert.match(text, /^ {2}route-b: 1111111 reverted by 2222222 \(auto\); probes passed again: yes$/m);
    assert.match(text, /^Flaky guard probes \(failed once, passed on the re-run; nothing reverted\): route-a\/slow start$/m);
    assert.match(text, /^Main's health: 2 probes passed after 3333333$/m);
    assert.match(text, /^ {2}1111111 candidate #3 {4}ratchet: merge route-b \(b2\): b$/m);
    assert.match(text, /^ {2}4444444 not this batch's hotfix by hand$/m);
  });

  it('shows the merge queue\'s candidate under test and its line', () => {
    const text = formatQueue({
      key: 'merge:/r@main',
      testing: [{ ticketId: 'a', batchId: 'b', commit: 'aaaaaaaa1' }, { ticketId: 'b', batchId: 'b', commit: 'bbbbbbbb2' }],
      line: [{ ticketId: 'c', batchId: 'b', commit: 'cccccccc3' }],
      candidates: 7,
      landed: 5,
      semanticConflicts: 1,
      recent: [],
    });
    assert.equal(text, ['Merge queue merge:/r@main: testing candidate #7: a (b) aaaaaaa + b (b) bbbbbbb', '  in line: c (b) ccccccc', '  landed 5, semantic conflicts 1 (this run of the queue)'].join('\n'));
  });
});
