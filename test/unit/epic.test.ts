import assert from 'node:assert/strict';
import { checkDecomposition, checkOf, normalTitle, refusalFeedback, type DecompositionContext } from '../../workflows/epic/check';
import { applyEdits } from '../../workflows/epic/edit';
import { proposalLines } from '../../workflows/epic/view';
import { batchFileSchema, parseOrThrow, ticketFileSchema } from '../../workflows/input';
import type { Probe } from '../../workflows/types';

const health: Probe = { kind: 'command', name: 'health', command: 'true', timeoutMs: 1000, files: [] };
const ctx: DecompositionContext = {
  epicId: 'E1',
  epicProbes: [health],
  gates: [{ name: 'test', tests: ['test/**/*.test.js'] }],
  existing: [
    { id: 'E1', title: 'Greetings in three languages' },
    { id: 'old', title: 'Add a README' },
  ],
  maxTickets: 4,
};
const sub = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  title: `Do ${id}`,
  body: `the ${id} part`,
  acceptance: [`${id} works`],
  kind: 'feature',
  size: 'S',
  dependsOn: [],
  paths: [`src/${id}.js`, `test/${id}.test.js`],
  ...extra,
});

describe('an epic decomposition check', () => {
  it('accepts a sound answer and orders it for filing, each after what it depends on', () => {
    const v = checkDecomposition({ tickets: [sub('b', { dependsOn: ['a'] }), sub('a', { paths: ['src/a.js'], probes: ['health'] })] }, ctx);
    assert.ok(v.ok, JSON.stringify(v));
    assert.deepEqual(
      v.tickets.map((t) => [t.id, t.dependsOn, t.checkedBy]),
      [
        ['E1-a', [], 'probes health'],
        ['E1-b', ['E1-a'], 'gate test runs test/b.test.js'],
      ],
    );
    assert.deepEqual(v.tickets[0].probes, [health]);
  });

  it('names every problem at once: schema, unknown and cyclic edges, no executable check, duplicates, the cap', () => {
    const v = checkDecomposition(
      [
        sub('a', { dependsOn: ['c'] }),
        sub('b', { dependsOn: ['a', 'zz', 'b'] }),
        sub('c', { dependsOn: ['b'] }),
        sub('d', { paths: ['src/d.js'] }),
        sub('e', { kind: 'epic', size: 'XL' }),
        sub('f', { title: 'add a readme!' }),
        sub('a', { title: 'Other a' }),
      ],
      ctx,
    );
    assert.equal(v.ok, false);
    const problems = v.ok ? [] : v.problems;
    const want = [
      /^the answer holds 7 sub-tickets, more than decompose.maxTickets \(4\)/,
      /^sub-ticket 5 \("Do e"\): field "kind" is "epic": .*fix: use one of the listed values/,
      /^sub-ticket 5 \("Do e"\): field "size" is "XL"/,
      /^sub-ticket "a" \("Other a"\): id "a" is also sub-ticket 1's; fix: give each sub-ticket its own id/,
      /^sub-ticket "b" \("Do b"\): "dependsOn" names "zz", which is no sub-ticket of this answer/,
      /^sub-ticket "b" \("Do b"\): "dependsOn" names the sub-ticket itself/,
      /^dependency cycle "a" -> "c" -> "b" -> "a": no order can run them; fix: remove one of these dependsOn edges$/,
      /^sub-ticket "d" \("Do d"\): it has no executable acceptance check: .*\(test\/\*\*\/\*\.test\.js\); fix: add a probe/,
      /^sub-ticket "f" \("add a readme!"\): duplicates ticket old of the tracker \(same title\)/,
      /^sub-ticket "a" \("Other a"\): .*/,
    ];
    for (const w of want) assert.ok(problems.some((p) => w.test(p)), `no problem matches ${w}:\n${problems.join('\n')}`);
  });

  it('refuses what is not a list, an empty list, an id the tracker has, an unknown epic probe and twin titles', () => {
    assert.match((checkDecomposition('split it', ctx) as { problems: string[] }).problems[0], /^the answer is "split it", not a list of sub-tickets; fix: write \{"tickets"/);
    assert.match((checkDecomposition([], ctx) as { problems: string[] }).problems[0], /holds no sub-tickets/);
    const taken = checkDecomposition([sub('a')], { ...ctx, existing: [{ id: 'E1-a', title: 'x' }] });
    assert.deepEqual(taken.ok ? [] : taken.problems, ['sub-ticket "a" ("Do a"): the tracker already has a ticket "E1-a"; fix: pick another id']);
    const twins = checkDecomposition([sub('a'), sub('b', { title: 'DO  a' })], ctx);
    assert.deepEqual(twins.ok ? [] : twins.problems, ['sub-ticket "b" ("DO  a"): duplicates sub-ticket "a" (same title); fix: merge them or tell them apart']);
    assert.deepEqual(checkOf({ probes: ['nope'], paths: [] }, ctx), { problem: '"probes" names "nope", which is no probe of the epic\'s (its probes: "health"); fix: name one of them or write a probe' });
  });

  it('takes a probe of its own as the check, and numbers sub-tickets without an id by their place', () => {
    const v = checkDecomposition([{ ...sub('x', { paths: [], probes: [{ name: 'up', http: 'http://127.0.0.1:1/up' }] }), id: undefined }], ctx);
    assert.ok(v.ok, JSON.stringify(v));
    assert.equal(v.tickets[0].id, 'E1-1');
    assert.equal(v.tickets[0].probes[0].kind, 'http');
    assert.equal(normalTitle('  Add the "Parser"! '), 'add the parser');
  });

  it('applies a person\'s JSON patch to the proposed list, naming a bad one', () => {
    const list = [sub('a'), sub('b')];
    const edited = applyEdits(list, [{ op: 'replace', path: '/1/title', value: 'Do b better' }]);
    assert.ok('list' in edited);
    assert.equal((edited.list[1] as { title: string }).title, 'Do b better');
    assert.equal(list[1].title, 'Do b', 'the proposal itself is left as it was');
    const bad = applyEdits(list, [{ op: 'replace', path: '/7/title', value: 'x' }]);
    assert.ok('problem' in bad && /^the patch's operation 1 \(replace \/7\/title\) cannot be applied: /.test(bad.problem), JSON.stringify(bad));
    assert.ok('problem' in applyEdits(list, [{ op: 'jump' }]));
  });

  it('shows the proposal as a table and its graph, and the feedback names every problem', () => {
    const v = checkDecomposition([sub('a'), sub('b', { dependsOn: ['a'] })], ctx);
    assert.ok(v.ok);
    const text = proposalLines(v.tickets).join('\n');
    assert.match(text, /\| E1-a \| Do a \| feature \| S \| - \| gate test runs test\/a.test.js \|/);
    assert.match(text, /graph: E1-a -> E1-b/);
    assert.equal(refusalFeedback(2, ['x', 'y']), 'Decomposition 2 was refused; nothing was filed. Fix every problem below and answer the whole list again:\n- x\n- y');
  });

  it('reads decompose.maxTickets from the batch file (absent: unset, 8 applies), refusing a bad one by name, and takes kind epic in a ticket file', () => {
    const minimal = { repo: '/tmp/r', agent: { command: 'true' } };
    assert.equal(parseOrThrow(batchFileSchema, minimal, 'batch.json').decompose, undefined);
    assert.deepEqual(parseOrThrow(batchFileSchema, { ...minimal, decompose: {} }, 'batch.json').decompose, { maxTickets: 8 });
    assert.throws(() => parseOrThrow(batchFileSchema, { ...minimal, decompose: { maxTickets: 0 } }, 'batch.json'), /field "decompose.maxTickets" is 0/);
    assert.equal(parseOrThrow(ticketFileSchema, { id: 'e', title: 'An epic', kind: 'epic' }, 'e.yaml').kind, 'epic');
  });

  it('refuses a sub-ticket probe written wrong, naming its field', () => {
    const c = checkOf({ probes: [{ name: 'x', command: '' }], paths: [] }, ctx);
    assert.ok('problem' in c && /^its probes of its own: field "0.command"/.test(c.problem), JSON.stringify(c));
  });
});
