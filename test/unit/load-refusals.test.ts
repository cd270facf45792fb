/**
 * The last bad inputs refused at load (issue 29 part 4): `loadBatch`, run against a real git repository, refuses each
 * one naming the field, the value and the fix, never repeats a secret's value, and writes nothing (no exclude entry,
 * no worktrees or artifacts folder, no state record). `ratchet start` refuses a batch file too large to start.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { loadBatchFile } from '../../client/batch-file';
import { loadBatch, createTrackers } from '../../activities/batch';
import { Git } from '../../activities/git';
import { BadInputError, ConfigError } from '../../workflows/errors';
import type { BatchFile } from '../../workflows/input';
import { writeTicketFile } from '../../activities/tracker/local';
import { makeRepo, type Fixture } from '../fixtures/repo';

const git = new Git();
const trackers = createTrackers(() => {
  throw new Error('no GitHub in this test');
});

/** Everything loadBatch could write: the exclude file's text and every path in the repository outside `.git`. */
async function snapshot(fx: Fixture): Promise<{ exclude: string; files: string[] }> {
  const exclude = await readFile(path.join(fx.repo, '.git/info/exclude'), 'utf8').catch(() => '(none)');
  const files = (await readdir(fx.repo, { recursive: true })).filter((f) => f !== '.git' && !f.startsWith(`.git${path.sep}`)).sort();
  return { exclude, files };
}

const load = (fx: Fixture, overrides: Partial<BatchFile>, batchId = 'b1') =>
  loadBatch({ raw: fx.batch(batchId, { probes: [{ name: 'up', command: 'true' }], ...overrides }), workflowId: `batch-${batchId}` }, { env: process.env, trackers, git });

// Fake credentials in the shapes their issuers use (none is real).
const FAKE = {
  ghp: `ghp_${'Ab1'.repeat(12)}`,
  githubPat: `github_pat_11${'AbCd3'.repeat(8)}`,
  sk: `sk-proj-${'Xy9z'.repeat(8)}`,
  xox: `xoxb-2048-1234-${'aB3d'.repeat(6)}`,
  akia: 'AKIAIOSFODNN7EXAMPL3',
  random: 'q8Zr4Lx0Vb7Nc2Mw9Kt5Hs1Jd6Fg3Pa8Ye0Ui',
};

interface Case {
  name: string;
  /** Makes the bad input on disk (a file, a branch) and returns the batch file's overrides. */
  arrange: (fx: Fixture) => Promise<Partial<BatchFile>> | Partial<BatchFile>;
  /** What the message must say: the field and value, then the fix. */
  says: RegExp[];
  /** A value the message must not contain (a secret). */
  secret?: string;
}

const blank = (field: string, overrides: Partial<BatchFile>): Case => ({
  name: `a blank ${field}`,
  arrange: () => overrides,
  says: [new RegExp(`field "${field.replace(/[.[\]]/g, '\\$&')}" is "[^"]*": must be a command to run, not blank; fix: give the shell command`)],
});

const cases: Case[] = [
  {
    name: 'a worktreesDir that is a file',
    arrange: async (fx) => (await writeFile(path.join(fx.repo, 'wt'), 'x'), { worktreesDir: 'wt' }),
    says: [/field "worktreesDir" is "wt" \(.*\/wt\): a file, not a folder; fix: move or delete that file, or point worktreesDir at a folder, such as "\.ratchet\/worktrees"/],
  },
  {
    name: 'an artifactsDir that is a file',
    arrange: async (fx) => (await writeFile(path.join(fx.repo, 'art'), 'x'), { artifactsDir: 'art' }),
    says: [/field "artifactsDir" is "art" .*: a file, not a folder; fix: .*"\.ratchet\/artifacts"/],
  },
  {
    name: 'an artifactsDir under a file',
    arrange: () => ({ artifactsDir: 'README.md/artifacts' }),
    says: [/field "artifactsDir" is "README.md\/artifacts" .*: .*README\.md is a file, so no folder can be made there; fix: /],
  },
  {
    name: 'a worktreesDir that is the repository itself',
    arrange: () => ({ worktreesDir: '.' }),
    says: [/field "worktreesDir" is "\." .*: the repository's own folder.*; fix: use a folder inside it, such as "\.ratchet\/worktrees"/],
  },
  {
    name: 'a local branch "ratchet"',
    arrange: async (fx) => (await simpleGit(fx.repo).branch(['ratchet']), {}),
    says: [/field "repo" is ".*": it has a local branch "ratchet", so git cannot create the tickets' branches "ratchet\/b1\/<id>" beside it; fix: rename it \(git branch -m ratchet <new-name>\)/],
  },
  {
    name: 'a local branch "ratchet/<batch id>"',
    arrange: async (fx) => (await simpleGit(fx.repo).branch(['ratchet/b1']), {}),
    says: [/local branch "ratchet\/b1", so git cannot create .*; fix: rename it/],
  },
  {
    name: 'an agent.env name with a NUL byte',
    arrange: (fx) => ({ agent: { ...fx.batch('b1').agent, env: { 'A\u0000B': 'x' } } }),
    says: [/field "agent\.env\.A\\u0000B" is not an environment variable name .*; fix: rename it, such as "MY_SETTING"/],
  },
  {
    name: 'an agent.env name with a space',
    arrange: (fx) => ({ agent: { ...fx.batch('b1').agent, env: { 'MY VAR': 'x' } } }),
    says: [/field "agent\.env\.MY VAR" is not an environment variable name/],
  },
  {
    name: 'an agent.env value with a NUL byte',
    arrange: (fx) => ({ agent: { ...fx.batch('b1').agent, env: { MODE: 'a\u0000b' } } }),
    says: [/field "agent\.env\.MODE" has a value with a NUL byte.*; fix: remove the NUL byte/],
  },
  {
    name: 'a state record that is a folder',
    arrange: async (fx) => (await mkdir(path.join(fx.repo, '.ratchet/tickets/a.state')), {}),
    says: [/ticket "a": its state record .*a\.state is a folder, so ratchet can neither read nor write the ticket's state; fix: remove it \(rm -r /],
  },
  {
    name: 'a ticketsDir that is a file',
    arrange: () => ({ ticketsDir: 'README.md' }),
    says: [/field "ticketsDir" is "README.md" .*: a file, not a folder; fix: .*"\.ratchet\/tickets"/],
  },
  {
    name: 'ticketsDir "."',
    arrange: () => ({ ticketsDir: '.' }),
    says: [/field "ticketsDir" is "\." .*: the repository's own folder, so the tickets would lose their protected-path cover .*; fix: use a folder inside it, such as "\.ratchet\/tickets"/],
  },
  {
    name: 'a ticketsDir that is the repository by its absolute path',
    arrange: (fx) => ({ ticketsDir: `${fx.repo}/` }),
    says: [/field "ticketsDir" is ".*\/repo\/" \(.*\/repo\): the repository's own folder/],
  },
  {
    name: 'an origin that starts with "-"',
    arrange: () => ({ origin: '--upload-pack=touch /tmp/pwned' }),
    says: [/field "origin" is "--upload-pack=touch \/tmp\/pwned": starts with "-", so git would read it as an option, not a remote; fix: give a remote name such as "origin"/],
  },
  ...(['DB_PASS', 'OPENAI_KEY', 'GH_PAT', 'SERVICE_AUTH', 'SESSION_COOKIE', 'dbPassword', 'AWS_ACCESS_KEY_ID'] as const).map(
    (name): Case => ({
      name: `a secret by its name: ${name}`,
      arrange: (fx) => ({ agent: { ...fx.batch('b1').agent, env: { [name]: 'hunter2-plain' } } }),
      says: [new RegExp(`field "agent\\.env\\.${name}" looks like a secret by its name.*; fix: remove it from agent\\.env, add "${name}" to agent\\.envFrom`)],
      secret: 'hunter2-plain',
    }),
  ),
  ...Object.entries(FAKE).map(
    ([kind, value]): Case => ({
      name: `a secret by its value: ${kind}`,
      arrange: (fx) => ({ agent: { ...fx.batch('b1').agent, env: { MODE: 'fast', NOTE: `use ${value} here` } } }),
      says: [/field "agent\.env\.NOTE" has a value that looks like a secret \(.*not shown here\).*; fix: remove it from agent\.env, add "NOTE" to agent\.envFrom/],
      secret: value,
    }),
  ),
  blank('gates.0.command', { gates: [{ name: 'lint', command: ' ' }] }),
  blank('harness.setup.0.command', { harness: { setup: [{ command: '' }] } }),
  blank('deploy.command', { deploy: { command: '\t' } }),
  blank('heal.command', { heal: { command: '' } }),
  blank('probes.0.command', { probes: [{ command: ' ' }] }),
  { ...blank('agent.command', {}), arrange: (fx) => ({ agent: { ...fx.batch('b1').agent, command: ' ' } }) },
  {
    name: 'a bug ticket in a batch whose gates declare no test report (issue 25: safe by default)',
    arrange: async (fx) => (await writeTicketFile(path.join(fx.repo, '.ratchet', 'tickets'), { id: 'c', title: 'a bug', kind: 'bug' }), {}),
    says: [/ticket "c" of kind "bug" needs a gate that declares its test report, and no gate does: .*skips or deletes the failing test.*; fix: add "junit"/],
  },
  {
    name: 'a duplicate id in tickets',
    arrange: () => ({ tickets: ['a', 'b', 'a'] }),
    says: [/field "tickets" lists duplicate ticket id "a" 2 times; fix: list each id once/],
  },
];

describe('loadBatch refuses the last bad inputs before writing anything (issue 29 part 4)', function () {
  this.timeout(20_000);
  const fixtures: Fixture[] = [];
  after(async () => {
    await git.stop();
    await Promise.all(fixtures.map((f) => f.cleanup()));
  });

  it('loads a good batch and only then writes its exclude entries (the control of the cases below)', async () => {
    const fx = await makeRepo([{ id: 'a' }, { id: 'b' }]);
    fixtures.push(fx);
    const before = await snapshot(fx);
    const loaded = await load(fx, { agent: { ...fx.batch('b1').agent, env: { MODE: 'fast', SHA: 'e83c5163316f89bfbde7d9ab23ca2e25604af290', DIR: '/home/me/projects/app-v2/node_modules' } } });
    assert.deepEqual(loaded.tickets.map((t) => t.id), ['a', 'b']);
    const after = await snapshot(fx);
    assert.deepEqual(after.files, before.files);
    assert.notEqual(after.exclude, before.exclude);
    assert.match(after.exclude, /^\/\.ratchet\/worktrees\/$/m);
  });

  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      const fx = await makeRepo([{ id: 'a' }, { id: 'b' }]);
      fixtures.push(fx);
      const overrides = await c.arrange(fx);
      const before = await snapshot(fx);
      await assert.rejects(load(fx, overrides), (err: unknown) => {
        assert.ok(err instanceof BadInputError || err instanceof ConfigError, `a bad-input error, got ${String(err)}`);
        for (const says of c.says) assert.match(err.message, says);
        assert.match(err.message, /fix: /);
        if (c.secret) assert.ok(!err.message.includes(c.secret), `the message shows the secret: ${err.message}`);
        return true;
      });
      const after = await snapshot(fx);
      assert.equal(after.exclude, before.exclude, '.git/info/exclude unchanged');
      assert.deepEqual(after.files, before.files, 'no folder or state record made');
    });
  }
});

describe('ratchet start refuses a batch file too large to start', () => {
  it('names its size and the fix (exit 2: a BadInputError) instead of failing to start the workflow', async () => {
    const fx = await makeRepo([{ id: 'a' }]);
    try {
      const file = path.join(fx.dir, 'big.json');
      await writeFile(file, JSON.stringify(fx.batch('big', { harness: { setup: [], promptRules: ['x'.repeat(3_000_000)] } })));
      await assert.rejects(loadBatchFile(file), (err: unknown) => {
        assert.ok(err instanceof BadInputError);
        assert.match(err.message, /big\.json: is 30\d{5} bytes as the batch's start input, over the 1500000-byte limit \(Temporal refuses payloads over 2 MB\); fix: /);
        return true;
      });
      const small = path.join(fx.dir, 'small.json');
      await writeFile(small, JSON.stringify(fx.batch('small')));
      assert.equal((await loadBatchFile(small)).batchId, 'small');
    } finally {
      await fx.cleanup();
    }
  });
});
