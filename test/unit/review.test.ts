/** The review's pure rules (workflows/review.ts): which tickets are reviewed, and whether a BLOCK's findings were resolved. */
import assert from 'node:assert/strict';
import { blockFeedback, DEFAULT_REVIEW, judgeResolution, reviewWanted, type ReviewRecord } from '../../workflows/review';

describe('the review before merge: its rules', () => {
  it('reviews by size and kind, and leaves small work to the paths it touches', () => {
    assert.equal(reviewWanted(DEFAULT_REVIEW.when, 'feature', 'M'), 'yes');
    assert.equal(reviewWanted(DEFAULT_REVIEW.when, 'feature', 'unknown'), 'yes');
    assert.equal(reviewWanted(DEFAULT_REVIEW.when, 'feature', 'S'), 'no', 'small work is not reviewed by default');
    assert.equal(reviewWanted({ ...DEFAULT_REVIEW.when, paths: ['src/auth/**'] }, 'feature', 'S'), 'paths');
    assert.equal(reviewWanted({ ...DEFAULT_REVIEW.when, kinds: ['bug'] }, 'chore', 'L'), 'no');
  });

  it('marks the last BLOCK resolved when the next review allows, or does not repeat its findings', () => {
    const block: ReviewRecord = { attempt: 1, profile: 'strong', verdict: 'BLOCK', findings: [{ file: 'a.js', what: 'Leaks  the token', why: 'logs' }] };
    assert.equal(judgeResolution([block], { attempt: 2, profile: 'strong', verdict: 'ALLOW', findings: [] })[0].resolved, true);
    const again: ReviewRecord = { attempt: 2, profile: 'strong', verdict: 'BLOCK', findings: [{ file: 'a.js', what: 'leaks the token', why: 'still' }] };
    assert.equal(judgeResolution([block], again)[0].resolved, false, 'the same finding again: not resolved');
    const other: ReviewRecord = { ...again, findings: [{ file: 'b.js', what: 'another thing', why: 'new' }] };
    assert.equal(judgeResolution([block], other)[0].resolved, true);
    // A review that gave no verdict says nothing about the findings.
    const none: ReviewRecord = { attempt: 2, profile: 'strong', verdict: 'none', findings: [], why: 'crashed' };
    assert.equal(judgeResolution([block], none)[0].resolved, undefined, 'still open');
  });

  it('writes each finding on a line of the next attempt\'s feedback', () => {
    const text = blockFeedback(1, 'strong', [{ file: 'a.js', line: 4, what: 'off by one', why: 'the last item is skipped' }]);
    assert.match(text, /^Attempt 1: the reviewer \(strong\) blocked the merge/);
    assert.match(text, /^- a\.js:4: off by one \(why: the last item is skipped\)$/m);
  });
});
