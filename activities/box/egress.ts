/**
 * The box's only way out: an HTTP proxy (the `proxy` package: plain requests and CONNECT tunnels) on a unix socket in
 * the run's private /tmp, which lets through only the domains the batch allows for that role (`agent.network`,
 * `gates[].network`) on ports 80 and 443. The box itself has no network of its own (`bwrap --unshare-net`); socat
 * inside it bridges `127.0.0.1:3128` to the socket, and the run's environment names that port as its proxy
 * ({@link proxyEnv}). Loopback, IP literals and the GitHub API are refused at load (workflows/input.ts), so no box
 * reaches the Temporal frontend, the tracker's API or the worker's own ports.
 */
import * as fsp from 'node:fs/promises';
import http from 'node:http';
import { createProxy } from 'proxy';

/** The port the bridge listens on inside the box (its own network namespace: no clash between boxes). */
export const BOX_PROXY_PORT = 3128;

/** The socket's file name in the run's private /tmp (so `/tmp/<name>` inside the box). */
export const EGRESS_SOCKET_NAME = 'ratchet-egress.sock';

/** The ports a box may reach on an allowed domain. */
const PORTS: readonly number[] = [80, 443];

/** A running egress proxy of one boxed run. */
export interface Egress {
  /** The unix socket it listens on (host path). */
  socket: string;
  /** `host:port` of every request refused, in order, at most 50 (what the run tried to reach and may not). */
  refused: string[];
  /** Stops listening and ends every open tunnel. Idempotent. */
  close(): Promise<void>;
}

/**
 * Whether `host` is one of `allow` (a domain, or `*.domain` for its subdomains and itself), case-insensitively.
 * @param allow domains as the batch file gives them (validated at load).
 */
export function allowed(host: string, allow: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return allow.some((d) => {
    const rule = d.toLowerCase();
    if (!rule.startsWith('*.')) return h === rule;
    const parent = rule.slice(2);
    return h === parent || h.endsWith(`.${parent}`);
  });
}

/** The host and port a proxy request asks for: `host:port` of a CONNECT, the URL of a plain request. */
function target(req: http.IncomingMessage): { host: string; port: number } | undefined {
  try {
    if (req.method === 'CONNECT') {
      const url = new URL(`http://${req.url ?? ''}`);
      return { host: url.hostname, port: Number(url.port || 443) };
    }
    const url = new URL(req.url ?? '');
    if (url.protocol !== 'http:') return undefined;
    return { host: url.hostname, port: Number(url.port || 80) };
  } catch {
    return undefined;
  }
}

/**
 * Starts an egress proxy on the unix socket `socket` (created; an old file there is removed first) that lets through
 * requests to `allow` on `ports` (default 80 and 443; tests pass their own), and refuses every other one (HTTP 407 from the library, the run sees a
 * refused proxy request), recording it in {@link Egress.refused}.
 * @throws when the socket cannot be listened on.
 */
export async function startEgress(socket: string, allow: readonly string[], ports: readonly number[] = PORTS): Promise<Egress> {
  await fsp.rm(socket, { force: true });
  const refused: string[] = [];
  const server = createProxy(http.createServer());
  server.authenticate = (req) => {
    const t = target(req);
    const ok = t !== undefined && ports.includes(t.port) && allowed(t.host, allow);
    if (!ok && refused.length < 50) refused.push(t ? `${t.host}:${t.port}` : String(req.url));
    return ok;
  };
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let closed: Promise<void> | undefined;
  return {
    socket,
    refused,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }).then(() => fsp.rm(socket, { force: true }))),
  };
}

/** The environment that points a boxed run's HTTP clients at the bridge (curl, npm, git, pip, go, Node's agents). */
export function proxyEnv(): Record<string, string> {
  const url = `http://127.0.0.1:${BOX_PROXY_PORT}`;
  return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, ALL_PROXY: url, all_proxy: url, NO_PROXY: '', no_proxy: '' };
}
