import { connect as connectNet, type Socket } from "node:net";
import { HTTP2_PREFACE } from "../../src/server/serve/protocol-sniffer.js";

// A raw HTTP/2 client for hostile tests: it writes frames itself (ignoring the server's
// SETTINGS, as an attacker would) and counts what the server sends back.

export const FRAME = { HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7 } as const;
export const ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, CANCEL: 8, REFUSED_STREAM: 7, ENHANCE_YOUR_CALM: 11 } as const;

function frame(type: number, flags: number, streamId: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** headerBlock encodes header fields as HPACK literals without indexing or Huffman (RFC 7541 §6.2.2). */
function headerBlock(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name);
    const v = Buffer.from(value);
    if (n.length > 126 || v.length > 126) throw new Error("header too long for this encoder");
    parts.push(Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v);
  }
  return Buffer.concat(parts);
}

/** PREFACE_AND_SETTINGS opens a connection: the client preface and an empty SETTINGS frame. */
export const PREFACE_AND_SETTINGS: Buffer = Buffer.concat([Buffer.from(HTTP2_PREFACE), frame(FRAME.SETTINGS, 0, 0, new Uint8Array(0))]);

/**
 * headerOnlyPosts returns `count` HEADERS frames (END_HEADERS, no END_STREAM) for POSTs to
 * `path` on streams firstStreamId, +2, …: requests whose body never comes.
 */
export function headerOnlyPosts(count: number, path: string, firstStreamId = 1): Buffer {
  const block = headerBlock([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "127.0.0.1"],
    ["content-type", "application/proto"],
  ]);
  return Buffer.concat(Array.from({ length: count }, (_, i) => frame(FRAME.HEADERS, 0x4, firstStreamId + 2 * i, block)));
}

/** RawH2 is a raw HTTP/2 connection and what the server sent on it so far. */
export interface RawH2 {
  socket: Socket;
  /** maxConcurrentStreams the server advertised, once its SETTINGS arrived. */
  readonly maxConcurrentStreams: number | undefined;
  /** resets counts RST_STREAM frames by error code. */
  readonly resets: Map<number, number>;
  /** goaway is the error code of the server's GOAWAY, once sent. */
  readonly goaway: number | undefined;
  /** closed resolves when the connection is closed. */
  closed: Promise<void>;
}

/** openRawH2 connects (from `localAddress` when given), sends the preface and an empty SETTINGS, and acknowledges the server's. */
export function openRawH2(port: number, localAddress?: string): Promise<RawH2> {
  return new Promise((resolve, reject) => {
    const socket = connectNet({ port, host: "127.0.0.1", localAddress });
    const state = { socket, maxConcurrentStreams: undefined as number | undefined, resets: new Map<number, number>(), goaway: undefined as number | undefined, closed: new Promise<void>((r) => socket.once("close", () => r())) };
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        const type = buffered[3]!;
        const flags = buffered[4]!;
        const payload = buffered.subarray(9, 9 + length);
        if (type === FRAME.SETTINGS && (flags & 1) === 0) {
          for (let i = 0; i + 6 <= payload.length; i += 6) {
            if (payload.readUInt16BE(i) === 0x3) state.maxConcurrentStreams = payload.readUInt32BE(i + 2);
          }
          state.maxConcurrentStreams ??= 0xffffffff; // absent: unlimited
          if (!socket.destroyed) socket.write(frame(FRAME.SETTINGS, 1, 0, new Uint8Array(0)));
        } else if (type === FRAME.RST_STREAM) {
          const code = payload.readUInt32BE(0);
          state.resets.set(code, (state.resets.get(code) ?? 0) + 1);
        } else if (type === FRAME.GOAWAY) {
          state.goaway = payload.readUInt32BE(4);
        }
        buffered = buffered.subarray(9 + length);
      }
    });
    socket.on("error", () => {});
    socket.once("connect", () => {
      socket.write(PREFACE_AND_SETTINGS);
      resolve(state);
    });
    socket.once("close", () => reject(new Error("closed before connecting")));
  });
}
