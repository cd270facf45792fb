/**
 * How ratchet reads the output of the agent presets (docs/agents.md "Presets"; their commands are
 * workflows/agent-presets.ts): the answer text, the cost in US dollars and the tokens, from what each tool documents
 * it writes on stdout. Pure parsers, kept apart from the code that runs processes; tested against fake binaries that
 * write each tool's documented output (test/unit/presets.test.ts).
 */
import type { AgentPreset } from '../../workflows/types';

/** What a preset's stdout says of its run; a field it does not give stays absent (unknown, never zero). */
export interface PresetOutput {
  /** The agent's final answer. */
  text?: string;
  costUsd?: number;
  tokens?: number;
  /** The tool reported the run as failed while exiting 0. */
  isError?: boolean;
  /** Why the output could not be read as the tool documents it. */
  note?: string;
}

/** Reads `stdout` of a run of `preset`. Never throws. */
export function readPresetOutput(preset: AgentPreset, stdout: string): PresetOutput {
  if (preset === 'claude-code') return claudeCode(stdout);
  if (preset === 'codex') return codex(stdout);
  return aider(stdout);
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
const sum = (...vs: unknown[]): number | undefined => {
  const ns = vs.map(num).filter((n): n is number => n !== undefined);
  return ns.length ? ns.reduce((a, b) => a + b, 0) : undefined;
};

/** Every line of `text` that is a JSON object. */
function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const v = JSON.parse(t) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) out.push(v as Record<string, unknown>);
    } catch {
      // A line that is not JSON (a warning): skipped.
    }
  }
  return out;
}

/**
 * Claude Code, `claude -p --output-format json`: one JSON object once the run ends, `{ type: "result", subtype,
 * is_error, result, total_cost_usd, usage: { input_tokens, output_tokens, cache_creation_input_tokens,
 * cache_read_input_tokens }, ... }` (https://docs.anthropic.com/en/docs/claude-code/sdk/sdk-headless, "Output formats":
 * JSON output). Tokens are the usage's input, output and cache tokens added up.
 */
function claudeCode(stdout: string): PresetOutput {
  let obj: Record<string, unknown> | undefined;
  try {
    const v = JSON.parse(stdout.trim()) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) obj = v as Record<string, unknown>;
  } catch {
    // Output with other lines around it: its result line.
    obj = jsonLines(stdout).filter((o) => o.type === 'result' || 'result' in o).pop();
  }
  if (obj === undefined) return { note: 'claude-code: stdout holds no JSON result (was --output-format json given?)' };
  const usage = (obj.usage ?? {}) as Record<string, unknown>;
  return {
    ...(typeof obj.result === 'string' ? { text: obj.result } : {}),
    ...(num(obj.total_cost_usd) !== undefined ? { costUsd: num(obj.total_cost_usd) } : {}),
    ...(sum(usage.input_tokens, usage.output_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens) !== undefined
      ? { tokens: sum(usage.input_tokens, usage.output_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens) }
      : {}),
    ...(obj.is_error === true ? { isError: true } : {}),
  };
}

/**
 * Codex CLI, `codex exec --json`: JSON Lines events; `turn.completed` carries `usage: { input_tokens,
 * cached_input_tokens, output_tokens }`, `item.completed` with an `agent_message` item carries the answer in
 * `item.text`, `turn.failed` and `error` a failure (https://github.com/openai/codex/blob/main/docs/exec.md, "JSON output
 * mode"; items were typed `item_type: "assistant_message"` before 0.44, read too). Codex reports no cost: unknown.
 * Tokens are input plus output over every turn (cached input is part of input).
 */
function codex(stdout: string): PresetOutput {
  const events = jsonLines(stdout);
  if (!events.length) return { note: 'codex: stdout holds no JSON events (was --json given?)' };
  let tokens: number | undefined;
  let text: string | undefined;
  let isError = false;
  for (const e of events) {
    if (e.type === 'turn.completed') {
      const u = (e.usage ?? {}) as Record<string, unknown>;
      const t = sum(u.input_tokens, u.output_tokens);
      if (t !== undefined) tokens = (tokens ?? 0) + t;
    } else if (e.type === 'item.completed') {
      const item = (e.item ?? {}) as Record<string, unknown>;
      const kind = item.type ?? item.item_type;
      if ((kind === 'agent_message' || kind === 'assistant_message') && typeof item.text === 'string') text = item.text;
    } else if (e.type === 'turn.failed' || e.type === 'error') {
      isError = true;
    }
  }
  return { ...(text !== undefined ? { text } : {}), ...(tokens !== undefined ? { tokens } : {}), ...(isError ? { isError } : {}) };
}

/** `12`, `2.3k`, `1.1M` as a number of tokens. */
function tokenCount(s: string): number {
  const m = /^([\d.,]+)([kKmM]?)$/.exec(s.trim());
  if (!m) return 0;
  const n = Number(m[1].replace(/,/g, ''));
  return Math.round(n * (m[2].toLowerCase() === 'k' ? 1_000 : m[2].toLowerCase() === 'm' ? 1_000_000 : 1));
}

/**
 * aider, `aider --yes-always --message-file <file>`: plain text; after each model reply a line `Tokens: 2.3k sent,
 * 450 received. Cost: $0.02 message, $0.05 session.` (cache tokens, when any, are listed between sent and received)
 * (https://aider.chat/docs/scripting.html; the usage report of https://aider.chat/docs/usage.html). The cost is the
 * last line's session cost; tokens are every line's sent and received added up; the text is the whole output.
 */
function aider(stdout: string): PresetOutput {
  let tokens: number | undefined;
  let costUsd: number | undefined;
  for (const m of stdout.matchAll(/Tokens: ([\d.,]+[kKmM]?) sent,(?:[^\n]*?,)? ([\d.,]+[kKmM]?) received\.(?: Cost: \$([\d.]+) message, \$([\d.]+) session\.)?/g)) {
    tokens = (tokens ?? 0) + tokenCount(m[1]) + tokenCount(m[2]);
    if (m[4] !== undefined) costUsd = Number(m[4]);
  }
  return { text: stdout, ...(tokens !== undefined ? { tokens } : {}), ...(costUsd !== undefined ? { costUsd } : {}) };
}
