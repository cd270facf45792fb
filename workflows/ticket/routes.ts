/**
 * Which agent profile runs a step of this ticket (workflows/agent-routes.ts), recorded in its state for the status and
 * the report. Workflow code.
 */
import { patched } from '@temporalio/workflow';
import { profileFor, routeSize, type RoutedProfile } from '../agent-routes';
import type { RouteRole, RouteSize } from '../types';
import type { TicketEffects } from './effects';

/** The patch id of profiles and routes, typed plans and the split gate (0.2.3): before it, one agent ran every role. */
export const AGENT_ROUTES_PATCH = 'agent-routes';

/**
 * The profile that runs `role` for this ticket at `size` (default: the typed plan's size, else the ticket's, else
 * `unknown`: {@link routeSize}), recorded in its state for the status and the report (with why it fell back, when it
 * did); in a history from before profiles, the batch's one agent as `default`, unrecorded.
 */
export function routed(fx: TicketEffects, role: RouteRole, size: RouteSize = routeSize(fx.state.planSize, fx.ticket)): RoutedProfile {
  if (!patched(AGENT_ROUTES_PATCH)) return { role, profile: 'default', agent: fx.config.agent };
  const r = profileFor(fx.config, role, size);
  fx.state.profiles[role] = { profile: r.profile, ...(r.fallback ? { fallback: r.fallback } : {}) };
  return r;
}

