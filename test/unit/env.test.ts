import assert from 'node:assert/strict';
import { BASE_ENV_NAMES, commandEnv, resolveEnvFrom } from '../../activities/env';
import { ConfigError } from '../../workflows/errors';

const worker: NodeJS.ProcessEnv = {
  PATH: '/usr/bin:/bin',
  HOME: '/home/w',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  LC_TIME: 'en_GB.UTF-8',
  TMPDIR: '/var/tmp',
  GITHUB_TOKEN: 'ghp_worker_token',
  ANTHROPIC_API_KEY: 'sk-ant-worker',
  LCX_NOT_LOCALE: 'x',
  NODE_OPTIONS: '--inspect',
};

describe('resolveEnvFrom', () => {
  it('takes the named variables from the worker environment', () => {
    assert.deepEqual(resolveEnvFrom(['ANTHROPIC_API_KEY', 'HOME'], worker, 'agent.envFrom'), {
      ANTHROPIC_API_KEY: 'sk-ant-worker',
      HOME: '/home/w',
    });
    assert.deepEqual(resolveEnvFrom([], worker, 'agent.envFrom'), {});
  });

  it('counts a variable set to the empty string as present', () => {
    assert.deepEqual(resolveEnvFrom(['EMPTY'], { EMPTY: '' }, 'agent.envFrom'), { EMPTY: '' });
  });

  it('throws a non-retryable ConfigError naming the field, the variable and the fix when one is missing', () => {
    assert.throws(
      () => resolveEnvFrom(['HOME', 'OPENAI_API_KEY'], worker, 'gates[1].envFrom'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.nonRetryable &&
        err.message ===
          'field "gates[1].envFrom" names OPENAI_API_KEY but the worker\'s environment has no such variable; ' +
            'fix: export OPENAI_API_KEY before starting "ratchet worker"',
    );
  });
});

describe('commandEnv', () => {
  it('passes only the allowlisted worker variables, every LC_* included', () => {
    assert.deepEqual(commandEnv({ source: worker }), {
      PATH: '/usr/bin:/bin',
      HOME: '/home/w',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      LC_TIME: 'en_GB.UTF-8',
      TMPDIR: '/var/tmp',
    });
  });

  it('keeps worker secrets out unless they are named', () => {
    const env = commandEnv({ source: worker });
    assert.equal(env.GITHUB_TOKEN, undefined);
    assert.equal(env.ANTHROPIC_API_KEY, undefined);
    const named = commandEnv({ source: worker, fromWorker: resolveEnvFrom(['ANTHROPIC_API_KEY'], worker, 'agent.envFrom') });
    assert.equal(named.ANTHROPIC_API_KEY, 'sk-ant-worker');
    assert.equal(named.GITHUB_TOKEN, undefined);
  });

  it('layers base, plain, fromWorker and protocol, the protocol winning', () => {
    const env = commandEnv({
      source: worker,
      plain: { HOME: '/plain', MODE: 'plain', TOOL: 'plain' },
      fromWorker: { MODE: 'worker', TOOL: 'worker', RATCHET_PROMPT: 'worker' },
      protocol: { RATCHET_PROMPT: '/run/prompt.md' },
    });
    assert.equal(env.HOME, '/plain');
    assert.equal(env.MODE, 'worker');
    assert.equal(env.TOOL, 'worker');
    assert.equal(env.RATCHET_PROMPT, '/run/prompt.md');
    assert.equal(env.PATH, '/usr/bin:/bin');
  });

  it('reads process.env when no source is given', () => {
    const env = commandEnv({});
    assert.equal(env.PATH, process.env.PATH);
    for (const name of Object.keys(env)) {
      assert.ok(BASE_ENV_NAMES.includes(name) || name.startsWith('LC_'), `${name} is not on the allowlist`);
    }
  });
});
