import type { Socket } from "node:net";
import type { Clock } from "../../lib/clock.js";

/** HTTP2_PREFACE is the client connection preface that opens every HTTP/2 connection (RFC 9113 §3.4). */
export const HTTP2_PREFACE: Uint8Array = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

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

/** SniffOptions configures {@link sniffConnection}. */
export interface SniffOptions {
  /** timeoutMs destroys a connection that has not shown its protocol by then. */
  timeoutMs: number;
  /** clock runs the timer. */
  clock: Clock;
  /** onProtocol receives the socket, its first bytes pushed back and paused, once they are read. */
  onProtocol(protocol: "http1" | "http2", socket: Socket): void;
}

/**
 * sniffConnection reads the first bytes of a cleartext connection, waiting
 * for more while they are still a prefix of the HTTP/2 preface, then pushes
 * them back with `socket.unshift` and hands the paused socket on. A socket
 * that ends or stays silent until the timeout is destroyed.
 */
export function sniffConnection(socket: Socket, options: SniffOptions): void {
  const { clock } = options;
  let head = new Uint8Array(0);
  const timer = clock.setTimeout(() => socket.destroy(), options.timeoutMs);
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
    socket.removeListener("data", onData);
    socket.removeListener("end", onEnd);
    socket.pause();
    socket.unshift(head);
    options.onProtocol(protocol, socket);
  };
  const onEnd = () => {
    clock.clearTimeout(timer);
    socket.destroy();
  };
  socket.on("data", onData);
  socket.once("end", onEnd);
  socket.once("close", () => clock.clearTimeout(timer));
}
