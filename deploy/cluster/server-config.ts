/**
 * The Temporal server's static config for a one-host cluster on PostgreSQL: pure functions, no I/O.
 * Every port the server opens is derived from the frontend's, so two clusters (or a cluster next to a dev server) on
 * one host never collide as long as their frontend ports are 20 apart.
 */
import YAML from 'yaml';

/** Ports of one server process: gRPC per service, their membership (ringpop) ports and the frontend's HTTP API. */
export interface ServerPorts {
  frontend: number;
  history: number;
  matching: number;
  worker: number;
  /** Membership ports, one per service. */
  membership: { frontend: number; history: number; matching: number; worker: number };
  /** The frontend's HTTP API (`/api/v1/...`). */
  http: number;
}

/**
 * The ports of a server whose frontend listens on `frontend`: services on +1..+3, membership on +4..+7, HTTP on +10.
 * @throws Error when `frontend` is not an integer in 1024..65525.
 */
export function serverPorts(frontend: number): ServerPorts {
  if (!Number.isInteger(frontend) || frontend < 1024 || frontend > 65_525) {
    throw new Error(`frontend port ${frontend} must be an integer in 1024..65525 (the server also uses the next 10 ports)`);
  }
  return {
    frontend,
    history: frontend + 1,
    matching: frontend + 2,
    worker: frontend + 3,
    membership: { frontend: frontend + 4, history: frontend + 5, matching: frontend + 6, worker: frontend + 7 },
    http: frontend + 10,
  };
}

/** Where the server's two databases are; the password is written into the config file (keep it 0600). */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  /** History, tasks, namespaces: default `temporal`. */
  database: string;
  /** Visibility (list and search workflows): default `temporal_visibility`. */
  visibilityDatabase: string;
}

/** Inputs of {@link serverConfigYaml}. */
export interface ServerConfigInput {
  ports: ServerPorts;
  postgres: PostgresTarget;
  /** Fixed when the databases are first set up; it can never change afterwards. Default 4. */
  numHistoryShards?: number;
  /** debug | info | warn | error; default info. */
  logLevel?: string;
}

/** One SQL datastore on PostgreSQL through the `postgres12` plugin. */
function datastore(pg: PostgresTarget, databaseName: string, maxConns: number): object {
  return {
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${pg.host}:${pg.port}`,
      connectProtocol: 'tcp',
      user: pg.user,
      password: pg.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  };
}

/** A service's rpc block, bound to the loopback interface. */
const rpc = (grpcPort: number, membershipPort: number, extra: object = {}): object => ({
  rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra },
});

/**
 * The server config (the file `temporal-server --env <name> start` reads as `config/<name>.yaml`): default store and
 * visibility store on PostgreSQL, every service bound to 127.0.0.1, no archival, no metrics endpoint, no
 * dynamic config file (the release's defaults hold).
 * @returns YAML text.
 */
export function serverConfigYaml(input: ServerConfigInput): string {
  const { ports, postgres } = input;
  const config = {
    log: { stdout: true, level: input.logLevel ?? 'info' },
    persistence: {
      numHistoryShards: input.numHistoryShards ?? 4,
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      datastores: {
        'postgres-default': datastore(postgres, postgres.database, 20),
        'postgres-visibility': datastore(postgres, postgres.visibilityDatabase, 10),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
    },
    services: {
      frontend: rpc(ports.frontend, ports.membership.frontend, { httpPort: ports.http }),
      history: rpc(ports.history, ports.membership.history),
      matching: rpc(ports.matching, ports.membership.matching),
      worker: rpc(ports.worker, ports.membership.worker),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${ports.frontend}` },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
  };
  return `# Written by deploy/cluster (ratchet). Holds the database password: keep it private (mode 0600).\n${YAML.stringify(config)}`;
}
