/**
 * Agent profiles and routes (issue 28 item 3): which profile runs a role, by the plan's size for the roles whose route
 * is a size map. Pure (no I/O, no SDK call): workflow code resolves a step's profile with {@link profileFor} and passes
 * the profile's agent to the activity; tested without a server (test/unit/routes.test.ts).
 *
 * The batch file's `agent` is the profile `default` and every route's fallback. A route never falls back silently:
 * the answer says why in `fallback`, which the status and the report show.
 */
import type { AgentConfig, BatchConfig, PlanSize, RoleProfile, RouteRole, RouteSize, Ticket } from './types';

/** The profile the batch file's `agent` is. */
export const DEFAULT_PROFILE = 'default';

/** The profile name shown for the batch file's `heal.command` when no route names a heal profile. */
export const HEAL_COMMAND_PROFILE = 'heal';

/** A role's profile: its name, the agent it runs, and why it fell back when it did. */
export interface RoutedProfile extends RoleProfile {
  role: RouteRole;
  agent: AgentConfig;
}

/**
 * The profile that runs `role` for a plan of size `size` (default `unknown`):
 * - no route for the role: `default` (the batch file's `agent`); for `heal`, the batch file's `heal.command` and time
 *   limit in the default profile's environment and box (profile `heal`), as before profiles;
 * - a route naming a profile: that profile, whatever the size;
 * - a size map: the profile named for `size`; a size it leaves out runs `default`, with `fallback` saying so.
 * A name that is no profile (refused when the batch loads; a config edited since) also runs `default`, saying so.
 * Never throws.
 */
export function profileFor(config: Pick<BatchConfig, 'agent' | 'agents' | 'routes' | 'heal'>, role: RouteRole, size: RouteSize = 'unknown'): RoutedProfile {
  const route = config.routes?.[role];
  if (route === undefined) {
    if (role === 'heal' && config.heal) {
      return { role, profile: HEAL_COMMAND_PROFILE, agent: { ...config.agent, command: config.heal.command, timeoutMs: config.heal.timeoutMs } };
    }
    return { role, profile: DEFAULT_PROFILE, agent: config.agent };
  }
  const name = typeof route === 'string' ? route : route[size];
  if (name === undefined) {
    const named = Object.keys(route).join(', ');
    return { role, profile: DEFAULT_PROFILE, agent: config.agent, fallback: `routes.${role} names no profile for size ${size} (it names ${named}); ran ${DEFAULT_PROFILE}` };
  }
  if (name === DEFAULT_PROFILE) return { role, profile: DEFAULT_PROFILE, agent: config.agent };
  const agent = config.agents?.[name];
  if (agent === undefined) return { role, profile: DEFAULT_PROFILE, agent: config.agent, fallback: `routes.${role} names profile "${name}", which the batch does not define; ran ${DEFAULT_PROFILE}` };
  return { role, profile: name, agent };
}

/**
 * The size implement routes by: the typed plan's, else the ticket's own (`size` in its file), else `unknown`.
 */
export function routeSize(planSize: RouteSize | undefined, ticket: Pick<Ticket, 'size'>): RouteSize {
  if (planSize !== undefined && planSize !== 'unknown') return planSize;
  return ticket.size ?? 'unknown';
}

const ORDER: readonly PlanSize[] = ['S', 'M', 'L', 'XL'];

/**
 * Whether a plan of `size` is split instead of implemented: every `XL`, and any size above `splitAbove` (default `L`:
 * only `XL`). `unknown` never splits.
 */
export function splits(size: RouteSize | undefined, splitAbove: PlanSize = 'L'): boolean {
  if (size === undefined || size === 'unknown') return false;
  return size === 'XL' || ORDER.indexOf(size) > ORDER.indexOf(splitAbove);
}
