/** Builds the shell command lines that run the scripted demo agent (`demo-agent.ts`) and other TypeScript helpers. */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TSX_CLI = path.join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const DEMO_AGENT = path.join(__dirname, 'demo-agent.ts');

/**
 * The `/bin/sh` command line `'<node>' '<repo>/node_modules/tsx/dist/cli.mjs' '<repo>/activities/agents/demo-agent.ts'
 * '<script>'`, every path absolute and single-quoted, for use as `AgentConfig.command`.
 * @param scriptPath the YAML script of answers; resolved against the current directory when relative.
 * @throws Error when tsx's CLI is not installed where expected.
 */
export function demoAgentCommand(scriptPath: string): string {
  return tsxCommand(DEMO_AGENT, path.resolve(scriptPath));
}

/**
 * The `/bin/sh` command line that runs the TypeScript file `file` with `args` through this checkout's tsx:
 * `'<node>' '<repo>/node_modules/tsx/dist/cli.mjs' '<file>' '<arg>'...`, each word single-quoted.
 * @throws Error when tsx's CLI is not installed where expected.
 */
export function tsxCommand(file: string, ...args: string[]): string {
  if (!existsSync(TSX_CLI)) throw new Error(`tsxCommand: tsx CLI not found at ${TSX_CLI}; run npm install`);
  return [process.execPath, TSX_CLI, file, ...args].map(shellQuote).join(' ');
}

/** Quotes `s` as one word for `/bin/sh`. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
