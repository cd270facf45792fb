import assert from 'node:assert/strict';
import { oracle } from '../../workflows/oracle';
import type { Evidence } from '../../workflows/types';

const done: Evidence = { outcome: 'done', source: 'workflow', note: 'merge abc', at: 1 };
const gated: Evidence = { outcome: 'human-gated', source: 'workflow', note: 'rejected', at: 1 };

describe('oracle', () => {
  it('is satisfied when every ticket is done or human-gated in the tracker and in ratchet\'s evidence', () => {
    const v = oracle(
      ['a', 'b'],
      [
        { id: 'a', state: 'done' },
        { id: 'b', state: 'human-gated' },
      ],
      { a: done, b: gated },
    );
    assert.equal(v.satisfied, true);
    assert.deepEqual(v.done, ['a']);
    assert.deepEqual(v.humanGated, ['b']);
  });

  it('does not count a tracker "done" that ratchet has no evidence for (an agent wrote it)', () => {
    const v = oracle(['a'], [{ id: 'a', state: 'done' }], {});
    assert.equal(v.satisfied, false);
    assert.deepEqual(v.pending, [{ id: 'a', state: 'done', why: 'no evidence: ratchet did not record done for it in this batch' }]);
  });

  it('does not count a tracker state that contradicts the evidence', () => {
    const v = oracle(['a'], [{ id: 'a', state: 'done' }], { a: gated });
    assert.equal(v.satisfied, false);
    assert.match(v.pending[0].why ?? '', /recorded human-gated, not done/);
  });

  it('does not count evidence the tracker does not confirm', () => {
    const v = oracle(['a'], [{ id: 'a', state: 'merged' }], { a: done });
    assert.equal(v.satisfied, false);
    assert.deepEqual(v.pending, [{ id: 'a', state: 'merged' }]);
  });

  it('keeps a merged but not verified ticket pending: merged is not shipped', () => {
    const v = oracle(['a'], [{ id: 'a', state: 'merged' }], {});
    assert.equal(v.satisfied, false);
    assert.deepEqual(v.pending, [{ id: 'a', state: 'merged' }]);
  });

  it('treats a ticket missing from the facts as pending, never done', () => {
    const v = oracle(['a', 'b'], [{ id: 'a', state: 'done' }], { a: done, b: done });
    assert.equal(v.satisfied, false);
    assert.deepEqual(v.pending, [{ id: 'b', state: 'missing' }]);
  });

  it('is not satisfied by an empty batch', () => {
    assert.equal(oracle([], [], {}).satisfied, false);
  });
});
