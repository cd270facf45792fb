/**
 * Webhook deliveries: every state change the handlers announce goes to each active hook of the repository that
 * subscribed to the event (or to `*`), asynchronously and never delaying the API response, in order per hook, retried
 * on connection errors only (a receiver's non-2xx answer is recorded, not retried, as GitHub does). Each delivery is
 * signed like GitHub's: `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the exact body with the hook's secret>`.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { now, type DeliveryRecord, type HookRecord } from './state';

/** Attempts per delivery when the receiver cannot be reached, and the wait before the n-th retry (ms). */
const ATTEMPTS = 4;
const backoffMs = (retry: number): number => 100 * 2 ** retry;
/** GitHub gives a receiver 10 s. */
const TIMEOUT_MS = 10_000;

/** Signs `body` as GitHub does: `sha256=` + hex HMAC-SHA256 with `secret`. */
export function signature256(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Queues and sends deliveries; one ordered queue per hook. */
export class WebhookDispatcher {
  private readonly queues = new Map<number, Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();

  constructor(private readonly log: (line: string) => void) {}

  /**
   * Queues `event` (with `payload.action`, if any) for `hook` if it is active and subscribed; returns at once.
   * `hookId` goes into `X-GitHub-Hook-ID`, `targetId` (the repository id) into the installation-target headers.
   */
  enqueue(hook: HookRecord, targetId: number, event: string, payload: Record<string, unknown>): void {
    if (this.abort.signal.aborted || !hook.active) return;
    if (event !== 'ping' && !hook.events.includes('*') && !hook.events.includes(event)) return;
    const previous = this.queues.get(hook.id) ?? Promise.resolve();
    const next = previous
      .then(() => this.deliver(hook, targetId, event, payload))
      .catch((err: unknown) => this.log(`webhook ${event} to ${hook.config.url}: ${String(err)}`));
    this.queues.set(hook.id, next);
    this.inFlight.add(next);
    void next.finally(() => this.inFlight.delete(next));
  }

  /** Resolves when every delivery queued so far, and any queued meanwhile, has finished (delivered, refused or given up). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Stops: in-flight deliveries are aborted and nothing more is sent. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.drain();
  }

  private async deliver(hook: HookRecord, targetId: number, event: string, payload: Record<string, unknown>): Promise<void> {
    const json = JSON.stringify(payload);
    const form = hook.config.contentType === 'form';
    const body = form ? `payload=${encodeURIComponent(json)}` : json;
    const guid = randomUUID();
    const headers: Record<string, string> = {
      'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json',
      'user-agent': 'GitHub-Hookshot/fake',
      'x-github-event': event,
      'x-github-delivery': guid,
      'x-github-hook-id': String(hook.id),
      'x-github-hook-installation-target-id': String(targetId),
      'x-github-hook-installation-target-type': 'repository',
    };
    if (hook.config.secret) {
      headers['x-hub-signature-256'] = signature256(hook.config.secret, body);
      headers['x-hub-signature'] = `sha1=${createHmac('sha1', hook.config.secret).update(body).digest('hex')}`;
    }
    const action = typeof payload.action === 'string' ? payload.action : null;
    const record: DeliveryRecord = { guid, event, action, status: null, error: null, attempts: 0, deliveredAt: now() };
    hook.deliveries.push(record);
    for (let attempt = 0; attempt < ATTEMPTS && !this.abort.signal.aborted; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, backoffMs(attempt - 1)));
      record.attempts = attempt + 1;
      record.deliveredAt = now();
      try {
        const res = await fetch(hook.config.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(TIMEOUT_MS)]),
        });
        await res.arrayBuffer();
        record.status = res.status;
        record.error = res.ok ? null : `HTTP ${res.status}`;
        if (!res.ok) this.log(`webhook ${event}${action ? `.${action}` : ''} to ${hook.config.url}: HTTP ${res.status}`);
        return;
      } catch (err) {
        const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : '';
        record.error = `${err instanceof Error ? err.message : String(err)}${cause ? ` (${cause})` : ''}`;
        this.log(`webhook ${event} to ${hook.config.url}: attempt ${attempt + 1} failed: ${record.error}`);
      }
    }
  }
}
