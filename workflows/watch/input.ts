/**
 * The watch file (issue 27): what `ratchet watch start watch.json` schedules. A watch names a repository and base,
 * how often its checks run (one Temporal Schedule per watch), the checks themselves, the harness's setup steps, and
 * where detected failures are filed. Validated like the batch file (workflows/input.ts): every problem names the
 * field, the value and the fix. Deterministic: zod only.
 */
import { z } from 'zod';
import { ID_FIX_TEXT, ID_PATTERN } from '../ids';
import { batchFileSchema, commandOf, formatIssues, ms, parseOrThrow } from '../input';
import { INTAKE_RESERVED, intakeBatchFile } from './intake';

const check = z
  .object({
    name: z.string().min(1).max(100),
    command: commandOf('give the shell command the check runs, such as "npm test", or remove the check'),
    // A JUnit XML report (glob, relative to the checkout): each failing test case is a failure of its own.
    junit: z.string().min(1).optional(),
    timeoutMs: ms.default(10 * 60_000),
  })
  .strict();

export const watchFileSchema = z
  .object({
    watchId: z.string().regex(ID_PATTERN, { error: `must match ${ID_PATTERN}; fix: ${ID_FIX_TEXT}` }),
    repo: z.string().min(1),
    baseBranch: z.string().min(1).default('main'),
    // How often the checks run: the Schedule's interval, ms (at least a minute).
    everyMs: ms.min(60_000, { error: 'must be at least 60000 (one minute); fix: run checks at most once a minute' }),
    // Runs missed while the server was down are made up only within this window, ms (Temporal's catchup window).
    catchupWindowMs: ms.min(60_000).default(10 * 60_000),
    checks: z.array(check).min(1, { error: 'must list at least one check; fix: add {"name": "test", "command": "npm test"}' }),
    setup: z.array(z.object({ command: commandOf('give the setup command, such as "npm ci", or remove it'), timeoutMs: ms.default(10 * 60_000) }).strict()).default([]),
    ticketsDir: z.string().min(1).default('.ratchet/tickets'),
    worktreesDir: z.string().min(1).default('.ratchet/worktrees'),
    artifactsDir: z.string().min(1).default('.ratchet/artifacts'),
    // A failure is filed once it was seen in this many runs (or twice on one commit).
    confirmAfterRuns: z.number().int().min(1).max(10).default(2),
    // A fixed failure's signature closes once its check stayed green in this many scheduled runs after the fix.
    closeAfterGreenRuns: z
      .number()
      .int()
      .min(1, { error: 'must be at least 1; fix: give how many green runs after the fix close a signature, such as 3' })
      .max(100, { error: 'must be at most 100; fix: use a smaller count (each run is everyMs apart)' })
      .default(3),
    // "none" runs the checks unboxed, on the host (written on purpose, as the batch's agent.sandbox).
    sandbox: z.enum(['bwrap', 'none']).optional(),
    // Failures that look systemic file one ticket for a person (workflows/watch/breaker.ts).
    breaker: z
      .object({ maxNewPerRun: z.number().int().min(1).max(1_000).default(5), failingShare: z.number().gt(0).max(1).default(0.5) })
      .strict()
      .default({ maxNewPerRun: 5, failingShare: 0.5 }),
    // The first bad commit of a new failure: at most this many check runs (activities/watch-bisect.ts).
    bisect: z.object({ maxRuns: z.number().int().min(1).max(32).default(8) }).strict().default({ maxRuns: 8 }),
    // The intake batch's settings (a batch file without the fields the watch gives): with it, `ratchet watch start`
    // starts the batch `intake-<watchId>` and confirmed new failures join it (workflows/watch/intake.ts).
    batch: z.record(z.string(), z.unknown()).optional(),
    // Tickets handed to the intake batch's agents: at most this many per run, and per hour (workflows/watch/caps.ts).
    maxFixesPerRun: z.number().int().min(1, { error: 'must be at least 1; fix: give how many tickets one run may hand to agents, such as 5' }).max(1_000).default(5),
    maxFixesPerHour: z.number().int().min(1, { error: 'must be at least 1; fix: give how many tickets an hour may hand to agents, such as 10' }).max(10_000).default(10),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (!w.batch) return;
    for (const key of INTAKE_RESERVED) {
      if (key in w.batch) ctx.addIssue({ code: 'custom', path: ['batch', key], input: w.batch[key], message: `is ${JSON.stringify(w.batch[key])}: the watch sets it for its intake batch; fix: remove "batch.${key}" (the watch's own "${key === 'batchId' ? 'watchId' : key}" ${key === 'batchId' ? 'names the batch intake-<watchId>' : 'is used'})` });
    }
    // Validated as the batch file it becomes, each problem under "batch.".
    const parsed = batchFileSchema.safeParse(intakeBatchFile(w), { reportInput: true });
    if (parsed.success) return;
    for (const issue of parsed.error.issues) {
      if (INTAKE_RESERVED.includes(String(issue.path[0]))) continue;
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) ctx.addIssue({ code: 'custom', path: ['batch', ...issue.path, key], input: key, message: 'is not a batch file field; fix: remove it or check its spelling against docs/batch-file.md' });
        continue;
      }
      // The batch file's own wording, after its field: `is <value>: <why>; fix: <what>`.
      const line = formatIssues(new z.ZodError([issue]))[0].replace(/^field "[^"]*" /, '');
      ctx.addIssue({ code: 'custom', path: ['batch', ...issue.path], input: issue.input, message: /^is /.test(line) ? line : `is ${JSON.stringify(issue.input)}: ${line}` });
    }
  });

export type WatchFile = z.input<typeof watchFileSchema>;

/** A watch as the workflows take it: folders absolute, defaults filled in. */
export type WatchConfig = z.output<typeof watchFileSchema>;

/**
 * Checks `raw` (a parsed watch file) and makes its folders absolute with `resolve(repo, folder)` (the caller's
 * `path.resolve`: no node built-in here).
 * @throws BadInputError naming every problem: field, value and fix.
 */
export function toWatchConfig(raw: unknown, resolve: (repo: string, p: string) => string, source = 'watch file'): WatchConfig {
  const w = parseOrThrow(watchFileSchema, raw, source);
  return { ...w, ticketsDir: resolve(w.repo, w.ticketsDir), worktreesDir: resolve(w.repo, w.worktreesDir), artifactsDir: resolve(w.repo, w.artifactsDir) };
}
