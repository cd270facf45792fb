/**
 * The worker process's settings (workers/main.ts): its role (split by default), where a split worker's activities
 * process serves its metrics, and the metrics address; bad values are a BadInputError naming the source and the fix.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { workerWorktrees } from '../../activities';
import { metricsAddress, nextPort, workerIdOf, workerRole } from '../../workers/main';
import { defaultWorkerId, hostTaskQueue } from '../../workers/worker';
import { BadInputError } from '../../workflows/errors';

describe('worker process settings', () => {
  it('splits by default and takes every role by name', () => {
    assert.equal(workerRole(undefined, 'RATCHET_WORKER_ROLE'), 'split');
    assert.equal(workerRole('', 'RATCHET_WORKER_ROLE'), 'split');
    for (const role of ['split', 'all', 'workflows', 'activities']) assert.equal(workerRole(role, '--role'), role);
  });

  it('refuses an unknown role, naming the source, the value and the roles', () => {
    assert.throws(
      () => workerRole('both', '--role'),
      (err: unknown) => err instanceof BadInputError && /--role/.test(err.message) && /"both"/.test(err.message) && /split, all, workflows, activities/.test(err.message),
    );
  });

  it('serves the activities process metrics on the next port, and checks the address', () => {
    assert.equal(nextPort('0.0.0.0:9464'), '0.0.0.0:9465');
    assert.equal(nextPort('[::1]:9464'), '[::1]:9465');
    assert.equal(metricsAddress('127.0.0.1:9464', '--metrics'), '127.0.0.1:9464');
    assert.throws(() => metricsAddress('9464', '--metrics'), (err: unknown) => err instanceof BadInputError && /--metrics/.test(err.message) && /host:port/.test(err.message));
  });

  it("names the worker-specific task queue after the worker's id: the host, and a digest of its own worktrees folder", () => {
    const host = os.hostname().replace(/[^A-Za-z0-9._-]/g, '-');
    assert.equal(defaultWorkerId(), host);
    assert.match(defaultWorkerId('/srv/a'), new RegExp(`^${host}-[0-9a-f]{8}$`));
    assert.notEqual(defaultWorkerId('/srv/a'), defaultWorkerId('/srv/b'));
    assert.equal(defaultWorkerId('/srv/a'), defaultWorkerId('/srv/a/'), 'one folder, one id, however it is written');
    assert.equal(hostTaskQueue('ratchet', 'build-2'), 'ratchet@build-2');
    assert.equal(workerIdOf(undefined, 'RATCHET_WORKER_ID'), undefined);
    assert.equal(workerIdOf('build-2', '--worker-id'), 'build-2');
    assert.throws(() => workerIdOf('a b', '--worker-id'), (err: unknown) => err instanceof BadInputError && /--worker-id/.test(err.message) && /"a b"/.test(err.message));
  });

  it("keeps a batch's worktrees in the worker's own folder, one folder per repository", () => {
    const config = { repo: '/src/shop', worktreesDir: '/src/shop/.ratchet/worktrees' };
    assert.equal(workerWorktrees(config, undefined), config.worktreesDir);
    const mine = workerWorktrees(config, '/var/ratchet');
    assert.match(mine, /^\/var\/ratchet\/shop-[0-9a-f]{8}$/);
    assert.notEqual(mine, workerWorktrees({ repo: '/other/shop', worktreesDir: '' }, '/var/ratchet'), 'two repositories named alike do not meet');
  });
});
