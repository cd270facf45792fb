import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { simpleGit } from 'simple-git';
import { freePort } from '../../client/demo/demo-command';
import { ensureDevServer, type DevServer } from '../../deploy/dev-server';

const exec = promisify(execFile);

/** Runs `ratchet demo <args>`, killed before mocha's time-out, so a demo that does not finish shows what it printed. */
async function demo(args: string[]): Promise<{ stdout: string }> {
  const ratchet = path.resolve(__dirname, '../../client/bin/ratchet.js');
  return exec(process.execPath, [ratchet, 'demo', ...args], { maxBuffer: 16 * 1024 * 1024, timeout: 360_000 }).catch((err: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`ratchet demo ${args[0]} failed: ${err.message.split('\n')[0]}\n--- stdout (tail) ---\n${(err.stdout ?? '').slice(-6_000)}\n--- stderr (tail) ---\n${(err.stderr ?? '').slice(-3_000)}`);
  });
}

describe('ratchet demo, the main job a new user runs', function () {
  this.timeout(420_000);
  let server: DevServer;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ratchet-demo-test-'));
    const [port, uiPort] = [await freePort(), await freePort()];
    server = await ensureDevServer({ address: `127.0.0.1:${port}`, uiPort, dbFile: path.join(dir, 'temporal.sqlite'), log: () => undefined });
  });

  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('ends with the oracle satisfied, a heal and an activation gap handled, a semantic conflict caught, a regression reverted, main green and the service stopped', async () => {
    const demoDir = path.join(dir, 'demo');
    const { stdout } = await demo(['--address', server.address, '--dir', demoDir]);

    assert.match(stdout, /Oracle: satisfied/);
    assert.match(stdout, /greet +implement +attempt 2\/3 after: Attempt 1: gate "test" \(exit 1\) failed/);
    assert.match(stdout, /temporal workflow update execute (--address \S+ )?--workflow-id ticket-demo-\S+-version --name approve/);
    // No person acted but at the declared plan gate.
    assert.match(stdout, /Interventions: 1 \(approve 1\)/);
    const repo = simpleGit(path.join(demoDir, 'repo'));
    const merges = await repo.raw(['log', '--merges', '--format=%s', 'main']);
    assert.deepEqual(
      merges.trim().split('\n').map((s) => s.split(' ')[2]).sort(),
      ['bye', 'cheer', 'flags', 'flags', 'greet', 'health', 'rename', 'shout', 'slash', 'stats', 'stats-d1', 'version'],
    );
    // The heal: three attempts fail alike, the heal adds the missing setup step, the tripwire and the smoke check pass.
    assert.match(stdout, /bye +self-heal +after: Attempt 3: gate "test" \(exit 1\) failed/);
    assert.match(stdout, /bye +implement +attempt 4\/6 after: The harness was repaired \(heal 1: /);
    assert.match(stdout, /^Self-heals: 2 \(accepted 1, rejected by the tripwire 0, churn 0, smoke check failed 0, activation gaps filed 1, handed over 0\)$/m);
    assert.match(stdout, /^ {2}bye heal 1 accepted \(harness-gap: .*; 1 setup step\(s\) passed in a fresh worktree\)$/m);
    // The activation gap: stats merges dark; its heal files stats-d1, which turns the flag on; stats verifies again.
    assert.match(stdout, /stats +blocked/);
    assert.match(stdout, /^ {2}stats heal 1 activation-gap /m);
    assert.match(stdout, /^ {2}"Turn on the stats flag" found by ticket stats heal 1 \(blocks stats\): filed as stats-d1$/m);
    assert.match(stdout, /^Oracle: satisfied \(11 done, 0 human-gated\)$/m);
    // The semantic conflict: shout, cut before rename landed, passes on its own base and fails merged onto the new main.
    assert.match(stdout, /^semantic conflict caught before landing: shout \(gates: test\), landed on attempt 2$/m);
    assert.match(stdout, /^Semantic conflicts caught before landing: 1$/m);
    assert.match(stdout, /^ {2}shout attempt 1 failed test merged onto [0-9a-f]{7} /m);
    assert.match(stdout, /shout +implement +attempt 2\/3 after: Attempt 1 passed its gates on the main it was cut from, but merged onto main's tip/);
    // The review: cheer's first attempt passes its gates; the second model blocks it for the untested missing name,
    // and the next attempt adds that test.
    assert.match(stdout, /^Reviews before merge: 2 \(1 blocked; findings resolved by the next attempt: 1 of 1\)$/m);
    assert.match(stdout, /^ {2}cheer attempt 1 blocked by reviewer: test\/cheer\.test\.js:13: no test covers a caller without a name; resolved: yes$/m);
    // The regression: flags drops stats's flag; the guard catches it after flags's deploy, the merge is reverted
    // through the queue, and flags lands again with both flags on.
    assert.match(stdout, /^regression: .*stats's probe "stats are reported".* broke after flags landed; reverted [0-9a-f]{10}; flags landed again$/m);
    assert.match(stdout, /^ {2}flags: [0-9a-f]{7} reverted by [0-9a-f]{7} \(auto\); probes passed again: yes$/m);
    const firstParent = (await repo.raw(['log', '--first-parent', '--format=%s', 'main'])).split('\n');
    assert.equal(firstParent.filter((l) => l.startsWith('ratchet: revert flags ')).length, 1, firstParent.join('\n'));
    assert.match(await repo.show(['main:config/flags.json']), /"stats": true[\s\S]*"flags": true/);
    // Main is green: a clone of its tip passes the gate (after the build step the harness gained).
    const tip = path.join(dir, 'main-tip');
    await simpleGit().clone(path.join(demoDir, 'repo'), tip);
    await exec('npm', ['run', 'build'], { cwd: tip });
    await exec('npm', ['test'], { cwd: tip });
    // The regression guard and the protected paths, as the report shows them.
    assert.match(stdout, /^ {2}slash: a trailing slash reaches the same route$/m);
    assert.match(stdout, /^Tamperings caught: 1$/m);
    assert.match(stdout, /^ {2}slash attempt 1 changed protected package\.json: attempt failed$/m);
    // Clean but for the ticket the batch filed itself, left for a person to review and commit.
    assert.equal(await simpleGit(path.join(demoDir, 'repo')).raw(['status', '--porcelain']), '?? .ratchet/tickets/stats-d1.yaml\n');
    assert.match(stdout, /Stopped the demo service/);
  });

  it('--github: issues with native dependencies, one pull request per issue, a review answered on the same pull request and a person merging it, no token left anywhere', async () => {
    const demoDir = path.join(dir, 'demo-github');
    const { stdout } = await demo(['--github', '--address', server.address, '--dir', demoDir]);

    assert.match(stdout, /^Oracle: satisfied \(7 done, 0 human-gated\)$/m);
    // Six issues filed by a person; ids are issue numbers, version is #3.
    assert.match(stdout, /^ {2}#1 \(health\)$/m);
    assert.match(stdout, /^ {2}#3 \(version\)$/m);
    // The review comes back as attempt 2 on the same pull request, through ratchet webhook's signal; the person merges.
    assert.match(stdout, /octocat \(a person, on GitHub\) asks for changes on pull request #(\d+) of issue #3/);
    const pr = /asks for changes on pull request #(\d+)/.exec(stdout)![1];
    assert.match(stdout, new RegExp(`\\[webhook\\] pull_request_review\\.submitted #${pr}: signalled ticket-demo-\\S+-3`));
    assert.match(stdout, /^\S+ 3 +implement +attempt 2\/3 after: Attempt 1: octocat asked for changes on pull request/m);
    assert.match(stdout, new RegExp(`octocat \\(a person, on GitHub\\) merges pull request #${pr}:`));
    assert.match(stdout, /^Interventions: 3 \(approve 1, review 1, merge 1\)$/m);
    assert.match(stdout, new RegExp(`^ {2}merge 3 at the pull-request gate by octocat: merged #${pr}$`, 'm'));
    // The end state on GitHub: every issue closed and done, each with one pull request and one ratchet comment.
    const table = stdout.slice(stdout.indexOf('GitHub, repository demo/greeter'));
    const rows = table.split('\n').filter((l) => /^ {2}#\d+/.test(l));
    assert.equal(rows.length, 7, table);
    for (const row of rows) assert.match(row, /closed ratchet:(discovered ratchet:)?done .*PR #\d+ merged by (ratchet-bot|octocat); ratchet comments: 1$/);
    assert.equal(rows.filter((r) => r.includes('merged by octocat')).length, 1);
    assert.match(table, /Turn on the stats flag +closed ratchet:discovered ratchet:done/);
    // The remote's main holds every ticket's merge, and the local main is the same commit.
    const remote = path.join(demoDir, 'github', 'demo', 'greeter.git');
    const remoteMain = (await simpleGit(remote).raw(['rev-parse', 'main'])).trim();
    assert.equal((await simpleGit(path.join(demoDir, 'repo')).revparse(['main'])).trim(), remoteMain);
    // One landing per ticket on main's first-parent line (a head ratchet brought up to date adds a merge off that line).
    const merges = await simpleGit(remote).raw(['log', '--merges', '--first-parent', '--format=%s', 'main']);
    assert.equal(merges.trim().split('\n').length, 7, merges);
    // The demo's tokens never reach a file: not the repository, its git config, the artifacts or the worktrees.
    for (const f of (await readdir(demoDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile())) {
      const text = await readFile(path.join(f.parentPath, f.name)).catch(() => Buffer.alloc(0));
      assert.ok(!/ghp_(demo|person)[0-9a-f]{24}/.test(text.toString('latin1')), `a token is in ${path.join(f.parentPath, f.name)}`);
    }
  });

  it('--watch: a planted bug filed once over three failing scheduled runs, fixed, the check green and its signature closed; a flaky test told apart and not fixed', async () => {
    const { stdout } = await demo(['--watch', '--dir', path.join(dir, 'watch'), '--address', server.address]);
    // The runs are started as the Schedule starts them, and the commands say how.
    assert.equal(stdout.match(/^\$ temporal schedule trigger --schedule-id watch-adder-\S+ {3}# run \d$/gm)?.length, 6);
    assert.match(stdout, /^ {2}pause it: {3}temporal schedule toggle --schedule-id watch-adder-\S+ --pause/m);
    assert.match(stdout, /^run 1: test failed; failures: clock is steady \(flaky: passed when run again on the same commit\), sum adds$/m);
    assert.match(stdout, /^The bug: signature [0-9a-f]{12}, seen in 3 runs, one ticket: bug-[0-9a-f]{12}; first bad commit [0-9a-f]{10}$/m);
    assert.match(stdout, /^The flaky test: ticket bug-[0-9a-f]{12} of kind flaky, for a person; no agent is sent to "fix" it$/m);
    assert.match(stdout, /^The fix: ticket bug-[0-9a-f]{12} done; main now says: module\.exports = \(a, b\) => a \+ b;$/m);
    assert.match(stdout, /^run 6: test passed$/m);
    assert.match(stdout, /^The bug's signature: closed after 3 green runs$/m);
  });
});
