/**
 * The first bad commit of a failure (issue 27 item 3): a bisect of main's first-parent line over real git
 * repositories of ten commits, where a real check process (a shell check) decides each commit, on a fresh export after
 * the watch's setup steps, as a scheduled run does.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { createSandboxProbe } from '../../activities/box/sandbox';
import { Git, mergeOnto } from '../../activities/git';
import type { GateDeps } from '../../activities/gates';
import { mergeMessage } from '../../activities/merge-queue';
import { runCheckAt, checkRunner, runChecks } from '../../activities/watch';
import { describeBisect, firstBadCommit, searchFirstBad, verdictOf } from '../../activities/watch-bisect';
import { BadInputError } from '../../workflows/errors';
import { bisectTimeoutMs, ratchetMergeOf } from '../../workflows/watch/bisect';
import { toWatchConfig, type WatchConfig } from '../../workflows/watch/input';

/** The check: `calc.sh` must print 4; the planted bug makes it print 5. */
const CHECK = 'out="$(sh calc.sh)" || { echo "$out"; exit 1; }; [ "$out" = 4 ] || { echo "Error: expected 4 but got $out"; exit 1; }';

interface Line {
  repo: string;
  /** main's first-parent line, oldest first: commits[0] is the 1st commit. */
  commits: string[];
  watch: WatchConfig;
}

/**
 * A repository whose main has ten commits on its first-parent line, commit n (1-based) writing `calc.sh` (printing 5
 * from `bugAt` on, 4 before) and `setup.sh`. `setupFailsAt`: commits whose setup step fails; `otherFailureAt`: commits
 * where the check fails another way; `mergeAt`: a commit that is a ratchet merge of ticket `fix-calc` of batch `b1`
 * (its side commit brings the change), made by ratchet's own `mergeOnto` with the merge queue's message.
 */
async function lineRepo(dirs: string[], opts: { bugAt: number; setupFailsAt?: number[]; otherFailureAt?: number[]; mergeAt?: number }): Promise<Line> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ratchet-bisect-'));
  dirs.push(dir);
  const repo = path.join(dir, 'repo');
  await simpleGit().raw(['init', '-q', '-b', 'main', repo]);
  const g = simpleGit(repo);
  await g.addConfig('user.name', 'fixture').addConfig('user.email', 'fixture@localhost');
  const commits: string[] = [];
  for (let n = 1; n <= 10; n++) {
    const calc = opts.otherFailureAt?.includes(n) ? 'echo "TypeError: total is undefined"; exit 3\n' : `echo ${n >= opts.bugAt ? 5 : 4}\n`;
    const write = async (): Promise<void> => {
      await writeFile(path.join(repo, 'calc.sh'), calc);
      await writeFile(path.join(repo, 'setup.sh'), opts.setupFailsAt?.includes(n) ? 'echo "npm ERR! could not install"; exit 1\n' : 'exit 0\n');
      await writeFile(path.join(repo, 'version.txt'), `${n}\n`);
      await g.add('.');
    };
    if (n === opts.mergeAt) {
      await g.checkoutLocalBranch('ratchet/b1/fix-calc');
      await write();
      await g.commit('make calc faster');
      const side = (await g.revparse(['HEAD'])).trim();
      await g.checkout('main');
      const onto = (await g.revparse(['HEAD'])).trim();
      const merged = await mergeOnto(new Git(), repo, onto, side, mergeMessage('b1', { ticketId: 'fix-calc', title: 'make calc faster', commit: side }));
      assert.ok('commit' in merged);
      await g.raw(['merge', '--ff-only', '-q', merged.commit]);
    } else {
      await write();
      await g.commit(`commit ${n}`);
    }
    commits.push((await g.revparse(['HEAD'])).trim());
  }
  const watch = toWatchConfig(
    { watchId: 'bisect', repo, everyMs: 60_000, checks: [{ name: 'calc', command: CHECK, timeoutMs: 30_000 }], setup: [{ command: 'sh setup.sh', timeoutMs: 30_000 }], sandbox: 'none' },
    path.resolve,
  );
  return { repo, commits, watch };
}

const deps: GateDeps = { env: process.env, git: new Git(), sandbox: createSandboxProbe(process.env) };

/** The signature a scheduled run on the tip saw. */
async function soughtSignature(line: Line): Promise<string> {
  const run = await runChecks({ watch: line.watch, runId: 'scheduled-run' }, deps);
  assert.equal(run.commit, line.commits[9]);
  assert.equal(run.failures.length, 1, JSON.stringify(run.failures));
  assert.match(run.failures[0].message, /expected 4 but got 5/);
  return run.failures[0].signature;
}

/** Export folders of bisects left in the watch's worktrees folder. */
const leftExports = async (watch: WatchConfig): Promise<string[]> => (await readdir(watch.worktreesDir).catch(() => [])).filter((f) => f.startsWith('_bisect-'));

describe('the first bad commit of a failure, by bisect of the first-parent line', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('finds the commit that planted the bug exactly, with no known good commit and with one, two bisects at once', async () => {
    const line = await lineRepo(dirs, { bugAt: 6 });
    const signature = await soughtSignature(line);
    const c = line.commits;
    const [galloped, known] = await Promise.all([
      firstBadCommit({ watch: line.watch, check: 'calc', signature, bad: c[9] }, deps),
      firstBadCommit({ watch: line.watch, check: 'calc', signature, bad: c[9], good: c[0] }, deps),
    ]);
    for (const r of [galloped, known]) {
      assert.equal(r.firstBad, c[5], `the 6th commit: ${JSON.stringify(r.tested)}`);
      assert.equal(r.lastGood, c[4]);
      assert.equal(r.subject, 'commit 6');
      assert.equal(r.ticket, undefined);
      assert.ok(r.runs <= 8 && r.runs === r.tested.length, `${r.runs} runs`);
    }
    // Back 1, 2, 4 and 8 first-parent steps, then between the 2nd (good) and the 6th (bad).
    assert.deepEqual(galloped.tested.map((t) => [c.indexOf(t.commit) + 1, t.verdict]), [[9, 'bad'], [8, 'bad'], [6, 'bad'], [2, 'good'], [4, 'good'], [5, 'good']]);
    assert.ok(known.runs < galloped.runs, 'a known good commit saves the gallop');
    assert.deepEqual(describeBisect(known).slice(0, 2), [`- first bad commit: \`${c[5]}\` ("commit 6")`, `- last good commit: \`${c[4]}\``]);
    assert.deepEqual(await leftExports(line.watch), [], 'every run removes its export');
  });

  it('skips a commit whose setup step fails, never calling it good or bad, and answers a range when only skipped ones are left', async () => {
    const four = await lineRepo(dirs, { bugAt: 6, setupFailsAt: [4] });
    const r = await firstBadCommit({ watch: four.watch, check: 'calc', signature: await soughtSignature(four), bad: four.commits[9] }, deps);
    assert.deepEqual(r.tested.find((t) => t.commit === four.commits[3])?.verdict, 'skip', JSON.stringify(r.tested));
    assert.equal(r.firstBad, four.commits[5]);
    assert.equal(r.lastGood, four.commits[4]);

    const five = await lineRepo(dirs, { bugAt: 6, setupFailsAt: [5] });
    const c = five.commits;
    const only = await firstBadCommit({ watch: five.watch, check: 'calc', signature: await soughtSignature(five), bad: c[9], good: c[3] }, deps);
    assert.equal(only.firstBad, undefined, 'the 5th could be the first bad one: no guess');
    assert.deepEqual(only.range, { good: c[3], bad: c[5] });
    assert.deepEqual(only.tested.at(-1), { commit: c[4], verdict: 'skip' });
    assert.match(describeBisect(only)[0], new RegExp(`between \`${c[3]}\` \\(good\\) and \`${c[5]}\` \\(bad\\)`));
  });

  it('answers the range narrowed so far when the bound is hit, never a guess', async () => {
    const line = await lineRepo(dirs, { bugAt: 6 });
    const signature = await soughtSignature(line);
    const c = line.commits;
    const bounded = await firstBadCommit({ watch: line.watch, check: 'calc', signature, bad: c[9], good: c[0], maxRuns: 2 }, deps);
    assert.equal(bounded.runs, 2);
    assert.equal(bounded.firstBad, undefined);
    assert.deepEqual(bounded.range, { good: c[3], bad: c[5] });
    assert.match(describeBisect(bounded)[0], /not narrowed further in 2 of at most 2 runs of check `calc`/);

    const noGood = await firstBadCommit({ watch: line.watch, check: 'calc', signature, bad: c[9], maxRuns: 2 }, deps);
    assert.deepEqual([noGood.firstBad, noGood.range, noGood.badSince, noGood.runs], [undefined, undefined, c[7], 2]);
    assert.match(describeBisect(noGood)[0], new RegExp(`not found: it fails at least since \`${c[7]}\``));
  });

  it('names the ticket that landed the first bad commit when it is a ratchet merge', async () => {
    const line = await lineRepo(dirs, { bugAt: 6, mergeAt: 6 });
    const c = line.commits;
    assert.equal((await simpleGit(line.repo).raw(['rev-list', '--parents', '-n', '1', c[5]])).trim().split(' ').length, 3, 'the 6th is a merge commit');
    const r = await firstBadCommit({ watch: line.watch, check: 'calc', signature: await soughtSignature(line), bad: c[9] }, deps);
    assert.equal(r.firstBad, c[5]);
    assert.equal(r.lastGood, c[4], 'its first parent: the side commit is not on the line');
    assert.deepEqual(r.ticket, { batchId: 'b1', ticketId: 'fix-calc' });
    assert.equal(describeBisect(r)[0], `- first bad commit: \`${c[5]}\` (merge of ticket \`fix-calc\` in batch \`b1\`)`);
  });

  it('counts a commit where the check fails another way as good for the signature sought', async () => {
    const line = await lineRepo(dirs, { bugAt: 6, otherFailureAt: [5] });
    const signature = await soughtSignature(line);
    const c = line.commits;
    const other = await runCheckAt(checkRunner(line.watch, '_bisect-test-other', deps), line.watch.checks[0], c[4], path.join(path.dirname(line.repo), 'other.log'));
    assert.equal(other.result.passed, false, 'the 5th fails');
    assert.notEqual(other.failures[0].signature, signature, 'with another signature');
    const r = await firstBadCommit({ watch: line.watch, check: 'calc', signature, bad: c[9], good: c[3] }, deps);
    assert.deepEqual(r.tested.find((t) => t.commit === c[4]), { commit: c[4], verdict: 'good' });
    assert.deepEqual([r.firstBad, r.lastGood], [c[5], c[4]]);
  });

  it('refuses a check that is not the watch\'s, naming the field and the fix', async () => {
    const line = await lineRepo(dirs, { bugAt: 6 });
    await assert.rejects(
      firstBadCommit({ watch: line.watch, check: 'lint', signature: '0123456789abcdef', bad: line.commits[9] }, deps),
      (err: unknown) => err instanceof BadInputError && /check: "lint" is not a check of watch bisect; fix: name one of "calc"/.test(err.message),
    );
    await assert.rejects(firstBadCommit({ watch: line.watch, check: 'calc', signature: '0123456789abcdef', bad: 'f'.repeat(40) }, deps), /bad: "f{40}" names no commit/);
  });
});

describe('bisect rules', () => {
  it('reads the ticket from a ratchet merge subject, and nothing from a revert or another commit', () => {
    assert.deepEqual(ratchetMergeOf(mergeMessage('b-7', { ticketId: 'fix.calc_2', title: 'fix: calc (again)', commit: 'x' })), { batchId: 'b-7', ticketId: 'fix.calc_2' });
    assert.equal(ratchetMergeOf(mergeMessage('b1', { ticketId: 't', title: 'x', commit: 'abc', revert: true })), undefined);
    assert.equal(ratchetMergeOf('Merge branch ratchet/b1/t'), undefined);
  });

  it('says a failure there from the line\'s first commit on, and sizes the activity\'s time limit by the bound', () => {
    const lines = describeBisect({ check: 'calc', signature: 's', firstBad: 'a'.repeat(40), subject: 'initial', runs: 3, maxRuns: 8, tested: [{ commit: 'b'.repeat(40), verdict: 'bad' }] });
    assert.deepEqual(lines, [`- first bad commit: \`${'a'.repeat(40)}\` ("initial")`, '- last good commit: none: it fails from the first commit of the line on', '- bisect: 3 of at most 8 runs of check `calc` on the first-parent line: bbbbbbbbbb bad']);
    const watch = { setup: [{ timeoutMs: 1_000 }], checks: [{ name: 'calc', timeoutMs: 4_000 }] };
    assert.equal(bisectTimeoutMs(watch, 'calc', 8), 8 * 5_000 + 120_000);
  });

  it('calls a timed-out check a skip and another failure good', () => {
    assert.equal(verdictOf([{ signature: 'a' }], 'a'), 'bad');
    assert.equal(verdictOf([{ signature: 'b' }], 'a'), 'good');
    assert.equal(verdictOf([], 'a'), 'good');
    assert.equal(verdictOf([{ signature: 't', infra: true }], 'a'), 'skip');
  });

  it('takes the line\'s first commit as the first bad one when every commit is bad, and never runs a commit twice', async () => {
    const back = ['c5', 'c4', 'c3', 'c2', 'c1'];
    const runs: string[] = [];
    const all = await searchFirstBad(back, undefined, true, 8, async (commit) => {
      runs.push(commit);
      return 'bad';
    });
    assert.deepEqual([all, runs], [{ firstBad: 'c1' }, ['c4', 'c3', 'c1']]);
    const skips: string[] = [];
    const unknown = await searchFirstBad(back, undefined, true, 8, async (commit) => {
      skips.push(commit);
      return 'skip';
    });
    assert.deepEqual([unknown, skips], [{ badSince: 'c5' }, ['c4', 'c3', 'c1']]);
  });
});
