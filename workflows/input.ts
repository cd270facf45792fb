/**
 * The batch file and ticket file formats, as zod schemas. Pure (no I/O), so the client can reject a bad batch
 * before starting anything and the `loadBatch` activity can re-check what arrives from the plain Temporal CLI.
 * Not imported by workflow code: the workflow relies on `loadBatch` having validated its input.
 */
import { z } from 'zod';
import { DISCOVERED_BODY_CHARS, DISCOVERED_TITLE_CHARS } from './discovery';
import { BadInputError } from './errors';
import { ID_FIX_TEXT, ID_PATTERN, refComponentProblem } from './ids';
import { secretEnvEntry, secretLikeName } from './secret-env';
import { presetCommand } from './agent-presets';
import { DEFAULT_REVIEW } from './review';
import { AGENT_PRESETS, PLAN_SIZES, ROUTE_ROLES, type AgentConfig, type AgentPreset, type RouteRole } from './types';
import { DEFAULT_AGENT_NETWORK, DEFAULT_DECOMPOSE, DEFAULT_DISCOVERY, DEFAULT_GUARD, DEFAULT_QUEUE_BATCH, DEFAULT_OUTAGE_MS, GATE_REASONS, TICKET_KINDS, TICKET_STATES, type BatchConfig, type TicketOrder, type DiscoveredWork, type ForgeConfig, type Probe, type Ticket } from './types';

export { ID_PATTERN, refComponentProblem } from './ids';
// Their home is secret-env.ts (pure, so workflow code refuses a secret before any activity copies it).
export { entropyBits, SECRET_ENTROPY_BITS, SECRET_NAME, secretLikeName, secretLikeValue } from './secret-env';
// The client's and deploy/'s importers still name it here; its home is errors.ts.

const id = z
  .string()
  .regex(ID_PATTERN, { error: 'must match [A-Za-z0-9._-]{1,64}' })
  .superRefine((value, ctx) => {
    const problem = refComponentProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', input: value, message: `is ${JSON.stringify(value)}: it ${problem}; fix: ${ID_FIX_TEXT}` });
  });

/** The longest timer Node can set (2^31-1 ms, about 24.8 days): longer ones fire after ~1 ms. */
export const MAX_TIMEOUT_MS = 2_147_483_647;
export const ms = z
  .number()
  .int()
  .positive()
  .max(MAX_TIMEOUT_MS, { error: `must be at most ${MAX_TIMEOUT_MS} ms (about 24.8 days), the longest timer Node can set` });

/**
 * A shell command: something to run, not blank (a blank gate would pass every attempt vacuously). `fix` says what to
 * write instead, for the field it is in.
 */
export const commandOf = (fix: string) => z.string().refine((c) => c.trim() !== '', { error: `must be a command to run, not blank; fix: ${fix}` });
const FIX_COMMAND = {
  agent: 'give the shell command that runs the agent (run by /bin/sh -c; see docs/agents.md)',
  gate: 'give the shell command the gate runs, such as "npm test", or remove the gate',
  probe: 'give the shell command the probe runs, such as "curl -fsS http://127.0.0.1:8080/health", or remove the probe',
  deploy: 'give the shell command that deploys the merged base, such as "./deploy.sh", or remove "deploy"',
  setup: 'give the shell command the setup step runs, such as "npm ci", or remove the step',
  heal: 'give the shell command that runs the heal agent, or remove "heal"',
};

/** HTTP methods are tokens (RFC 9110 section 5.6.2): no spaces or separators. */
const HTTP_METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** An environment variable name (POSIX portable). */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name such as ANTHROPIC_API_KEY' });
const envNames = z.array(envName).default([]);
/** A glob or path relative to the repository, such as `scripts/**` or `Makefile`; never absolute, never `..`. */
const repoGlob = z
  .string()
  .min(1)
  .refine((g) => !g.startsWith('/') && !g.split('/').includes('..'), {
    error: 'must be relative to the repository (no leading "/", no "..") such as "scripts/**"',
  });
const repoGlobs = z.array(repoGlob).default([]);

/**
 * A domain a boxed run may reach through the egress proxy: a host name (`api.anthropic.com`) or every subdomain of
 * one (`*.npmjs.org`). Never an IP address, `localhost` or the GitHub API: those reach the worker's own ports, the
 * Temporal frontend or the tracker, which no agent may speak to (issue 25).
 */
const domain = z
  .string()
  .min(1)
  .max(253)
  .superRefine((value, ctx) => {
    const host = value.toLowerCase().replace(/^\*\./, '');
    const fail = (why: string) => ctx.addIssue({ code: 'custom', input: value, message: `is ${JSON.stringify(value)}: ${why}` });
    if (!/^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/.test(host)) {
      return fail('not a domain; fix: a host name such as "api.anthropic.com", or "*.npmjs.org" for its subdomains');
    }
    if (/^[0-9.]+$/.test(host) || host === 'localhost' || host.endsWith('.localhost')) {
      return fail('an address on this machine or an IP literal: a box never reaches the worker, the Temporal frontend or another local port; fix: remove it');
    }
    if (host === 'api.github.com') {
      return fail("the GitHub API, which ratchet's tracker and forge use with the worker's token; a box never reaches it; fix: remove it");
    }
  });

/** An environment variable name (POSIX portable), for names that are keys of an object. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The batch file's plain variables (`agent.env`): POSIX names, values an environment can hold, and nothing that looks
 * like a secret by its name or its value (values in agent.env travel in workflow histories; a refusal never shows one).
 */
const plainEnv = z
  .record(z.string(), z.string())
  .default({})
  .superRefine((env, ctx) => {
    for (const [name, value] of Object.entries(env)) {
      const at = { code: 'custom' as const, input: name, path: [name] };
      if (!ENV_NAME.test(name)) {
        ctx.addIssue({
          ...at,
          message:
            'is not an environment variable name (letters, digits and "_", not starting with a digit; no spaces, "=" or NUL bytes); ' +
            'fix: rename it, such as "MY_SETTING"',
        });
      } else if (secretLikeName(name)) {
        ctx.addIssue({ ...at, message: secretEnvEntry(name, value) as string });
        continue;
      }
      if (value.includes('\0')) {
        ctx.addIssue({ ...at, message: 'has a value with a NUL byte, which no environment variable can hold (not shown here); fix: remove the NUL byte' });
        continue;
      }
      const secret = secretEnvEntry(name, value);
      if (secret) ctx.addIssue({ ...at, message: secret });
    }
  });

/** A git remote (a name or a URL): never one git would read as an option. */
const remote = z
  .string()
  .min(1)
  .refine((r) => !r.startsWith('-'), { error: 'starts with "-", so git would read it as an option, not a remote; fix: give a remote name such as "origin" or a URL such as "https://github.com/acme/shop.git"' });

/**
 * One agent profile (the batch file's `agent`, or an entry of `agents`): a command, or a preset that fills it in
 * (activities/agents/presets.ts), with its time limit, environment and box.
 */
const agentProfile = z
  .object({
    command: commandOf(FIX_COMMAND.agent).optional(),
    preset: z.enum(AGENT_PRESETS).optional(),
    timeoutMs: ms.default(20 * 60_000),
    env: plainEnv,
    envFrom: envNames,
    sandbox: z.enum(['bwrap', 'none']).optional(),
    network: z.array(domain).default([...DEFAULT_AGENT_NETWORK]),
    cacheDirs: z
      .array(z.string().refine((p) => p.startsWith('/'), { error: 'must be an absolute folder such as /home/me/.npm' }))
      .default([]),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.command === undefined && a.preset === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['command'],
        input: undefined,
        message: `is missing: a profile needs a command to run; fix: ${FIX_COMMAND.agent}, or a "preset" (${AGENT_PRESETS.map((p) => `"${p}"`).join(', ')})`,
      });
    }
  });

/** A profile's name: a key of `agents`, named by `routes`. */
const profileName = z.string().regex(/^[A-Za-z0-9._-]{1,40}$/, { error: 'must be 1 to 40 letters, digits, ".", "_" or "-", such as "strong" or "cheap"' });

/** A route: a profile name, or a profile name per plan size (`S`, `M`, `L`, `XL`, `unknown`). */
const route = z.union([profileName, z.object(Object.fromEntries(['S', 'M', 'L', 'XL', 'unknown'].map((k) => [k, profileName.optional()]))).strict()]);

const probeInput = z.union([
  z
    .object({
      name: z.string().min(1).optional(),
      http: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL such as http://127.0.0.1:8080/health' }),
      method: z.string().regex(HTTP_METHOD, { error: 'must be an HTTP method such as GET, HEAD or POST (a token: no spaces)' }).default('GET'),
      expectStatus: z.number().int().min(100).max(599).default(200),
      expectBody: z.string().optional(),
      timeoutMs: ms.default(5_000),
    })
    .strict(),
  z
    .object({
      name: z.string().min(1).optional(),
      command: commandOf(FIX_COMMAND.probe),
      timeoutMs: ms.default(60_000),
      files: repoGlobs,
    })
    .strict(),
]);

function toProbe(p: z.infer<typeof probeInput>, index: number): Probe {
  if ('http' in p) {
    return {
      kind: 'http',
      name: p.name ?? `${p.method} ${p.http}`,
      url: p.http,
      method: p.method,
      expectStatus: p.expectStatus,
      expectBody: p.expectBody,
      timeoutMs: p.timeoutMs,
    };
  }
  return { kind: 'command', name: p.name ?? `probe ${index + 1}`, command: p.command, timeoutMs: p.timeoutMs, files: p.files };
}

const probes = z
  .array(probeInput)
  .default([])
  .transform((list) => list.map(toProbe));

/** A GitHub repository as `owner/name`. */
const githubRepo = z.string().regex(/^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/, { error: 'must be a GitHub repository as owner/name, such as "acme/shop"' });

const trackerInput = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('local') }).strict(),
    z
      .object({
        kind: z.literal('github'),
        repo: githubRepo,
        labels: z.array(z.string().min(1).max(50)).default([]),
        milestone: z.union([z.number().int().positive(), z.string().min(1)]).optional(),
        issues: z.array(z.number().int().positive()).default([]),
        labelPrefix: z
          .string()
          .regex(/^[A-Za-z0-9._-]{1,30}$/, { error: 'must be 1 to 30 letters, digits, ".", "_" or "-", such as "ratchet"' })
          .default('ratchet'),
        /** How often an issue waiting at a human gate is read for a person's label, when no webhook answers first. */
        pollMs: ms.min(1_000).default(30_000),
      })
      .strict()
      .refine((t) => t.labels.length > 0 || t.milestone !== undefined || t.issues.length > 0, {
        error: 'selects no issues; fix: give "labels" (e.g. ["ratchet"]), "milestone" or "issues" (numbers)',
      }),
  ])
  .default({ kind: 'local' });

const forgeInput = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('local') }).strict(),
    z
      .object({
        kind: z.literal('github'),
        repo: githubRepo.optional(),
        remote: remote.optional(),
        land: z.enum(['merge', 'human']).default('merge'),
        requiredChecks: z.array(z.string().min(1)).default([]),
        mergeMethod: z.enum(['merge', 'squash']).default('merge'),
        pollMs: ms.min(1_000).default(30_000),
      })
      .strict(),
  ])
  .default({ kind: 'local' });

/** A batch file: the JSON a person passes to `ratchet start` or `temporal workflow start --input-file`. */
export const batchFileSchema = z
  .object({
    batchId: id.optional(),
    // A watch's intake batch (docs/watch.md): set by `ratchet watch start`, not written by hand.
    intake: z.boolean().optional(),
    repo: z.string().min(1),
    baseBranch: z.string().min(1).default('main'),
    ticketsDir: z.string().min(1).default('.ratchet/tickets'),
    tracker: trackerInput,
    forge: forgeInput,
    artifactsDir: z.string().min(1).default('.ratchet/artifacts'),
    worktreesDir: z.string().min(1).default('.ratchet/worktrees'),
    tickets: z
      .array(id)
      .default([])
      .superRefine((ids, ctx) => {
        const times = new Map<string, number>();
        for (const t of ids) times.set(t, (times.get(t) ?? 0) + 1);
        for (const [t, n] of times) {
          if (n > 1) ctx.addIssue({ code: 'custom', input: t, message: `lists duplicate ticket id ${JSON.stringify(t)} ${n} times; fix: list each id once` });
        }
      }),
    // The profile "default" and every route's fallback; optional only when `agents` defines "default" instead.
    agent: agentProfile.optional(),
    // Named agent profiles and the routes that pick them per role and size (issue 28 item 3; docs/agents.md).
    agents: z.record(profileName, agentProfile).optional(),
    routes: z
      .object(Object.fromEntries(ROUTE_ROLES.map((role) => [role, route.optional()])) as Record<RouteRole, z.ZodOptional<typeof route>>)
      .strict()
      .optional(),
    plan: z.object({ splitAbove: z.enum(PLAN_SIZES).default('L') }).strict().optional(),
    gates: z
      .array(
        z
          .object({
            name: z.string().min(1),
            command: commandOf(FIX_COMMAND.gate),
            timeoutMs: ms.default(10 * 60_000),
            files: repoGlobs,
            junit: repoGlob.optional(),
            tests: repoGlobs,
            envFrom: envNames,
            network: z.array(domain).default([]),
          })
          .strict(),
      )
      .default([]),
    deploy: z
      .object({
        command: commandOf(FIX_COMMAND.deploy),
        timeoutMs: ms.default(2 * 60_000),
        envFrom: envNames,
        // Deploys to one target run one at a time, deployment-wide (workflows/lock.ts); default the repository.
        target: z.string().min(1).max(200).optional(),
      })
      .strict()
      .optional(),
    probes,
    protectedPaths: repoGlobs,
    verify: z
      .object({
        deadlineMs: ms.default(5 * 60_000),
        intervalMs: ms.default(2_000),
        stableRounds: z.number().int().min(1).max(1_000).default(5),
        // Earlier tickets whose probes each deploy re-runs (issue 26: done tickets stay done); "all" re-runs every one.
        guard: z.union([z.number().int().min(1).max(1_000), z.literal('all')]).default(DEFAULT_GUARD),
      })
      .strict()
      .default({ deadlineMs: 5 * 60_000, intervalMs: 2_000, stableRounds: 5, guard: DEFAULT_GUARD }),
    // What a regression the guard confirms does to its culprit's merge (issue 26).
    revert: z
      .object({
        mode: z.enum(['auto', 'propose', 'off']).default('auto'),
        maxPerBatch: z.number().int().min(0).max(100).default(3),
        vetoMs: ms.default(0),
      })
      .strict()
      .default({ mode: 'auto', maxPerBatch: 3, vetoMs: 0 }),
    // Up to 1,000 at once: a batch across several workers' hosts runs hundreds (issue 9 measures 200 in flight).
    maxParallel: z.number().int().min(1).max(1_000).default(2),
    maxAttempts: z.number().int().min(1).max(20).default(3),
    // Validated commits tested as one merge candidate (issue 26); 1 tests each alone. The default is bench-chosen.
    mergeQueue: z
      .object({ batchSize: z.number().int().min(1).max(64).default(DEFAULT_QUEUE_BATCH) })
      .strict()
      .default({ batchSize: DEFAULT_QUEUE_BATCH }),
    circuitBreaker: z.number().int().min(1).default(3),
    // The agent breaker (issue 27 item 6); absent: the schedule's default (batch/agent-breaker.ts).
    breaker: z
      .object({ sameFailure: z.number().int().min(1).max(1_000).default(3) })
      .strict()
      .optional(),
    // The ready set's start order (issue 28 item 6); absent: bugs and features before chores and refactors.
    order: z
      .unknown()
      .superRefine((value, ctx) => {
        const problem = orderProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', input: value, message: problem });
      })
      .transform((value) => value as TicketOrder)
      .optional(),
    continueAsNewAtEvents: z.number().int().min(50).max(10_000).default(4_000),
    heartbeatTimeoutMs: ms.min(1_000).default(30_000),
    origin: remote.optional(),
    hostWaitMs: ms.min(100).default(30_000),
    discovery: z
      .object({
        maxPerBatch: z.number().int().min(0).max(1_000).default(DEFAULT_DISCOVERY.maxPerBatch),
        maxPerTicket: z.number().int().min(0).max(100).default(DEFAULT_DISCOVERY.maxPerTicket),
      })
      .strict()
      .default(DEFAULT_DISCOVERY),
    decompose: z
      .object({ maxTickets: z.number().int().min(1).max(50).default(DEFAULT_DECOMPOSE.maxTickets) })
      .strict()
      .optional(),
    // Budgets in US dollars (workflows/cost.ts): absent, none.
    budget: z
      .object({
        ticketUsd: z.number().positive({ error: 'must be above 0; fix: give the dollars one ticket\'s agent runs may spend before a person decides, such as 2' }).optional(),
        batchUsd: z.number().positive({ error: 'must be above 0; fix: give the dollars the batch\'s agent runs may spend before it stops starting tickets, such as 50' }).optional(),
      })
      .strict()
      .optional(),
    // The review before merge (workflows/review.ts): absent, no review.
    review: z
      .object({
        when: z
          .object({
            sizes: z.array(z.enum([...PLAN_SIZES, 'unknown'])).default(DEFAULT_REVIEW.when.sizes),
            kinds: z.array(z.enum(TICKET_KINDS)).optional(),
            paths: repoGlobs,
          })
          .strict()
          .default(DEFAULT_REVIEW.when),
        maxRounds: z.number().int().min(0).max(20).default(DEFAULT_REVIEW.maxRounds),
        retries: z.number().int().min(0).max(10).default(DEFAULT_REVIEW.retries),
      })
      .strict()
      .optional(),
    humanGates: z
      .object({ timeoutMs: ms.optional(), keepWaiting: z.array(z.enum(GATE_REASONS)).default([]) })
      .strict()
      .default({ keepWaiting: [] }),
    harness: z
      .object({
        setup: z.array(z.object({ command: commandOf(FIX_COMMAND.setup), timeoutMs: ms.default(10 * 60_000) }).strict()).default([]),
        promptRules: z.array(z.string().min(1)).default([]),
        outageMs: ms.default(DEFAULT_OUTAGE_MS),
      })
      .strict()
      .default({ setup: [], promptRules: [], outageMs: DEFAULT_OUTAGE_MS }),
    heal: z
      .object({
        command: commandOf(FIX_COMMAND.heal),
        timeoutMs: ms.default(10 * 60_000),
        maxPerTicket: z.number().int().min(0).max(10).default(1),
        maxPerBatch: z.number().int().min(0).max(100).default(3),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((file, ctx) => {
    for (const problem of profileProblems(file)) ctx.addIssue({ code: 'custom', input: problem.value, path: problem.path, message: problem.message });
  });

export type BatchFile = z.input<typeof batchFileSchema>;

/**
 * What is wrong with a batch file's profiles and routes: no `agent` (nor `agents.default`), both, or a route naming a
 * profile that is not defined; each with the field, the value and the fix. Pure.
 */
function profileProblems(file: { agent?: unknown; agents?: Record<string, unknown>; routes?: Partial<Record<RouteRole, unknown>> }): { path: PropertyKey[]; value: unknown; message: string }[] {
  const problems: { path: PropertyKey[]; value: unknown; message: string }[] = [];
  const agents = file.agents ?? {};
  if (file.agent === undefined && agents.default === undefined) {
    problems.push({ path: ['agent'], value: undefined, message: 'is missing: every batch needs the agent that runs its tickets; fix: give "agent": {"command": "..."} (docs/agents.md), or define "agents.default"' });
  }
  if (file.agent !== undefined && agents.default !== undefined) {
    problems.push({ path: ['agents', 'default'], value: 'default', message: 'is "agent" already: the batch file\'s "agent" is the profile "default"; fix: remove "agents.default", or move it to "agent"' });
  }
  const known = ['default', ...Object.keys(agents).filter((n) => n !== 'default')];
  for (const [role, r] of Object.entries(file.routes ?? {})) {
    const names: [PropertyKey[], unknown][] = typeof r === 'string' ? [[[role], r]] : Object.entries((r ?? {}) as Record<string, unknown>).map(([size, n]) => [[role, size], n]);
    for (const [at, name] of names) {
      if (typeof name !== 'string' || known.includes(name)) continue;
      problems.push({
        path: ['routes', ...at],
        value: name,
        message: `is ${JSON.stringify(name)}: no such profile; fix: name one of ${known.map((n) => `"${n}"`).join(', ')}, or define "${name}" in "agents"`,
      });
    }
  }
  return problems;
}

/**
 * What is wrong with a batch file's `order`, as `is <value>: <why>; fix: <what to write>`, or `undefined` when it is a
 * list of distinct ticket kinds (at least one) or `"tracker"`.
 */
export function orderProblem(value: unknown): string | undefined {
  const shown = JSON.stringify(value) ?? String(value);
  const fix = `fix: list ticket kinds, first started first, such as ["bug", "feature", "chore", "refactor"] (kinds: ${TICKET_KINDS.join(', ')}), or write "tracker" for the tracker's order alone`;
  if (value === 'tracker') return undefined;
  if (!Array.isArray(value)) return `is ${shown}: neither a list of ticket kinds nor "tracker"; ${fix}`;
  if (value.length === 0) return `is []: an empty list orders nothing; ${fix}`;
  const unknown = value.filter((k) => !(TICKET_KINDS as readonly unknown[]).includes(k));
  if (unknown.length) return `is ${shown}: ${unknown.map((k) => JSON.stringify(k)).join(', ')} ${unknown.length > 1 ? 'are not ticket kinds' : 'is not a ticket kind'}; ${fix}`;
  const twice = value.filter((k, i) => value.indexOf(k) !== i);
  if (twice.length) return `is ${shown}: ${[...new Set(twice)].map((k) => JSON.stringify(k)).join(', ')} named twice; fix: name each kind once`;
  return undefined;
}

/** A ticket file (YAML) in the local tracker's folder. */
export const ticketFileSchema = z
  .object({
    id,
    title: z.string().min(1),
    body: z.string().default(''),
    acceptance: z.array(z.string()).default([]),
    dependsOn: z.array(id).default([]),
    kind: z.enum(TICKET_KINDS).default('feature'),
    gate: z.enum(['plan']).optional(),
    size: z.enum(['S', 'M', 'L']).optional(),
    /** Overrides the batch's `forge.land` for this ticket's pull request (GitHub forge only). */
    land: z.enum(['merge', 'human']).optional(),
    probes,
    allowPaths: repoGlobs,
    state: z.enum(TICKET_STATES).default('todo'),
    /** Written by the harness next to `state`: why the ticket is in it (gate reason, blocker, merge commit). */
    stateNote: z.string().optional(),
  })
  .strict();

const FIXES: Record<string, string> = {
  invalid_type: 'give a value of the expected type',
  unrecognized_keys: 'remove it or check its spelling against docs/batch-file.md',
  invalid_format: 'use the documented format',
  too_small: 'use a larger value',
  too_big: 'use a smaller value',
  invalid_value: 'use one of the listed values',
  invalid_union: 'use one of the documented shapes',
};

const ID_FIX = "use only letters, digits, '.', '_' and '-', 1 to 64 characters (e.g. \"release-1\")";

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return 'nothing';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Turns zod issues into lines such as `field "agent.timeoutMs" is "5s": expected number; fix: ...`. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    // Quoted as JSON, so a key with a control character (a NUL byte) shows as \u0000.
    const field = JSON.stringify(issue.path.join('.') || '(top level)');
    const isId = issue.code === 'invalid_format' && 'pattern' in issue && String(issue.pattern) === String(ID_PATTERN);
    const fix = isId ? ID_FIX : (FIXES[issue.code] ?? 'see docs/batch-file.md for the format');
    if (issue.code === 'custom') {
      // Messages that already say what the value is ("is ...", "looks like ...", "has ...") stand as written.
      if (/^(is |looks like |has |lists )/.test(issue.message)) return `field ${field} ${issue.message}`;
      return `field ${field} is ${describe(issue.input)}: ${issue.message}`;
    }
    if (issue.code === 'unrecognized_keys') {
      return `unknown field ${issue.keys.map((k) => JSON.stringify([...issue.path, k].join('.'))).join(', ')}: ${fix}`;
    }
    return `field ${field} is ${describe(issue.input)}: ${issue.message.replace(/^Invalid input: /, '')}; fix: ${fix}`;
  });
}

/** Parses with `schema`, or throws `BadInputError` naming `source` (a file or "batch input"). */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, source: string): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) throw new BadInputError(source, formatIssues(result.error));
  return result.data;
}

/** The parsed batch file, paths still as written (resolution against `repo` is the activity's job). */
export type ParsedBatchFile = z.output<typeof batchFileSchema>;

/** Resolves a parsed batch file to a `BatchConfig`, given path helpers (kept out so this module stays pure). */
export function toBatchConfig(
  file: ParsedBatchFile,
  batchId: string,
  resolve: (repo: string, p: string) => string,
): BatchConfig {
  return {
    batchId,
    ...(file.intake ? { intake: true } : {}),
    repo: file.repo,
    baseBranch: file.baseBranch,
    ticketsDir: resolve(file.repo, file.ticketsDir),
    ...(file.tracker.kind === 'github' ? { tracker: file.tracker } : {}),
    ...forgeOf(file),
    artifactsDir: resolve(file.repo, file.artifactsDir),
    worktreesDir: resolve(file.repo, file.worktreesDir),
    tickets: file.tickets,
    ...profilesOf(file),
    gates: file.gates,
    deploy: file.deploy,
    probes: file.probes,
    protectedPaths: file.protectedPaths,
    verify: file.verify,
    maxParallel: file.maxParallel,
    maxAttempts: file.maxAttempts,
    mergeQueue: file.mergeQueue,
    revert: file.revert,
    circuitBreaker: file.circuitBreaker,
    ...(file.breaker ? { breaker: file.breaker } : {}),
    continueAsNewAtEvents: file.continueAsNewAtEvents,
    heartbeatTimeoutMs: file.heartbeatTimeoutMs,
    ...originOf(file),
    hostWaitMs: file.hostWaitMs,
    discovery: file.discovery,
    humanGates: file.humanGates,
    harness: file.harness,
    ...(file.heal ? { heal: file.heal } : {}),
    // Only when set: a batch that sets none loads the config it loaded before (the default lives in the schedule).
    ...(file.order !== undefined ? { order: file.order } : {}),
    ...(file.decompose ? { decompose: file.decompose } : {}),
    ...(file.review ? { review: file.review } : {}),
    ...(file.budget ? { budget: file.budget } : {}),
  };
}

/** A parsed profile as the config carries it: its preset's command filled in when it gives none. */
function profileConfig(p: z.output<typeof agentProfile>): AgentConfig {
  const { command, preset, ...rest } = p;
  return { ...rest, command: command ?? presetCommand(preset as AgentPreset), ...(preset ? { preset } : {}) };
}

/**
 * The batch's `agent` (the profile `default`: the file's `agent`, or `agents.default`), its other profiles, its
 * routes and its plan settings; a batch that sets none of the latter loads the config it loaded before.
 */
function profilesOf(file: ParsedBatchFile): Pick<BatchConfig, 'agent' | 'agents' | 'routes' | 'plan'> {
  const { default: named, ...others } = file.agents ?? {};
  const agent = profileConfig((file.agent ?? named) as z.output<typeof agentProfile>);
  const agents = Object.fromEntries(Object.entries(others).map(([name, p]) => [name, profileConfig(p)]));
  return {
    agent,
    ...(Object.keys(agents).length ? { agents } : {}),
    ...(file.routes ? { routes: file.routes as BatchConfig['routes'] } : {}),
    ...(file.plan ? { plan: file.plan } : {}),
  };
}

/**
 * The remote each attempt's branch is pushed to, when the batch names one.
 * @throws BadInputError when the forge is GitHub's, which pushes every validated attempt to its pull request itself
 *   (an attempt pushed before its gates would show there unvalidated).
 */
function originOf(file: ParsedBatchFile): { origin?: string } {
  if (file.origin === undefined) return {};
  if (file.forge.kind === 'github') {
    throw new BadInputError('batch input', [
      `field "origin" is "${file.origin}": with forge "github" each validated attempt is pushed to its pull request by the forge; fix: remove "origin"`,
    ]);
  }
  return { origin: file.origin };
}

/**
 * The batch's forge, or nothing for the local one (so a local batch's config is as before). A GitHub forge's `repo`
 * defaults to the GitHub tracker's.
 * @throws BadInputError when a GitHub forge names no repository and the tracker is not GitHub's.
 */
function forgeOf(file: ParsedBatchFile): { forge?: ForgeConfig } {
  const forge = file.forge;
  if (forge.kind === 'local') return {};
  const repo = forge.repo ?? (file.tracker.kind === 'github' ? file.tracker.repo : undefined);
  if (repo === undefined) {
    throw new BadInputError('batch input', ['field "forge.repo" is missing: the tracker is not GitHub\'s, so the forge needs its own; fix: e.g. "acme/shop"']);
  }
  return { forge: { ...forge, repo } };
}

/** Entries of one result file's `discovered` list that ratchet reads; the rest are refused. */
export const MAX_DISCOVERED_PER_RESULT = 10;

/**
 * One entry of an agent result file's `discovered` list (docs/agents.md). Agents do not pick ids or edges:
 * ratchet names the ticket, and `blocksThisTicket` is the only edge an agent may ask for. Unknown fields are dropped.
 */
export const agentDiscoveredSchema = z.object({
  title: z.string().trim().min(1).max(DISCOVERED_TITLE_CHARS),
  body: z.string().max(DISCOVERED_BODY_CHARS).default(''),
  acceptance: z.array(z.string().max(500)).max(20).default([]),
  kind: z.enum(TICKET_KINDS).default('discovered'),
  blocksThisTicket: z.boolean().default(false),
});

/**
 * Reads the `discovered` field of an agent's result (untrusted JSON): the valid entries, and one line per refused
 * entry naming what was wrong (for the agent's next prompt). Pure.
 */
export function parseAgentDiscovered(result: unknown): { work: (DiscoveredWork & { blocksThisTicket: boolean })[]; problems: string[] } {
  const list = result && typeof result === 'object' ? (result as { discovered?: unknown }).discovered : undefined;
  if (list === undefined) return { work: [], problems: [] };
  if (!Array.isArray(list)) return { work: [], problems: ['result field "discovered" is not a list; write a JSON array of {title, body, acceptance, kind, blocksThisTicket}'] };
  const work: (DiscoveredWork & { blocksThisTicket: boolean })[] = [];
  const problems: string[] = [];
  list.forEach((entry, i) => {
    if (i >= MAX_DISCOVERED_PER_RESULT) {
      if (i === MAX_DISCOVERED_PER_RESULT) problems.push(`result field "discovered" has ${list.length} entries; only the first ${MAX_DISCOVERED_PER_RESULT} are read`);
      return;
    }
    const parsed = agentDiscoveredSchema.safeParse(entry, { reportInput: true });
    if (!parsed.success) {
      problems.push(...formatIssues(parsed.error).map((line) => `discovered[${i}]: ${line}`));
      return;
    }
    work.push({ ...parsed.data, dependsOn: [], blocks: [] });
  });
  return { work, problems };
}

export type ParsedTicket = z.output<typeof ticketFileSchema>;
export type { Ticket };
