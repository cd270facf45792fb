/**
 * `ratchet demo`: the whole product in one command. Makes sure a dev server runs, runs a worker in this process,
 * creates a real git repository with ten tickets, starts the batch through the same public contract as anyone
 * else, answers the plan gate through the public `approve` update (or lets you answer it), and prints the report.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline/promises';
import type { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { simpleGit } from 'simple-git';
import { createSandboxProbe } from '../../activities/box/sandbox';
import { BadInputError, ConfigError } from '../../workflows/errors';
import { batchWorkflowId } from '../../workflows/messages';
import type { GateDecision, RunReport } from '../../workflows/types';
import { ensureDevServer, uiLink } from '../../deploy/dev-server';
import { createWorker } from '../../workers/worker';
import { createDemoRepo } from './demo-repo';
import { githubSummary, reviewThenMerge, startDemoGitHub, type DemoGitHubSession } from './github-demo';
import {
  approve,
  connect,
  defaultAddress,
  defaultNamespace,
  equivalentTemporalCommand,
  loadBatchFile,
  reject,
  startBatch,
  watchBatch,
  type WatchChange,
} from '../client';
import { EXIT, rootMessage, type ExitCode } from '../errors';
import { GateRejectedError, WatchInterruptedError } from '../../workflows/errors';
import { devServerOptions } from '../dev-server-options';
import { formatReport } from '../format';

/** Options of {@link runDemo}; see `ratchet demo --help`. */
export interface DemoOptions {
  address?: string;
  namespace?: string;
  /** Wait for a person to answer the plan gate instead of approving it through the public update. */
  interactive?: boolean;
  /** Folder for the demo; default a fresh folder under os.tmpdir(). Must not already hold `repo/`. */
  dir?: string;
  /** Port of the deployed demo service; default a free port. */
  port?: number;
  /** Leave the deployed demo service running at the end. */
  keepService?: boolean;
  /** Stop the dev server at the end if the demo started it (by default it keeps running, so the UI link works). */
  stopServer?: boolean;
  /**
   * Run the tickets as issues of a repository on the local GitHub fake (fakes/github), one pull request per ticket,
   * webhooks, a person's review answered on the same pull request and a person's merge. Needs no token.
   */
  github?: boolean;
}

const out = (line = ''): void => void process.stdout.write(`${line}\n`);

/** A TCP port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** `demo-<yymmddhhmm>-<4 hex>`: unique per run and a valid batch id. */
function demoBatchId(): string {
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(2, 12);
  return `demo-${stamp}-${randomBytes(2).toString('hex')}`;
}

/**
 * What kept main moving forward (issue 26), a line each: the semantic conflicts the merge queue caught before they
 * landed, the regressions the guard caught with their reverts, and main's health when the batch finished.
 * @returns no lines for a report without any of them.
 */
export function mainLines(report: RunReport): string[] {
  const short = (commit: string): string => commit.slice(0, 10);
  const row = (id: string): RunReport['tickets'][number] | undefined => report.tickets.find((t) => t.ticketId === id);
  const lines: string[] = [];
  for (const c of report.semanticConflicts ?? []) {
    const r = row(c.ticketId);
    const fate = r?.outcome === 'done' ? `landed on attempt ${r.attempts}` : `not landed (${r?.outcome ?? 'unknown'})`;
    const tests = c.tests.length ? `; tests: ${c.tests.join(', ')}` : '';
    lines.push(`semantic conflict caught before landing: ${c.ticketId} (gates: ${c.gates.join(', ') || 'none'}${tests}), ${fate}`);
  }
  // One line per culprit landing: several done tickets' probes may break on the same one.
  const byLanding = new Map<string, NonNullable<RunReport['regressions']>>();
  for (const g of report.regressions ?? []) byLanding.set(g.culpritCommit, [...(byLanding.get(g.culpritCommit) ?? []), g]);
  for (const [landing, regs] of byLanding) {
    const { culprit } = regs[0];
    const probes = regs.map((g) => `${g.ticketId}'s probe "${g.probe}"`).join(' and ');
    const revert = (report.reverts ?? []).find((v) => v.merge === landing);
    const again = row(culprit);
    const after = !revert
      ? 'not reverted'
      : `reverted ${short(landing)}; ${again?.outcome === 'done' && again.mergeCommit !== landing ? `${culprit} landed again` : `${culprit} not landed again`}`;
    lines.push(`regression: ${probes} broke after ${culprit} landed; ${after}`);
  }
  const health = report.mainHealth;
  if (health) lines.push(`main's health: ${health.probes.length} probes passed after ${short(health.commit)}`);
  return lines;
}

/** Stops the demo service through the pid file its deploy script writes. @returns the pid, if one was running. */
async function stopService(repo: string): Promise<number | undefined> {
  const pidFile = path.join(repo, '.ratchet', 'service.pid');
  const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 'SIGTERM');
    return pid;
  } catch {
    return undefined; // already gone
  }
}

/**
 * Runs the demo end to end (see the file comment).
 * @returns OK when the oracle is satisfied, NOT_DONE otherwise.
 * @throws BadInputError for a `--dir` that already holds a demo; TemporalUnreachableError; WatchInterruptedError on
 *   Ctrl-C (after printing how to continue).
 */
export async function runDemo(opts: DemoOptions): Promise<ExitCode> {
  const address = opts.address || defaultAddress();
  const namespace = opts.namespace || defaultNamespace();
  const dir = opts.dir ? path.resolve(opts.dir) : await fs.mkdtemp(path.join(os.tmpdir(), 'ratchet-demo-'));
  if (await fs.stat(path.join(dir, 'repo')).catch(() => undefined)) {
    throw new BadInputError('--dir', [
      `"${dir}" already holds a demo (repo/); fix: pass a new folder to --dir, or remove that one`,
    ]);
  }

  // The demo's agents run boxed, as every batch's do unless it says otherwise: say so before anything starts, not as a
  // ticket's failed attempts.
  if (!(await createSandboxProbe().bwrap())) {
    throw new ConfigError(
      "the demo's agents run boxed by bubblewrap (bwrap), which is missing or does not work here; fix: install it " +
        '(Debian/Ubuntu: apt-get install bubblewrap) and allow unprivileged user namespaces, then run the demo again',
    );
  }

  // How to type a ratchet command against this server, for the hints the demo prints.
  const ratchetCmd = [
    'npx ratchet',
    ...(address === defaultAddress() ? [] : [`--address ${address}`]),
    ...(namespace === defaultNamespace() ? [] : [`--namespace ${namespace}`]),
  ].join(' ');
  const server = await ensureDevServer({
    address,
    namespace,
    ...devServerOptions(address),
    log: (line) => out(`[server] ${line}`),
  });
  // Worker logs at WARN: the demo's own lines tell the story; the Web UI and `ratchet worker` show the rest.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  let github: DemoGitHubSession | undefined;
  if (opts.github) {
    github = await startDemoGitHub(dir);
    out(`GitHub:          a local GitHub fake at ${github.url} (GitHub's REST API as ratchet uses it, checked against GitHub's OpenAPI description; no token of yours), repository ${github.repo}`);
  }
  out('Bundling workflow code and starting a worker in this process...');
  const connection = await NativeConnection.connect({ address });
  let worker: Awaited<ReturnType<typeof createWorker>>;
  try {
    worker = await createWorker({ connection, namespace, ...(github ? { activityDeps: github.activityDeps } : {}) });
  } catch (e) {
    await connection.close();
    await github?.close();
    throw e;
  }
  const stop = new AbortController();
  let workerError: unknown;
  const workerRun = worker.run().catch((e: unknown) => {
    workerError = e;
    stop.abort();
  });
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  const answers: Promise<unknown>[] = [];
  // Stops the demo's person on GitHub when the batch ends, or on Ctrl-C.
  const person = new AbortController();
  stop.signal.addEventListener('abort', () => person.abort(), { once: true });
  let client: Client | undefined;
  let rl: readline.Interface | undefined;
  let repo: string | undefined;
  try {
    const temporal = await connect(address, namespace);
    client = temporal;
    const port = opts.port ?? (await freePort());
    const batchId = demoBatchId();
    const demo = await createDemoRepo({ dir, port, batchId, ...(github ? { github } : {}) });
    repo = demo.repo;
    out(`Demo repository: ${demo.repo}`);
    out(`Batch file:      ${demo.batchFile}`);
    out(`Service:         ${demo.serviceUrl} (deployed after each merge)`);
    if (github && demo.issues) {
      out(`Issues filed on ${github.repo} by a person (labels "ratchet", kind, size; native blocked-by dependencies):`);
      for (const [name, n] of Object.entries(demo.issues)) out(`  #${n} (${name})`);
      await github.subscribe(temporal, (line) => out(`  [webhook] ${line}`));
      out(`ratchet webhook receives the repository's events and signals the waiting tickets.`);
    }
    const batch = await loadBatchFile(demo.batchFile);
    const { workflowId } = await startBatch(temporal, batch);
    const link = uiLink(server.uiUrl, workflowId, namespace);
    out(`Started batch ${batchId}: workflow ${workflowId}`);
    out(`Web UI: ${link}`);
    out('');
    for (const r of demo.reviews ?? []) {
      answers.push(reviewThenMerge({ person: github!.person, repo: github!.repo, batchId, issue: r.issue, review: r.review, signal: person.signal, out }));
    }

    const handled = new Set<string>();
    const pendingPrompts = new Map<string, AbortController>();
    const onChange = (line: string, change: WatchChange): void => {
      out(line);
      if (change.kind !== 'ticket') return;
      if (!change.waitingFor) {
        pendingPrompts.get(change.ticketId)?.abort();
        return;
      }
      const key = `${change.ticketId}:${change.waitingFor}:${change.attempt ?? 0}`;
      if (handled.has(key)) return;
      handled.add(key);
      const temporalCmd = (decision: GateDecision): string =>
        equivalentTemporalCommand('approve', batchId, change.ticketId, decision, { address, namespace });
      if (!opts.interactive && change.waitingFor === 'plan') {
        const decision = { by: 'ratchet-demo', comment: 'approved by ratchet demo' };
        out(`  ${change.ticketId} waits at the plan gate. The demo approves it through the public update, same as:`);
        out(`    ${temporalCmd(decision)}`);
        answers.push(answerGate('approve', change.ticketId, decision));
        return;
      }
      out(`  ${change.ticketId} waits for a person at the ${change.waitingFor} gate. Answer with either:`);
      out(`    ${ratchetCmd} approve ${batchId} ${change.ticketId}    (or: ${ratchetCmd} reject ${batchId} ${change.ticketId})`);
      out(`    ${temporalCmd({ by: process.env.USER || 'you' })}`);
      if (opts.interactive) answers.push(prompt(change.ticketId, change.waitingFor));
    };

    const answerGate = async (kind: 'approve' | 'reject', ticketId: string, decision: GateDecision): Promise<void> => {
      try {
        const answer = await (kind === 'approve' ? approve : reject)(temporal, batchId, ticketId, decision);
        out(`  ${kind === 'approve' ? 'approved' : 'rejected'} ${answer.ticketId} at the ${answer.gate} gate (by ${decision.by})`);
      } catch (e) {
        out(`  ${kind} ${ticketId}: ${e instanceof GateRejectedError ? e.message : rootMessage(e)}`);
      }
    };

    /** Asks on the terminal; a gate answered from elsewhere cancels the question. */
    const prompt = async (ticketId: string, gate: string): Promise<void> => {
      if (!rl) {
        rl = readline.createInterface({ input: process.stdin, output: process.stdout });
        rl.on('SIGINT', () => stop.abort()); // readline takes Ctrl-C from the terminal; it still means stop watching
      }
      const ac = new AbortController();
      pendingPrompts.set(ticketId, ac);
      try {
        const reply = (await rl.question(`  Answer here: [a]pprove / [r]eject ${ticketId} (${gate} gate), or use a command above: `, { signal: ac.signal }))
          .trim()
          .toLowerCase();
        const by = process.env.USER || 'demo-user';
        if (reply.startsWith('a')) await answerGate('approve', ticketId, { by });
        else if (reply.startsWith('r')) await answerGate('reject', ticketId, { by, comment: 'rejected in ratchet demo' });
        else out(`  Waiting for an answer from another terminal (${ratchetCmd} approve ${batchId} ${ticketId}).`);
      } catch {
        // Answered elsewhere (aborted) or stdin closed: the watch shows what happens next.
      } finally {
        pendingPrompts.delete(ticketId);
      }
    };

    let report: RunReport;
    try {
      report = await watchBatch(temporal, batchId, onChange, { signal: stop.signal });
    } catch (e) {
      if (workerError) throw workerError;
      if (e instanceof WatchInterruptedError) {
        out('');
        out(`Stopped. Batch ${batchId} is durable: it continues as soon as a worker runs again.`);
        out(`  run a worker:  ${ratchetCmd} worker`);
        out(`  watch it:      ${ratchetCmd} watch ${batchId}`);
        out(`  Web UI:        ${link}`);
      }
      throw e;
    }

    out('');
    out(
      report.oracle.satisfied
        ? 'Oracle: satisfied. Every ticket is done (merged and verified live) or recorded as human-gated.'
        : `Oracle: NOT satisfied; pending: ${report.oracle.pending.join(', ')}`,
    );
    for (const line of mainLines(report)) out(line);
    out('');
    out(formatReport(report));
    out('');
    out(`Web UI: ${uiLink(server.uiUrl, batchWorkflowId(batchId), namespace)}`);
    out('');
    out(`git log --oneline --graph ${batch.baseBranch ?? 'main'} (${demo.repo}):`);
    out((await simpleGit(demo.repo).raw(['log', '--oneline', '--graph', batch.baseBranch ?? 'main'])).trimEnd());
    if (github) {
      out('');
      out(`GitHub, repository ${github.repo} (${github.url}; bare repository under ${github.dir}):`);
      for (const line of await githubSummary(github.person, github.repo)) out(line);
    }
    const filed = (report.discovered ?? []).filter((d) => d.status === 'filed' && d.ticketId);
    if (filed.length && !github) {
      out('');
      out(`Filed by the batch itself (not committed; review and commit them so the next batch knows them):`);
      for (const d of filed) out(`  ${path.join(batch.ticketsDir ?? '.ratchet/tickets', `${d.ticketId}.yaml`)}  ${d.title}`);
    }
    return report.oracle.satisfied ? EXIT.OK : EXIT.NOT_DONE;
  } finally {
    process.off('SIGINT', onSigint);
    rl?.close();
    person.abort();
    await Promise.allSettled(answers);
    if (repo && !opts.keepService) {
      const pid = await stopService(repo);
      if (pid) out(`Stopped the demo service (pid ${pid}); pass --keep-service to leave it running.`);
    } else if (repo) {
      out(`The demo service keeps running (pid in ${path.join(repo, '.ratchet', 'service.pid')}).`);
    }
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await client?.connection.close();
    await connection.close();
    await github?.close();
    if (server.started && opts.stopServer) await server.stop();
    else if (server.started) {
      out(`The Temporal dev server started for the demo keeps running at ${server.address} (Web UI ${server.uiUrl})` +
        `${server.logFile ? `; log ${server.logFile}` : ''}. Pass --stop-server to stop it at the end.`);
    }
  }
}
