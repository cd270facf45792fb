/**
 * The demo: a real, tiny Node service ("greeter") in a fresh git repository, ten tickets for it, a scripted agent that
 * answers them (one answer wrong on purpose, so the feedback loop shows; one that cannot pass until the harness runs a
 * build step, so the self-heal shows; one that merges dark behind a flag, so an activation gap shows; two that pass
 * alone and fail together, so the merge queue's semantic conflict shows; one that switches off an earlier ticket's
 * flag, so the guard's regression and revert show), and a batch file that ties them together. The GitHub demo
 * (`--github`) files the first six.
 * Everything the demo runs is plain files a person can open; nothing here talks to Temporal. The greeter's files are in
 * `template/`, the scripted answers in `answers/`; the tickets and the batch are defined here.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import YAML from 'yaml';
import type { Octokit } from '@octokit/rest';
import { writeTicketFile } from '../../activities/tracker/local';
import { demoAgentCommand, tsxCommand } from '../../activities/agents/demo-agent-command';
import { batchFileSchema, parseOrThrow, type BatchFile } from '../../workflows/input';
import type { Probe, Ticket } from '../../workflows/types';

/** The greeter as committed on the demo repository's first commit, tickets aside; see {@link readTemplate}. */
const TEMPLATE_DIR = path.join(__dirname, 'template');

/**
 * The scripted agent's answers: `<ticketId>/plan.md`, and `<ticketId>/attempt-<n>/` holding the files attempt n
 * writes, by their path in the worktree.
 */
const ANSWERS_DIR = path.join(__dirname, 'answers');

/** Every file under `root`: path relative to it ('/'-separated) -> content, in path order. */
async function readTree(root: string): Promise<Record<string, string>> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
  return Object.fromEntries(await Promise.all(files.map(async (f) => [f, await readFile(path.join(root, f), 'utf8')])));
}

/**
 * The project's files, path in the repository -> content. The template stores `.gitignore` as `gitignore` because
 * npm leaves `.gitignore` files out of a package.
 */
async function readTemplate(): Promise<Record<string, string>> {
  const files = await readTree(TEMPLATE_DIR);
  return Object.fromEntries(Object.entries(files).map(([f, text]) => [f === 'gitignore' ? '.gitignore' : f, text]));
}

/** A heal agent's answer, as the heal's result file carries it (docs/self-heal.md). */
interface ScriptedHeal {
  verdict: 'harness-gap' | 'activation-gap';
  reason: string;
  change?: object;
  discovered?: { title: string; body: string; acceptance: string[] }[];
}

/** One ticket of the demo and the notes of the scripted agent's attempts at it. */
interface DemoTicket {
  /** The ticket as filed; only the id for a ticket the batch files itself (discovered work). */
  ticket: Omit<Ticket, 'state'> | { id: string };
  /** The agent's note on each attempt, in order; the plan and the attempts' files are under `answers/<ticket id>/`. */
  attemptNotes: string[];
  /** A shell step an attempt runs before writing its files, by attempt number (the demo's ordering: a wait for a marker). */
  runs?: Record<number, string>;
  /** In the local demo only: `ratchet demo --github` leaves it out. */
  localOnly?: boolean;
  /** The heal agent's answers for this ticket, heal 1 first. */
  heals?: ScriptedHeal[];
  /** The reviewer's answers for this ticket's attempts (role review), attempt 1 first; none: it allows. */
  reviews?: { verdict: 'ALLOW' | 'BLOCK'; findings?: { file: string; line?: number; what: string; why: string }[] }[];
  /**
   * GitHub demo only: a person's review asking for changes on the ticket's pull request, and the note of the attempt
   * that answers it: the last attempt's files plus those under `answers/<ticket id>/review-1/`. The ticket then waits
   * for that person's merge.
   */
  review?: DemoReview & { answerNote: string };
}

/** A review a person submits (`REQUEST_CHANGES`), with inline comments on lines of the pull request's files. */
export interface DemoReview {
  body: string;
  comments: { path: string; line: number; body: string }[];
}

/** One ticket's entry in the demo agent's script (format: `activities/agents/demo-agent.ts`). */
interface ScriptedTicket {
  plan: string;
  attempts: { note: string; run?: string; files: Record<string, string> }[];
  heals?: ScriptedHeal[];
}

const isFiled = (t: DemoTicket): t is DemoTicket & { ticket: Omit<Ticket, 'state'> } => 'title' in t.ticket;

/**
 * Reads `t`'s plan and attempts from the answers folder: `attempt-<n>/` for each attempt note, then (`withReview`,
 * the GitHub demo) the attempt after the review: the last attempt's files with `review-1/` over them. Throws if the folders don't match the notes.
 */
async function readAnswers(t: DemoTicket, withReview: boolean): Promise<ScriptedTicket> {
  const dir = path.join(ANSWERS_DIR, t.ticket.id);
  const found = (await readdir(dir)).filter((name) => name.startsWith('attempt-') || name.startsWith('review-')).sort();
  const attempts = t.attemptNotes.map((note, i) => ({ note, folder: `attempt-${i + 1}` }));
  const expected = [...attempts.map((a) => a.folder), ...(t.review ? ['review-1'] : [])];
  // A folder without a note would be dropped from the script without a word.
  if (found.length !== expected.length || !expected.every((name) => found.includes(name))) {
    const listed = found.join(', ') || 'none';
    throw new Error(`demo answers of ${t.ticket.id}: expected ${expected.join(', ')} in ${dir}, found ${listed}`);
  }
  const scripted = await Promise.all(
    attempts.map(async ({ note, folder }, i) => ({ note, ...(t.runs?.[i + 1] ? { run: t.runs[i + 1] } : {}), files: await readTree(path.join(dir, folder)) })),
  );
  if (withReview && t.review) {
    // The answer to a review is the last attempt's files plus what the review asked for (each attempt starts from the base).
    const review = await readTree(path.join(dir, 'review-1'));
    scripted.push({ note: t.review.answerNote, files: { ...scripted[scripted.length - 1].files, ...review } });
  }
  return {
    plan: await readFile(path.join(dir, 'plan.md'), 'utf8'),
    attempts: scripted,
    ...(t.heals ? { heals: t.heals } : {}),
    ...(t.reviews ? { reviews: t.reviews } : {}),
  };
}

function httpProbe(name: string, url: string, expectBody: string): Probe {
  return { kind: 'http', name, url, method: 'GET', expectStatus: 200, expectBody, timeoutMs: 5_000 };
}

/**
 * The demo's tickets. `markers` is a folder the agents may write (`agent.cacheDirs`): `cheer`'s agent leaves a mark
 * there when it starts, which says `rename` has landed (cheer depends on it), and `shout`'s first attempt waits for it,
 * so it was cut from main before the rename and is validated after it landed: the semantic conflict, without a timer.
 * With `github`, the local-only tickets are left out.
 */
function demoTickets(port: number, { markers, github }: { markers: string; github: boolean }): DemoTicket[] {
  const base = `http://127.0.0.1:${port}`;
  const renameDone = path.join(markers, 'rename-done');
  const tickets: DemoTicket[] = [
    {
      ticket: {
        id: 'health',
        title: 'Add a /health endpoint',
        kind: 'feature',
        size: 'S',
        dependsOn: [],
        body: 'Deploys and monitors need a cheap way to ask whether the greeter is up. Add GET /health.',
        acceptance: [
          'GET /health answers 200 with the body `ok`',
          'It does no I/O beyond the response, so it stays fast when everything else is slow',
          'A test under test/ covers it',
        ],
        allowPaths: [],
        probes: [httpProbe('health answers ok', `${base}/health`, 'ok')],
      },
      attemptNotes: ['adds the route and its test'],
    },
    {
      ticket: {
        id: 'greet',
        title: 'Greet callers by name',
        kind: 'feature',
        size: 'S',
        dependsOn: ['health'],
        body: 'The service is called greeter and greets nobody yet. Add GET /greet?name=X answering `hello, X`.',
        acceptance: [
          'GET /greet?name=ada answers 200 with the body `hello, ada`',
          'Without a name it answers `hello, world`',
          'A test under test/ covers both',
        ],
        allowPaths: [],
        probes: [httpProbe('greet says hello', `${base}/greet?name=ratchet`, 'hello, ratchet')],
      },
      attemptNotes: [
        'first try misspells the greeting ("helo"); its own test catches it',
        'fixes the greeting after the failing test output',
      ],
    },
    {
      ticket: {
        id: 'version',
        title: 'Report the running version',
        kind: 'feature',
        size: 'S',
        dependsOn: ['health'],
        gate: 'plan',
        body:
          'Operators want to know which release is live. Add GET /version answering JSON `{"version":"1.0.0"}`, ' +
          'read from package.json. A person approves the plan first: the response shape becomes public API.',
        acceptance: [
          'GET /version answers 200 `application/json` with `{"version": <package.json version>}`',
          'The value comes from package.json, not a copy in the code, so a release bump needs no code change',
          'A test under test/ compares the answer with package.json',
        ],
        allowPaths: [],
        probes: [httpProbe('version is reported', `${base}/version`, '"version"')],
      },
      attemptNotes: ['adds the route and its test'],
      review: {
        body: 'The shape of /version becomes public API: document it in the README before it ships.',
        comments: [{ path: 'src/routes/version.js', line: 10, body: 'Say in the README that this shape is public and read per request.' }],
        answerNote: 'documents GET /version in the README, as the review asks',
      },
    },
    {
      ticket: {
        id: 'slash',
        title: 'A trailing slash answers 404',
        kind: 'bug',
        size: 'S',
        dependsOn: ['health'],
        body:
          'Load balancers configured with `/health/` mark the greeter down: any route asked with a trailing slash ' +
          'answers 404. `/health/` must answer like `/health`, and so must every other route.',
        acceptance: [
          'GET /health/ answers 200 `ok`, like GET /health',
          'A test under test/ fails on the current code and passes with the fix',
        ],
        allowPaths: [],
        probes: [httpProbe('health answers with a trailing slash', `${base}/health/`, 'ok')],
      },
      attemptNotes: [
        'its new test fails, so it narrows the test script in package.json instead of fixing the router',
        'fixes the router and keeps the test that shows the bug',
      ],
    },
    {
      ticket: {
        id: 'stats',
        title: 'Count greetings served',
        kind: 'feature',
        size: 'M',
        dependsOn: ['greet', 'version'],
        body:
          'We want to see whether anyone uses /greet. Add GET /stats answering JSON `{"greetings": n}`, where n is ' +
          'the number of /greet requests served since the process started.',
        acceptance: [
          'GET /stats answers 200 `application/json` with `{"greetings": n}`, n counting /greet requests since start',
          'Requests to other routes do not change the count; a restart resets it to 0',
          'A test under test/ greets twice and sees the count go from 0 to 2',
        ],
        allowPaths: [],
        probes: [httpProbe('stats are reported', `${base}/stats`, '"greetings"')],
      },
      attemptNotes: ['adds the route behind its flag, off, as the README asks of internal routes'],
      // Merged and deployed, yet dark: the heal diagnoses the activation gap and files the switch as a ticket.
      heals: [
        {
          verdict: 'activation-gap',
          reason:
            'GET /stats answers 404 on the deployed service although the route is merged: src/routes/stats.js has ' +
            'flag "stats", and config/flags.json on main sets it to false, as the README asks of internal routes.',
          discovered: [
            {
              title: 'Turn on the stats flag',
              body: 'stats is merged but dark. Set "stats": true in config/flags.json so the next deploy serves GET /stats.',
              acceptance: ['config/flags.json sets "stats" to true', 'GET /stats answers 200 on the deployed service'],
            },
          ],
        },
      ],
    },
    {
      ticket: {
        id: 'bye',
        title: "Say goodbye in the caller's language",
        kind: 'feature',
        size: 'S',
        // Last, so the demo's story reads in order; its heal adds a setup step that the running tickets get too.
        dependsOn: github ? ['stats'] : ['flags'],
        body:
          'Add GET /bye?lang=X answering the goodbye text of language X (`au revoir` for fr), English when X is ' +
          'missing or unknown. The texts live in messages/*.txt and are read through src/messages.js.',
        acceptance: [
          'GET /bye?lang=fr answers 200 with the body `au revoir`; GET /bye answers `goodbye`',
          'The texts come from messages/*.txt, not from the code',
          'A test under test/ covers fr, the default and an unknown language',
        ],
        allowPaths: [],
        probes: [httpProbe('bye speaks french', `${base}/bye?lang=fr`, 'au revoir')],
      },
      // One answer, right every time; until the harness runs `npm run build`, its test cannot pass.
      attemptNotes: ['adds the route over src/messages.js and its test'],
      heals: [
        {
          verdict: 'harness-gap',
          reason:
            "Every attempt fails the same way: build/messages.json is missing. The greeter's README says to run " +
            '`npm run build` after every checkout, and the harness never does: a setup step is missing.',
          change: { harness: { setup: [{ command: 'npm run build' }] } },
        },
      ],
    },
    // Filed by the batch itself when the heal of stats finds the activation gap; the script answers it.
    { ticket: { id: 'stats-d1' }, attemptNotes: ['turns the flag on'] },
    {
      ticket: {
        id: 'rename',
        title: 'Rename nameOf to callerName',
        kind: 'refactor',
        size: 'S',
        dependsOn: [],
        body: 'src/names.js exports nameOf, which reads like "the name of" something. Rename it to callerName and update every caller.',
        acceptance: ['src/names.js exports callerName and no longer nameOf', 'Every caller on main uses callerName; npm test passes'],
        allowPaths: [],
        probes: [],
      },
      attemptNotes: ['renames the function and updates its one caller, the test'],
      localOnly: true,
    },
    {
      ticket: {
        id: 'cheer',
        title: 'Cheer callers on',
        kind: 'feature',
        size: 'S',
        dependsOn: ['rename'],
        body: 'Add GET /cheer?name=X answering `well done, X!`, reading the name with callerName from src/names.js.',
        acceptance: ['GET /cheer?name=ada answers 200 with the body `well done, ada!`', 'Without a name it cheers the world', 'A test under test/ covers both'],
        allowPaths: [],
        probes: [httpProbe('cheer cheers', `${base}/cheer?name=ratchet`, 'well done, ratchet!')],
      },
      attemptNotes: ['adds the route over callerName and a test of a named caller', 'adds the test of the missing name the reviewer asked for'],
      // Leaves the mark shout waits for: this agent runs only once rename is done, so rename has landed.
      runs: { 1: `touch '${renameDone}'` },
      // The gates pass on attempt 1; the second model reads the diff and finds an acceptance criterion untested.
      reviews: [
        {
          verdict: 'BLOCK',
          findings: [{ file: 'test/cheer.test.js', line: 13, what: 'no test covers a caller without a name', why: 'the ticket asks for a test of both cases, and the default is untested' }],
        },
        { verdict: 'ALLOW' },
      ],
      localOnly: true,
    },
    {
      ticket: {
        id: 'shout',
        title: 'Shout the greeting',
        kind: 'feature',
        size: 'S',
        dependsOn: [],
        body: "Add GET /shout?name=X answering `HELLO, X!` in capitals, reading the name with src/names.js's helper.",
        acceptance: ['GET /shout?name=ada answers 200 with the body `HELLO, ADA!`', 'Without a name it shouts at the world', 'A test under test/ covers both'],
        allowPaths: [],
        probes: [httpProbe('shout shouts', `${base}/shout?name=ratchet`, 'HELLO, RATCHET!')],
      },
      attemptNotes: [
        'adds the route over nameOf, as it finds src/names.js on the main it was cut from; its test passes there',
        'uses callerName, as the semantic-conflict feedback says main now calls it',
      ],
      // Cut from main before the rename lands and finished after it did (cheer's mark): it passes its gate on its own
      // base, and the merge queue catches it failing merged onto the new main.
      runs: { 1: `until [ -e '${renameDone}' ]; do sleep 0.1; done` },
      localOnly: true,
    },
    {
      ticket: {
        id: 'flags',
        title: 'Turn on GET /flags',
        kind: 'chore',
        size: 'S',
        dependsOn: ['stats'],
        body:
          'Operators want to see which internal routes are on, now that /stats is. GET /flags (src/routes/flags.js) ' +
          'is merged and dark: turn its flag on in config/flags.json.',
        acceptance: ['config/flags.json sets "flags" to true', 'GET /flags answers 200 on the deployed service'],
        allowPaths: [],
        probes: [httpProbe('flags are shown', `${base}/flags`, '"flags":true')],
      },
      attemptNotes: [
        'writes config/flags.json with its own flag only, dropping "stats": true; no test reads the file, so every gate passes',
        'keeps "stats": true beside its flag, as the regression feedback says',
      ],
      localOnly: true,
    },
  ];
  return github ? tickets.filter((t) => !t.localOnly) : tickets;
}


/**
 * Where the GitHub demo (`ratchet demo --github`) files its tickets: a repository on GitHub, in the demo the local
 * GitHub fake (fakes/github).
 */
export interface DemoGitHub {
  /** A person's client: files the issues, with their labels and native dependencies. */
  person: Octokit;
  /** `owner/name`; the repository exists. */
  repo: string;
  /** Its git remote (the fake's bare repository): the greeter's main is pushed there as `origin`. */
  remote: string;
}

/** What `createDemoRepo` made; all paths absolute. */
export interface DemoRepo {
  /** The greeter's git repository (branch `main`, one commit). */
  repo: string;
  /** The batch file to start the demo with (`ratchet start` or `temporal workflow start --input-file`). */
  batchFile: string;
  /** The scripted agent's answers (YAML). */
  scriptPath: string;
  /** Where the deployed greeter answers, e.g. `http://127.0.0.1:4100`. */
  serviceUrl: string;
  /** GitHub demo: each demo ticket's issue number, by the demo's name for it (`health`, `greet`, ...). */
  issues?: Record<string, number>;
  /** GitHub demo: the reviews a person gives, by the issue whose pull request gets them. */
  reviews?: { issue: number; review: DemoReview }[];
}

/** The issue that files `ticket` (GitHub demo): its acceptance criteria as a task list, its ratchet labels. */
function issueOf(ticket: Omit<Ticket, 'state'>, review: boolean): { title: string; body: string; labels: string[] } {
  const labels = [
    'ratchet',
    ticket.kind === 'bug' ? 'bug' : 'enhancement',
    ...(ticket.size ? [`size:${ticket.size}`] : []),
    ...(ticket.gate ? [`ratchet:gate:${ticket.gate}`] : []),
    // The ticket whose pull request a person reviews is also the one a person merges.
    ...(review ? ['ratchet:land:human'] : []),
  ];
  const body = [ticket.body, '', '## Acceptance criteria', ...ticket.acceptance.map((a) => `- [ ] ${a}`)].join('\n');
  return { title: ticket.title, body, labels };
}

/**
 * Files the demo's tickets as issues of `github.repo` in dependency order, as a person would: labels for kind, size,
 * plan gate and land policy; dependencies as GitHub's native blocked-by edges, except `stats`, whose body says
 * `Depends on #n` (the fallback a tracker without native dependencies uses).
 * @returns the issue number of each ticket, by its demo name.
 */
async function fileIssues(github: DemoGitHub, tickets: DemoTicket[]): Promise<Record<string, number>> {
  const [owner, repo] = github.repo.split('/');
  const numbers: Record<string, number> = {};
  const ids: Record<number, number> = {};
  for (const t of tickets.filter(isFiled)) {
    const issue = issueOf(t.ticket, Boolean(t.review));
    const byLine = t.ticket.id === 'stats';
    if (byLine) issue.body += `\n\nDepends on ${t.ticket.dependsOn.map((d) => `#${numbers[d]}`).join(', ')}`;
    const created = await github.person.rest.issues.create({ owner, repo, ...issue });
    numbers[t.ticket.id] = created.data.number;
    ids[created.data.number] = created.data.id;
    if (byLine) continue;
    for (const dep of t.ticket.dependsOn) {
      await github.person.rest.issues.addBlockedByDependency({ owner, repo, issue_number: created.data.number, issue_id: ids[numbers[dep]] });
    }
  }
  return numbers;
}

/** The command probe of the GitHub demo's issues (`issue-probe.ts`), given the probes of each issue. */
const ISSUE_PROBE = path.join(__dirname, 'issue-probe.ts');

/**
 * Creates the demo under `opts.dir`: `repo/` (the greeter: a dependency-free Node 20 service, its tests, build and
 * deploy scripts and ten tickets in `.ratchet/tickets/`, committed on `main`), `demo-agent.yaml` (the scripted agent's
 * plans, attempts and heals; ticket `greet` fails its first attempt on purpose, `bye` needs a setup step the harness
 * lacks until its heal, `stats` merges dark and its heal files `stats-d1`, `shout` calls the function `rename` renames,
 * `flags` drops `stats`'s flag on its first attempt), `markers/` (a folder the agents may write: see
 * {@link demoTickets}) and `batch.json` (agent, `npm test` gate, deploy on `opts.port`, probes and the guard over all
 * of them after every deploy; worktrees and artifacts under `opts.dir`, outside the repository).
 *
 * With `opts.github` the first six tickets are issues of that repository instead of files (see {@link fileIssues}; ids are
 * issue numbers, `stats-d1` becomes `<stats>-d1`), `main` is pushed to its remote, each ticket lands through one pull
 * request (`forge.land: "merge"`, `version` is labelled `ratchet:land:human` and gets a person's review first), and the
 * tickets' live probes run through `issue-probe.ts` reading `probes.json`.
 * Throws if `opts.dir/repo` already exists, and `BadInputError` if `opts.batchId` is not a valid id.
 */
export async function createDemoRepo(opts: { dir: string; port: number; batchId: string; github?: DemoGitHub }): Promise<DemoRepo> {
  const dir = path.resolve(opts.dir);
  const repo = path.join(dir, 'repo');
  const scriptPath = path.join(dir, 'demo-agent.yaml');
  const batchFile = path.join(dir, 'batch.json');
  const probesFile = path.join(dir, 'probes.json');
  const serviceUrl = `http://127.0.0.1:${opts.port}`;
  const github = opts.github;
  const markers = path.join(dir, 'markers');
  const tickets = demoTickets(opts.port, { markers, github: Boolean(github) });

  const batch: BatchFile = {
    batchId: opts.batchId,
    repo,
    worktreesDir: path.join(dir, 'worktrees'),
    artifactsDir: path.join(dir, 'artifacts'),
    // The scripted agent calls no model API: its box has no network at all (and needs no socat).
    // Its box may write `markers` (see demoTickets).
    agent: { command: demoAgentCommand(scriptPath), timeoutMs: 60_000, network: [], ...(github ? {} : { cacheDirs: [markers] }) },
    // package.json holds the test script: protected. The JUnit report turns on the regression guard.
    gates: [{ name: 'test', command: 'npm test', timeoutMs: 120_000, files: ['package.json'], junit: 'junit.xml', tests: ['test/**'] }],
    deploy: { command: `node scripts/deploy.js --port ${opts.port}`, timeoutMs: 30_000 },
    // Runs for every ticket, `health` included, so it must hold before /health exists: unknown routes answer 404.
    // Issues carry no probes of their own: on GitHub one command probe checks each issue's by RATCHET_TICKET_ID.
    probes: [
      { name: 'service up', http: `${serviceUrl}/`, expectStatus: 404 },
      ...(github ? [{ name: 'the issue answers live', command: tsxCommand(ISSUE_PROBE, probesFile) }] : []),
    ],
    // The same wrong answer 3 rounds in a row is an answer: the heal diagnoses it without waiting out the deadline.
    // After every deploy the guard re-runs every verified ticket's probes (default: 8 of them, rotating).
    verify: { deadlineMs: 60_000, intervalMs: 1_000, stableRounds: 3, ...(github ? {} : { guard: 'all' as const }) },
    // The heal agent is the same scripted agent, role heal (docs/self-heal.md).
    heal: { command: demoAgentCommand(scriptPath), timeoutMs: 60_000 },
    ...(github
      ? {}
      : {
          // A second model reviews what touches cheer before it lands: another profile of the scripted agent.
          agents: { reviewer: { command: `RATCHET_PROFILE_NOTE=reviewer ${demoAgentCommand(scriptPath)}`, timeoutMs: 60_000, network: [] } },
          routes: { review: 'reviewer' },
          review: { when: { sizes: [], paths: ['src/routes/cheer.js'] } },
        }),
    // Three: rename, shout and health start together (shout must be cut from main before the rename lands).
    maxParallel: github ? 2 : 3,
    maxAttempts: 3,
    heartbeatTimeoutMs: 30_000,
    ...(github
      ? {
          tracker: { kind: 'github' as const, repo: github.repo, labels: ['ratchet'] },
          // Webhooks wake a waiting ticket at once; the poll is the fallback.
          forge: { kind: 'github' as const, repo: github.repo, land: 'merge' as const, pollMs: 10_000 },
        }
      : {}),
  };
  parseOrThrow(batchFileSchema, batch, 'batch.json');
  const projectFiles = await readTemplate();
  const answers = await Promise.all(tickets.map(async (t) => [t.ticket.id, await readAnswers(t, Boolean(github))] as const));

  await mkdir(dir, { recursive: true });
  await mkdir(repo);
  if (!github) await mkdir(markers);
  for (const [file, content] of Object.entries(projectFiles)) {
    await mkdir(path.dirname(path.join(repo, file)), { recursive: true });
    await writeFile(path.join(repo, file), content);
  }
  if (!github) {
    const ticketsDir = path.join(repo, '.ratchet', 'tickets');
    await mkdir(ticketsDir, { recursive: true });
    for (const { ticket } of tickets.filter(isFiled)) await writeTicketFile(ticketsDir, { ...ticket, state: 'todo' });
  }

  const git = simpleGit(repo);
  await git.init(['-b', 'main']);
  await git.addConfig('user.name', 'ratchet demo');
  await git.addConfig('user.email', 'demo@ratchet.invalid');
  await git.addConfig('commit.gpgsign', 'false');
  await git.add('.');
  const filed = tickets.filter(isFiled).length;
  await git.commit(`greeter: a service with no public routes yet, tests, build and deploy scripts${github ? '' : `, and ${filed} tickets`}`);

  let idOf = (name: string): string => name;
  const made: Pick<DemoRepo, 'issues' | 'reviews'> = {};
  if (github) {
    await git.addRemote('origin', github.remote);
    await git.push(['--force', '--quiet', 'origin', 'main:main']);
    const issues = await fileIssues(github, tickets);
    // Issue numbers are the ids; the ticket the batch files for stats is `<stats issue>-d1`.
    idOf = (name) => (issues[name] !== undefined ? String(issues[name]) : name.replace(/^stats-/, `${issues.stats}-`));
    const probes = Object.fromEntries(tickets.filter(isFiled).map(({ ticket }) => [idOf(ticket.id), ticket.probes]));
    await writeFile(probesFile, `${JSON.stringify(probes, null, 2)}\n`);
    made.issues = issues;
    made.reviews = tickets.flatMap((t) => (t.review ? [{ issue: issues[t.ticket.id], review: { body: t.review.body, comments: t.review.comments } }] : []));
  }
  const script = { tickets: Object.fromEntries(answers.map(([name, answer]) => [idOf(name), answer])) };
  await writeFile(scriptPath, YAML.stringify(script, { blockQuote: 'literal', lineWidth: 0 }));
  await writeFile(batchFile, `${JSON.stringify(batch, null, 2)}\n`);
  return { repo, batchFile, scriptPath, serviceUrl, ...made };
}
