/**
 * The ticket's side of its batch's agent tap (batch/agent-breaker.ts, issue 27 item 6): before each agent run the
 * ticket waits while the batch has stopped agents (durably, at a condition: no polling), and after it tells the batch
 * the run's outcome with its failure normalized. A failed run (or the canary's) waits for the batch's answer before the
 * next one, so a tap the batch closes on that very report holds it. Workflow code: deterministic, no I/O.
 */
import { condition, log, patched } from '@temporalio/workflow';
import { AGENT_BREAKER_PATCH, agentFailure, type AgentRunReport, type TapMessage } from '../batch/agent-breaker';
import { agentRunSignal } from '../messages';
import type { AgentRun } from '../types';
import type { TicketEffects } from './effects';

/** How long a ticket waits for its batch to answer a failed run's report before it goes on (a batch that is gone). */
export const ACK_WAIT_MS = 60_000;

/** The tap as this ticket knows it: open unless the batch said otherwise; its reports and the answers it got. */
export class AgentTap {
  private open: boolean;
  private canary: boolean;
  private reason: string | undefined;
  /** The newest batch tap version taken. */
  private v = -1;
  private seq = 0;
  private acked = 0;
  /** The report whose answer the next run waits for. */
  private awaiting: number | undefined;

  /** @param canary the batch started this ticket as its canary: closed, with the grant of one run. */
  constructor(canary = false) {
    this.open = !canary;
    this.canary = canary;
  }

  /** The `agentTap` signal: the newest version wins; the answer it carries counts whatever its version. */
  onTap(m: Omit<TapMessage, 'to'>): void {
    if (m.ack !== undefined) this.acked = Math.max(this.acked, m.ack);
    if (m.v < this.v) return;
    this.v = m.v;
    this.open = m.open;
    this.canary = m.canary === true;
    this.reason = m.reason;
  }

  /**
   * Before an agent run of attempt `attempt`: waits for the answer to the last failed run's report (at most
   * {@link ACK_WAIT_MS}), then, while the tap is closed and this ticket holds no canary grant, tells the batch it waits
   * and waits (no limit: a person's `resume` and the canary reopen it). A ticket without a batch never waits.
   */
  async before(fx: TicketEffects, attempt: number): Promise<void> {
    if (!fx.hasParent() || !patched(AGENT_BREAKER_PATCH)) return;
    const awaiting = this.awaiting;
    if (awaiting !== undefined && !(await condition(() => this.acked >= awaiting, ACK_WAIT_MS))) {
      log.warn(`ticket ${fx.ticket.id}: its batch did not answer its agent run's report in ${ACK_WAIT_MS} ms; going on`);
    }
    this.awaiting = undefined;
    if (this.mayRun()) return;
    log.info(`ticket ${fx.ticket.id} waits before its agent run: ${this.reason ?? 'the batch stopped agents'}`);
    await this.tell(fx, { outcome: 'waiting', attempt });
    await condition(() => this.mayRun());
  }

  /**
   * After an agent run of attempt `attempt`: tells the batch its outcome (a run whose setup step failed ran no agent:
   * nothing to tell). A failed run, and the canary's, wait for the batch's answer before the next run.
   */
  async after(fx: TicketEffects, attempt: number, r: { agent: AgentRun; setupFailed?: unknown }): Promise<void> {
    if (!fx.hasParent() || r.setupFailed !== undefined || !patched(AGENT_BREAKER_PATCH)) return;
    const failure = agentFailure(r.agent, fx.ticket.id);
    const wasCanary = this.canary && !this.open;
    if (wasCanary) this.canary = false;
    const ack = failure !== undefined || wasCanary;
    const seq = await this.tell(fx, { outcome: failure ? 'failed' : 'ok', attempt, ...(failure ? { failure } : {}), ...(ack ? { ack } : {}) });
    if (ack) this.awaiting = seq;
  }

  private mayRun(): boolean {
    return this.open || this.canary;
  }

  /** Sends one report to the batch. @returns its number. */
  private async tell(fx: TicketEffects, r: Omit<AgentRunReport, 'ticketId' | 'seq'>): Promise<number> {
    const seq = ++this.seq;
    await fx.signalParent(agentRunSignal, [{ ticketId: fx.ticket.id, seq, ...r }]);
    return seq;
  }
}
