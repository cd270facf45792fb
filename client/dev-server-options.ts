/**
 * Where the dev server for an address keeps its Web UI and history. Follows the Temporal CLI's own default (UI on the
 * frontend port + 1000), and gives every non-default port its own SQLite file so two dev servers never share one.
 */
import path from 'node:path';
import { ratchetCacheDir } from '../deploy/temporal-cli';

const DEFAULT_PORT = 7233;

/** The port of `host:port`, or undefined when it has none. */
function portOf(address: string): number | undefined {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined;
}

/**
 * Options for `ensureDevServer` / `runDevServerForeground` at `address`.
 * @returns `uiPort` (frontend port + 1000; 8233 for 7233) and, for a port other than 7233, a `dbFile` of its own.
 */
export function devServerOptions(address: string): { uiPort?: number; dbFile?: string } {
  const port = portOf(address);
  if (port === undefined || port === DEFAULT_PORT) return {};
  return {
    ...(port + 1000 <= 65535 ? { uiPort: port + 1000 } : {}),
    dbFile: path.join(ratchetCacheDir(), `dev-server-${port}.sqlite`),
  };
}

/** Base URL of the Web UI for `address`: `$TEMPORAL_UI_URL`, else the address's host on its port + 1000. */
export function uiUrlFor(address: string): string {
  if (process.env.TEMPORAL_UI_URL) return process.env.TEMPORAL_UI_URL;
  const colon = address.lastIndexOf(':');
  const host = colon > 0 ? address.slice(0, colon) : '127.0.0.1';
  const port = portOf(address) ?? DEFAULT_PORT;
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port + 1000 <= 65535 ? port + 1000 : 8233}`;
}
