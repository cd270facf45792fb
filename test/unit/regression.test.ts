import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  comparePassToPass,
  describeRegression,
  failToPass,
  parseJUnit,
  readReports,
  type TestCase,
} from '../../activities/regression';
import { RegressionReportError } from '../../workflows/errors';

/** Real output of `node --test --test-reporter=junit` (node 20.20). */
const NODE_REPORT = `<?xml version="1.0" encoding="utf-8"?>
<testsuites>
	<testcase name="passes" time="0.000918" classname="test"/>
	<testcase name="fails" time="0.003689" classname="test" failure="1 == 2">
		<failure type="testCodeFailure" message="1 == 2">
[Error [ERR_TEST_FAILURE]: 1 == 2] { code: 'ERR_TEST_FAILURE' }
		</failure>
	</testcase>
	<testcase name="skipped" time="0.000101" classname="test">
		<skipped type="skipped" message="true"/>
	</testcase>
	<testsuite name="group" time="0.000303" disabled="0" errors="0" tests="1" failures="0" skipped="0" hostname="vm">
		<testcase name="inner" time="0.000111" classname="test"/>
	</testsuite>
	<!-- tests 4 -->
</testsuites>
`;

/** pytest >= 5.1 (`--junitxml`): one "pytest" suite, classname = dotted module path (plus class). */
const PYTEST_REPORT = `<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6" time="0.081" timestamp="2025-01-10T12:00:00.000000" hostname="ci"><testcase classname="tests.test_math" name="test_add" time="0.001" /><testcase classname="tests.test_math" name="test_div[0-1]" time="0.001"><failure message="ZeroDivisionError: division by zero">def test_div(a, b):
&gt;       assert a / b
E       ZeroDivisionError: division by zero

tests/test_math.py:9: ZeroDivisionError</failure></testcase><testcase classname="tests.test_math" name="test_later" time="0.000"><skipped type="pytest.skip" message="not ready">tests/test_math.py:12: not ready</skipped></testcase><testcase classname="tests.test_math" name="test_known_bug" time="0.001"><skipped type="pytest.xfail" message="issue 12" /></testcase><testcase classname="tests.test_math.TestRound" name="test_half_even" time="0.001" /><testcase classname="tests.test_db" name="test_connect" time="0.002"><error message="failed on setup with &quot;ConnectionRefusedError&quot;">fixture setup failed</error></testcase></testsuite></testsuites>`;

/** jest-junit defaults: one suite per test file, classname and name both "{describe} {title}". */
const JEST_REPORT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="4" failures="1" errors="0" time="1.234">
  <testsuite name="cart" errors="0" failures="1" skipped="1" timestamp="2025-01-10T12:00:00" time="0.512" tests="3">
    <testcase classname="cart adds an item" name="cart adds an item" time="0.004">
    </testcase>
    <testcase classname="cart applies a discount" name="cart applies a discount" time="0.003">
      <failure>Error: expect(received).toBe(expected) // Object.is equality

Expected: 90
Received: 100
    at Object.&lt;anonymous&gt; (/repo/src/cart.test.js:14:27)</failure>
    </testcase>
    <testcase classname="cart removes an item" name="cart removes an item" time="0">
      <skipped/>
    </testcase>
  </testsuite>
  <testsuite name="checkout" errors="0" failures="0" skipped="0" timestamp="2025-01-10T12:00:01" time="0.201" tests="1">
    <testcase classname="checkout charges the card" name="checkout charges the card" time="0.010">
    </testcase>
  </testsuite>
</testsuites>
`;

/** Maven Surefire: a bare <testsuite> root per class, classname = suite name. */
const SUREFIRE_REPORT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" name="com.acme.CartTest" time="0.05" tests="2" errors="0" skipped="0" failures="0">
  <properties><property name="java.version" value="21"/></properties>
  <testcase name="addsItem" classname="com.acme.CartTest" time="0.01"/>
  <testcase name="removesItem" classname="com.acme.CartTest" time="0.02"><system-out>ok</system-out></testcase>
</testsuite>
`;

/** go-junit-report v2: suite per package, classname = package, subtests as "Parent/sub". */
const GO_REPORT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="2" failures="1">
	<testsuite name="example.com/calc" tests="2" failures="1" errors="0" id="0" hostname="ci" time="0.003" timestamp="2025-01-10T12:00:00Z">
		<properties>
			<property name="go.version" value="go1.22.0"></property>
		</properties>
		<testcase name="TestAdd" classname="example.com/calc" time="0.000"></testcase>
		<testcase name="TestDiv/by_zero" classname="example.com/calc" time="0.000">
			<failure message="Failed"><![CDATA[    calc_test.go:20: want error]]></failure>
		</testcase>
	</testsuite>
</testsuites>
`;

const statuses = (tests: TestCase[]): Record<string, string> => Object.fromEntries(tests.map((t) => [t.id, t.status]));

/** Runs node:test with the JUnit reporter; resolves with the exit code (1 when a test fails). */
function runNodeTest(cwd: string, testFile: string, destination: string): Promise<number> {
  // Under a parent node:test run this variable would make the child ignore --test-reporter-destination.
  const { NODE_TEST_CONTEXT: _parent, ...env } = process.env;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--test', '--test-reporter=junit', `--test-reporter-destination=${destination}`, testFile],
      { cwd, env, timeout: 60_000 },
      (err) => {
        if (!err) resolve(0);
        else if (typeof err.code === 'number') resolve(err.code);
        else reject(err);
      },
    );
  });
}

describe('parseJUnit', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-regression-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads node:test output: top-level cases, nested suites, the failure attribute, and skipped cases', () => {
    assert.deepEqual(parseJUnit(NODE_REPORT, 'node.xml'), [
      { id: 'passes', status: 'passed' },
      { id: 'fails', status: 'failed', message: '1 == 2' },
      { id: 'skipped', status: 'skipped' },
      { id: 'group > inner', status: 'passed' },
    ]);
  });

  it('reads a report written by a real node --test run, in document order', async () => {
    fs.writeFileSync(
      path.join(dir, 'cart.test.js'),
      `const { test, describe, it } = require('node:test');
const assert = require('node:assert');
test('adds', () => {});
test('rounds', () => { assert.equal(0.1 + 0.2, 0.3); });
test('later', { todo: true }, () => {});
describe('cart', () => {
  it('empties', () => {});
  describe('discount', () => {
    it("applies 'ten'", () => {});
    it("applies 'ten'", () => {});
  });
});
test('checks out', () => {});
test('parent', async (t) => { await t.test('child', () => {}); });
`,
    );
    const code = await runNodeTest(dir, 'cart.test.js', 'report.xml');
    assert.equal(code, 1, 'one test fails, so node --test exits 1');
    const tests = parseJUnit(fs.readFileSync(path.join(dir, 'report.xml'), 'utf8'), 'report.xml');
    assert.deepEqual(tests, [
      { id: 'adds', status: 'passed' },
      { id: 'rounds', status: 'failed', message: '0.30000000000000004 == 0.3' },
      { id: 'later', status: 'skipped' },
      { id: 'cart > empties', status: 'passed' },
      { id: "cart > discount > applies 'ten'", status: 'passed' },
      { id: "cart > discount > applies 'ten' #2", status: 'passed' },
      { id: 'checks out', status: 'passed' },
      { id: 'parent > child', status: 'passed' },
    ]);
  });

  it('reads pytest output: classname kept, error and failure are failures, xfail is skipped', () => {
    assert.deepEqual(statuses(parseJUnit(PYTEST_REPORT, 'pytest.xml')), {
      'pytest > tests.test_math > test_add': 'passed',
      'pytest > tests.test_math > test_div[0-1]': 'failed',
      'pytest > tests.test_math > test_later': 'skipped',
      'pytest > tests.test_math > test_known_bug': 'skipped',
      'pytest > tests.test_math.TestRound > test_half_even': 'passed',
      'pytest > tests.test_db > test_connect': 'failed',
    });
  });

  it('reads jest-junit output without repeating a classname equal to the test name', () => {
    assert.deepEqual(parseJUnit(JEST_REPORT, 'junit.xml'), [
      { id: 'cart > cart adds an item', status: 'passed' },
      { id: 'cart > cart applies a discount', status: 'failed' },
      { id: 'cart > cart removes an item', status: 'skipped' },
      { id: 'checkout > checkout charges the card', status: 'passed' },
    ]);
  });

  it('reads a bare <testsuite> root and drops a classname equal to the suite name', () => {
    assert.deepEqual(parseJUnit(SUREFIRE_REPORT, 'TEST-com.acme.CartTest.xml'), [
      { id: 'com.acme.CartTest > addsItem', status: 'passed' },
      { id: 'com.acme.CartTest > removesItem', status: 'passed' },
    ]);
  });

  it('reads go-junit-report output with CDATA failures', () => {
    assert.deepEqual(parseJUnit(GO_REPORT, 'go.xml'), [
      { id: 'example.com/calc > TestAdd', status: 'passed' },
      { id: 'example.com/calc > TestDiv/by_zero', status: 'failed', message: 'Failed' },
    ]);
  });

  it('numbers repeated ids in document order instead of merging them', () => {
    const xml = `<testsuite name="s">
      <testcase name="same"><failure/></testcase>
      <testcase name="same"/>
      <testcase name="same #2"/>
      <testcase name="same"><skipped/></testcase>
    </testsuite>`;
    assert.deepEqual(parseJUnit(xml, 'dup.xml'), [
      { id: 's > same', status: 'failed' },
      { id: 's > same #3', status: 'passed' },
      { id: 's > same #2', status: 'passed' },
      { id: 's > same #4', status: 'skipped' },
    ]);
  });

  it('returns no tests for an empty <testsuites/>', () => {
    assert.deepEqual(parseJUnit('<?xml version="1.0"?><testsuites/>', 'empty.xml'), []);
  });

  it('rejects malformed XML, naming the file and the problem', () => {
    assert.throws(
      () => parseJUnit('<testsuites><testcase name="a"></testsuites>', 'reports/broken.xml'),
      (err: unknown) =>
        err instanceof RegressionReportError &&
        err.file === 'reports/broken.xml' &&
        /^JUnit report reports\/broken\.xml: not well-formed XML at line 1, column \d+: Expected closing tag 'testcase'/.test(
          err.message,
        ),
    );
    assert.throws(() => parseJUnit('all tests passed', 'plain.txt'), /JUnit report plain\.txt: not well-formed XML/);
    assert.throws(() => parseJUnit('', 'empty.xml'), /JUnit report empty\.xml: not well-formed XML/);
  });

  it('rejects a document whose root is not <testsuites> or <testsuite>', () => {
    assert.throws(
      () => parseJUnit('<results><testcase name="a"/></results>', 'other.xml'),
      (err: unknown) =>
        err instanceof RegressionReportError &&
        err.message === 'JUnit report other.xml: has root element <results>, expected <testsuites> or <testsuite>',
    );
    assert.throws(
      () => parseJUnit('<testsuite name="a"/><testsuite name="b"/>', 'two.xml'),
      /JUnit report two\.xml: has more than one root element/,
    );
  });

  it('rejects a testcase without a name', () => {
    assert.throws(
      () => parseJUnit('<testsuite name="s"><testcase classname="c"/></testsuite>', 'anon.xml'),
      /JUnit report anon\.xml: has a <testcase> without a name attribute/,
    );
  });
});

describe('readReports', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-regression-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (file: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  };

  it('concatenates every matching report in sorted order, numbering ids repeated across files', async () => {
    write('reports/b/TEST-com.acme.CartTest.xml', SUREFIRE_REPORT);
    write('reports/a.xml', '<testsuites><testcase name="x"/></testsuites>');
    write('reports/.hidden/c.xml', '<testsuites><testcase name="x"><failure/></testcase></testsuites>');
    write('reports/notes.txt', 'not a report');
    const { tests, files } = await readReports(dir, 'reports/**/*.xml');
    assert.deepEqual(files, ['reports/.hidden/c.xml', 'reports/a.xml', 'reports/b/TEST-com.acme.CartTest.xml']);
    assert.deepEqual(tests, [
      { id: 'x', status: 'failed' },
      { id: 'x #2', status: 'passed' },
      { id: 'com.acme.CartTest > addsItem', status: 'passed' },
      { id: 'com.acme.CartTest > removesItem', status: 'passed' },
    ]);
  });

  it('returns no tests and no files when nothing matches', async () => {
    write('other/report.xml', NODE_REPORT);
    assert.deepEqual(await readReports(dir, 'reports/*.xml'), { tests: [], files: [] });
  });

  it('rejects a broken report among good ones, naming it', async () => {
    write('reports/good.xml', NODE_REPORT);
    write('reports/planted.xml', '<testsuites><testcase name="a">');
    await assert.rejects(
      readReports(dir, 'reports/*.xml'),
      (err: unknown) => err instanceof RegressionReportError && err.file === 'reports/planted.xml',
    );
  });
});

describe('comparePassToPass', () => {
  const base: TestCase[] = [
    { id: 'cart > adds', status: 'passed' },
    { id: 'cart > removes', status: 'passed' },
    { id: 'cart > totals', status: 'passed' },
    { id: 'cart > discounts', status: 'passed' },
    { id: 'cart > rounds', status: 'failed' },
    { id: 'cart > later', status: 'skipped' },
  ];
  const branch: TestCase[] = [
    { id: 'cart > adds', status: 'passed' },
    { id: 'cart > removes', status: 'skipped' },
    { id: 'cart > discounts', status: 'failed' },
    { id: 'cart > rounds', status: 'passed' },
    { id: 'cart > later', status: 'skipped' },
    { id: 'cart > empties', status: 'passed' },
  ];

  it('reports a skipped, a deleted and a newly failing test as broken', () => {
    assert.deepEqual(comparePassToPass(base, branch).broken, [
      { id: 'cart > discounts', base: 'passed', branch: 'failed' },
      { id: 'cart > removes', base: 'passed', branch: 'skipped' },
      { id: 'cart > totals', base: 'passed', branch: 'missing' },
    ]);
  });

  it('lists new and fixed passing tests as newly passing', () => {
    assert.deepEqual(comparePassToPass(base, branch).newlyPassing, ['cart > empties', 'cart > rounds']);
  });

  it('reports nothing when every base-passing test still passes', () => {
    assert.deepEqual(comparePassToPass(base, base), { broken: [], newlyPassing: [] });
  });

  it('works on reports parsed from XML', () => {
    const after = NODE_REPORT.replace('<testcase name="passes" time="0.000918" classname="test"/>', '');
    assert.deepEqual(comparePassToPass(parseJUnit(NODE_REPORT, 'base.xml'), parseJUnit(after, 'branch.xml')).broken, [
      { id: 'passes', base: 'passed', branch: 'missing' },
    ]);
  });
});

describe('failToPass', () => {
  it('keeps only tests that failed on the base code and pass on the branch', () => {
    const onBase: TestCase[] = [
      { id: 'bug > reproduces the crash', status: 'failed' },
      { id: 'bug > already worked', status: 'passed' },
      { id: 'bug > still broken', status: 'failed' },
      { id: 'bug > skipped on base', status: 'skipped' },
      { id: 'bug > another repro', status: 'failed' },
    ];
    const onBranch: TestCase[] = [
      { id: 'bug > reproduces the crash', status: 'passed' },
      { id: 'bug > already worked', status: 'passed' },
      { id: 'bug > still broken', status: 'failed' },
      { id: 'bug > skipped on base', status: 'passed' },
      { id: 'bug > never ran on base', status: 'passed' },
      { id: 'bug > another repro', status: 'passed' },
    ];
    assert.deepEqual(failToPass(onBase, onBranch), ['bug > another repro', 'bug > reproduces the crash']);
  });
});

describe('describeRegression', () => {
  it('lists each broken test with its status on both sides', () => {
    const r = comparePassToPass(
      [
        { id: 'suite > a', status: 'passed' },
        { id: 'suite > b', status: 'passed' },
        { id: 'suite > c', status: 'passed' },
      ],
      [
        { id: 'suite > a', status: 'skipped' },
        { id: 'suite > c', status: 'failed' },
      ],
    );
    assert.equal(
      describeRegression(r, 'main'),
      [
        '3 tests that pass on main fail on this branch (missing or skipped counts as failing):',
        '- suite > a: passed on main, skipped here',
        '- suite > b: passed on main, missing here',
        '- suite > c: passed on main, failed here',
      ].join('\n'),
    );
  });

  it('stops at the limit with a count of the rest', () => {
    const base = Array.from({ length: 5 }, (_, i): TestCase => ({ id: `t${i}`, status: 'passed' }));
    const text = describeRegression(comparePassToPass(base, []), 'develop', 2);
    assert.deepEqual(text.split('\n'), [
      '5 tests that pass on develop fail on this branch (missing or skipped counts as failing):',
      '- t0: passed on develop, missing here',
      '- t1: passed on develop, missing here',
      '... and 3 more',
    ]);
  });

  it('uses the singular for one test, keeps a multi-line name on one line, and is empty when nothing broke', () => {
    const one = comparePassToPass([{ id: 'a\n- fake line', status: 'passed' }], []);
    assert.equal(
      describeRegression(one, 'main'),
      '1 test that passes on main fails on this branch (missing or skipped counts as failing):\n' +
        '- a - fake line: passed on main, missing here',
    );
    assert.equal(describeRegression({ broken: [], newlyPassing: ['x'] }, 'main'), '');
  });
});
