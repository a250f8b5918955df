/**
 * ConnectionLimits bounds what one client, with or without a token, can make
 * the server hold: connections, HTTP/2 streams, idle sessions and requests that
 * never finish arriving. Every field is optional; the defaults suit a server
 * on the public internet, alone or behind a reverse proxy (see the README,
 * "Connection limits").
 */
export interface ConnectionLimits {
  /**
   * maxConcurrentStreams is the HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` the
   * server advertises: streams a client opens beyond it are refused with
   * RST_STREAM `REFUSED_STREAM`, and a client that keeps opening them loses
   * its connection. 1–256. CLI `--max-concurrent-streams`.
   * @default 100 — what RFC 9113 §6.5.2 recommends as the least to allow; a
   * token client needs a handful, and each stream costs memory.
   */
  maxConcurrentStreams?: number;
  /**
   * maxOpenStreams caps HTTP/2 streams open at once across all connections:
   * a stream opened beyond it is reset with `REFUSED_STREAM` (which clients
   * may retry) and reported in one rate-limited log line. It bounds the memory
   * of requests held open, whatever the number of connections.
   * CLI `--max-open-streams`.
   * @default 10 000 — about 50 KiB each while a request is held, so at most
   * ~500 MiB; raise it if more calls (open `WatchEvents` included) run at once.
   */
  maxOpenStreams?: number;
  /**
   * idleTimeoutMs closes a connection that carries no request for this long:
   * an HTTP/2 session with no open stream gets GOAWAY, an idle HTTP/1.1
   * keep-alive connection is closed. A streaming call keeps its connection
   * busy, so a long `WatchEvents` is never cut. CLI `--idle-timeout`.
   * @default 60 000 (60 s) — longer than the idle timeouts of common reverse
   * proxies and load balancers, so they close first, and short enough that
   * abandoned sessions free their file descriptor within a minute.
   */
  idleTimeoutMs?: number;
  /**
   * requestTimeoutMs bounds how long a request may take to arrive. A unary
   * request (headers and body) must arrive whole within it; on an enveloped
   * stream (gRPC, gRPC-Web, Connect streaming) each message must arrive within
   * it of the previous one (or of the headers), so a client stream may last
   * hours as long as it keeps sending, while a drip-fed message is cut. A
   * request cut off gets RST_STREAM `CANCEL` (HTTP/2) or 408 (HTTP/1.1).
   * Responses are never bounded by it. Over HTTP/1.1 the whole request body
   * is bounded (client streams need HTTP/2). CLI `--request-timeout`.
   * @default 30 000 (30 s) — a token request is a few hundred bytes; even a
   * poor mobile link sends it in seconds.
   */
  requestTimeoutMs?: number;
  /**
   * maxConnections caps open connections for the whole server; connections
   * beyond it are closed at once and reported in one rate-limited log line.
   * CLI `--max-connections`.
   * @default 10 000 — each idle connection costs a file descriptor and some
   * tens of kilobytes; this stays well under the usual 65 536 descriptor limit.
   */
  maxConnections?: number;
  /**
   * maxConnectionsPerPeer caps open connections from one remote address
   * (IPv4-mapped IPv6 addresses count as their IPv4 address). Behind a reverse
   * proxy every connection comes from the proxy: raise it to
   * `maxConnections`, and let the proxy cap clients. CLI `--max-connections-per-peer`.
   * @default 256 (or `maxConnections` when smaller) — one HTTP/2 client needs
   * one connection; 256 leaves room for a whole office behind one NAT address.
   */
  maxConnectionsPerPeer?: number;
}

/** NormalizedConnectionLimits is {@link ConnectionLimits} with every default applied. */
export type NormalizedConnectionLimits = Readonly<Required<ConnectionLimits>>;

/** MAX_CONCURRENT_STREAMS_CEILING is the most HTTP/2 streams per connection tokenkit allows to be configured. */
export const MAX_CONCURRENT_STREAMS_CEILING = 256;

/** DEFAULT_CONNECTION_LIMITS holds the default of every {@link ConnectionLimits} field. */
export const DEFAULT_CONNECTION_LIMITS: NormalizedConnectionLimits = Object.freeze({
  maxConcurrentStreams: 100,
  maxOpenStreams: 10_000,
  idleTimeoutMs: 60_000,
  requestTimeoutMs: 30_000,
  maxConnections: 10_000,
  maxConnectionsPerPeer: 256,
});

/** The longest timeout accepted: a day, far above any sensible setting and inside timer range. */
const MAX_TIMEOUT_MS = 86_400_000;

function integerIn(caller: string, name: keyof ConnectionLimits, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(`${caller}: option "limits.${name}" must be an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * normalizeConnectionLimits validates `limits` once and fills in the
 * defaults; a bad field throws a TypeError quoting `limits.<field>`, prefixed
 * with `caller`.
 */
export function normalizeConnectionLimits(limits: ConnectionLimits | undefined, caller: string): NormalizedConnectionLimits {
  if (limits !== undefined && (typeof limits !== "object" || limits === null)) {
    throw new TypeError(`${caller}: option "limits" must be an object`);
  }
  const merged = { ...DEFAULT_CONNECTION_LIMITS };
  for (const [key, value] of Object.entries(limits ?? {})) {
    if (value !== undefined) {
      if (!(key in merged)) {
        throw new TypeError(`${caller}: option "limits.${key}" is unknown`);
      }
      (merged as Record<string, unknown>)[key] = value;
    }
  }
  const maxConnections = integerIn(caller, "maxConnections", merged.maxConnections, 1, 1_000_000);
  // A smaller server-wide cap lowers the default per-peer cap with it.
  const perPeer = limits?.maxConnectionsPerPeer ?? Math.min(DEFAULT_CONNECTION_LIMITS.maxConnectionsPerPeer, maxConnections);
  return Object.freeze({
    maxConcurrentStreams: integerIn(caller, "maxConcurrentStreams", merged.maxConcurrentStreams, 1, MAX_CONCURRENT_STREAMS_CEILING),
    maxOpenStreams: integerIn(caller, "maxOpenStreams", merged.maxOpenStreams, 1, 10_000_000),
    idleTimeoutMs: integerIn(caller, "idleTimeoutMs", merged.idleTimeoutMs, 1, MAX_TIMEOUT_MS),
    requestTimeoutMs: integerIn(caller, "requestTimeoutMs", merged.requestTimeoutMs, 1, MAX_TIMEOUT_MS),
    maxConnections,
    maxConnectionsPerPeer: integerIn(caller, "maxConnectionsPerPeer", perPeer, 1, 1_000_000),
  });
}

/**
 * http1Timeouts are the `http.Server` settings that bound slow HTTP/1.1
 * clients: the request (headers and body) within `requestTimeoutMs` (408
 * after), an idle keep-alive connection closed after `idleTimeoutMs`.
 */
export function http1Timeouts(limits: NormalizedConnectionLimits): { requestTimeout: number; headersTimeout: number; keepAliveTimeout: number } {
  return { requestTimeout: limits.requestTimeoutMs, headersTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.idleTimeoutMs };
}

/**
 * checkingIntervalMs is how often Node checks HTTP/1.1 connections against
 * the request timeout: a quarter of it, between 100 ms and 5 s, so a slow
 * client is cut at most 25 % late.
 */
export function checkingIntervalMs(limits: NormalizedConnectionLimits): number {
  return Math.max(100, Math.min(5_000, Math.floor(limits.requestTimeoutMs / 4)));
}
