/**
 * Regression guard, pure core: reads JUnit XML reports and applies SWE-bench's PASS_TO_PASS and FAIL_TO_PASS rules
 * to a base run and a branch run. Running the gates and turning the results into feedback live elsewhere.
 */
import { readBoxFile, BoxFileError } from './box/read-back';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { glob } from 'tinyglobby';
import { RegressionReportError } from '../workflows/errors';

export type TestStatus = 'passed' | 'failed' | 'skipped';

/** One test of a report: `id` is unique within what `parseJUnit` or `readReports` returned. */
export interface TestCase {
  id: string;
  status: TestStatus;
  /** A failed test's first line of failure (its `<failure>`/`<error>` `message`, else its text); absent otherwise. */
  message?: string;
}

/** A test that passed on the base and does not pass on the branch; `missing` when the branch's report lacks it. */
export interface BrokenTest {
  id: string;
  base: TestStatus;
  branch: TestStatus | 'missing';
}

/** Result of `comparePassToPass`; both lists sorted by id. */
export interface PassToPass {
  broken: BrokenTest[];
  newlyPassing: string[];
}

/** Reports larger than this (bytes) are rejected rather than read into memory. */
const MAX_REPORT_BYTES = 64 * 1024 * 1024;

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // Decodes numeric character references (&#39;, &#10;) that some reporters write; XML mode alone leaves them as text.
  htmlEntities: true,
  // Start offsets let nested suites and bare testcases be walked in document order.
  captureMetaData: true,
  isArray: (name, _jPath, _isLeaf, isAttribute) => !isAttribute && (name === 'testsuite' || name === 'testcase'),
});
const META = XMLParser.getMetaDataSymbol() as unknown as symbol;

/** Element content other than an object (e.g. `""` for `<testsuites/>`) has no attributes and no children. */
function asNode(value: unknown): XmlNode {
  return typeof value === 'object' && value !== null ? (value as XmlNode) : {};
}

function children(node: XmlNode, tag: string): XmlNode[] {
  const value = node[tag];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(asNode);
}

function attr(node: XmlNode, name: string): string | undefined {
  const value = node[`@_${name}`];
  return typeof value === 'string' ? value : undefined;
}

function startIndex(node: XmlNode): number {
  const meta = (node as Record<symbol, { startIndex?: number } | undefined>)[META];
  return meta?.startIndex ?? 0;
}

function statusOf(testcase: XmlNode): TestStatus {
  const has = (key: string): boolean => Object.hasOwn(testcase, key);
  if (has('failure') || has('error') || has('@_failure')) return 'failed';
  if (has('skipped')) return 'skipped';
  return 'passed';
}

/** A failed test case's first line of failure: the `message` attribute of its `<failure>` or `<error>`, else their text. */
function failureMessage(testcase: XmlNode): string | undefined {
  const inner = attr(testcase, 'failure');
  if (inner) return inner.split('\n')[0].slice(0, 500);
  for (const key of ['failure', 'error']) {
    for (const f of children(testcase, key)) {
      const text = attr(f, 'message') ?? (typeof f['#text'] === 'string' ? f['#text'] : '');
      const line = text.split('\n').map((l) => l.trim()).find(Boolean);
      if (line) return line.slice(0, 500);
    }
  }
  return undefined;
}

/** Appends ` #2`, ` #3`, … to repeated ids, in order, skipping suffixes that are already real ids. */
function numberDuplicates(tests: TestCase[]): TestCase[] {
  const taken = new Set(tests.map((t) => t.id));
  const seen = new Map<string, number>();
  return tests.map((t) => {
    let n = seen.get(t.id) ?? 0;
    seen.set(t.id, ++n);
    if (n === 1) return t;
    let id = `${t.id} #${n}`;
    while (taken.has(id)) id = `${t.id} #${++n}`;
    seen.set(t.id, n);
    taken.add(id);
    return { id, status: t.status };
  });
}

/** Tests of one report with raw (possibly repeated) ids. */
function collect(xml: string, source: string): TestCase[] {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new RegressionReportError(source, `not well-formed XML at line ${line}, column ${col ?? '?'}: ${msg}`);
  }
  let doc: XmlNode;
  try {
    doc = asNode(parser.parse(xml));
  } catch (err) {
    throw new RegressionReportError(source, `could not be parsed: ${err instanceof Error ? err.message : String(err)}`);
  }
  // Keys starting with "?" are the XML declaration and processing instructions, not elements.
  // The validator lets several self-closing roots through; the parser turns repeated ones into an array.
  const roots = Object.keys(doc).filter((k) => !k.startsWith('?'));
  const rootCount = roots.reduce((sum, k) => sum + (Array.isArray(doc[k]) ? (doc[k] as unknown[]).length : 1), 0);
  if (rootCount === 0) throw new RegressionReportError(source, 'has no root element');
  if (rootCount > 1) throw new RegressionReportError(source, `has more than one root element (${roots.join(', ')})`);
  if (roots[0] !== 'testsuites' && roots[0] !== 'testsuite') {
    throw new RegressionReportError(source, `has root element <${roots[0]}>, expected <testsuites> or <testsuite>`);
  }

  const out: TestCase[] = [];
  const walk = (node: XmlNode, suites: string[]): void => {
    const items = [
      ...children(node, 'testcase').map((n) => ({ n, isCase: true })),
      ...children(node, 'testsuite').map((n) => ({ n, isCase: false })),
    ].sort((a, b) => startIndex(a.n) - startIndex(b.n));
    for (const { n, isCase } of items) {
      if (isCase) {
        const status = statusOf(n);
        const message = status === 'failed' ? failureMessage(n) : undefined;
        out.push({ id: testId(n, suites, source), status, ...(message ? { message } : {}) });
      }
      else walkSuite(n, suites);
    }
  };
  const walkSuite = (suite: XmlNode, suites: string[]): void => {
    const name = attr(suite, 'name');
    walk(suite, name ? [...suites, name] : suites);
  };
  if (roots[0] === 'testsuites') walk(asNode(doc.testsuites), []);
  else walkSuite(children(doc, 'testsuite')[0], []);
  return out;
}

function testId(testcase: XmlNode, suites: string[], source: string): string {
  const name = attr(testcase, 'name');
  if (name === undefined) throw new RegressionReportError(source, 'has a <testcase> without a name attribute');
  const classname = attr(testcase, 'classname');
  const keepClassname = classname && classname !== 'test' && classname !== suites.at(-1) && classname !== name;
  return [...suites, ...(keepClassname ? [classname] : []), name].join(' > ');
}

/**
 * Parses one JUnit XML report into its tests, in document order.
 *
 * Accepts a `<testsuites>` root (node:test, pytest ≥ 5.1, jest-junit, go-junit-report, mocha-junit-reporter) or a
 * bare `<testsuite>` root (Maven Surefire, older pytest). Suites may nest (node:test turns `describe` blocks and
 * tests with subtests into nested `<testsuite>`s) and `<testcase>`s may sit directly under `<testsuites>` (node:test's
 * top-level tests).
 *
 * `id` = the names of the enclosing `<testsuite>`s, outer to inner (unnamed suites and the `<testsuites>` wrapper
 * contribute nothing), then `classname`, then the testcase `name`, joined with " > ". `classname` is left out when it
 * is empty, equals the innermost suite name (go-junit-report, Surefire), equals the testcase name (jest-junit's
 * default templates) or is exactly "test" (node:test writes "test" for every case).
 *
 * Status: `failed` with a `<failure>` or `<error>` child or node:test's `failure` attribute; else `skipped` with a
 * `<skipped>` child (node:test writes `todo` tests this way too, pytest `xfail`); else `passed`.
 * A repeated id gets ` #2`, ` #3`, … in document order, so two tests are never merged into one.
 *
 * @param xml the report's text
 * @param source the report's path, for error messages
 * @throws RegressionReportError when the XML is malformed, the root is not `<testsuites>` or `<testsuite>`, or a
 *   `<testcase>` has no `name`
 */
export function parseJUnit(xml: string, source: string): TestCase[] {
  return numberDuplicates(collect(xml, source));
}

/**
 * Reads every file under `dir` whose path relative to `dir` matches `glob` (tinyglobby; dotfiles included), in sorted
 * order, and concatenates their tests. Ids are not prefixed with the file; a repeated id across files is numbered
 * like a repeated id within one (` #2` in file order).
 *
 * @returns the tests and the matched files (relative to `dir`, sorted); `{ tests: [], files: [] }` when nothing
 *   matches, which the caller treats as a failed gate (a gate that declares a report must write one)
 * @throws RegressionReportError when a matched file cannot be read, is larger than 64 MiB, or does not parse
 */
export async function readReports(dir: string, pattern: string): Promise<{ tests: TestCase[]; files: string[] }> {
  // Not through symlinked folders, and each file read without following a symlink (read-back.ts): a gate run is
  // agent-written code, and its report could be a link to a file of the worker's.
  const files = (await glob(pattern, { cwd: dir, dot: true, absolute: false, followSymbolicLinks: false })).sort();
  const tests: TestCase[] = [];
  for (const file of files) {
    let xml: string | undefined;
    try {
      xml = await readBoxFile(dir, file, MAX_REPORT_BYTES);
    } catch (err) {
      throw new RegressionReportError(file, `could not be read: ${err instanceof BoxFileError ? err.why : String(err)}`);
    }
    if (xml === undefined) throw new RegressionReportError(file, 'could not be read: it is gone');
    tests.push(...collect(xml, file));
  }
  return { tests: numberDuplicates(tests), files };
}

const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * SWE-bench's PASS_TO_PASS rule: every test that passed on the base must pass on the branch. A test missing from the
 * branch's report, or skipped there, counts as failing: deleting or skipping a failing test is not a fix.
 *
 * @param base the base branch's tests (ids unique, as `parseJUnit` / `readReports` return them)
 * @param branch the attempt's tests
 * @returns `broken`: base-passing tests that do not pass on the branch, with both statuses; `newlyPassing`: ids
 *   passing on the branch that did not pass on the base (new or fixed tests, the ones now guarding the ticket).
 *   Both sorted by id.
 */
export function comparePassToPass(base: TestCase[], branch: TestCase[]): PassToPass {
  const onBranch = new Map(branch.map((t) => [t.id, t.status]));
  const passedOnBase = new Set(base.filter((t) => t.status === 'passed').map((t) => t.id));
  const broken: BrokenTest[] = base
    .filter((t) => t.status === 'passed' && onBranch.get(t.id) !== 'passed')
    .map((t): BrokenTest => ({ id: t.id, base: t.status, branch: onBranch.get(t.id) ?? 'missing' }))
    .sort(byId);
  const newlyPassing = branch
    .filter((t) => t.status === 'passed' && !passedOnBase.has(t.id))
    .map((t) => t.id)
    .sort();
  return { broken, newlyPassing };
}

/**
 * SWE-bench's FAIL_TO_PASS rule: the tests that prove the ticket. The branch's test files are run against the base's
 * code; a test counts when it explicitly `failed` there and `passed` on the branch. A test missing from the base run
 * (e.g. the run crashed before reaching it) does not count: only an observed failure shows the test detects the bug.
 *
 * @param branchTestsOnBase the branch's tests run on the base's code
 * @param branch the branch's tests run on the branch
 * @returns the ids, sorted
 */
export function failToPass(branchTestsOnBase: TestCase[], branch: TestCase[]): string[] {
  const failedOnBase = new Set(branchTestsOnBase.filter((t) => t.status === 'failed').map((t) => t.id));
  return branch
    .filter((t) => t.status === 'passed' && failedOnBase.has(t.id))
    .map((t) => t.id)
    .sort();
}

/**
 * The feedback an agent reads in its next prompt about PASS_TO_PASS breakage, one line per broken test (whitespace in
 * ids collapsed so a test name cannot add lines), at most `limit` lines then "... and N more".
 *
 * @param r the result of `comparePassToPass`
 * @param baseBranch the base branch's name, e.g. "main"
 * @returns the text, or `""` when nothing is broken
 */
export function describeRegression(r: PassToPass, baseBranch: string, limit = 20): string {
  const n = r.broken.length;
  if (n === 0) return '';
  const head =
    n === 1
      ? `1 test that passes on ${baseBranch} fails on this branch (missing or skipped counts as failing):`
      : `${n} tests that pass on ${baseBranch} fail on this branch (missing or skipped counts as failing):`;
  const shown = r.broken.slice(0, Math.max(0, limit));
  const lines = shown.map((b) => `- ${b.id.replace(/\s+/g, ' ')}: ${b.base} on ${baseBranch}, ${b.branch} here`);
  if (n > shown.length) lines.push(`... and ${n - shown.length} more`);
  return [head, ...lines].join('\n');
}
