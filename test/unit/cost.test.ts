/** What agent runs cost, added up (workflows/cost.ts): by role and profile, unknown kept apart, never counted as zero. */
import assert from 'node:assert/strict';
import { CostLedger } from '../../workflows/cost';

describe('the cost ledger', () => {
  it('adds runs by role and profile, and keeps runs without a cost apart: a floor, never zero', () => {
    const l = new CostLedger();
    assert.equal(l.usd, undefined);
    assert.equal(l.describe(), '$0 (no agent run yet)');
    l.add('implement', 'cheap', {});
    assert.equal(l.usd, undefined, 'one run, no cost reported: unknown');
    assert.equal(l.describe(), 'unknown (1 run reported no cost)');
    l.add('implement', 'cheap', { costUsd: 0.1, tokens: 1_000 });
    l.add('review', 'strong', { costUsd: 0.25 });
    l.add('implement', 'cheap', { costUsd: 0.05, tokens: 500 });
    assert.equal(l.usd, 0.4);
    assert.equal(l.tokens, 1_500);
    assert.equal(l.usdUnknown, 1);
    assert.equal(l.describe(), '$0.40 and 1 run of unknown cost');
    assert.deepEqual(
      l.entries.map((e) => [e.role, e.profile, e.runs, e.usd, e.usdUnknown]),
      [
        ['implement', 'cheap', 3, 0.15000000000000002, 1],
        ['review', 'strong', 1, 0.25, 0],
      ],
    );
  });

  it('ignores a cost that is no amount (negative, NaN) as unknown', () => {
    const l = new CostLedger();
    l.add('plan', 'default', { costUsd: -1 });
    l.add('plan', 'default', { costUsd: Number.NaN });
    assert.equal(l.usd, undefined);
    assert.equal(l.usdUnknown, 2);
  });
});
