/**
 * The `ratchet` command: a convenience over the public contract (workflows/messages.ts). Everything it does can also
 * be done with the Temporal CLI or Web UI. Exit codes are in {@link EXIT} and `ratchet --help`.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { BadInputError } from '../workflows/errors';
import { batchWorkflowId, batchStatusQuery, type BatchStatus } from '../workflows/messages';
import { queueStatusQuery } from '../workflows/merge-queue/messages';
import type { RunReport } from '../workflows/types';
import { uiLink } from '../deploy/dev-server';
import {
  approve,
  connect,
  defaultAddress,
  defaultNamespace,
  equivalentTemporalCommand,
  joinTicketReports,
  loadBatchFile,
  reject,
  resume,
  startBatch,
  watchBatch,
  type WatchChange,
} from './client';
import { EXIT, exitCodeFor, isUnreachable, rootMessage, type ExitCode } from './errors';
import { BatchFailedError, WatchInterruptedError } from '../workflows/errors';
import { devServerOptions, uiUrlFor } from './dev-server-options';
import { formatQueue, formatReport, formatStatus } from './format';
import { finishedReport, joinTicketResults, reportCsv } from './report';
import { proposalLines } from './status';

export { EXIT } from './errors';

/**
 * Loads a module only when its command runs: the worker SDK and the demo take seconds to load, `ratchet status`
 * should not pay for them. `require`, not `import()`: under tsx's CommonJS hook a dynamic import goes to the ESM
 * loader, which does not resolve extensionless TypeScript paths.
 */
function lazy<T>(id: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
  return require(id) as T;
}

/** Global options, valid before or after the command name. */
interface GlobalOptions {
  address?: string;
  namespace?: string;
}

const EXIT_HELP = `
Exit codes:
  0    success; for start, watch and demo: the batch finished and the oracle is satisfied
  1    the batch finished with the oracle not satisfied, the batch failed, or another error
  2    bad input or usage (batch file, ids, options); nothing was started
  3    cannot reach Temporal (run \`ratchet server\`, or set TEMPORAL_ADDRESS / --address)
  4    an approve/reject was rejected by the workflow (e.g. the ticket is not waiting at a gate)
  130  interrupted while watching (Ctrl-C); the batch keeps running

Environment:
  TEMPORAL_ADDRESS    Temporal frontend host:port (default 127.0.0.1:7233)
  TEMPORAL_NAMESPACE  namespace (default "default")
  TEMPORAL_UI_URL     Web UI base URL for links (default http://<address host>:<port + 1000>)
`;

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const err = (line = ''): void => void process.stderr.write(`${line}\n`);

/** The person a gate answer is recorded as: $USER, else `cli`. */
function defaultBy(): string {
  return process.env.USER || process.env.USERNAME || 'cli';
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

/**
 * Watches a batch and prints progress until it finishes; Ctrl-C stops watching only.
 * @returns OK when the oracle is satisfied, NOT_DONE otherwise.
 * @throws WatchInterruptedError on Ctrl-C (after printing how to resume watching), and what watchBatch throws.
 */
export async function watchAndReport(client: Client, batchId: string, opts: GlobalOptions = {}): Promise<ExitCode> {
  const hinted = new Set<string>();
  const onChange = (line: string, change: WatchChange): void => {
    out(line);
    if (change.kind !== 'ticket' || !change.waitingFor || hinted.has(`${change.ticketId}:${change.waitingFor}`)) return;
    hinted.add(`${change.ticketId}:${change.waitingFor}`);
    const flags = [opts.address ? ` --address ${opts.address}` : '', opts.namespace ? ` --namespace ${opts.namespace}` : ''].join('');
    out(`  answer: ratchet${flags} approve ${batchId} ${change.ticketId}   or: ratchet${flags} reject ${batchId} ${change.ticketId} --comment <why>`);
    out(`      or: ${equivalentTemporalCommand('approve', batchId, change.ticketId, { by: defaultBy() }, opts)}`);
  };
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  let report: RunReport;
  try {
    report = await watchBatch(client, batchId, onChange, { signal: ac.signal });
  } catch (e) {
    if (e instanceof WatchInterruptedError) {
      err('');
      err(`Stopped watching. Batch ${batchId} keeps running in Temporal.`);
      err(`  watch again: ratchet watch ${batchId}`);
      err(`  status:      ratchet status ${batchId}`);
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  out('');
  out(formatReport(report));
  return report.oracle.satisfied ? EXIT.OK : EXIT.NOT_DONE;
}

/** Runs `fn` with a connected client, closing the connection afterwards. */
async function withClient<T>(opts: GlobalOptions, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(opts.address, opts.namespace);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** `ratchet status`: live status while running, the report (or the failure) once closed. */
async function status(client: Client, batchId: string, json: boolean): Promise<ExitCode> {
  const handle = client.workflow.getHandle(batchWorkflowId(batchId));
  let description;
  try {
    description = await handle.describe();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) {
      throw new BadInputError(`batch ${batchId}`, [
        `no workflow ${batchWorkflowId(batchId)}; fix: check the id (\`temporal workflow list\` or the Web UI)`,
      ]);
    }
    throw e;
  }
  const running = description.status.name === 'RUNNING';
  let live: BatchStatus | undefined;
  try {
    live = await client.withDeadline(Date.now() + (running ? 10_000 : 3_000), () => handle.query(batchStatusQuery));
  } catch (e) {
    if (isUnreachable(e)) throw e;
    if (running) {
      throw new Error(
        `batch ${batchId} is running but did not answer the status query (${rootMessage(e)}); ` +
          'fix: start a worker with `ratchet worker`',
        { cause: e },
      );
    }
  }
  if (live) {
    const queue = running && live.mergeQueue ? await client.workflow.getHandle(live.mergeQueue).query(queueStatusQuery).catch(() => undefined) : undefined;
    const epics = json ? [] : await proposalLines(client, live);
    out(json ? JSON.stringify(queue ? { ...live, queue } : live, null, 2) : [formatStatus(live), ...(queue ? [formatQueue(queue)] : []), ...epics].join('\n'));
    return EXIT.OK;
  }
  // Closed and no worker to answer the query: the history still has the outcome.
  if (description.status.name === 'COMPLETED') {
    const report = await joinTicketReports(client, (await handle.result()) as RunReport);
    out(json ? JSON.stringify({ batchId, state: 'done', report }, null, 2) : formatReport(report));
    return EXIT.OK;
  }
  let failure = description.status.name.toLowerCase();
  await handle.result().catch((e: unknown) => (failure = rootMessage(e)));
  out(json ? JSON.stringify({ batchId, state: 'failed', failure }, null, 2) : `Batch ${batchId}: failed: ${failure}`);
  return EXIT.OK;
}

/**
 * Builds the command tree. Actions report their exit code through `setExit`.
 * @returns a commander program with exitOverride set (usage errors throw CommanderError).
 */
export function buildProgram(setExit: (code: ExitCode) => void): Command {
  const program = new Command('ratchet')
    .description('Run batches of software tickets to done on Temporal (task queue "ratchet").')
    .option('--address <host:port>', 'Temporal frontend (default $TEMPORAL_ADDRESS or 127.0.0.1:7233)')
    .option('--namespace <name>', 'Temporal namespace (default $TEMPORAL_NAMESPACE or "default")')
    .showHelpAfterError('(run `ratchet --help` for usage)')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', EXIT_HELP)
    .exitOverride();
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();

  program
    .command('demo')
    .description('Run the demo end to end: dev server, worker, a real repo with 6 tickets, a plan gate, a caught tampering, a self-heal, an activation gap, the report')
    .option('--interactive', 'wait for you to answer the plan gate instead of approving it automatically')
    .option('--dir <path>', 'folder for the demo repository (default: a fresh folder under the temp dir)')
    .option('--port <n>', 'port of the deployed demo service (default: a free port)', positiveInt)
    .option('--keep-service', 'leave the deployed demo service running at the end')
    .option('--stop-server', 'stop the Temporal dev server at the end if the demo started it')
    .option('--github', 'tickets as GitHub issues, one pull request each, webhooks, a review and a human merge, on a local GitHub fake (no token)')
    .option('--watch', 'failing checks file their own tickets: a watch on a Temporal Schedule, a planted bug filed once and fixed, a flaky test told apart')
    .action(async (opts: { interactive?: boolean; dir?: string; port?: number; keepService?: boolean; stopServer?: boolean; github?: boolean; watch?: boolean }) => {
      if (opts.watch) {
        const { runWatchDemo } = lazy<typeof import('./demo/watch-demo')>('./demo/watch-demo');
        setExit(await runWatchDemo({ ...globals(), ...(opts.dir ? { dir: opts.dir } : {}), ...(opts.stopServer ? { stopServer: true } : {}) }));
        return;
      }
      const { runDemo } = lazy<typeof import('./demo/demo-command')>('./demo/demo-command');
      setExit(await runDemo({ ...globals(), ...opts }));
    });

  program
    .command('start')
    .description('Validate a batch file, start the batch, and watch it (Ctrl-C stops watching, never the batch)')
    .argument('<batch.json>', 'batch file (see docs/batch-file.md)')
    .option('--no-watch', 'print the workflow id and return once the batch has loaded and claimed its tracker')
    .action(async (file: string, opts: { watch: boolean }) => {
      const batch = await loadBatchFile(file); // before connecting: a bad batch never reaches Temporal
      const g = globals();
      setExit(
        await withClient(g, async (client) => {
          const { workflowId } = await startBatch(client, batch);
          out(`Started batch ${batch.batchId}: workflow ${workflowId}`);
          out(`Web UI: ${uiLink(uiUrlFor(g.address || defaultAddress()), workflowId, g.namespace || defaultNamespace())}`);
          if (!opts.watch) {
            out(`Watch it: ratchet watch ${batch.batchId}   status: ratchet status ${batch.batchId}`);
            return EXIT.OK;
          }
          return watchAndReport(client, batch.batchId, g);
        }),
      );
    });

  const watch = program
    .command('watch')
    .description('Print live progress of a batch until it finishes, then its report; or manage scheduled checks (start, status, pause, resume, stop)')
    .argument('<batchId>')
    .action(async (batchId: string) => {
      setExit(await withClient(globals(), (client) => watchAndReport(client, batchId, globals())));
    });
  watch
    .command('start')
    .description('Schedule a watch file\'s checks (one Temporal Schedule, watch-<watchId>) and start its intake batch (batch-intake-<watchId>) when it has "batch" settings')
    .argument('<file>', 'the watch file (JSON)')
    .action(async (file: string) => {
      const { loadWatchFile, startWatchAndIntake } = await import('./watch-schedule');
      const config = await loadWatchFile(file);
      setExit(
        await withClient(globals(), async (client) => {
          const { scheduleId: id, intake } = await startWatchAndIntake(client, config);
          if (intake) out(`Intake batch ${intake.workflowId}: ${intake.started ? 'started' : 'running already'}; confirmed new failures join it (at most ${config.maxFixesPerRun} per run, ${config.maxFixesPerHour} per hour)`);
          out(`Scheduled ${id}: ${config.checks.map((c) => c.name).join(', ')} on ${config.baseBranch} every ${config.everyMs} ms`);
          out(`Status: ratchet watch status ${config.watchId}   run now: temporal schedule trigger --schedule-id ${id}`);
          return EXIT.OK;
        }),
      );
    });
  watch
    .command('status')
    .description("Show a watch's Schedule and its failure signatures")
    .argument('<watchId>')
    .option('--json', 'print the status as JSON')
    .action(async (watchId: string, opts: { json?: boolean }) => {
      const { formatWatchStatus, watchStatus } = await import('./watch-schedule');
      setExit(
        await withClient(globals(), async (client) => {
          const s = await watchStatus(client, watchId);
          out(opts.json ? JSON.stringify(s, null, 2) : formatWatchStatus(s));
          return EXIT.OK;
        }),
      );
    });
  for (const [name, what] of [
    ['pause', "Pause a watch's Schedule"],
    ['resume', "Resume a watch's paused Schedule"],
    ['stop', "Delete a watch's Schedule and cancel its intake batch (its signatures stay)"],
  ] as const) {
    watch
      .command(name)
      .description(what)
      .argument('<watchId>')
      .option('--note <text>', 'why, shown in the Web UI', `${name} by ratchet watch ${name}`)
      .action(async (watchId: string, opts: { note: string }) => {
        const { controlWatch } = await import('./watch-schedule');
        setExit(
          await withClient(globals(), async (client) => {
            const { cancelled } = await controlWatch(client, watchId, name, opts.note);
            out(`watch ${watchId}: ${name === 'stop' ? `Schedule deleted${cancelled.length ? `; cancelled ${cancelled.join(', ')}` : ''}` : `${name}d`}`);
            return EXIT.OK;
          }),
        );
      });
  }

  watch
    .command('wont-fix')
    .description("Say won't fix on a failure signature of a watch: nothing more is filed for it (the validated `wontFix` update)")
    .argument('<watchId>')
    .argument('<signature>', 'the signature, as `ratchet watch status` lists it')
    .requiredOption('--reason <text>', 'why it will not be fixed')
    .option('--by <name>', 'who decides (default $USER or "cli")')
    .action(async (watchId: string, signature: string, opts: { reason: string; by?: string }) => {
      const { wontFix } = await import('./watch-schedule');
      setExit(
        await withClient(globals(), async (client) => {
          const a = await wontFix(client, watchId, signature, { by: opts.by || defaultBy(), reason: opts.reason });
          out(`Signature ${a.signature} of watch ${watchId}: won't fix${a.ticketId ? ` (ticket ${a.ticketId})` : ''}; nothing more is filed while it fails with: ${a.normalized}`);
          return EXIT.OK;
        }),
      );
    });

  program
    .command('status')
    .description("Show a batch's tickets, gates and oracle verdict (the report once finished)")
    .argument('<batchId>')
    .option('--json', 'print the status as JSON')
    .action(async (batchId: string, opts: { json?: boolean }) => {
      setExit(await withClient(globals(), (client) => status(client, batchId, Boolean(opts.json))));
    });

  program
    .command('report')
    .description("Write a finished batch's report: per ticket its kind, size, attempts (failed, by cause), cost, agent minutes and interventions")
    .argument('<batchId>')
    .option('--csv', 'one CSV row per ticket (columns: docs/cli.md)')
    .option('--json', 'the whole report as JSON, each row joined with its ticket workflow\'s result')
    .action(async (batchId: string, opts: { csv?: boolean; json?: boolean }) => {
      if (opts.csv && opts.json) throw new BadInputError('ratchet report', ['--csv and --json are both given; fix: give one (or neither, for the text report)']);
      setExit(
        await withClient(globals(), async (client) => {
          const report = await joinTicketResults(client, await finishedReport(client, batchId));
          process.stdout.write(opts.csv ? reportCsv(report) : `${opts.json ? JSON.stringify(report, null, 2) : formatReport(report)}\n`);
          return EXIT.OK;
        }),
      );
    });

  for (const kind of ['approve', 'reject'] as const) {
    program
      .command(kind)
      .description(
        kind === 'approve'
          ? 'Approve the human gate a ticket waits at (the validated `approve` update)'
          : 'Reject the human gate a ticket waits at; the ticket ends human-gated (the `reject` update)',
      )
      .argument('<batchId>')
      .argument('<ticketId>')
      .option('--by <name>', 'who answers (default $USER or "cli")')
      .option('--comment <text>', 'why; recorded with the intervention')
      .option('--patch <json>', "with approve at an epic's decomposition gate only: a JSON patch (RFC 6902) of the proposed sub-tickets")
      .action(async (batchId: string, ticketId: string, opts: { by?: string; comment?: string; patch?: string }) => {
        const patch = opts.patch === undefined ? {} : { patch: patchOf(opts.patch) };
        const decision = { by: opts.by || defaultBy(), ...(opts.comment === undefined ? {} : { comment: opts.comment }), ...patch };
        setExit(
          await withClient(globals(), async (client) => {
            const answer = await (kind === 'approve' ? approve : reject)(client, batchId, ticketId, decision);
            out(`${kind === 'approve' ? 'Approved' : 'Rejected'} ${answer.ticketId} at the ${answer.gate} gate (by ${decision.by}).`);
            return EXIT.OK;
          }),
        );
      });
  }

  program
    .command('resume')
    .description('Resume scheduling of a paused batch (the validated `resume` update)')
    .argument('<batchId>')
    .option('--by <name>', 'who resumes (default $USER or "cli")')
    .option('--comment <text>', 'why')
    .action(async (batchId: string, opts: { by?: string; comment?: string }) => {
      setExit(
        await withClient(globals(), async (client) => {
          await resume(client, batchId, opts.by || defaultBy(), opts.comment);
          out(`Resumed batch ${batchId}.`);
          return EXIT.OK;
        }),
      );
    });

  program
    .command('server')
    .description('Run a Temporal dev server in the foreground (Web UI on :8233); Ctrl-C stops it')
    .action(async () => {
      const { runDevServerForeground } = lazy<typeof import('../deploy/dev-server')>('../deploy/dev-server');
      const g = globals();
      const address = g.address || defaultAddress();
      await runDevServerForeground({ address, namespace: g.namespace || defaultNamespace(), ...devServerOptions(address) });
      setExit(EXIT.OK);
    });

  program
    .command('worker')
    .description('Run a ratchet worker in the foreground; Ctrl-C shuts it down gracefully')
    .option('--metrics <host:port>', 'serve Prometheus metrics at http://<host:port>/metrics, and the activities process\'s at the next port (default: $RATCHET_METRICS_ADDRESS, else off)')
    .option('--role <role>', 'split: workflows here, activities in a child process; all: both in one process; workflows or activities: only that half (default: $RATCHET_WORKER_ROLE, else split)')
    .option('--worktrees <dir>', "keep this worker's worktrees in <dir> instead of each batch's worktreesDir (default: $RATCHET_WORKTREES_DIR)")
    .option('--worker-id <id>', "this worker's id: its own task queue is ratchet@<id> (default: $RATCHET_WORKER_ID, else the host name, plus a digest of --worktrees)")
    .option('--connect-timeout <ms>', 'give up (exit 3) when Temporal cannot be reached within <ms> of the start; 0: try once (default: $RATCHET_CONNECT_TIMEOUT_MS, else wait as long as it takes, retrying every 1 s doubling up to 30 s)')
    .action(async (opts: { metrics?: string; role?: string; worktrees?: string; workerId?: string; connectTimeout?: string }) => {
      const { runWorkerProcess, workerRole } = lazy<typeof import('../workers/main')>('../workers/main');
      const { connectTimeoutOf } = lazy<typeof import('../workers/connect')>('../workers/connect');
      const g = globals();
      const role = opts.role !== undefined ? workerRole(opts.role, '--role') : undefined;
      const connectTimeoutMs = connectTimeoutOf(opts.connectTimeout, '--connect-timeout');
      await runWorkerProcess({
        address: g.address || defaultAddress(),
        namespace: g.namespace || defaultNamespace(),
        metrics: opts.metrics,
        role,
        ...(opts.worktrees !== undefined ? { worktrees: opts.worktrees } : {}),
        ...(opts.workerId !== undefined ? { workerId: opts.workerId } : {}),
        ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
      });
      setExit(EXIT.OK);
    });

  program
    .command('webhook')
    .description("Receive GitHub's webhooks (pull requests, reviews, checks, issue labels) and signal the ticket workflows; Ctrl-C stops it")
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on', positiveInt, 8787)
    .option('--secret-env <name>', "environment variable holding the webhook's secret", 'RATCHET_WEBHOOK_SECRET')
    .option('--label-prefix <prefix>', "the GitHub trackers' label prefix", 'ratchet')
    .option('--ratchet-login <login>', "the GitHub login of ratchet's token: its own label writes are not answers; without it, labels answer no gate")
    .action(async (opts: { host: string; port: number; secretEnv: string; labelPrefix: string; ratchetLogin?: string }) => {
      const secret = process.env[opts.secretEnv];
      if (!secret) {
        throw new BadInputError('ratchet webhook', [`--secret-env names ${opts.secretEnv}, which is not set; fix: export ${opts.secretEnv} with the secret you gave GitHub`]);
      }
      const { startWebhookReceiver } = lazy<typeof import('./webhook')>('./webhook');
      await withClient(globals(), async (client) => {
        const receiver = await startWebhookReceiver({ client, secret, host: opts.host, port: opts.port, labelPrefix: opts.labelPrefix, ...(opts.ratchetLogin ? { ratchetLogin: opts.ratchetLogin } : {}), log: (l) => console.log(`ratchet webhook: ${l}`) });
        console.log(`ratchet webhook: listening on ${receiver.url} (point the repository's webhook there, content type application/json)`);
        if (!opts.ratchetLogin) console.log('ratchet webhook: issue labels answer no gate (pass --ratchet-login <login of ratchet\'s token> to let a person answer by label)');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await receiver.close();
      });
      setExit(EXIT.OK);
    });

  return program;
}

/** Prints an error for a person: the message and the fix, never only a stack trace. */
function printError(e: unknown): void {
  if (e instanceof BadInputError) {
    err(`ratchet: bad input in ${e.source}:`);
    for (const issue of e.issues) err(`  ${issue}`);
    return;
  }
  if (e instanceof WatchInterruptedError) return; // already explained
  if (e instanceof BatchFailedError) {
    err(`ratchet: batch ${e.batchId} failed: ${e.message}`);
    return;
  }
  err(`ratchet: ${e instanceof Error ? e.message : String(e)}`);
  if (process.env.RATCHET_DEBUG && e instanceof Error && e.stack) err(e.stack);
}

/**
 * Parses `argv` (as `process.argv`) and runs the command.
 * @returns the exit code (see {@link EXIT}); never throws.
 */
export async function main(argv: string[] = process.argv): Promise<ExitCode> {
  let code: ExitCode = EXIT.OK;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; `ratchet` with no command and every usage error are usage errors.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.OK : EXIT.BAD_INPUT;
    }
    printError(e);
    return exitCodeFor(e);
  }
}

/** Process entry: runs {@link main} and exits with its code. */
export function runCli(): void {
  // `ratchet status x | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? process.exit(EXIT.OK) : undefined));
  void main().then((code) => process.exit(code));
}

if (require.main === module) runCli();

/**
 * The `--patch` of `ratchet approve`: a JSON array (RFC 6902 operations; the workflow applies and checks them).
 * @throws BadInputError naming the option, the value and the fix.
 */
function patchOf(text: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadInputError('--patch', [`is not JSON (${(err as Error).message}); fix: give RFC 6902 operations such as '[{"op": "replace", "path": "/1/title", "value": "..."}]'`]);
  }
  if (!Array.isArray(value)) throw new BadInputError('--patch', [`is ${text.slice(0, 80)}, not a list; fix: give a JSON array of RFC 6902 operations`]);
  return value;
}
