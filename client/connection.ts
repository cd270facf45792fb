/**
 * Connecting to Temporal: the default address and namespace (the same settings the Temporal CLI reads, see
 * deploy/connection.ts) and a `connect` that fails fast, with a fix in its message, when nothing answers.
 */
import net from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { DEFAULT_PORT, parseAddress, type HostPort } from '../deploy/address';
import { temporalTarget } from '../deploy/connection';
import { rootMessage } from './errors';
import { TemporalUnreachableError } from '../workflows/errors';

export { DEFAULT_ADDRESS, DEFAULT_NAMESPACE } from '../deploy/connection';

/** How long `connect` waits for the server to answer, ms. */
const CONNECT_TIMEOUT_MS = 5_000;

/** The address used when none is given: `$TEMPORAL_ADDRESS` or a temporal.toml profile's, else 127.0.0.1:7233. */
export function defaultAddress(): string {
  return temporalTarget().address;
}

/** The namespace used when none is given: `$TEMPORAL_NAMESPACE` or a temporal.toml profile's, else `default`. */
export function defaultNamespace(): string {
  return temporalTarget().namespace;
}

/**
 * Fails fast on an address where nothing listens: the SDK would retry until its deadline.
 * @returns why the TCP connection was refused, or undefined when it was accepted (or the check was inconclusive).
 */
function tcpRefused({ host, port }: HostPort): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (why: string | undefined): void => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => done(undefined));
    socket.once('connect', () => done(undefined));
    socket.once('error', (e: NodeJS.ErrnoException) =>
      done(e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' ? `unknown host ${host}` : undefined),
    );
  });
}

/**
 * Connects to Temporal and checks that it answers.
 * @param address - host:port (no port: 7233, as the SDK reads it); default `$TEMPORAL_ADDRESS` or 127.0.0.1:7233.
 * @param namespace - default `$TEMPORAL_NAMESPACE` or `default`.
 * @returns a Client; close it with `client.connection.close()`.
 * @throws TemporalUnreachableError when nothing answers within 5 s (the message says how to fix it); BadInputError
 *   when the address is not host:port.
 */
export async function connect(address?: string, namespace?: string): Promise<Client> {
  const t = temporalTarget({ address, namespace });
  const target = t.address;
  const hostPort = parseAddress(target, { source: 'Temporal address (--address or TEMPORAL_ADDRESS)', defaultPort: DEFAULT_PORT });
  const refused = await tcpRefused(hostPort);
  if (refused) throw new TemporalUnreachableError(target, refused);
  try {
    const connection = await Connection.connect({ ...t.connection, connectTimeout: CONNECT_TIMEOUT_MS });
    return new Client({ connection, namespace: t.namespace });
  } catch (err) {
    throw new TemporalUnreachableError(target, rootMessage(err));
  }
}
