/**
 * How ratchet's client and workers reach Temporal: the Temporal SDK's environment configuration
 * (`@temporalio/envconfig`), the same settings the Temporal CLI reads, so one environment serves `temporal` and
 * ratchet alike: `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY` (Temporal Cloud; implies TLS),
 * `TEMPORAL_TLS`, `TEMPORAL_TLS_CLIENT_CERT_PATH` / `_KEY_PATH` (mTLS), `TEMPORAL_TLS_SERVER_CA_CERT_PATH`,
 * `TEMPORAL_TLS_SERVER_NAME`, `TEMPORAL_GRPC_META_*`, and a profile of a `temporal.toml` (`TEMPORAL_PROFILE`,
 * `TEMPORAL_CONFIG_FILE`). An address or namespace given on the command line wins over them. Unset: the local dev
 * server, `127.0.0.1:7233`, namespace `default`.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { BadInputError } from '../workflows/errors';
import { DEFAULT_ADDRESS } from './address';

export { DEFAULT_ADDRESS } from './address';
export const DEFAULT_NAMESPACE = 'default';

/** Where and how to connect: pass `connection` to `Connection.connect` or `NativeConnection.connect`. */
export interface TemporalTarget {
  address: string;
  namespace: string;
  /** Address, TLS, API key and gRPC metadata, as the SDK's connect functions take them. */
  connection: Pick<NativeConnectionOptions, 'address' | 'tls' | 'apiKey' | 'metadata'> & { address: string };
  /** Whether the connection uses TLS (an API key implies it), for messages. */
  secure: boolean;
}

/**
 * The Temporal target from the environment (see the file comment), with `opts.address` / `opts.namespace` over it.
 * @throws BadInputError naming the setting when the configuration cannot be loaded (a profile that does not exist, a
 *   certificate file that cannot be read, a malformed temporal.toml).
 */
export function temporalTarget(opts: { address?: string; namespace?: string; env?: NodeJS.ProcessEnv } = {}): TemporalTarget {
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    const env = Object.fromEntries(Object.entries(opts.env ?? process.env).filter((e): e is [string, string] => typeof e[1] === 'string'));
    loaded = loadClientConnectConfig({ overrideEnvVars: env });
  } catch (err) {
    throw new BadInputError('Temporal connection settings', [
      `${(err as Error).message}; fix: check TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE and the TEMPORAL_TLS_* paths (the Temporal CLI reads the same settings)`,
    ]);
  }
  const c = loaded.connectionOptions;
  const address = opts.address || c.address || DEFAULT_ADDRESS;
  const connection: TemporalTarget['connection'] = {
    address,
    ...(c.tls !== undefined ? { tls: c.tls } : {}),
    ...(c.apiKey !== undefined ? { apiKey: c.apiKey } : {}),
    ...(c.metadata !== undefined ? { metadata: c.metadata } : {}),
  };
  return { address, namespace: opts.namespace || loaded.namespace || DEFAULT_NAMESPACE, connection, secure: Boolean(c.tls || c.apiKey) };
}
