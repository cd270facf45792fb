/**
 * Agent profiles and routes (issue 28 item 3): which profile runs a role and a size, the fallback that says so, the
 * split rule of typed plans, and how the batch file's profiles load (presets fill in commands).
 */
import assert from 'node:assert/strict';
import { profileFor, routeSize, splits } from '../../workflows/agent-routes';
import { batchFileSchema, parseOrThrow, toBatchConfig } from '../../workflows/input';
import { PRESET_COMMANDS } from '../../workflows/agent-presets';
import type { BatchConfig } from '../../workflows/types';

const load = (file: Record<string, unknown>): BatchConfig => toBatchConfig(parseOrThrow(batchFileSchema, { repo: '/tmp/r', ...file }, 'batch.json'), 'b', (_r, p) => p);

describe('agent profiles and routes', () => {
  const config = load({
    agent: { command: 'default-agent' },
    agents: { strong: { command: 'strong-agent', timeoutMs: 60_000 }, cheap: { command: 'cheap-agent' } },
    routes: { plan: 'strong', review: 'strong', implement: { S: 'cheap', M: 'cheap', L: 'strong' } },
  });

  it('runs the profile a role routes to, whatever the size', () => {
    const r = profileFor(config, 'plan');
    assert.equal(r.profile, 'strong');
    assert.equal(r.agent.command, 'strong-agent');
    assert.equal(r.agent.timeoutMs, 60_000);
    assert.equal(r.fallback, undefined);
    assert.equal(profileFor(config, 'review', 'XL').profile, 'strong');
  });

  it('implements each size with the profile its route names', () => {
    assert.equal(profileFor(config, 'implement', 'S').agent.command, 'cheap-agent');
    assert.equal(profileFor(config, 'implement', 'M').profile, 'cheap');
    assert.equal(profileFor(config, 'implement', 'L').profile, 'strong');
  });

  it('falls back to default for a size the route leaves out, and says so', () => {
    const xl = profileFor(config, 'implement', 'XL');
    assert.equal(xl.profile, 'default');
    assert.equal(xl.agent.command, 'default-agent');
    assert.equal(xl.fallback, 'routes.implement names no profile for size XL (it names S, M, L); ran default');
    assert.match(profileFor(config, 'implement').fallback ?? '', /no profile for size unknown/);
  });

  it('runs default for a role without a route, without calling it a fallback', () => {
    assert.deepEqual(profileFor(config, 'decompose'), { role: 'decompose', profile: 'default', agent: config.agent });
  });

  it('runs the batch file\'s heal command when no route names a heal profile, and the routed profile when one does', () => {
    const withHeal = { ...config, heal: { command: 'heal-agent', timeoutMs: 5_000, maxPerTicket: 1, maxPerBatch: 3 } };
    const h = profileFor(withHeal, 'heal');
    assert.equal(h.profile, 'heal');
    assert.equal(h.agent.command, 'heal-agent');
    assert.equal(h.agent.timeoutMs, 5_000);
    assert.deepEqual(h.agent.envFrom, config.agent.envFrom);
    const routed = profileFor({ ...withHeal, routes: { heal: 'strong' } }, 'heal');
    assert.equal(routed.agent.command, 'strong-agent');
  });

  it('falls back, saying so, when a route names a profile the config lacks (a config from elsewhere)', () => {
    const r = profileFor({ agent: config.agent, routes: { plan: 'gone' } }, 'plan');
    assert.equal(r.profile, 'default');
    assert.match(r.fallback ?? '', /names profile "gone", which the batch does not define/);
  });

  it('runs default for every role in a config from before profiles', () => {
    const old: Pick<BatchConfig, 'agent'> = { agent: config.agent };
    for (const role of ['plan', 'implement', 'review', 'decompose', 'heal'] as const) assert.equal(profileFor(old, role, 'S').profile, 'default');
  });

  it('routes implement by the typed plan\'s size, else the ticket\'s, else unknown', () => {
    assert.equal(routeSize('L', { size: 'S' }), 'L');
    assert.equal(routeSize('unknown', { size: 'S' }), 'S');
    assert.equal(routeSize(undefined, {}), 'unknown');
  });

  it('splits every XL plan and any plan above plan.splitAbove; never an unknown size', () => {
    assert.equal(splits('XL'), true);
    assert.equal(splits('L'), false);
    assert.equal(splits('L', 'M'), true);
    assert.equal(splits('M', 'M'), false);
    assert.equal(splits('XL', 'XL'), true);
    assert.equal(splits('unknown', 'S'), false);
    assert.equal(splits(undefined), false);
  });

  it('loads profiles: a preset fills in the command, agents.default may stand for agent, and a batch without them loads as before', () => {
    const c = load({ agents: { default: { preset: 'claude-code' }, codex: { preset: 'codex', command: 'my-codex' } }, plan: { splitAbove: 'M' } });
    assert.equal(c.agent.command, PRESET_COMMANDS['claude-code']);
    assert.equal(c.agent.preset, 'claude-code');
    assert.deepEqual(Object.keys(c.agents ?? {}), ['codex']);
    assert.equal(c.agents?.codex.command, 'my-codex', 'a command given wins over the preset\'s');
    assert.equal(c.agents?.codex.preset, 'codex', 'and the preset still says how its output is read');
    assert.deepEqual(c.plan, { splitAbove: 'M' });
    const plain = load({ agent: { command: 'x' } });
    assert.equal('agents' in plain || 'routes' in plain || 'plan' in plain || 'preset' in plain.agent, false);
  });
});
