import assert from 'node:assert/strict';
import { BadInputError, batchFileSchema, parseOrThrow, ticketFileSchema } from '../../workflows/input';

const minimal = { repo: '/tmp/r', agent: { command: 'true' } };

describe('batch file and ticket file validation', () => {
  it('fills defaults for a minimal batch file', () => {
    const b = parseOrThrow(batchFileSchema, minimal, 'batch.json');
    assert.equal(b.baseBranch, 'main');
    assert.equal(b.maxParallel, 2);
    assert.equal(b.maxAttempts, 3);
    assert.equal(b.agent.timeoutMs, 20 * 60_000);
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
      () => parseOrThrow(ticketFileSchema, { id: 'a/b', title: 't', kind: 'epic' }, 'a.yaml'),
      (err: BadInputError) => {
        assert.equal(err.issues.length, 2);
        assert.match(err.message, /field "id" is "a\/b"/);
        assert.match(err.message, /field "kind" is "epic"/);
        return true;
      },
    );
  });
});
