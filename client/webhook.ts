/**
 * `ratchet webhook`: receives GitHub's webhooks and turns them into signals on the right workflows, so tickets react
 * to a merge, a close, a review or a check at once instead of at their next poll. Signatures are verified with
 * `@octokit/webhooks` (`X-Hub-Signature-256`, HMAC-SHA256 with the shared secret); anything unsigned or wrongly signed
 * is refused with 401 and changes nothing.
 *
 * - `pull_request` (closed, reopened, synchronize), `pull_request_review` (submitted), `check_run` (completed) and
 *   `status`: the `pullRequest` signal to `ticket-<batchId>-<ticketId>`, found from the head branch
 *   `ratchet/<batchId>/<ticketId>`. The signal carries nothing to trust: the ticket reads GitHub itself.
 * - `issues` labeled with `<prefix>:approve` / `<prefix>:reject`, or unlabeled `<prefix>:awaiting-human`: `approve` /
 *   `reject` / `approve` on the running ticket workflow of that issue (by the `RatchetTicket` search attribute), with
 *   the person who changed the label as `by`: an answer to its human gate, recorded as an intervention.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { issueTicketId } from '../workflows/ids';
import { approveSignal, pullRequestSignal, rejectSignal } from '../workflows/messages';

export interface WebhookReceiverOptions {
  client: Client;
  /** The webhook's secret, as set on GitHub. */
  secret: string;
  /** Label prefix of the batches' GitHub trackers (default `ratchet`). */
  labelPrefix?: string;
  /**
   * The GitHub login ratchet's token belongs to. Label changes it makes are ratchet's own state writes (it removes
   * `ratchet:awaiting-human` itself once a gate is answered), never a person's answer. Without it, labels answer no
   * gate: the receiver could not tell ratchet's writes from a person's.
   */
  ratchetLogin?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  log?: (line: string) => void;
}

interface Delivery {
  name: string;
  payload: Record<string, unknown> & { action?: string; sender?: { login?: string } };
}

const HEAD = /^ratchet\/([A-Za-z0-9._-]{1,64})\/([A-Za-z0-9._-]{1,64})$/;

/** The ticket workflow a pull request's head branch belongs to, or undefined when ratchet did not push it. */
export function ticketOfBranch(ref: string | undefined): string | undefined {
  const m = ref ? HEAD.exec(ref) : null;
  return m ? `ticket-${m[1]}-${m[2]}` : undefined;
}

/**
 * Starts the receiver (POST any path). Each verified delivery is answered 202 after its signals are sent; a delivery
 * that names no running ratchet workflow is answered 202 and ignored.
 * @returns its URL and a `close()`.
 */
export async function startWebhookReceiver(opts: WebhookReceiverOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const log = opts.log ?? (() => {});
  const prefix = opts.labelPrefix ?? 'ratchet';
  // @octokit/webhooks is ESM-only (its -methods dependency has no require entry): loaded the ESM way.
  const { Webhooks } = await import('@octokit/webhooks');
  const webhooks = new Webhooks({ secret: opts.secret });
  const signalTicket = async (workflowId: string, why: string): Promise<void> => {
    await opts.client.workflow
      .getHandle(workflowId)
      .signal(pullRequestSignal, { event: why })
      .then(
        () => log(`${why}: signalled ${workflowId}`),
        (err: Error) => log(`${why}: ${workflowId} not signalled (${err.message})`),
      );
  };
  const handle = async ({ name, payload }: Delivery): Promise<void> => {
    const pr = (payload.pull_request ?? undefined) as { head?: { ref?: string }; number?: number } | undefined;
    if (name === 'pull_request' || name === 'pull_request_review') {
      const wf = ticketOfBranch(pr?.head?.ref);
      if (wf) await signalTicket(wf, `${name}.${payload.action ?? ''} #${pr?.number ?? '?'}`);
      return;
    }
    if (name === 'check_run' || name === 'status') {
      const heads =
        name === 'check_run'
          ? ((payload.check_run as { check_suite?: { head_branch?: string | null } })?.check_suite?.head_branch ?? undefined)
          : ((payload.branches as { name: string }[] | undefined)?.map((b) => b.name) ?? []).find((b) => HEAD.test(b));
      const wf = ticketOfBranch(heads ?? undefined);
      if (wf) await signalTicket(wf, `${name}.${payload.action ?? payload.state ?? ''}`);
      return;
    }
    if (name === 'issues' && (payload.action === 'labeled' || payload.action === 'unlabeled')) {
      if (!opts.ratchetLogin || payload.sender?.login === opts.ratchetLogin) return;
      const label = (payload.label as { name?: string } | undefined)?.name ?? '';
      const answer =
        payload.action === 'labeled' && label === `${prefix}:approve`
          ? 'approve'
          : payload.action === 'labeled' && label === `${prefix}:reject`
            ? 'reject'
            : payload.action === 'unlabeled' && label === `${prefix}:awaiting-human`
              ? 'approve'
              : undefined;
      if (!answer) return;
      const issue = payload.issue as { number: number; body?: string | null };
      const ticketId = issueTicketId(issue.body) ?? String(issue.number);
      const by = payload.sender?.login ?? 'someone on GitHub';
      const query = `WorkflowType = "ticketWorkflow" AND ExecutionStatus = "Running" AND RatchetTicket = "${ticketId}"`;
      for await (const wf of opts.client.workflow.list({ query })) {
        await opts.client.workflow
          .getHandle(wf.workflowId)
          .signal(answer === 'approve' ? approveSignal : rejectSignal, {
            by,
            comment: `${payload.action} "${label}" on issue #${issue.number} (GitHub)`,
            // The removed label leaves the issue without a state label (todo): the ticket expects it, no tamper.
            ...(payload.action === 'unlabeled' ? { trackerState: 'todo' as const } : {}),
          })
          .then(
            () => log(`issues.${payload.action} ${label} on #${issue.number}: ${answer} sent to ${wf.workflowId} by ${by}`),
            (err: Error) => log(`issues.${payload.action} on #${issue.number}: ${wf.workflowId} not signalled (${err.message})`),
          );
      }
    }
  };

  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end('POST GitHub webhooks here\n');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const name = String(req.headers['x-github-event'] ?? '');
      const signature = String(req.headers['x-hub-signature-256'] ?? '');
      void (async () => {
        if (!signature || !(await webhooks.verify(body, signature).catch(() => false))) {
          log(`refused a ${name || 'delivery'} with a missing or wrong signature`);
          res.writeHead(401).end('bad signature\n');
          return;
        }
        let payload: Delivery['payload'];
        try {
          payload = JSON.parse(body) as Delivery['payload'];
        } catch {
          res.writeHead(400).end('not JSON\n');
          return;
        }
        try {
          await handle({ name, payload });
          res.writeHead(202).end('ok\n');
        } catch (err) {
          log(`${name}: ${(err as Error).message}`);
          res.writeHead(500).end('could not signal; GitHub may redeliver\n');
        }
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
