import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createSecureServer,
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import type { TLSSocket } from "node:tls";
import type { ClockTimer } from "../../lib/clock.js";
import { createConnectionGate, createStreamBudget } from "./connection-gate.js";
import { checkingIntervalMs, http1Timeouts } from "./connection-limits.js";
import { normalizeListenerOptions, type DualProtocolListenerOptions } from "./dual-protocol-options.js";
import { isUsableAuthority, refuseUnusableHost, requestAuthority } from "./host-header.js";
import { limitHttp2Session } from "./http2-session-limits.js";
import { sniffConnection } from "./protocol-sniffer.js";

export { HTTP2_PREFACE, sniffProtocol } from "./protocol-sniffer.js";

export type { DualProtocolListenerOptions, DualProtocolRequestHandler } from "./dual-protocol-options.js";

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
  const { handler, host, port, drainTimeoutMs, sniffTimeoutMs, tls, limits, clock, logger } = normalizeListenerOptions(options);
  const gate = createConnectionGate({ ...limits, clock, logger });
  const streams = createStreamBudget(limits.maxOpenStreams, clock, logger);

  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
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
    if (!isUsableAuthority(requestAuthority(req))) {
      refuseUnusableHost(req, res, logger);
      return;
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

  function trackSession(session: ServerHttp2Session): void {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", (err) => logger?.debug?.("tokenkit: HTTP/2 session error", err));
    limitHttp2Session(session, { idleTimeoutMs: limits.idleTimeoutMs, requestTimeoutMs: limits.requestTimeoutMs, clock, streams });
    if (closing) {
      session.close();
    }
  }

  /** trackSocket counts a new connection, or destroys it and returns false when a cap refuses it. */
  function trackSocket(socket: Socket): boolean {
    if (!gate.admit(socket)) {
      socket.on("error", () => {});
      socket.destroy();
      return false;
    }
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
    return true;
  }

  let server: NetServer;
  let stopHttp1Checks = () => {};
  const http2Settings = { settings: { maxConcurrentStreams: limits.maxConcurrentStreams } };
  if (tls !== undefined) {
    const secure = createSecureServer({ ...http2Settings, allowHTTP1: true, cert: tls.cert, key: tls.key });
    Object.assign(secure, http1Timeouts(limits));
    secure.on("request", onRequest);
    secure.on("session", trackSession);
    secure.on("connection", trackSocket);
    secure.on("tlsClientError", (err) => logger?.debug?.("tokenkit: TLS handshake failed", err));
    server = secure;
  } else {
    const h1 = createHttpServer({ connectionsCheckingInterval: checkingIntervalMs(limits) });
    Object.assign(h1, http1Timeouts(limits));
    // Node checks headersTimeout/requestTimeout (slow-client protection) only
    // once an http.Server emits "listening"; this one never listens itself.
    h1.emit("listening");
    stopHttp1Checks = () => h1.close();
    const h2 = createHttp2Server(http2Settings);
    h1.on("request", onRequest);
    h2.on("request", onRequest);
    h2.on("session", trackSession);
    server = createNetServer((socket) => {
      if (!trackSocket(socket)) {
        return;
      }
      if (closing) {
        socket.destroy();
        return;
      }
      sniffing.add(socket);
      socket.once("close", () => sniffing.delete(socket));
      sniffConnection(socket, {
        timeoutMs: sniffTimeoutMs,
        clock,
        onProtocol(protocol) {
          sniffing.delete(socket);
          if (protocol === "http2") {
            h2.emit("connection", socket);
          } else {
            h1.emit("connection", socket);
            socket.resume();
          }
        },
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
        url: `${tls !== undefined ? "https" : "http"}://${urlHost}:${boundPort}`,
        get connections() {
          return sockets.size;
        },
        close,
      });
    });
  });
}
