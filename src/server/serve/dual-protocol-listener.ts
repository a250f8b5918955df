import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createSecureServer,
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from "node:http2";
import type { TLSSocket } from "node:tls";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
import { systemClock, type Clock, type ClockTimer } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";

/** HTTP2_PREFACE is the client connection preface that opens every HTTP/2 connection (RFC 9113 §3.4). */
export const HTTP2_PREFACE: Uint8Array = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * DualProtocolRequestHandler serves one request, HTTP/1.1 and HTTP/2 alike:
 * the handler type `connectNodeAdapter` returns.
 */
export type DualProtocolRequestHandler = ReturnType<typeof connectNodeAdapter>;

/** DualProtocolListenerOptions configures {@link listenDualProtocol}. */
export interface DualProtocolListenerOptions {
  /** handler serves every request. Required. */
  handler: DualProtocolRequestHandler;
  /**
   * host is the address to bind.
   * @default "127.0.0.1" — loopback only: exposing a token server is a deliberate choice.
   */
  host?: string;
  /**
   * port to bind; 0 picks a free port (read it from {@link DualProtocolListener.port}).
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
   * drainTimeoutMs bounds a graceful {@link DualProtocolListener.close}: calls
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
  /** clock runs the drain and sniff timers. @default systemClock */
  clock?: Clock;
  /** logger receives connection-level problems. @default none */
  logger?: Logger;
}

/** DualProtocolListener is a bound listener returned by {@link listenDualProtocol}. */
export interface DualProtocolListener {
  /** host is the bound address. */
  readonly host: string;
  /** port is the bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** url is `http://HOST:PORT` (`https` with TLS; IPv6 hosts in brackets). */
  readonly url: string;
  /** connections is the number of open connections. */
  readonly connections: number;
  /**
   * close shuts down gracefully: stops accepting, sends HTTP/2 GOAWAY, closes
   * idle HTTP/1.1 connections, lets in-flight calls finish for up to
   * `drainTimeoutMs`, then destroys what is left. Resolves when every
   * connection is closed. Calling it again returns the same promise.
   */
  close(): Promise<void>;
}

interface Http1Conn {
  /** responses in flight on the connection. */
  active: Set<ServerResponse>;
}

/**
 * sniffProtocol classifies the first bytes of a cleartext connection:
 * `"http2"` once they start with the whole HTTP/2 preface, `"http1"` as soon
 * as they differ from it, `"incomplete"` while they are a proper prefix of it.
 */
export function sniffProtocol(bytes: Uint8Array): "http2" | "http1" | "incomplete" {
  const n = Math.min(bytes.length, HTTP2_PREFACE.length);
  for (let i = 0; i < n; i++) {
    if (bytes[i] !== HTTP2_PREFACE[i]) {
      return "http1";
    }
  }
  return n === HTTP2_PREFACE.length ? "http2" : "incomplete";
}

/**
 * listenDualProtocol binds one port that serves HTTP/2 cleartext with prior
 * knowledge and HTTP/1.1 side by side (or, with `tls`, HTTPS with ALPN), and
 * resolves once it is listening.
 *
 * Cleartext connections are sniffed: a `net.Server` reads the first bytes,
 * waiting for more while they are still a prefix of the HTTP/2 preface, then
 * pushes them back with `socket.unshift` and hands the socket to an `http2`
 * server when they are the preface, else to an `http` server.
 */
export function listenDualProtocol(options: DualProtocolListenerOptions): Promise<DualProtocolListener> {
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
  const clock = options.clock ?? systemClock;
  const { handler, logger } = options;

  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  const http1 = new Map<Socket | TLSSocket, Http1Conn>();
  const sniffing = new Set<Socket>();
  let closing = false;

  function onRequest(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
    if (req.httpVersionMajor === 1) {
      const socket = req.socket as Socket;
      let conn = http1.get(socket);
      if (conn === undefined) {
        conn = { active: new Set() };
        http1.set(socket, conn);
        socket.once("close", () => http1.delete(socket));
      }
      const c = conn;
      const r = res as ServerResponse;
      c.active.add(r);
      if (closing) {
        r.shouldKeepAlive = false;
      }
      r.once("close", () => {
        c.active.delete(r);
        if (closing && c.active.size === 0) {
          socket.end();
        }
      });
    }
    try {
      handler(req, res);
    } catch (err) {
      logger?.error?.("tokenkit: request handler threw", err);
      if (!res.headersSent) {
        res.statusCode = 500;
      }
      res.end();
    }
  }

  function trackSession(session: Http2Session): void {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", (err) => logger?.debug?.("tokenkit: HTTP/2 session error", err));
    if (closing) {
      session.close();
    }
  }

  function trackSocket(socket: Socket): void {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      maybeDrained();
    });
    // A reset connection must never crash the process; the servers handle their own errors.
    socket.on("error", (err) => logger?.debug?.("tokenkit: connection error", err));
    // Once a graceful close has sent everything, including FIN, nothing is left to read: a peer that
    // keeps its half open (a Node 24 HTTP/2 client holding an unread response) must not hold the drain.
    socket.once("finish", () => {
      if (closing) {
        socket.destroy();
      }
    });
  }

  let server: NetServer;
  let stopHttp1Checks = () => {};
  if (options.tls !== undefined) {
    const secure = createSecureServer({ allowHTTP1: true, cert: options.tls.cert, key: options.tls.key });
    secure.on("request", onRequest);
    secure.on("session", trackSession);
    secure.on("connection", trackSocket);
    secure.on("tlsClientError", (err) => logger?.debug?.("tokenkit: TLS handshake failed", err));
    server = secure;
  } else {
    const h1 = createHttpServer();
    // Node checks headersTimeout/requestTimeout (slow-client protection) only
    // once an http.Server emits "listening"; this one never listens itself.
    h1.emit("listening");
    stopHttp1Checks = () => h1.close();
    const h2 = createHttp2Server();
    h1.on("request", onRequest);
    h2.on("request", onRequest);
    h2.on("session", trackSession);
    server = createNetServer((socket) => {
      trackSocket(socket);
      if (closing) {
        socket.destroy();
        return;
      }
      sniffing.add(socket);
      let head = new Uint8Array(0);
      const timer = clock.setTimeout(() => socket.destroy(), sniffTimeoutMs);
      const onData = (chunk: Uint8Array) => {
        const next = new Uint8Array(head.length + chunk.length);
        next.set(head);
        next.set(chunk, head.length);
        head = next;
        const protocol = sniffProtocol(head);
        if (protocol === "incomplete") {
          return; // a partial first read of what may be the preface: wait for more
        }
        clock.clearTimeout(timer);
        sniffing.delete(socket);
        socket.removeListener("data", onData);
        socket.removeListener("end", onEnd);
        socket.pause();
        socket.unshift(head);
        if (protocol === "http2") {
          h2.emit("connection", socket);
        } else {
          h1.emit("connection", socket);
          socket.resume();
        }
      };
      const onEnd = () => {
        clock.clearTimeout(timer);
        socket.destroy();
      };
      socket.on("data", onData);
      socket.once("end", onEnd);
      socket.once("close", () => {
        clock.clearTimeout(timer);
        sniffing.delete(socket);
      });
    });
  }

  let drainTimer: ClockTimer | undefined;
  let drained: (() => void) | undefined;
  function maybeDrained(): void {
    if (closing && sockets.size === 0 && drained !== undefined) {
      if (drainTimer !== undefined) {
        clock.clearTimeout(drainTimer);
      }
      drained();
    }
  }

  let closePromise: Promise<void> | undefined;
  function close(): Promise<void> {
    closePromise ??= new Promise<void>((resolve) => {
      closing = true;
      drained = resolve;
      server.close();
      stopHttp1Checks();
      for (const session of sessions) {
        session.close(); // GOAWAY; the session ends once its streams are done
      }
      for (const [socket, conn] of http1) {
        if (conn.active.size === 0) {
          socket.end();
        }
        for (const res of conn.active) {
          if (!res.headersSent) {
            res.shouldKeepAlive = false; // answer with "Connection: close"
          }
        }
      }
      // Connections still being sniffed carry no call yet.
      for (const socket of sniffing) {
        socket.destroy();
      }
      drainTimer = clock.setTimeout(() => {
        if (sockets.size > 0) {
          logger?.warn?.(`tokenkit: drain timeout after ${drainTimeoutMs} ms; closing ${sockets.size} connection(s)`);
        }
        for (const session of sessions) {
          session.destroy();
        }
        for (const socket of sockets) {
          socket.destroy();
        }
      }, drainTimeoutMs);
      maybeDrained();
    });
    return closePromise;
  }

  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.removeListener("error", onError);
      server.on("error", (err) => logger?.error?.("tokenkit: listener error", err));
      const address = server.address();
      const boundPort = typeof address === "object" && address !== null ? address.port : port;
      const urlHost = host.includes(":") ? `[${host}]` : host;
      resolve({
        host,
        port: boundPort,
        url: `${options.tls !== undefined ? "https" : "http"}://${urlHost}:${boundPort}`,
        get connections() {
          return sockets.size;
        },
        close,
      });
    });
  });
}
