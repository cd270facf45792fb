/**
 * The batch's carry at continue-as-new and its wire form (workflows/carry.ts): it comes back as it went, and at
 * 10,000 tickets it and the run report's rows fit Temporal's 2 MB payload limit with room to spare.
 */
import assert from 'node:assert/strict';
import { decodeCarry, encodeCarry, endDone, loadedCarry, rowOf, type BatchCarry } from '../../workflows/carry';
import type { TicketNode } from '../../workflows/types';

const MB = 1024 * 1024;
const sha = (i: number): string => i.toString(16).padStart(40, 'a');
const id = (i: number): string => `t${String(i).padStart(5, '0')}`;

/** A carry of `n` tickets in chains of 4, the first `ended` of them ended done by their workflows, 16 running. */
function carryOf(n: number, ended: number): BatchCarry {
  const startedAt = 1_763_700_000_000;
  const tickets: TicketNode[] = Array.from({ length: n }, (_, i) => ({
    id: id(i),
    title: `Make endpoint ${String(i).padStart(5, '0')} answer ok`.padEnd(30, '.'),
    dependsOn: i % 4 === 0 ? [] : [id(i - 1)],
    state: 'todo',
  }));
  const carry = loadedCarry({ config: { batchId: 'big' } as never, tickets, doneFingerprint: 'f'.repeat(64), trackerKey: 'k'.repeat(20) }, startedAt);
  for (let i = 0; i < ended; i++) endDone(carry, id(i), sha(i), startedAt + 1000 + i * 600);
  carry.running = tickets.slice(ended, Math.min(n, ended + 16)).map((t) => t.id);
  carry.started.push(...carry.running);
  carry.phases = carry.running.map((r) => [r, 'implement']);
  for (const t of tickets.slice(ended)) {
    const running = carry.running.includes(t.id);
    carry.states.push([t.id, running ? 'in-progress' : 'todo']);
    if (!running) carry.expected.push([t.id, 'todo']);
  }
  return carry;
}

const bytes = (x: unknown): number => Buffer.byteLength(JSON.stringify(x));

describe('the batch carry at continue-as-new', () => {
  it('comes back from its wire form as it went, through JSON', () => {
    const carry = carryOf(40, 20);
    // The cases the wire form tells again or leaves out: a human-gated row with a reason and an intervention, a
    // blocked ticket's evidence (no row merge commit), a person's evidence, a tamper, an id outside the graph.
    carry.rows.push([id(25), rowOf({ ticketId: id(25), outcome: 'human-gated', attempts: 2, reason: 'attempts exhausted', interventions: [{ kind: 'reject', ticketId: id(25), gate: 'attempts-exhausted', by: 'ana', at: 5 }], tamperings: [], guardedBy: [] } as never)]);
    carry.evidence[id(25)] = { outcome: 'human-gated', source: 'workflow', note: 'its workflow ended human-gated: attempts exhausted', at: carry.startedAt + 7 };
    carry.evidence[id(26)] = { outcome: 'human-gated', source: 'blocked', note: `blocked by human-gated ticket ${id(25)}`, at: carry.startedAt + 8 };
    carry.rows.push([id(26), { ticketId: id(26), outcome: 'human-gated', attempts: 0, reason: `blocked by human-gated ticket ${id(25)}` }]);
    carry.evidence[id(27)] = { outcome: 'done', source: 'person', note: "ana accepted the tracker's done after a tracker tamper", at: carry.startedAt + 9 };
    carry.evidence[id(3)].note = 'a note that is not the one told again';
    carry.loaded.tickets[30] = { ...carry.loaded.tickets[30], state: 'done', stateNote: 'merged by hand' };
    carry.started.push('outside');
    carry.expected.push(['outside', 'todo']);
    carry.tampers.push({ ticketId: id(27), from: 'todo', to: 'done', at: 3, seenBy: 'batch', resolved: { by: 'ana', at: 4, action: 'accepted' } });
    const back = decodeCarry(JSON.parse(JSON.stringify(encodeCarry(carry))));
    const norm = (c: BatchCarry) => JSON.parse(JSON.stringify({ ...c, states: [...c.states].sort(), expected: [...c.expected].sort(), rows: [...c.rows].sort() }));
    assert.deepEqual(norm(back), norm(carry));
  });

  it('carries each node\'s kind, and decodes a wire form from before kinds were kept without any', () => {
    const carry = carryOf(6, 2);
    carry.loaded.tickets[1] = { ...carry.loaded.tickets[1], kind: 'bug' };
    carry.loaded.tickets[4] = { ...carry.loaded.tickets[4], kind: 'refactor' };
    const wire = encodeCarry(carry);
    assert.deepEqual(wire.kinds, [-1, 1, -1, -1, 3, -1]);
    const back = decodeCarry(JSON.parse(JSON.stringify(wire)));
    assert.deepEqual(back.loaded.tickets.map((t) => t.kind), [undefined, 'bug', undefined, undefined, 'refactor', undefined]);
    const { kinds: _kinds, ...before } = wire;
    assert.ok(decodeCarry(JSON.parse(JSON.stringify(before))).loaded.tickets.every((t) => !('kind' in t)));
    assert.equal(encodeCarry(carryOf(6, 2)).kinds, undefined, 'no column when no node has a kind');
  });

  it('takes a carry from a run before the wire form as it is', () => {
    const carry = carryOf(8, 4);
    assert.deepEqual(decodeCarry(JSON.parse(JSON.stringify(carry))), JSON.parse(JSON.stringify(carry)));
  });

  it('fits 10,000 tickets, and their report rows, well within the 2 MB payload limit', () => {
    const n = 10_000;
    const half = encodeCarry(carryOf(n, n / 2));
    const last = carryOf(n, n - 16);
    const wire = encodeCarry(last);
    const rows = last.rows.map(([, r]) => r);
    console.log(
      `      10,000 tickets: carry ${(bytes(half) / MB).toFixed(2)} MB half-way, ${(bytes(wire) / MB).toFixed(2)} MB near the end ` +
        `(as plain objects: ${(bytes(last) / MB).toFixed(2)} MB); report rows ${(bytes(rows) / MB).toFixed(2)} MB`,
    );
    assert.ok(bytes(wire) < 1.5 * MB, `the carry is ${bytes(wire)} bytes`);
    assert.ok(bytes(half) < 1.5 * MB, `the carry half-way is ${bytes(half)} bytes`);
    assert.ok(bytes(rows) < 1.5 * MB, `the rows are ${bytes(rows)} bytes`);
  });
});
