import assert from 'node:assert/strict';
import { discoveredCheck, startTerms } from '../../workflows/discovered-check';
import { discoveredId, discoverRequestToWork, discoveryProblem, overCap } from '../../workflows/discovery';
import { parseAgentDiscovered } from '../../workflows/input';
import type { DiscoveredRecord, Gate } from '../../workflows/types';

const nodes = [
  { id: 'a', dependsOn: [] },
  { id: 'b', dependsOn: ['a'] },
];
const person = { kind: 'person' as const, by: 'ana' };
const work = (extra: Partial<ReturnType<typeof discoverRequestToWork>> & { id: string }) => ({ title: 't', body: '', acceptance: [], kind: 'discovered' as const, dependsOn: [], blocks: [], ...extra });

describe('discovered work rules', () => {
  it('turns a discover payload into work, refusing each bad field by name', () => {
    assert.deepEqual(discoverRequestToWork({ by: 'ana', title: ' Fix it ', dependsOn: ['a', 'a'] }), {
      id: undefined,
      title: 'Fix it',
      body: '',
      acceptance: [],
      kind: 'discovered',
      dependsOn: ['a'],
      blocks: [],
    });
    assert.throws(() => discoverRequestToWork({ by: ' ', title: 'x' }), /field "by" is " "/);
    assert.throws(() => discoverRequestToWork({ by: 'ana', title: '' }), /field "title" is ""/);
    assert.throws(() => discoverRequestToWork({ by: 'ana', title: 'x', id: 'a..b' }), /field "id" is "a..b": it contains ".."/);
    assert.throws(() => discoverRequestToWork({ by: 'ana', title: 'x', kind: 'saga' as never }), /field "kind" is "saga": use one of feature, bug/);
    assert.throws(() => discoverRequestToWork({ by: 'ana', title: 'x', blocks: 'b' as never }), /field "blocks" must be a list of strings/);
  });

  it('refuses ids already in the batch, unknown edges, blocking a started ticket, and cycles, naming the cycle', () => {
    assert.equal(discoveryProblem(work({ id: 'n', dependsOn: ['a'], blocks: ['b'] }), nodes, new Set(), person), undefined);
    assert.match(discoveryProblem(work({ id: 'a' }), nodes, new Set(), person) ?? '', /"a" is already in the batch/);
    assert.match(discoveryProblem(work({ id: 'n', dependsOn: ['z'] }), nodes, new Set(), person) ?? '', /field "dependsOn" names "z", not in the batch/);
    assert.match(discoveryProblem(work({ id: 'n', blocks: ['a'] }), nodes, new Set(['a']), person) ?? '', /"a", already started/);
    // An agent's own ticket is started, and may still be blocked by what its attempt found.
    assert.equal(discoveryProblem(work({ id: 'n', blocks: ['a'] }), nodes, new Set(['a']), { kind: 'agent', ticketId: 'a', attempt: 1 }), undefined);
    assert.match(discoveryProblem(work({ id: 'n', dependsOn: ['b'], blocks: ['a'] }), nodes, new Set(), person) ?? '', /dependency cycle (a -> n -> b -> a|n -> b -> a -> n|b -> a -> n -> b)/);
  });

  it('caps agents\' filed work per batch and per ticket, never a person\'s', () => {
    const rec = (ticketId: string, kind: 'agent' | 'person' = 'agent'): DiscoveredRecord => ({
      title: 't',
      filedBy: kind === 'agent' ? { kind, ticketId, attempt: 1 } : { kind, by: 'ana' },
      dependsOn: [],
      blocks: [],
      status: 'filed',
      at: 0,
    });
    const limits = { maxPerBatch: 3, maxPerTicket: 2 };
    assert.equal(overCap([rec('a'), rec('x', 'person'), rec('x', 'person')], 'a', limits), undefined);
    assert.match(overCap([rec('a'), rec('a')], 'a', limits) ?? '', /ticket a's agents filed 2 .*cap 2 per ticket/);
    assert.match(overCap([rec('a'), rec('b'), rec('c')], 'd', limits) ?? '', /batch's agents filed 3 .*cap 3/);
  });

  it('names discovered tickets after the ticket that found them, within 64 characters and the branch-name rules', () => {
    assert.equal(discoveredId('greet', 2), 'greet-d2');
    assert.equal(discoveredId(undefined, 1), 'discovered-1');
    assert.equal(discoveredId('x'.repeat(64), 1).length, 64);
    assert.equal(discoveredId('x'.repeat(64), 1), `${'x'.repeat(61)}-d1`);
  });

  it('reads an agent result\'s discovered list, refusing bad entries by index and never taking ids or edges from it', () => {
    const { work, problems } = parseAgentDiscovered({
      discovered: [{ title: 'Flag', blocksThisTicket: true, id: 'evil', dependsOn: ['x'] }, { body: 'no title' }, { title: 'x'.repeat(201) }],
    });
    assert.deepEqual(work, [{ title: 'Flag', body: '', acceptance: [], kind: 'discovered', blocksThisTicket: true, dependsOn: [], blocks: [] }]);
    assert.equal(problems.length, 2);
    assert.match(problems[0], /^discovered\[1\]: field "title"/);
    assert.match(problems[1], /^discovered\[2\]: field "title"/);
    assert.deepEqual(parseAgentDiscovered({ summary: 'no list' }), { work: [], problems: [] });
    assert.match(parseAgentDiscovered({ discovered: 'x' }).problems[0], /is not a list/);
    assert.equal(parseAgentDiscovered({ discovered: Array.from({ length: 12 }, (_, i) => ({ title: `t${i}` })) }).work.length, 10);
  });
});

describe('what checks an agent-filed discovered ticket (issue 25 item 7)', () => {
  const agent = { kind: 'agent' as const, ticketId: 'x', attempt: 1 };
  const heal = { kind: 'agent' as const, ticketId: 'x', attempt: -1, heal: 1 };
  const probe = { kind: 'command' as const, name: 'flag on', command: 'test -f flag', timeoutMs: 1_000, files: [] };
  const gate = (extra: Partial<Gate> = {}): Gate => ({ name: 'test', command: 'npm test', timeoutMs: 1_000, files: [], tests: [], envFrom: [], ...extra });
  const junitGate = gate({ junit: 'report.xml', tests: ['test/**'] });

  it('lets a person\'s work run as filed: their word is the check', () => {
    assert.equal(discoveredCheck({ kind: 'discovered' }, person, [], []), undefined);
  });

  it('runs an agent\'s bug ticket on its own only with a gate that declares its test report and its tests', () => {
    assert.equal(discoveredCheck({ kind: 'bug' }, agent, [], [junitGate])?.check, 'failing-test');
    assert.equal(discoveredCheck({ kind: 'bug' }, agent, [], [gate({ junit: 'report.xml' })])?.check, 'approve', 'no tests: no fail-to-pass run');
    assert.match(discoveredCheck({ kind: 'bug' }, agent, [], [gate()])?.note ?? '', /no gate declares both its test report \("junit"\) and its test files \("tests"\)/);
  });

  it('verifies a heal\'s activation gap with its finder\'s probes; an implement agent\'s work never inherits them', () => {
    assert.equal(discoveredCheck({ kind: 'discovered' }, heal, [probe], [])?.check, 'finder-probes');
    // A finder with only batch probes verifies live again with them once its gap is done (the GitHub demo's).
    const batchOnly = discoveredCheck({ kind: 'discovered' }, heal, [], []);
    assert.equal(batchOnly?.check, 'finder-probes');
    assert.match(batchOnly?.note ?? '', /^checked by x verifying live again once it is done/);
    assert.equal(discoveredCheck({ kind: 'discovered' }, agent, [probe], [junitGate])?.check, 'approve');
  });

  it('makes an unchecked ticket wait for a person, saying why, and starts a gap with its finder\'s probes', () => {
    const waits = discoveredCheck({ kind: 'feature' }, agent, [], []);
    assert.match(waits?.note ?? '', /^waits for a person's approve before it starts: an agent filed it and nothing executable checks it \(no probes of its own/);
    const record = (check: DiscoveredRecord['check'], filedBy: DiscoveredRecord['filedBy'] = agent): DiscoveredRecord => ({ ticketId: 'x-d1', title: 't', filedBy, dependsOn: [], blocks: [], status: 'filed', at: 0, check, reason: waits?.note });
    assert.deepEqual(startTerms(record('approve'), {}), { approveFirst: waits?.note });
    assert.deepEqual(startTerms(record('finder-probes', heal), { x: [probe] }), { probes: [probe] });
    assert.deepEqual(startTerms(record('failing-test'), {}), {});
    assert.deepEqual(startTerms(record(undefined), {}), {}, 'filed by older code');
    assert.deepEqual(startTerms(undefined, {}), {});
  });
});
