/**
 * Typed plans (issue 28 item 2): the plan role's JSON checked by schema, its problems named, free text still taken
 * (size unknown), and the payload bounded.
 */
import assert from 'node:assert/strict';
import { readPlanAnswer, TYPED_PLAN_BYTES } from '../../activities/plan-answer';
import { renderPrompt } from '../../activities/prompt';

const plan = {
  summary: 'Add a login form',
  steps: ['add the form', 'wire the handler'],
  files: ['src/login.ts'],
  risks: ['sessions'],
  size: 'M',
  sizeReason: 'two files and a test',
  tests: ['test/login.test.ts'],
};

describe('typed plans', () => {
  it('takes a typed plan from the result file, with its size, rendered for the implement prompt', () => {
    const a = readPlanAnswer(plan, 'ignored stdout');
    assert.equal(a.size, 'M');
    assert.deepEqual(a.typed, plan);
    assert.equal(a.problems, undefined);
    assert.match(a.text, /^Add a login form\n\nSize: M \(two files and a test\)\n\nSteps:\n1\. add the form\n2\. wire the handler/);
    assert.match(a.text, /Tests to add:\n- test\/login\.test\.ts/);
  });

  it('takes a typed plan answered as text (an agent that cannot write files), fenced or not', () => {
    assert.equal(readPlanAnswer(undefined, JSON.stringify(plan)).size, 'M');
    assert.equal(readPlanAnswer(undefined, `Here is the plan:\n\`\`\`json\n${JSON.stringify({ ...plan, size: 'XL' })}\n\`\`\`\n`).size, 'XL');
    assert.equal(readPlanAnswer({ plan: JSON.stringify({ ...plan, size: 'S' }) }, '').size, 'S');
  });

  it('takes free text as before, recorded as size unknown', () => {
    assert.deepEqual(readPlanAnswer({ plan: 'just do it', summary: 's' }, 'stdout'), { text: 'just do it', size: 'unknown' });
    assert.deepEqual(readPlanAnswer(undefined, 'a plan in prose\n'), { text: 'a plan in prose\n', size: 'unknown' });
    assert.deepEqual(readPlanAnswer(undefined, '{"not": "a plan"}'), { text: '{"not": "a plan"}', size: 'unknown' });
  });

  it('records a JSON plan that fails the schema with every problem named (field, value), and takes it as free text', () => {
    const a = readPlanAnswer({ ...plan, size: 'huge', steps: [] }, '');
    assert.equal(a.size, 'unknown');
    assert.equal(a.typed, undefined);
    assert.ok(a.problems?.some((p) => /^plan: field "size" is "huge": .*fix: use one of the listed values/.test(p)), String(a.problems));
    assert.ok(a.problems?.some((p) => /^plan: field "steps" is \[\]/.test(p)), String(a.problems));
    assert.match(a.text, /"size": "huge"/, 'the answer is kept as the plan text');
    const missing = readPlanAnswer({ steps: ['x'], size: 'S' }, '');
    assert.ok(missing.problems?.some((p) => /field "summary" is nothing/.test(p)), String(missing.problems));
    assert.ok(missing.problems?.some((p) => /field "sizeReason" is nothing/.test(p)), String(missing.problems));
  });

  it('bounds the typed plan to 4 KB of JSON for the payload, whatever the agent wrote', () => {
    const long = 'x'.repeat(1_500);
    const a = readPlanAnswer({ ...plan, summary: long, steps: Array.from({ length: 50 }, () => long), files: Array.from({ length: 200 }, (_, i) => `src/f${i}.ts`) }, '');
    assert.equal(a.size, 'M');
    assert.ok(Buffer.byteLength(JSON.stringify(a.typed)) <= TYPED_PLAN_BYTES);
    assert.ok((a.typed?.steps.length ?? 0) > 0);
    assert.ok(a.text.length > 50 * 1_500, 'the whole plan stays in the text kept in plan.md');
  });

  it('tells the plan role the JSON shape and what XL means; an implement prompt does not ask for it', () => {
    const ticket = { id: 't', title: 'T', body: 'b', acceptance: [], dependsOn: [], kind: 'feature' as const, probes: [], allowPaths: [], state: 'todo' as const };
    const base = { ref: { batchId: 'b', baseBranch: 'main' }, ticket, branch: 'ratchet/b/t', feedback: [], gates: [], probes: [], promptRules: [] };
    const prompt = renderPrompt({ ...base, role: 'plan' });
    assert.match(prompt, /Write the plan to \$RATCHET_RESULT_FILE as JSON/);
    assert.match(prompt, /"size": "S" \| "M" \| "L" \| "XL", "sizeReason"/);
    assert.match(prompt, /XL is too big for one\n {2}change and must be split/);
    assert.doesNotMatch(renderPrompt({ ...base, role: 'implement', attempt: 1, maxAttempts: 3 }), /sizeReason/);
  });
});
