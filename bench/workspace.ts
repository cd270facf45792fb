/**
 * Benchmark: what workspaces and merges cost on a large repository. Builds a repository of 20,000 files (~8 MB of
 * text, four folder levels) in a temp folder and prints medians, ms, of:
 * - `git clone --local` of it (the cost of a whole checkout, for scale);
 * - `prepareWorktree` for a ticket's first attempt (a fresh worktree: a full checkout) and for its next attempt on the
 *   same name (reset in place, after the previous attempt committed 3 files and left junk and an ignored
 *   node_modules of 500 files behind), and for a new ticket once the earlier one's worktree went to the pool
 *   (`releaseWorktree`, as a merge does: reset in place from another ticket's attempt);
 * - `mergeBranch` of a branch changing 3 files, with the base checked out in the main working tree, in a linked
 *   worktree (`baseCheckout`'s) and nowhere, and the ratio of each to the plumbing floor: `git merge-tree
 *   --write-tree` + `git commit-tree` + `git update-ref` run directly, started the way ratchet starts git (from the git
 *   process, activities/git/process.ts: started from this process, whose RSS grows over `npm run bench`, each
 *   command paid Node's fork cost, and the floor with it). Where the base is checked out, the merge also brings that
 *   checkout's index and files forward (a fast-forward), work the floor does not do: a second floor does it too, with
 *   a two-way `read-tree -m -u` in the checkout before the `update-ref`.
 * Usage: `npm run bench:git -- [files=20000] [runs=7]`. Figures depend on the machine; compare runs on one machine.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { baseCheckout, commitAll, Git, GitProcess, mergeBranch, POOL_DIR, prepareWorktree, releaseWorktree, removeWorktree } from '../activities/git';

const exec = promisify(execFile);
/** ratchet's git client, as a worker has one; `gitProcess` runs the plumbing floor's commands the same way. */
const gitProcess = new GitProcess();
const ratchetGit = new Git(gitProcess);
const IDENTITY = ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', '-c', 'gc.auto=0'];

/** Runs git directly (no simple-git), for setup and for the plumbing floor; returns trimmed stdout. */
async function git(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await exec('git', [...IDENTITY, ...args], { cwd: dir, env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  return stdout.trim();
}

/**
 * Lets a fresh checkout settle: files written in the same second as the index are "racily clean" and git hashes them
 * again on every refresh until the index is rewritten later. A person's checkout is not seconds old.
 */
async function settle(dir: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await git(dir, ['update-index', '-q', '--refresh']);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** A file of `src/` at index `i`: 20 top folders, 10 below each, 10 below those, the rest as files. */
function filePath(i: number): string {
  return `src/m${i % 20}/p${Math.floor(i / 20) % 10}/q${Math.floor(i / 200) % 10}/file${i}.ts`;
}

function fileText(i: number, version = 0): string {
  const lines = [`// file ${i} v${version}`, `export const value${i} = ${i * 7 + version};`];
  for (let k = 0; k < 5; k++) lines.push(`export function f${i}_${k}(x: number): number { return x * ${k + 1} + ${i}; }`);
  return `${lines.join('\n')}\n`;
}

async function buildRepo(repo: string, files: number): Promise<void> {
  await mkdir(repo, { recursive: true });
  await git(repo, ['init', '-q', '-b', 'main']);
  await writeFile(path.join(repo, '.gitignore'), 'node_modules/\ndist/\n');
  for (let i = 0; i < files; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, files - i) }, async (_, k) => {
        const file = path.join(repo, filePath(i + k));
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, fileText(i + k));
      }),
    );
  }
  await git(repo, ['add', '-A']);
  await git(repo, ['commit', '-q', '-m', 'initial']);
  await git(repo, ['gc', '-q']);
}

/**
 * A branch `name` off `from` that rewrites the 3 files at `indexes`, made with plumbing in a private index (no
 * checkout), so making many branches is cheap.
 */
async function branchChanging(repo: string, name: string, from: string, indexes: number[], version: number): Promise<void> {
  const env = { GIT_INDEX_FILE: path.join(repo, '.git', `bench-index-${name.replace(/\//g, '-')}`) };
  await git(repo, ['read-tree', from], env);
  const entries = await Promise.all(
    indexes.map(async (i) => {
      const tmp = path.join(repo, '.git', `bench-blob-${name.replace(/\//g, '-')}-${i}`);
      await writeFile(tmp, fileText(i, version));
      const blob = await git(repo, ['hash-object', '-w', tmp]);
      await rm(tmp);
      return `100644,${blob},${filePath(i)}`;
    }),
  );
  for (const entry of entries) await git(repo, ['update-index', '--cacheinfo', entry], env);
  const tree = await git(repo, ['write-tree'], env);
  const commit = await git(repo, ['commit-tree', tree, '-p', from, '-m', `work on ${name}`], env);
  await git(repo, ['update-ref', `refs/heads/${name}`, commit]);
  await rm(env.GIT_INDEX_FILE, { force: true });
}

/** Plays an attempt in `wt`: edits and commits 3 files, leaves an untracked file and an ignored node_modules behind. */
async function playAttempt(wt: { path: string; baseCommit: string }, run: number, files: number): Promise<void> {
  for (let k = 0; k < 3; k++) {
    const i = (run * 101 + k * 37) % files;
    await writeFile(path.join(wt.path, filePath(i)), fileText(i, run + 1));
  }
  await commitAll(ratchetGit, wt.path, `attempt ${run}`, wt.baseCommit);
  await writeFile(path.join(wt.path, 'junk.txt'), 'junk\n');
  for (let d = 0; d < 10; d++) {
    const dir = path.join(wt.path, 'node_modules', `pkg${d}`, 'lib');
    await mkdir(dir, { recursive: true });
    await Promise.all(Array.from({ length: 50 }, (_, k) => writeFile(path.join(dir, `m${k}.js`), `module.exports = ${k};\n`)));
  }
}

/** Medians, ms, of what {@link measureWorkspace} times (see the file comment). */
export interface WorkspaceFigures {
  files: number;
  cloneMs: number;
  freshMs: number;
  reusedMs: number;
  /** A new ticket's first attempt on a worktree an ended ticket left in the pool. */
  pooledMs: number;
  floorMs: number;
  /** The floor plus bringing a checkout of the base forward (`read-tree -m -u`), in the main working tree. */
  checkoutFloorMs: number;
  inMainMs: number;
  inLinkedMs: number;
  nowhereMs: number;
}

/**
 * Builds a repository of `files` files in a temp folder (removed after) and times, `runs` times each, a clone, an
 * attempt's workspace (fresh, then reused) and merges; prints each figure as it is measured.
 * @returns the medians.
 */
export async function measureWorkspace(files: number, runs: number): Promise<WorkspaceFigures> {
  const root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'ratchet-bench-git-')));
  const repo = path.join(root, 'repo');
  const worktreesDir = path.join(root, 'worktrees');
  const row = (label: string, ms: number): void => {
    console.log(`${label.padEnd(66)} ${ms.toFixed(1).padStart(9)} ms`);
  };
  try {
    const built = await timed(() => buildRepo(repo, files));
    const size = await git(repo, ['count-objects', '-vH']);
    console.log(`repository: ${files} files, built in ${(built / 1000).toFixed(1)} s (${size.split('\n').find((l) => l.startsWith('size-pack'))})`);
    console.log(`git ${await git(repo, ['--version'])}, ${os.cpus().length} cores, medians of ${runs} runs\n`);

    const clones: number[] = [];
    for (let i = 0; i < Math.min(runs, 3); i++) clones.push(await timed(() => git(root, ['clone', '-q', '--local', repo, `clone-${i}`])));
    row('git clone --local', median(clones));
    for (let i = 0; i < Math.min(runs, 3); i++) await rm(path.join(root, `clone-${i}`), { recursive: true, force: true });

    const ticket = { repo, worktreesDir, branch: 'ratchet/bench/T1', base: 'main', name: 'bench-T1' };
    const fresh: number[] = [];
    for (let i = 0; i < Math.min(runs, 3); i++) {
      await removeWorktree(ratchetGit, repo, path.join(worktreesDir, ticket.name));
      fresh.push(await timed(() => prepareWorktree(ratchetGit, ticket)));
    }
    row('prepareWorktree, first attempt (fresh checkout)', median(fresh));
    const reused: number[] = [];
    for (let i = 0; i < runs; i++) {
      await playAttempt(await prepareWorktree(ratchetGit, ticket), i, files);
      reused.push(await timed(() => prepareWorktree(ratchetGit, ticket)));
    }
    row('prepareWorktree, next attempt (reset in place)', median(reused));
    // A new ticket's first attempt once an earlier ticket has ended: its worktree went to the pool (as a merge does).
    await releaseWorktree(ratchetGit, repo, worktreesDir, path.join(worktreesDir, ticket.name));
    const pooled: number[] = [];
    let last = '';
    for (let i = 0; i < runs; i++) {
      const next = { ...ticket, branch: `ratchet/bench/P${i}`, name: `bench-P${i}` };
      let wt = { path: '', baseCommit: '' };
      pooled.push(await timed(async () => (wt = await prepareWorktree(ratchetGit, next))));
      await playAttempt(wt, i, files);
      await releaseWorktree(ratchetGit, repo, worktreesDir, wt.path);
      last = next.name;
    }
    row("prepareWorktree, a new ticket's first attempt (a pooled worktree, reset)", median(pooled));
    await removeWorktree(ratchetGit, repo, path.join(worktreesDir, POOL_DIR, last));

    // Branches for every merge run, each changing 3 files of its own, all cut from the same base commit.
    const start = await git(repo, ['rev-parse', 'main']);
    const kinds = ['main', 'linked', 'nowhere', 'floor', 'checkout-floor'];
    let n = 0;
    for (const kind of kinds) {
      for (let i = 0; i < runs; i++, n++) await branchChanging(repo, `bench/${kind}-${i}`, start, [n * 3, n * 3 + 1, n * 3 + 2].map((k) => (k * 53) % files), n);
    }
    const merge = (kind: string, i: number) => mergeBranch(ratchetGit, { repo, base: 'main', branch: `bench/${kind}-${i}`, message: `merge ${kind} ${i}` });

    const merges = async (kind: string): Promise<number> => {
      const ms: number[] = [];
      for (let i = 0; i < runs; i++) ms.push(await timed(() => merge(kind, i)));
      return median(ms);
    };
    /** `git <args>` in `repo` from the git process, as ratchet's own commands run; stdout trimmed. */
    const plumbing = async (args: string[]): Promise<string> => {
      const outcome = await gitProcess.run(repo, args);
      if (!('code' in outcome) || outcome.code !== 0) throw new Error(`git ${args.join(' ')}: ${JSON.stringify(outcome)}`);
      return outcome.stdout.trim();
    };
    /** The merge commit of `bench/<kind>-<i>` into the tip of `ref`, made with plumbing: the tip and the commit. */
    const plumbingMerge = async (ref: string, kind: string, i: number): Promise<{ from: string; commit: string }> => {
      const from = await plumbing(['rev-parse', ref]);
      const tree = (await plumbing(['merge-tree', '--write-tree', '-z', '--name-only', from, `bench/${kind}-${i}`])).replace(/\0.*$/s, '');
      return { from, commit: await plumbing(['commit-tree', tree, '-p', from, '-p', `bench/${kind}-${i}`, '-m', `${kind} ${i}`]) };
    };
    await settle(repo);
    const inMain = await merges('main');
    // The least git does to land a merge where the base is checked out: the floor's commands, and the checkout's index
    // and files brought forward by a two-way read-tree (which writes only the changed files, then the whole index).
    const checkoutFloor: number[] = [];
    for (let i = 0; i < runs; i++) {
      checkoutFloor.push(
        await timed(async () => {
          const { from, commit } = await plumbingMerge('refs/heads/main', 'checkout-floor', i);
          await plumbing(['read-tree', '-m', '-u', from, commit]);
          await plumbing(['update-ref', 'refs/heads/main', commit, from]);
        }),
      );
    }
    await git(repo, ['checkout', '-q', '-b', 'bench/elsewhere']);
    const nowhere = await merges('nowhere');
    await settle(await baseCheckout(ratchetGit, repo, 'main', worktreesDir));
    const inLinked = await merges('linked');

    // The floor lands on a ref of its own, checked out nowhere, so the checkout above never goes stale.
    await git(repo, ['update-ref', 'refs/heads/floor', 'main']);
    const floor: number[] = [];
    for (let i = 0; i < runs; i++) {
      floor.push(
        await timed(async () => {
          const { from, commit } = await plumbingMerge('refs/heads/floor', 'floor', i);
          await plumbing(['update-ref', 'refs/heads/floor', commit, from]);
        }),
      );
    }
    const floorMs = median(floor);
    const checkoutFloorMs = median(checkoutFloor);
    console.log('');
    row('plumbing floor (merge-tree + commit-tree + update-ref)', floorMs);
    row('the same with the checkout brought forward (+ read-tree -m -u)', checkoutFloorMs);
    for (const [label, ms, checkedOut] of [
      ['base checked out in the main working tree', inMain, true],
      ['base checked out in a linked worktree', inLinked, true],
      ['base checked out nowhere', nowhere, false],
    ] as const) {
      row(`mergeBranch, 3 files, ${label}`, ms);
      const toCheckout = checkedOut ? `, ${(ms / checkoutFloorMs).toFixed(2)} x the floor with the checkout` : '';
      console.log(`${''.padEnd(66)} ${(ms / floorMs).toFixed(2).padStart(9)} x the floor${toCheckout}`);
    }
    return {
      files,
      cloneMs: median(clones),
      freshMs: median(fresh),
      reusedMs: median(reused),
      pooledMs: median(pooled),
      floorMs,
      checkoutFloorMs,
      inMainMs: inMain,
      inLinkedMs: inLinked,
      nowhereMs: nowhere,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await measureWorkspace(Number(process.argv[2] ?? 20_000), Number(process.argv[3] ?? 7));
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
