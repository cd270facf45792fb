/**
 * The GitHub demo's command probe (`ratchet demo --github`). Issues carry no probes of their own, so the demo's batch
 * has one command probe that checks the ticket it is given: it reads the HTTP probes of `$RATCHET_TICKET_ID` from the
 * JSON file named by its argument (ticket id -> `Probe[]`, as `Ticket.probes`), runs each once, prints one line per
 * probe, and exits 0 when all pass (or the ticket has none: the batch's own probes cover it), 1 when one fails, 2 on
 * bad usage.
 *
 * Usage: `tsx client/demo/issue-probe.ts <probes.json>` with RATCHET_TICKET_ID set (verify-live sets it).
 */
import { readFileSync } from 'node:fs';
import type { Probe } from '../../workflows/types';

async function main(): Promise<number> {
  const file = process.argv[2];
  const ticketId = process.env.RATCHET_TICKET_ID;
  if (!file || !ticketId) {
    process.stderr.write('usage: issue-probe <probes.json>, with RATCHET_TICKET_ID set\n');
    return 2;
  }
  const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Probe[]>;
  const probes = (all[ticketId] ?? []).filter((p): p is Extract<Probe, { kind: 'http' }> => p.kind === 'http');
  if (!probes.length) {
    process.stdout.write(`ticket ${ticketId} has no probe of its own\n`);
    return 0;
  }
  let failed = 0;
  for (const p of probes) {
    const answer = await fetch(p.url, { method: p.method, signal: AbortSignal.timeout(p.timeoutMs) })
      .then(async (res) => ({ status: res.status, body: await res.text() }))
      .catch((err: Error) => ({ status: 0, body: `no answer: ${err.message}` }));
    const ok = answer.status === p.expectStatus && (p.expectBody === undefined || answer.body.includes(p.expectBody));
    if (!ok) failed++;
    process.stdout.write(`${ok ? 'pass' : 'FAIL'} ${p.name}: ${p.method} ${p.url} answered ${answer.status} ${JSON.stringify(answer.body.slice(0, 120))}\n`);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`issue-probe: ${err.message}\n`);
    process.exit(2);
  },
);
