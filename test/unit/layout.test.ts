/**
 * The layout's arrows (DESIGN.md "Layout"), checked on the source: shipped code never reaches into test/ or bench/, and
 * no two top-level folders import each other with values (an `import type` edge does not count: it is gone at run
 * time). Imports are read with the TypeScript parser: `import`/`export ... from`, `require(...)`, `import(...)`, and
 * any call given a relative module path (the CLI's lazy `require` helper), each resolved to a file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '../..');
/** The folders that ship: everything but test/ and bench/. */
const SHIPPED = ['client', 'deploy', 'workers', 'activities', 'workflows', 'demo', 'fakes'];
const NOT_SHIPPED = ['test', 'bench'];

/** One import of a module in another top-level folder. */
interface Edge {
  from: string;
  to: string;
  /** `type`: erased at run time (`import type`, `typeof import(...)`, all-type specifiers). */
  kind: 'value' | 'type';
  /** `file: 'specifier'`, for the failure message. */
  where: string;
}

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : tsFiles(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The file a relative specifier names (`x.ts`, `x/index.ts`, or a file with its extension), or undefined. */
function resolve(fromFile: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(fromFile), spec);
  return [`${base}.ts`, path.join(base, 'index.ts'), base].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
}

/** Whether every name an import or export declaration brings is type-only. */
function typeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isImportDeclaration(node)) {
    const clause = node.importClause;
    if (!clause) return false; // `import './x'`: run for its effects
    if (clause.isTypeOnly) return true;
    const named = clause.namedBindings;
    return !clause.name && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
  }
  if (node.isTypeOnly) return true;
  const clause = node.exportClause;
  return clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
}

/** The relative module specifiers of `file` with how each is used. */
function imports(file: string): Array<{ spec: string; kind: Edge['kind'] }> {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const found: Array<{ spec: string; kind: Edge['kind'] }> = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ spec: node.moduleSpecifier.text, kind: typeOnly(node) ? 'type' : 'value' });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ spec: node.argument.literal.text, kind: 'type' });
    } else if (ts.isCallExpression(node)) {
      for (const arg of node.arguments.slice(0, 1)) {
        if (ts.isStringLiteral(arg) && /^\.\.?\//.test(arg.text) && resolve(file, arg.text)) found.push({ spec: arg.text, kind: 'value' });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((i) => i.spec.startsWith('.'));
}

/** Every import from a shipped file into another top-level folder (or a file at the top). */
function crossFolderEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const folder of SHIPPED) {
    for (const file of tsFiles(path.join(ROOT, folder))) {
      for (const { spec, kind } of imports(file)) {
        const target = resolve(file, spec) ?? path.resolve(path.dirname(file), spec);
        const to = path.relative(ROOT, target).split(path.sep)[0];
        if (to !== folder) edges.push({ from: folder, to, kind, where: `${path.relative(ROOT, file)}: '${spec}'` });
      }
    }
  }
  return edges;
}

describe('layout', () => {
  const edges = crossFolderEdges();

  it('finds the imports it checks (the reader works)', () => {
    assert.ok(edges.some((e) => e.from === 'client' && e.to === 'workflows' && e.kind === 'value'), 'client imports workflows/messages');
    assert.ok(edges.some((e) => e.from === 'workflows' && e.to === 'activities' && e.kind === 'type'), 'workflows imports activities as types');
  });

  it('ships no import of test/ or bench/', () => {
    const lines = [...new Set(edges.filter((e) => NOT_SHIPPED.includes(e.to)).map((e) => `  ${e.from} -> ${e.to}  ${e.where}`))];
    assert.ok(lines.length === 0, `shipped code imports test/ or bench/:\n${lines.join('\n')}`);
  });

  it('has no two top-level folders importing each other with values', () => {
    const value = edges.filter((e) => e.kind === 'value');
    const pairs = new Set(value.map((e) => `${e.from}->${e.to}`));
    const cyclic = value.filter((e) => pairs.has(`${e.to}->${e.from}`));
    const sorted = cyclic.sort((a, b) => `${[a.from, a.to].sort().join()} ${a.from}`.localeCompare(`${[b.from, b.to].sort().join()} ${b.from}`));
    const lines = [...new Set(sorted.map((e) => `  ${e.from} -> ${e.to}  ${e.where}`))];
    const fix = 'make one direction `import type`, or move the shared piece down';
    assert.ok(lines.length === 0, `top-level folders that import each other with values (${fix}):\n${lines.join('\n')}`);
  });
});
