/**
 * The scripted demo agent. NOT an LLM: it replays answers from a YAML script so demos and tests are deterministic.
 * It speaks the agent protocol (see `command.ts`) like any other agent command; build its command line with
 * `demoAgentCommand(scriptPath)`.
 *
 * Usage: `node <repo>/node_modules/tsx/dist/cli.mjs <repo>/activities/agents/demo-agent.ts <script.yaml>`
 *
 * Script format:
 *   tickets:
 *     <ticketId>:
 *       plan: |          # role plan: printed, and written to $RATCHET_RESULT_FILE as {"plan": ...}; an object (a
 *                        # typed plan: summary, steps, size, ...) is written to the result file as is
 *       decompositions:  # role decompose (an epic), run n: entry min(n, length) - 1, written to the result file as is
 *       heals:           # role heal, heal n: entry min(n, length) - 1, written to the result file as is
 *       reviews:         # role review of attempt n: entry min(n, length) - 1, written to the result file as is
 *         - { verdict: ALLOW | BLOCK | INFRA_ERROR, findings?: [{ file, line, what, why }] }   # none: ALLOW
 *         - { verdict, reason, change?, discovered?, evidence?, action? }
 *       attempts:        # role implement, attempt n: entry min(n, length) - 1
 *         - note: ...    # printed, and the result's summary
 *           run: <shell>   # run first with /bin/sh -c in the worktree, output printed; a failure is printed, not fatal
 *           files: { <path relative to the worktree>: <content> }   # folders created
 *           delete: [<path>]      # removed if present
 *           exitCode: 0           # default 0; files are written either way
 *           holdOnce: /abs/marker # if missing: create it holding this pid, print "holding", wait holdMs first
 *           holdMs: 60000         # default 60000
 *           discovered: [{ title, body, acceptance, kind, blocksThisTicket }]   # written to the result file as is
 *
 * Exit codes: the attempt's exitCode; 2 for a bad script, environment or path; 3 for a ticket the script does not
 * know. For role implement without scripted attempts it exits 0 having changed nothing; for role heal without scripted
 * heals it exits 0 with no result file (no verdict).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { z } from 'zod';

const Attempt = z.strictObject({
  note: z.string().optional(),
  run: z.string().optional(),
  files: z.record(z.string(), z.string()).optional(),
  delete: z.array(z.string()).optional(),
  exitCode: z.number().int().min(0).max(255).optional(),
  holdOnce: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path').optional(),
  holdMs: z.number().int().nonnegative().optional(),
  // Passed to the result file untouched: ratchet validates it, as it would any agent's.
  discovered: z.array(z.unknown()).optional(),
});
const Script = z.strictObject({
  tickets: z.record(z.string(), z.strictObject({
    // A string is a free-text plan; an object is written to the result file as is (a typed plan: plan-answer.ts).
    plan: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
    attempts: z.array(Attempt).optional(),
    // Passed to the result file untouched: ratchet validates a heal's answer like any agent's.
    heals: z.array(z.record(z.string(), z.unknown())).optional(),
    // An epic's answers, passed to the result file untouched: ratchet checks them (workflows/epic/check.ts).
    decompositions: z.array(z.unknown()).optional(),
    // A reviewer's answers, passed to the result file untouched: ratchet checks them (activities/review.ts).
    reviews: z.array(z.record(z.string(), z.unknown())).optional(),
  })),
});
type Attempt = z.infer<typeof Attempt>;

/** A problem that ends the run with `code` and a one-line message on stderr. */
class Exit extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Exit(2, `demo-agent: environment variable ${name} is not set`);
  return value;
}

function loadScript(file: string): z.infer<typeof Script> {
  let raw: unknown;
  try {
    raw = parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Exit(2, `demo-agent: cannot read script ${file}: ${(err as Error).message}`);
  }
  const parsed = Script.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Exit(2, `demo-agent: invalid script ${file}: ${issues.join('; ')}`);
  }
  return parsed.data;
}

/** `rel` resolved inside `root`; scripted paths may not escape the worktree. */
function inside(root: string, rel: string): string {
  const abs = path.resolve(root, rel);
  const back = path.relative(root, abs);
  if (path.isAbsolute(rel) || back === '' || back === '..' || back.startsWith(`..${path.sep}`)) {
    throw new Exit(2, `demo-agent: scripted path ${rel} is outside the working directory`);
  }
  return abs;
}

async function holdOnce(marker: string, ms: number): Promise<void> {
  try {
    fs.mkdirSync(path.dirname(marker), { recursive: true });
    fs.writeFileSync(marker, `${process.pid}\n`, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      console.log(`hold marker ${marker} exists: not holding`);
      return;
    }
    throw err;
  }
  console.log(`holding for ${ms} ms (marker ${marker}, pid ${process.pid})`);
  await sleep(ms);
}

function apply(attempt: Attempt, cwd: string): void {
  if (attempt.note !== undefined) console.log(`note: ${attempt.note}`);
  if (attempt.run !== undefined) {
    const r = spawnSync('/bin/sh', ['-c', attempt.run], { cwd, encoding: 'utf8' });
    process.stdout.write(r.stdout ?? '');
    process.stdout.write(r.stderr ?? '');
    console.log(`ran: ${attempt.run} (exit ${r.status ?? r.signal})`);
  }
  for (const [rel, content] of Object.entries(attempt.files ?? {})) {
    const abs = inside(cwd, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
    console.log(`wrote ${rel} (${Buffer.byteLength(content)} bytes)`);
  }
  for (const rel of attempt.delete ?? []) {
    fs.rmSync(inside(cwd, rel), { recursive: true, force: true });
    console.log(`deleted ${rel}`);
  }
}

async function main(): Promise<number> {
  const scriptFile = process.argv[2];
  if (scriptFile === undefined) throw new Exit(2, 'usage: demo-agent <script.yaml>');
  const role = env('RATCHET_ROLE');
  const ticketId = env('RATCHET_TICKET_ID');
  const promptFile = env('RATCHET_PROMPT_FILE');
  const resultFile = process.env.RATCHET_RESULT_FILE;
  const script = loadScript(path.resolve(scriptFile));

  console.log(`demo-agent (scripted, not an LLM): role ${role}, ticket ${ticketId}, cwd ${process.cwd()}`);
  let prompt: string;
  try {
    prompt = fs.readFileSync(promptFile, 'utf8');
  } catch (err) {
    throw new Exit(2, `demo-agent: cannot read prompt file ${promptFile}: ${(err as Error).message}`);
  }
  console.log(`prompt: ${prompt.split('\n', 1)[0]}`);

  const entry = script.tickets[ticketId];
  if (entry === undefined) throw new Exit(3, `demo-agent: ticket ${ticketId} is not in script ${scriptFile}`);
  const writeResult = (result: object): void => {
    if (resultFile !== undefined && resultFile !== '') fs.writeFileSync(resultFile, JSON.stringify(result));
  };

  if (role === 'plan') {
    const plan = entry.plan ?? `Implement ticket ${ticketId} as described in the prompt.\n`;
    console.log(typeof plan === 'string' ? plan : JSON.stringify(plan, null, 2));
    writeResult(typeof plan === 'string' ? { plan, summary: `scripted plan for ${ticketId}` } : plan);
    return 0;
  }
  if (role !== 'implement' && role !== 'heal' && role !== 'decompose' && role !== 'review') throw new Exit(2, `demo-agent: unknown RATCHET_ROLE ${role}`);

  const n = Number(process.env.RATCHET_ATTEMPT ?? '1');
  if (!Number.isInteger(n)) throw new Exit(2, `demo-agent: RATCHET_ATTEMPT is not an integer: ${process.env.RATCHET_ATTEMPT}`);
  if (role === 'decompose') {
    const answers = entry.decompositions ?? [];
    if (answers.length === 0) throw new Exit(3, `demo-agent: ticket ${ticketId} has no scripted decompositions`);
    console.log(`decompose ${n}: scripted answer ${Math.min(Math.max(n, 1), answers.length)} of ${answers.length}`);
    writeResult(answers[Math.min(Math.max(n, 1), answers.length) - 1] as object);
    return 0;
  }
  if (role === 'review') {
    const reviews = entry.reviews ?? [];
    const answer = reviews.length ? reviews[Math.min(Math.max(n, 1), reviews.length) - 1] : { verdict: 'ALLOW' };
    console.log(`review of attempt ${n}: ${JSON.stringify(answer.verdict)}`);
    writeResult(answer);
    return 0;
  }
  if (role === 'heal') {
    const heals = entry.heals ?? [];
    if (heals.length === 0) {
      console.log(`heal ${n}: no scripted heals; no verdict`);
      return 0;
    }
    const verdict = heals[Math.min(Math.max(n, 1), heals.length) - 1];
    console.log(`heal ${n}: ${JSON.stringify(verdict.verdict)}: ${String(verdict.reason ?? '')}`);
    writeResult(verdict);
    return 0;
  }
  const attempts = entry.attempts ?? [];
  if (attempts.length === 0) {
    console.log(`attempt ${n}: no scripted attempts; changing nothing`);
    writeResult({ summary: 'no scripted attempts' });
    return 0;
  }
  const index = Math.min(Math.max(n, 1), attempts.length) - 1;
  const attempt = attempts[index];
  console.log(`attempt ${n}: scripted entry ${index + 1} of ${attempts.length}`);
  if (attempt.holdOnce !== undefined) await holdOnce(attempt.holdOnce, attempt.holdMs ?? 60_000);
  apply(attempt, process.cwd());
  writeResult({ summary: attempt.note ?? `scripted attempt ${index + 1}`, ...(attempt.discovered ? { discovered: attempt.discovered } : {}) });
  const code = attempt.exitCode ?? 0;
  console.log(`exit ${code}`);
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Exit ? err.message : err);
    process.exitCode = err instanceof Exit ? err.code : 1;
  },
);
