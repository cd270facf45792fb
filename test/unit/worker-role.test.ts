/**
 * The worker process's settings (workers/main.ts): its role (split by default), where a split worker's activities
 * process serves its metrics, and the metrics address; bad values are a BadInputError naming the source and the fix.
 */
import assert from 'node:assert/strict';
import { metricsAddress, nextPort, workerRole } from '../../workers/main';
import { BadInputError } from '../../workflows/input';

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
});
