import assert from 'node:assert/strict';
import { BadInputError } from '../../workflows/errors';
import { batchFileSchema, parseOrThrow, secretLikeName, secretLikeValue, ticketFileSchema, toBatchConfig } from '../../workflows/input';

const minimal = { repo: '/tmp/r', agent: { command: 'true' } };

describe('batch file and ticket file validation', () => {
  it('fills defaults for a minimal batch file', () => {
    const b = parseOrThrow(batchFileSchema, minimal, 'batch.json');
    assert.equal(b.baseBranch, 'main');
    assert.equal(b.maxParallel, 2);
    assert.equal(b.maxAttempts, 3);
    assert.equal(b.agent?.timeoutMs, 20 * 60_000);
  });

  it('takes an order of ticket kinds or "tracker", and refuses any other naming the field, the value and the fix', () => {
    assert.deepEqual(parseOrThrow(batchFileSchema, { ...minimal, order: ['bug', 'refactor'] }, 'batch.json').order, ['bug', 'refactor']);
    assert.equal(parseOrThrow(batchFileSchema, { ...minimal, order: 'tracker' }, 'batch.json').order, 'tracker');
    assert.equal(toBatchConfig(parseOrThrow(batchFileSchema, minimal, 'batch.json'), 'b', (_r, p) => p).order, undefined, 'unset: the default');
    const refused = (order: unknown) => () => parseOrThrow(batchFileSchema, { ...minimal, order }, 'batch.json');
    assert.throws(refused(['bug', 'bugs']), /field "order" is \["bug","bugs"\]: "bugs" is not a ticket kind; fix: list ticket kinds, first started first, such as \["bug", "feature", "chore", "refactor"\] \(kinds: feature, bug, chore, refactor, review-feedback, discovered, flaky, systemic, epic\), or write "tracker"/);
    assert.throws(refused('kind'), /field "order" is "kind": neither a list of ticket kinds nor "tracker"; fix: /);
    assert.throws(refused([]), /field "order" is \[\]: an empty list orders nothing; fix: /);
    assert.throws(refused(['bug', 'chore', 'bug']), /field "order" is \["bug","chore","bug"\]: "bug" named twice; fix: name each kind once/);
  });

  it('names the field, the value and the fix for a wrong type', () => {
    assert.throws(
      () => parseOrThrow(batchFileSchema, { ...minimal, maxParallel: 'two' }, 'batch.json'),
      (err: BadInputError) => {
        assert.ok(err instanceof BadInputError);
        assert.match(err.message, /^batch\.json: field "maxParallel" is "two": expected number, received string; fix: /);
        return true;
      },
    );
  });

  it('takes hundreds of tickets at once (a batch across several hosts), and names the bound above it', () => {
    assert.equal(parseOrThrow(batchFileSchema, { ...minimal, maxParallel: 200 }, 'batch.json').maxParallel, 200);
    assert.throws(() => parseOrThrow(batchFileSchema, { ...minimal, maxParallel: 1_001 }, 'batch.json'), /field "maxParallel" is 1001: Too big: expected number to be <=1000/);
  });

  it("takes an origin to push attempts to, and refuses one beside the GitHub forge, which pushes validated attempts itself", () => {
    const at = (repo: string, p: string): string => `${repo}/${p}`;
    const local = toBatchConfig(parseOrThrow(batchFileSchema, { ...minimal, origin: 'origin', hostWaitMs: 5_000 }, 'b'), 'b1', at);
    assert.equal(local.origin, 'origin');
    assert.equal(local.hostWaitMs, 5_000);
    assert.equal(toBatchConfig(parseOrThrow(batchFileSchema, minimal, 'b'), 'b1', at).hostWaitMs, 30_000);
    const github = parseOrThrow(batchFileSchema, { ...minimal, origin: 'origin', forge: { kind: 'github', repo: 'acme/shop' } }, 'b');
    assert.throws(() => toBatchConfig(github, 'b1', at), (err: unknown) => err instanceof BadInputError && /field "origin" is "origin"/.test(err.message) && /fix: remove "origin"/.test(err.message));
  });

  it('rejects an unknown field and names it', () => {
    assert.throws(() => parseOrThrow(batchFileSchema, { ...minimal, maxParalel: 2 }, 'batch.json'), /unknown field "maxParalel"/);
  });

  it('rejects a batch id outside [A-Za-z0-9._-]{1,64}', () => {
    assert.throws(() => parseOrThrow(batchFileSchema, { ...minimal, batchId: 'bad id!' }, 'batch.json'), /field "batchId" is "bad id!": must match \[A-Za-z0-9\._-\]\{1,64\}/);
  });

  it('turns probe shorthands into typed probes', () => {
    const b = parseOrThrow(batchFileSchema, { ...minimal, probes: [{ http: 'http://127.0.0.1:1/h', expectBody: 'ok' }, { command: 'true' }] }, 'b');
    assert.deepEqual(
      b.probes.map((p) => [p.kind, p.name]),
      [
        ['http', 'GET http://127.0.0.1:1/h'],
        ['command', 'probe 2'],
      ],
    );
  });

  it('rejects a ticket with a bad id and an unknown kind', () => {
    assert.throws(
      () => parseOrThrow(ticketFileSchema, { id: 'a/b', title: 't', kind: 'saga' }, 'a.yaml'),
      (err: BadInputError) => {
        assert.equal(err.issues.length, 2);
        assert.match(err.message, /field "id" is "a\/b"/);
        assert.match(err.message, /field "kind" is "saga"/);
        return true;
      },
    );
  });

  describe('refuses every kind of bad input, naming the field, the value and the fix', () => {
    const batchCases: [string, Record<string, unknown>, RegExp][] = [
      ['a blank gate command', { gates: [{ name: 'g', command: '   ' }] }, /field "gates.0.command" is " {3}": must be a command to run, not blank/],
      ['a blank agent command', { agent: { command: '' } }, /field "agent.command" is "": must be a command to run, not blank/],
      ['a file:// probe', { probes: [{ http: 'file:///etc/passwd' }] }, /field "probes.0.http" is "file:\/\/\/etc\/passwd": must be an http:\/\/ or https:\/\/ URL/],
      ['a javascript: probe', { probes: [{ http: 'javascript:alert(1)' }] }, /must be an http:\/\/ or https:\/\/ URL/],
      ['a method with a space', { probes: [{ http: 'http://127.0.0.1:1/', method: 'G E T' }] }, /field "probes.0.method" is "G E T": must be an HTTP method/],
      ['a time-out Node cannot time', { agent: { command: 'x', timeoutMs: 2 ** 31 } }, /field "agent.timeoutMs" is 2147483648: must be at most 2147483647 ms/],
      ['a batch id ending in .lock', { batchId: 'x.lock' }, /field "batchId" is "x.lock": it ends with ".lock", which git refuses/],
      ['a batch id with ..', { batchId: 'a..b' }, /field "batchId" is "a..b": it contains ".."/],
      ['a batch id "."', { batchId: '.' }, /field "batchId" is ".": it is "." or ".."/],
      ['a batch id ".."', { batchId: '..' }, /field "batchId" is "..": it is "." or ".."/],
      ['a batch id starting with a dot', { batchId: '.hidden' }, /it starts with "."/],
      ['a secret in agent.env', { agent: { command: 'x', env: { GITHUB_TOKEN: 'ghp_x' } } }, /field "agent.env.GITHUB_TOKEN" looks like a secret.*add "GITHUB_TOKEN" to agent.envFrom/],
      ['an envFrom that is no variable name', { agent: { command: 'x', envFrom: ['MY-KEY'] } }, /field "agent.envFrom.0" is "MY-KEY": must be an environment variable name/],
      ['a gate envFrom name with a NUL byte', { gates: [{ name: 'g', command: 'x', envFrom: ['A\u0000B'] }] }, /field "gates.0.envFrom.0" is "A\\u0000B": must be an environment variable name.*; fix: /],
      ['a forge remote starting with "-"', { forge: { kind: 'github', repo: 'acme/shop', remote: '-oProxyCommand=x' } }, /field "forge.remote" is "-oProxyCommand=x": starts with "-".*; fix: /],
      ['an absolute protected path', { protectedPaths: ['/etc/**'] }, /field "protectedPaths.0" is "\/etc\/\*\*": must be relative to the repository/],
      ['a protected path leaving the repository', { protectedPaths: ['../x'] }, /must be relative to the repository/],
      ['a relative cache folder', { agent: { command: 'x', cacheDirs: ['.npm'] } }, /field "agent.cacheDirs.0" is ".npm": must be an absolute folder/],
      ['an unknown sandbox', { agent: { command: 'x', sandbox: 'docker' } }, /field "agent.sandbox" is "docker"/],
      ['a route naming an unknown profile', { routes: { plan: 'strong' } }, /field "routes.plan" is "strong": no such profile; fix: name one of "default", or define "strong" in "agents"/],
      ['a size route naming an unknown profile', { agents: { cheap: { command: 'x' } }, routes: { implement: { S: 'cheap', M: 'mid' } } }, /field "routes.implement.M" is "mid": no such profile; fix: name one of "default", "cheap"/],
      ['a profile with neither command nor preset', { agents: { cheap: { timeoutMs: 1000 } } }, /field "agents.cheap.command" is missing: a profile needs a command to run; fix: .*"claude-code", "codex", "aider"/],
      ['an unknown preset', { agents: { cheap: { preset: 'cursor' } } }, /field "agents.cheap.preset" is "cursor"/],
      ['both agent and agents.default', { agents: { default: { command: 'y' } } }, /field "agents.default" is "agent" already.*fix: remove "agents.default"/],
      ['a split size that is no size', { plan: { splitAbove: 'XXL' } }, /field "plan.splitAbove" is "XXL"/],
    ];
    it('refuses a route for no role and a route size that is no size, naming them', () => {
      assert.throws(() => parseOrThrow(batchFileSchema, { ...minimal, routes: { deploy: 'default' } }, 'batch.json'), /unknown field "routes.deploy": remove it/);
      assert.throws(() => parseOrThrow(batchFileSchema, { ...minimal, routes: { implement: { XXL: 'default' } } }, 'batch.json'), /unknown field "routes.implement.XXL": remove it/);
    });
    it('refuses a batch without an agent, naming the field and the fix', () => {
      assert.throws(() => parseOrThrow(batchFileSchema, { repo: '/tmp/r' }, 'batch.json'), /field "agent" is missing: .*fix: give "agent": \{"command": "..."\}/);
    });
    for (const [name, fields, message] of batchCases) {
      it(`refuses ${name}`, () => {
        assert.throws(() => parseOrThrow(batchFileSchema, { ...minimal, ...fields }, 'batch.json'), (err: unknown) => {
          assert.ok(err instanceof BadInputError);
          assert.match(err.message, message);
          assert.match(err.message, /fix|must/);
          return true;
        });
      });
    }

    const ticketCases: [string, Record<string, unknown>, RegExp][] = [
      ['a ticket id ending in .lock', { id: 'x.lock' }, /field "id" is "x.lock": it ends with ".lock"/],
      ['a dependency on an id git refuses', { id: 'a', dependsOn: ['b..c'] }, /field "dependsOn.0" is "b..c": it contains ".."/],
      ['an allowPaths glob leaving the repository', { id: 'a', allowPaths: ['../../etc'] }, /field "allowPaths.0" .*must be relative to the repository/],
    ];
    for (const [name, fields, message] of ticketCases) {
      it(`refuses ${name}`, () => {
        assert.throws(() => parseOrThrow(ticketFileSchema, { title: 't', ...fields }, 'a.yaml'), message);
      });
    }
  });

  it('takes a name for a secret by its words, not by letters inside other words', () => {
    for (const name of ['DB_PASS', 'OPENAI_KEY', 'GH_PAT', 'MY_AUTH', 'SESSION_ID', 'SITE_COOKIE', 'dbPass', 'GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY']) {
      assert.equal(secretLikeName(name), true, name);
    }
    for (const name of ['PATH', 'BYPASS_CACHE', 'KEYBOARD', 'GIT_AUTHOR_NAME', 'NODE_OPTIONS', 'SSL_CERT_FILE', 'PATTERN', 'MODE']) {
      assert.equal(secretLikeName(name), false, name);
    }
  });

  it('takes a value for a secret by a known token prefix or a long random run, and says which without the value', () => {
    const fakes = [`ghp_${'Ab1'.repeat(12)}`, `Bearer gho_${'Zz9'.repeat(12)}`, `github_pat_${'AbCd3'.repeat(8)}`, 'sk-ant-abcdefghij1234', 'xoxp-1-2-abcdefghijkl', 'AKIAIOSFODNN7EXAMPL3', 'q8Zr4Lx0Vb7Nc2Mw9Kt5Hs1Jd6Fg3Pa8Ye0Ui'];
    for (const value of fakes) {
      const kind = secretLikeValue(value);
      assert.ok(kind, value);
      assert.ok(!kind.includes(value.slice(-8)), kind);
    }
    const plain = ['fast', 'e83c5163316f89bfbde7d9ab23ca2e25604af290', '/home/me/projects/app-v2/node_modules/.bin', 'https://example.com/api/v1/some/long/path/with/words2', 'task-runner', 'claude-3-5-sonnet-20241022', '550e8400-e29b-41d4-a716-446655440000'];
    for (const value of plain) assert.equal(secretLikeValue(value), undefined, value);
  });
});
