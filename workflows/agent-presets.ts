/**
 * The commands of the agent presets (docs/agents.md "Presets"): what a profile with `preset` and no `command` runs.
 * Pure; how each tool's output is read is activities/agents/presets.ts. The prompt goes in on stdin (a shell redirect):
 * an argument would be cut at Linux's 128 KB limit for one argument.
 */
import type { AgentPreset } from './types';

export const PRESET_COMMANDS: Readonly<Record<AgentPreset, string>> = {
  // Claude Code's print mode, one JSON object on stdout at the end (result, total_cost_usd, usage, is_error).
  'claude-code': 'claude -p --output-format json --permission-mode acceptEdits < "$RATCHET_PROMPT_FILE"',
  // Codex CLI's non-interactive mode, JSON Lines events on stdout; `-` reads the prompt from stdin; edits allowed.
  codex: 'codex exec --json --full-auto - < "$RATCHET_PROMPT_FILE"',
  // aider's scripting mode: one message from the file, every question answered yes.
  aider: 'aider --yes-always --message-file "$RATCHET_PROMPT_FILE"',
};

/** The command `preset` runs. */
export function presetCommand(preset: AgentPreset): string {
  return PRESET_COMMANDS[preset];
}
