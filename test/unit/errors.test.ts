import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { ConfigError, GitError, toFailure } from '../../activities/errors';
import { BadInputError } from '../../workflows/input';

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
