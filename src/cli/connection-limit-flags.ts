import { DEFAULT_CONNECTION_LIMITS, MAX_CONCURRENT_STREAMS_CEILING, type ConnectionLimits } from "../server/serve/connection-limits.js";
import type { FlagSpecs, ParsedFlags } from "./flags.js";
import { optionalDuration } from "./flag-values.js";
import { UsageError } from "./usage-error.js";

/** The most connections a cap flag accepts. */
const MAX_CONNECTIONS_FLAG = 1_000_000;

/** The longest idle or request timeout the flags accept: a day, in seconds. */
const MAX_TIMEOUT_SECONDS = 86_400;

/** CONNECTION_LIMIT_FLAGS are the `serve` flags behind `ConnectionLimits` (each with a `TOKENKIT_*` twin). */
export const CONNECTION_LIMIT_FLAGS: FlagSpecs = {
  "max-concurrent-streams": {
    type: "string",
    valueName: "N",
    description: `HTTP/2 streams one connection may have open (1-${MAX_CONCURRENT_STREAMS_CEILING}); more are refused`,
    defaultText: String(DEFAULT_CONNECTION_LIMITS.maxConcurrentStreams),
  },
  "max-open-streams": {
    type: "string",
    valueName: "N",
    description: "HTTP/2 streams open at once across all connections; more are refused",
    defaultText: String(DEFAULT_CONNECTION_LIMITS.maxOpenStreams),
  },
  "idle-timeout": {
    type: "string",
    valueName: "DUR",
    description: "Close a connection that carries no request for this long (HTTP/2 GOAWAY, HTTP/1.1 keep-alive)",
    defaultText: `${DEFAULT_CONNECTION_LIMITS.idleTimeoutMs / 1000}s`,
  },
  "request-timeout": {
    type: "string",
    valueName: "DUR",
    description: "Time a request may take to arrive; on a client stream, each message",
    defaultText: `${DEFAULT_CONNECTION_LIMITS.requestTimeoutMs / 1000}s`,
  },
  "max-connections": {
    type: "string",
    valueName: "N",
    description: "Open connections the server accepts; more are closed at once",
    defaultText: String(DEFAULT_CONNECTION_LIMITS.maxConnections),
  },
  "max-connections-per-peer": {
    type: "string",
    valueName: "N",
    description: "Open connections one remote address may have; raise it behind a reverse proxy",
    defaultText: String(DEFAULT_CONNECTION_LIMITS.maxConnectionsPerPeer),
  },
};

function count(flags: ParsedFlags, name: string, max: number): number | undefined {
  const v = flags.string(name);
  if (v === undefined) {
    return undefined;
  }
  if (!/^[0-9]{1,8}$/.test(v) || Number(v) < 1 || Number(v) > max) {
    throw new UsageError(`${flags.label(name)} must be a whole number from 1 to ${max} (got "${v}")`);
  }
  return Number(v);
}

function timeoutMs(flags: ParsedFlags, name: string): number | undefined {
  const seconds = optionalDuration(flags, name);
  if (seconds !== undefined && (seconds < 1 || seconds > MAX_TIMEOUT_SECONDS)) {
    throw new UsageError(`${flags.label(name)} must be between 1s and 24h`);
  }
  return seconds === undefined ? undefined : seconds * 1000;
}

/**
 * connectionLimitOptions reads {@link CONNECTION_LIMIT_FLAGS} into the
 * server's `limits` option, or `undefined` when none is set; a bad value
 * throws a {@link UsageError} naming the flag or its environment twin.
 */
export function connectionLimitOptions(flags: ParsedFlags): ConnectionLimits | undefined {
  const limits: ConnectionLimits = {
    maxConcurrentStreams: count(flags, "max-concurrent-streams", MAX_CONCURRENT_STREAMS_CEILING),
    maxOpenStreams: count(flags, "max-open-streams", 10_000_000),
    idleTimeoutMs: timeoutMs(flags, "idle-timeout"),
    requestTimeoutMs: timeoutMs(flags, "request-timeout"),
    maxConnections: count(flags, "max-connections", MAX_CONNECTIONS_FLAG),
    maxConnectionsPerPeer: count(flags, "max-connections-per-peer", MAX_CONNECTIONS_FLAG),
  };
  const set = Object.entries(limits).filter(([, v]) => v !== undefined);
  return set.length === 0 ? undefined : (Object.fromEntries(set) as ConnectionLimits);
}
