/** Builds the shell command line that runs the scripted demo agent (`demo-agent.ts`) as a command agent. */
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
  if (!existsSync(TSX_CLI)) throw new Error(`demoAgentCommand: tsx CLI not found at ${TSX_CLI}; run npm install`);
  return [process.execPath, TSX_CLI, DEMO_AGENT, path.resolve(scriptPath)].map(shellQuote).join(' ');
}

/** Quotes `s` as one word for `/bin/sh`. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
