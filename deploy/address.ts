/**
 * `host:port` addresses (a Temporal frontend, a Prometheus endpoint): the one parser and formatter. Pure.
 *
 * The grammar is the Temporal SDK's for a gRPC endpoint (`normalizeGrpcEndpointAddress` in @temporalio/common): a DNS
 * name or an IPv4 address, or an IPv6 address in brackets, then `:port`; no scheme. The SDK takes a missing port as
 * 7233, and so does {@link parseAddress} when given `defaultPort`. An IPv6 host without brackets is refused, as Go's
 * `net.SplitHostPort` (the Temporal CLI's) refuses it: `::1:7233` cannot be told from `::1:7233:<port>`.
 */
import { BadInputError } from '../workflows/errors';

/** Temporal's frontend port. */
export const DEFAULT_PORT = 7233;
/** The local dev server's frontend: where ratchet connects when nothing else is configured. */
export const DEFAULT_ADDRESS = `127.0.0.1:${DEFAULT_PORT}`;

/** A parsed address. `host` is without the brackets of an IPv6 literal. */
export interface HostPort {
  host: string;
  port: number;
}

/** Options of {@link parseAddress}. */
export interface ParseAddressOptions {
  /** Where the value came from, for the error: an option or a variable, e.g. `--metrics`. Default `address`. */
  source?: string;
  /** The port when the value has none (a Temporal address: {@link DEFAULT_PORT}); unset: a port is required. */
  defaultPort?: number;
  /** Shown after "e.g." in the error; default {@link DEFAULT_ADDRESS}. */
  example?: string;
}

/** `[v6]` or a name/IPv4 without `:`, `/`, `@`, brackets or spaces; then an optional `:digits`. */
const SHAPE = /^(?:\[([0-9A-Fa-f.:]+)\]|([^\s:/@[\]]+))(?::(\d+))?$/;

/** The parsed address, or what is wrong with `value` (a clause for the error message). */
function split(value: string, defaultPort: number | undefined): HostPort | string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(value);
  if (scheme) return `drop "${scheme[0]}": an address has no scheme`;
  const m = SHAPE.exec(value);
  if (!m) {
    const unbracketedV6 = !value.startsWith('[') && value.split(':').length > 2;
    return unbracketedV6 ? 'put an IPv6 host in brackets, e.g. [::1]:7233' : 'it must be a host, ":" and a port';
  }
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port === undefined) return 'it has no port';
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return `port ${m[3]} is not in 1..65535`;
  return { host: m[1] ?? m[2], port };
}

/**
 * Parses `host:port` (or `[v6]:port`).
 * @param defaultPort - the port when `value` has none; unset: `value` without a port is undefined.
 * @returns the host (without brackets) and port, or undefined when `value` is not an address.
 */
export function tryParseAddress(value: string, defaultPort?: number): HostPort | undefined {
  const parsed = split(value, defaultPort);
  return typeof parsed === 'string' ? undefined : parsed;
}

/**
 * Parses `host:port` (or `[v6]:port`), as {@link tryParseAddress}.
 * @returns the host (without brackets) and port.
 * @throws BadInputError naming `opts.source`, the value, what is wrong and an example, e.g.
 *   `--metrics: "9464" is not host:port; fix: e.g. 0.0.0.0:9464; it has no port`.
 */
export function parseAddress(value: string, opts: ParseAddressOptions = {}): HostPort {
  const parsed = split(value, opts.defaultPort);
  if (typeof parsed !== 'string') return parsed;
  throw new BadInputError(opts.source ?? 'address', [`"${value}" is not host:port; fix: e.g. ${opts.example ?? DEFAULT_ADDRESS}`, parsed]);
}

/** `host:port`, with an IPv6 host in brackets: the inverse of {@link parseAddress}. */
export function formatAddress({ host, port }: HostPort): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
