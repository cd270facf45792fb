/**
 * Where the dev server for an address keeps its Web UI and history. Follows the Temporal CLI's own default (UI on the
 * frontend port + 1000), and gives every non-default port its own SQLite file so two dev servers never share one.
 */
import path from 'node:path';
import { DEFAULT_PORT, formatAddress, tryParseAddress } from '../deploy/address';
import { ratchetCacheDir } from '../deploy/temporal-cli';

/**
 * Options for `ensureDevServer` / `runDevServerForeground` at `address`.
 * @returns `uiPort` (frontend port + 1000; 8233 for 7233) and, for a port other than 7233, a `dbFile` of its own.
 */
export function devServerOptions(address: string): { uiPort?: number; dbFile?: string } {
  const port = tryParseAddress(address, DEFAULT_PORT)?.port;
  if (port === undefined || port === DEFAULT_PORT) return {};
  return {
    ...(port + 1000 <= 65535 ? { uiPort: port + 1000 } : {}),
    dbFile: path.join(ratchetCacheDir(), `dev-server-${port}.sqlite`),
  };
}

/** Base URL of the Web UI for `address`: `$TEMPORAL_UI_URL`, else the address's host on its port + 1000. */
export function uiUrlFor(address: string): string {
  if (process.env.TEMPORAL_UI_URL) return process.env.TEMPORAL_UI_URL;
  const { host, port } = tryParseAddress(address, DEFAULT_PORT) ?? { host: '127.0.0.1', port: DEFAULT_PORT };
  return `http://${formatAddress({ host: host === '0.0.0.0' ? '127.0.0.1' : host, port: port + 1000 <= 65535 ? port + 1000 : 8233 })}`;
}
