import assert from 'node:assert/strict';
import { oracle } from '../../workflows/oracle';

describe('oracle', () => {
  it('is satisfied when every ticket is done or human-gated', () => {
    const v = oracle(['a', 'b'], [
      { id: 'a', state: 'done' },
      { id: 'b', state: 'human-gated' },
    ]);
    assert.equal(v.satisfied, true);
    assert.deepEqual(v.done, ['a']);
    assert.deepEqual(v.humanGated, ['b']);
  });

  it('keeps a merged but not verified ticket pending: merged is not shipped', () => {
    const v = oracle(['a'], [{ id: 'a', state: 'merged' }]);
    assert.equal(v.satisfied, false);
    assert.deepEqual(v.pending, [{ id: 'a', state: 'merged' }]);
  });

  it('treats a ticket the tracker does not know as pending, not done', () => {
    const v = oracle(['a', 'b'], [{ id: 'a', state: 'done' }]);
    assert.equal(v.satisfied, false);
    assert.deepEqual(v.pending, [{ id: 'b', state: 'missing' }]);
  });

  it('does not count a ticket waiting at a human gate as human-gated', () => {
    assert.equal(oracle(['a'], [{ id: 'a', state: 'awaiting-human' }]).satisfied, false);
  });

  it('is never satisfied by an empty batch', () => {
    assert.equal(oracle([], []).satisfied, false);
  });
});
