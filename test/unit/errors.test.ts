import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { toFailure } from '../../activities/errors';
import { EXIT, exitCodeFor } from '../../client/errors';
import { BadInputError, BatchFailedError, ConfigError, GitError, NON_RETRYABLE } from '../../workflows/errors';

describe('activity boundary errors', () => {
  it('turns bad input into a non-retryable ApplicationFailure of type BadInput with the same message', () => {
    assert.throws(
      () => toFailure(new BadInputError('batch.json', ['field "maxParallel" is "two": expected number'])),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(err.type, 'BadInput');
        assert.equal(err.nonRetryable, true);
        assert.equal(err.message, 'batch.json: field "maxParallel" is "two": expected number');
        return true;
      },
    );
  });

  it('turns a configuration error into a non-retryable failure naming its type', () => {
    assert.throws(() => toFailure(new ConfigError('field "repo" is "/x": not a git repository')), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'ConfigError');
      assert.equal(err.nonRetryable, true);
      return true;
    });
  });

  it('rethrows transient faults unchanged so Temporal retries them', () => {
    const busy = new GitError('index.lock exists');
    assert.throws(() => toFailure(busy), (err: unknown) => err === busy);
    const plain = new Error('ECONNRESET');
    assert.throws(() => toFailure(plain), (err: unknown) => err === plain);
  });
});

describe('CLI exit codes', () => {
  it('exits 2 for bad input and for a configuration error, thrown here or as the type of the batch failure', () => {
    assert.equal(exitCodeFor(new BadInputError('batch.json', ['field "maxParallel" is "two"'])), EXIT.BAD_INPUT);
    assert.equal(exitCodeFor(new ConfigError('field "repo" is "/x": not a git repository')), EXIT.BAD_INPUT);
    for (const type of NON_RETRYABLE) assert.equal(exitCodeFor(new BatchFailedError('b1', 'refused', type)), EXIT.BAD_INPUT, type);
    assert.equal(exitCodeFor(new BatchFailedError('b1', 'a ticket failed', 'GitError')), EXIT.NOT_DONE);
    assert.equal(exitCodeFor(new GitError('index.lock exists')), EXIT.NOT_DONE);
  });
});
