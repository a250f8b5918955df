import type { connectNodeAdapter } from "@connectrpc/connect-node";
import { systemClock, type Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import { normalizeConnectionLimits, type ConnectionLimits, type NormalizedConnectionLimits } from "./connection-limits.js";

/**
 * DualProtocolRequestHandler serves one request, HTTP/1.1 and HTTP/2 alike:
 * the handler type `connectNodeAdapter` returns.
 */
export type DualProtocolRequestHandler = ReturnType<typeof connectNodeAdapter>;

/** DualProtocolListenerOptions configures `listenDualProtocol`. */
export interface DualProtocolListenerOptions {
  /** handler serves every request. Required. */
  handler: DualProtocolRequestHandler;
  /**
   * host is the address to bind.
   * @default "127.0.0.1" — loopback only: exposing a token server is a deliberate choice.
   */
  host?: string;
  /**
   * port to bind; 0 picks a free port (read it from `DualProtocolListener.port`).
   * @default 8080
   */
  port?: number;
  /**
   * tls switches to HTTPS: HTTP/2 and HTTP/1.1 negotiated by ALPN on one
   * port (`http2.createSecureServer({ allowHTTP1: true })`). PEM strings or
   * buffers.
   * @default none — cleartext, HTTP/2 with prior knowledge and HTTP/1.1 on one port.
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * drainTimeoutMs bounds a graceful `DualProtocolListener.close`: calls
   * still running after it are cut off.
   * @default 10000 — long enough for any unary call, short enough for a deploy.
   */
  drainTimeoutMs?: number;
  /**
   * sniffTimeoutMs closes cleartext connections that send nothing: the
   * protocol is chosen from the first bytes, so a silent connection would
   * otherwise be held forever.
   * @default 10000
   */
  sniffTimeoutMs?: number;
  /**
   * limits bounds connections, HTTP/2 streams, idle sessions and slow requests
   * (see {@link ConnectionLimits} for each default).
   * @default {} — every limit at its default
   */
  limits?: ConnectionLimits;
  /** clock runs the drain, sniff, idle and request timers. @default systemClock */
  clock?: Clock;
  /** logger receives connection-level problems. @default none */
  logger?: Logger;
}

/** NormalizedListenerOptions is {@link DualProtocolListenerOptions} validated, with every default applied. */
export interface NormalizedListenerOptions {
  readonly handler: DualProtocolRequestHandler;
  readonly host: string;
  readonly port: number;
  readonly drainTimeoutMs: number;
  readonly sniffTimeoutMs: number;
  readonly tls: DualProtocolListenerOptions["tls"];
  readonly limits: NormalizedConnectionLimits;
  readonly clock: Clock;
  readonly logger: Logger | undefined;
}

/** normalizeListenerOptions validates the options of `listenDualProtocol` once; mistakes throw a TypeError naming the option. */
export function normalizeListenerOptions(options: DualProtocolListenerOptions): NormalizedListenerOptions {
  if (typeof options?.handler !== "function") {
    throw new TypeError('listenDualProtocol: option "handler" must be a request handler function');
  }
  const host = options.host ?? "127.0.0.1";
  if (typeof host !== "string" || host === "") {
    throw new TypeError('listenDualProtocol: option "host" must be a non-empty string');
  }
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError('listenDualProtocol: option "port" must be an integer from 0 to 65535');
  }
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  if (!Number.isFinite(drainTimeoutMs) || drainTimeoutMs < 0) {
    throw new TypeError('listenDualProtocol: option "drainTimeoutMs" must be a non-negative number');
  }
  const sniffTimeoutMs = options.sniffTimeoutMs ?? 10_000;
  if (!Number.isFinite(sniffTimeoutMs) || sniffTimeoutMs <= 0) {
    throw new TypeError('listenDualProtocol: option "sniffTimeoutMs" must be a positive number');
  }
  if (options.tls !== undefined && (options.tls.cert === undefined || options.tls.key === undefined)) {
    throw new TypeError('listenDualProtocol: option "tls" needs both "cert" and "key"');
  }
  const limits = normalizeConnectionLimits(options.limits, "listenDualProtocol");
  const clock = options.clock ?? systemClock;
  return { handler: options.handler, host, port, drainTimeoutMs, sniffTimeoutMs, tls: options.tls, limits, clock, logger: options.logger };
}
