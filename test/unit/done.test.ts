import assert from 'node:assert/strict';
import { definitionOfDone, doneDifferences, harnessOf, mergePatch, tripwire } from '../../workflows/done';
import type { BatchConfig, Ticket } from '../../workflows/types';

const config: BatchConfig = {
  batchId: 'b1',
  repo: '/r',
  baseBranch: 'main',
  ticketsDir: '/r/.ratchet/tickets',
  artifactsDir: '/r/.ratchet/artifacts',
  worktreesDir: '/r/.ratchet/worktrees',
  tickets: [],
  agent: { command: 'agent', timeoutMs: 60_000, env: {}, envFrom: [], cacheDirs: [] },
  gates: [{ name: 'test', command: 'npm test', timeoutMs: 60_000, files: ['package.json'], tests: [], envFrom: [] }],
  probes: [{ kind: 'command', name: 'up', command: 'true', timeoutMs: 1_000, files: [] }],
  protectedPaths: ['.ratchet/**', 'package.json'],
  verify: { deadlineMs: 10_000, intervalMs: 1_000, stableRounds: 5 },
  maxParallel: 2,
  maxAttempts: 3,
  circuitBreaker: 3,
  heartbeatTimeoutMs: 30_000,
  harness: { setup: [], promptRules: [] },
  continueAsNewAtEvents: 4_000,
  hostWaitMs: 30_000,
  discovery: { maxPerBatch: 10, maxPerTicket: 3 },
  humanGates: { keepWaiting: [] },
};
const tickets: Ticket[] = [{ id: 'x', title: 'x', body: '', acceptance: [], dependsOn: [], kind: 'feature', probes: [], allowPaths: [], state: 'todo' }];
const frozen = definitionOfDone(config, tickets, { 'package.json': 'aaa' });

describe('the definition of done and the self-heal tripwire', () => {
  it('accepts a change of the harness alone and returns the healed config', () => {
    const judged = tripwire(config, frozen, { harness: { setup: [{ command: 'npm ci' }] }, agent: { timeoutMs: 120_000 }, verify: { deadlineMs: 20_000 } }, {});
    assert.deepEqual(judged.differences, []);
    assert.ok('config' in judged);
    assert.deepEqual(harnessOf(judged.config), {
      setup: [{ command: 'npm ci', timeoutMs: 600_000 }],
      promptRules: [],
      agentTimeoutMs: 120_000,
      maxAttempts: 3,
      heartbeatTimeoutMs: 30_000,
      verify: { deadlineMs: 20_000, intervalMs: 1_000, stableRounds: 5 },
    });
    assert.equal(judged.config.agent.command, 'agent');
  });

  it('keeps the guard through a heal of the harness, and refuses a heal that lowers it', () => {
    const guarded: BatchConfig = { ...config, verify: { ...config.verify, guard: 'all' } };
    const kept = tripwire(guarded, definitionOfDone(guarded, tickets, { 'package.json': 'aaa' }), { harness: { setup: [{ command: 'npm run build' }] } }, {});
    assert.ok('config' in kept, JSON.stringify(kept.differences));
    assert.equal(kept.config.verify.guard, 'all');
    const lowered = tripwire(guarded, definitionOfDone(guarded, tickets, { 'package.json': 'aaa' }), { verify: { guard: 1 } }, {});
    assert.deepEqual(lowered.differences, ['changes "verify.guard", which keeps done tickets done, not the harness']);
  });

  it('rejects a change of a gate, a probe, the protected paths or a protected file, naming each', () => {
    const gate = tripwire(config, frozen, { gates: [{ ...config.gates[0], command: 'true' }] }, {});
    assert.deepEqual(gate.differences, ['changes gate "test"']);
    assert.deepEqual(tripwire(config, frozen, { gates: [] }, {}).differences, ['removes gate "test"']);
    assert.deepEqual(tripwire(config, frozen, { probes: [] }, {}).differences, ['removes probe "up"']);
    assert.deepEqual(tripwire(config, frozen, { protectedPaths: ['.ratchet/**'] }, {}).differences, ['changes the protected paths']);
    assert.deepEqual(tripwire(config, frozen, {}, { 'package.json': 'bbb', '.ratchet/x': 'ccc' }).differences, [
      'adds protected file .ratchet/x',
      'changes protected file package.json',
    ]);
    assert.deepEqual(tripwire(config, frozen, {}, { 'package.json': 'missing' }).differences, ['deletes protected file package.json']);
  });

  it('rejects a change outside the harness (the agent command, the repository) and a malformed harness', () => {
    assert.deepEqual(tripwire(config, frozen, { agent: { command: 'evil' } }, {}).differences, ['changes "agent", which is not the harness']);
    assert.deepEqual(tripwire(config, frozen, { repo: '/elsewhere', maxParallel: 9 }, {}).differences, [
      'changes "maxParallel", which is not the harness',
      'changes "repo", which is not the harness',
    ]);
    assert.match(tripwire(config, frozen, { harness: { setup: [{ command: ' ' }] } }, {}).differences.join(), /harness.setup\[0\] without a command/);
    assert.match(tripwire(config, frozen, { maxAttempts: 0 }, {}).differences.join(), /maxAttempts = 0/);
  });

  it('compares definitions field by field and merges patches as RFC 7386 says', () => {
    assert.deepEqual(doneDifferences(frozen, definitionOfDone(config, tickets, { 'package.json': 'aaa' })), []);
    assert.deepEqual(doneDifferences(frozen, definitionOfDone(config, [{ ...tickets[0], allowPaths: ['package.json'] }], { 'package.json': 'aaa' })), [
      'changes the allowPaths of ticket x',
    ]);
    assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { b: { c: null, f: 4 }, e: [2] }), { a: 1, b: { d: 3, f: 4 }, e: [2] });
  });
});
