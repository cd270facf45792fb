/**
 * What a gate's tool reads before any test runs (issue 25 item 6): a gate is protected by those files, not only by
 * the ones its batch file lists. `make` prefers `GNUmakefile`, then `makefile`, then `Makefile`, so an agent that adds
 * a `GNUmakefile` beside a protected `Makefile` changes what the gate runs without touching a protected path; npm,
 * go and pytest read their own configuration and lock files the same way. Pure.
 */
import path from 'node:path';

/** The files a tool reads, by the file a batch may list (its base name) and by the command that runs the tool. */
interface ToolFiles {
  /** Base names that mark the tool in a gate's `files`. */
  marks: string[];
  /** The tool's own command words (the gate command's first word, after `npx`/`env` and variable assignments). */
  commands: string[];
  /** Base names the tool reads, in the folder of a listed mark (or the repository root when found by command). */
  reads: string[];
}

const TOOLS: ToolFiles[] = [
  { marks: ['Makefile', 'makefile', 'GNUmakefile'], commands: ['make', 'gmake'], reads: ['GNUmakefile', 'makefile', 'Makefile'] },
  {
    marks: ['package.json'],
    commands: ['npm', 'yarn', 'pnpm', 'node', 'npx', 'jest', 'vitest', 'mocha'],
    reads: ['package.json', '.npmrc', 'package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', '.yarnrc', '.yarnrc.yml', 'pnpm-lock.yaml', 'pnpm-workspace.yaml'],
  },
  { marks: ['go.mod'], commands: ['go'], reads: ['go.mod', 'go.sum', 'go.work', 'go.work.sum'] },
  {
    marks: ['pytest.ini', 'conftest.py'],
    commands: ['pytest', 'py.test', 'tox'],
    reads: ['pytest.ini', 'pyproject.toml', 'tox.ini', 'setup.cfg', 'conftest.py'],
  },
];

/** The tool word of a shell command (pure): its first word, past `VAR=value` assignments, `env`, `npx` and `python -m`. */
export function toolOf(command: string): string | undefined {
  const words = command.trim().split(/\s+/).filter(Boolean);
  let i = 0;
  while (i < words.length && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]) || words[i] === 'env' || words[i] === 'exec')) i++;
  if (words[i] === 'python' || words[i] === 'python3') return words[i + 1] === '-m' ? words[i + 2] : words[i];
  return words[i] === undefined ? undefined : path.posix.basename(words[i]);
}

/**
 * The files a gate's tool reads (globs relative to the repository, `/`-separated, sorted), inferred from its
 * `command` and its listed `files`: for each listed file that marks a tool, the files that tool reads in that folder;
 * for a command that runs a tool, the files it reads at the repository root. None for commands of no known tool.
 */
export function toolFiles(gate: { command: string; files: string[] }): string[] {
  const out = new Set<string>();
  for (const file of gate.files) {
    const dir = path.posix.dirname(file);
    for (const tool of TOOLS) if (tool.marks.includes(path.posix.basename(file))) for (const r of tool.reads) out.add(dir === '.' ? r : `${dir}/${r}`);
  }
  const tool = toolOf(gate.command);
  for (const t of TOOLS) if (tool !== undefined && t.commands.includes(tool)) for (const r of t.reads) out.add(r);
  return [...out].sort();
}
