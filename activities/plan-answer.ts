/**
 * The plan role's answer (issue 28 item 2): a typed plan, JSON checked by schema, or free text from agents that cannot
 * write JSON (recorded as size `unknown`). A JSON plan that fails the schema is recorded with its problems named (field
 * and value) and taken as free text. Pure: no I/O; tested in test/unit/plan-answer.test.ts.
 */
import { z } from 'zod';
import { formatIssues } from '../workflows/input';
import { PLAN_SIZES, type RouteSize, type TypedPlan } from '../workflows/types';

/** The bytes the typed plan may take in a payload, as JSON (the plan text's own rule: 4 KB). */
export const TYPED_PLAN_BYTES = 4096;

const line = (max: number) => z.string().trim().min(1).max(max);

/** A typed plan as the agent writes it (docs/agents.md "Typed plans"). Unknown fields are dropped. */
export const planAnswerSchema = z.object({
  summary: line(4_000),
  steps: z.array(line(2_000)).min(1).max(50),
  files: z.array(line(500)).max(200).default([]),
  risks: z.array(line(2_000)).max(50).default([]),
  size: z.enum(PLAN_SIZES),
  sizeReason: line(2_000),
  tests: z.array(line(2_000)).max(50).default([]),
});

/** What ratchet takes of a plan answer. */
export interface PlanAnswer {
  /** The plan as the prompt of later steps shows it: the typed plan rendered as markdown, or the free text. */
  text: string;
  typed?: TypedPlan;
  size: RouteSize;
  /** Set when the agent answered a JSON plan that failed the schema: one line per problem, naming field and value. */
  problems?: string[];
}

/**
 * Reads a plan answer: the result file's JSON (`result`), a typed plan when it has `steps` or `size`; else its `plan`
 * text, else `text` (the agent's answer or stdout), each read as a typed plan when it is such a JSON object (in a
 * ```json fence or not), else as free text.
 * @returns the plan, its size (`unknown` unless typed) and the schema's problems when a JSON plan failed it.
 */
export function readPlanAnswer(result: unknown, text: string): PlanAnswer {
  const fromResult = isPlanLike(result) ? result : undefined;
  const written = result && typeof result === 'object' ? (result as { plan?: unknown }).plan : undefined;
  const free = typeof written === 'string' ? written : text;
  const candidate = fromResult ?? (isPlanLike(written) ? written : jsonPlanIn(free));
  if (candidate === undefined) return { text: free, size: 'unknown' };
  const parsed = planAnswerSchema.safeParse(candidate, { reportInput: true });
  if (!parsed.success) {
    const raw = fromResult !== undefined ? JSON.stringify(fromResult, null, 2) : free;
    return { text: raw, size: 'unknown', problems: formatIssues(parsed.error).map((p) => `plan: ${p}`) };
  }
  const typed = bounded(parsed.data);
  return { text: renderPlan(parsed.data), typed, size: typed.size };
}

/** A JSON object that means to be a typed plan: it has `steps` or `size`. */
function isPlanLike(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && ('steps' in value || 'size' in value);
}

/** The typed-plan JSON object `text` is (whole, or in a ```json fence), if it is one. */
function jsonPlanIn(text: string): Record<string, unknown> | undefined {
  const fenced = /```(?:json)?\s*\n([\s\S]*?)\n```/.exec(text);
  for (const body of [text.trim(), fenced?.[1]]) {
    if (body === undefined || !body.startsWith('{')) continue;
    try {
      const value = JSON.parse(body) as unknown;
      if (isPlanLike(value)) return value;
    } catch {
      // Not JSON: free text.
    }
  }
  return undefined;
}

/** The typed plan as markdown: what the implement prompt's "Approved plan" shows and plan.md keeps. */
export function renderPlan(p: TypedPlan): string {
  const list = (title: string, items: string[]) => (items.length ? [``, `${title}:`, ...items.map((i) => `- ${i}`)] : []);
  return [
    p.summary,
    '',
    `Size: ${p.size} (${p.sizeReason})`,
    '',
    'Steps:',
    ...p.steps.map((s, i) => `${i + 1}. ${s}`),
    ...list('Files', p.files),
    ...list('Tests to add', p.tests),
    ...list('Risks', p.risks),
  ].join('\n');
}

/**
 * `p` cut to {@link TYPED_PLAN_BYTES} as JSON: each text to a few hundred characters, then list entries dropped from the
 * end of the longest list until it fits (the whole plan is in plan.md).
 */
function bounded(p: TypedPlan): TypedPlan {
  const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 3)}...` : s);
  const out: TypedPlan = {
    summary: cut(p.summary, 600),
    steps: p.steps.map((s) => cut(s, 200)),
    files: p.files.map((s) => cut(s, 200)),
    risks: p.risks.map((s) => cut(s, 200)),
    size: p.size,
    sizeReason: cut(p.sizeReason, 300),
    tests: p.tests.map((s) => cut(s, 200)),
  };
  const lists = ['steps', 'files', 'risks', 'tests'] as const;
  while (Buffer.byteLength(JSON.stringify(out)) > TYPED_PLAN_BYTES) {
    const longest = lists.reduce((a, b) => (out[b].length > out[a].length ? b : a));
    out[longest] = out[longest].slice(0, -1);
  }
  return out;
}
