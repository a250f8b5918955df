import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";

/*
 * Why this file exists: connect-es decodes request messages with the same serializer its clients
 * use for responses, and that serializer labels undecodable bytes `internal` ("parse binary: …",
 * a compressed flag without a declared encoding, a truncated gzip body). For a client reading a
 * server's answer that is right; for a server reading a caller's request it is a caller mistake,
 * which tokenkit answers `invalid_argument` (docs/DESIGN.md §8). The failure happens inside the
 * protocol handler — before any interceptor runs for unary calls — so the one place every
 * service and protocol passes through is the handler's response, where exactly these failures
 * are relabelled, whatever the protocol put the status in.
 */

/** A decode failure connect-es reports as `internal`, mapped to the message the caller gets. */
function decodeFailure(method: DescMethod, message: string): string | undefined {
  if (message.startsWith("parse binary: ")) {
    return `request message ${method.input.typeName} is not valid binary Protobuf: ${message.slice("parse binary: ".length)}`;
  }
  if (message === "received compressed envelope, but do not know how to decompress") {
    return "a request message has the compressed flag set, but the request declares no compression (grpc-encoding or connect-content-encoding)";
  }
  if (message === "decompression failed") {
    return "a compressed request message could not be decompressed";
  }
  return undefined;
}

/**
 * relabelDecodeError returns what a request decoding failure becomes for the caller: a connect-es
 * decode failure reported as `internal` becomes `invalid_argument` with the message above; anything
 * else is returned as it is. For paths that call connect-es's serializers themselves.
 */
export function relabelDecodeError(method: DescMethod, err: unknown): unknown {
  if (err instanceof ConnectError && err.code === Code.Internal) {
    const message = decodeFailure(method, err.rawMessage);
    if (message !== undefined) {
      return new ConnectError(message, Code.InvalidArgument, undefined, undefined, err);
    }
  }
  return err;
}

type Protocol = "connect" | "connect-stream" | "grpc" | "grpc-web";

function protocolOf(req: UniversalServerRequest): Protocol {
  const type = (req.header.get("content-type") ?? "").toLowerCase();
  if (type.startsWith("application/grpc-web")) {
    return "grpc-web";
  }
  if (type.startsWith("application/grpc")) {
    return "grpc";
  }
  return type.startsWith("application/connect+") ? "connect-stream" : "connect";
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of body) {
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

function frame(flags: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + data.byteLength);
  new DataView(out.buffer).setUint32(1, data.byteLength);
  out[0] = flags;
  out.set(data, 5);
  return out;
}

/** A whole envelope with exactly `flags` (connect-es yields one envelope per chunk), or undefined. */
function envelopeData(chunk: Uint8Array, flags: number): Uint8Array | undefined {
  if (chunk.byteLength < 5 || chunk[0] !== flags) {
    return undefined;
  }
  const length = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength).getUint32(1);
  return chunk.byteLength === 5 + length ? chunk.subarray(5) : undefined;
}

interface ConnectErrorJson {
  code?: string;
  message?: string;
}

/** Relabels a Connect error object; undefined when it is no decode failure. */
function relabelJson(method: DescMethod, error: ConnectErrorJson | undefined): ConnectErrorJson | undefined {
  const message = error?.code === "internal" ? decodeFailure(method, error.message ?? "") : undefined;
  return message === undefined ? undefined : { ...error, code: "invalid_argument", message };
}

/** Relabels gRPC status fields (trailers) in place; true when it changed them. */
function relabelGrpc(method: DescMethod, fields: Headers): boolean {
  if (fields.get("grpc-status") !== "13") {
    return false;
  }
  const message = decodeFailure(method, decodeURIComponent(fields.get("grpc-message") ?? ""));
  if (message === undefined) {
    return false;
  }
  fields.set("grpc-status", "3");
  fields.set("grpc-message", encodeURIComponent(message));
  return true;
}

async function connectUnary(method: DescMethod, res: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (res.status !== 500 || res.body === undefined || res.header?.has("content-encoding") === true) {
    return res;
  }
  const bytes = await readAll(res.body);
  let relabelled: ConnectErrorJson | undefined;
  try {
    relabelled = relabelJson(method, JSON.parse(fromUtf8.decode(bytes)) as ConnectErrorJson);
  } catch {
    relabelled = undefined;
  }
  if (relabelled === undefined) {
    return { ...res, body: once(bytes) };
  }
  const body = utf8.encode(JSON.stringify(relabelled));
  const header = new Headers(res.header);
  header.set("content-length", String(body.byteLength));
  return { ...res, status: 400, header, body: once(body) };
}

function relabelChunk(method: DescMethod, protocol: Protocol, chunk: Uint8Array): Uint8Array {
  if (protocol === "connect-stream") {
    const data = envelopeData(chunk, 0x02);
    if (data === undefined) {
      return chunk;
    }
    let end: { error?: ConnectErrorJson };
    try {
      end = JSON.parse(fromUtf8.decode(data)) as { error?: ConnectErrorJson };
    } catch {
      return chunk;
    }
    const error = relabelJson(method, end.error);
    return error === undefined ? chunk : frame(0x02, utf8.encode(JSON.stringify({ ...end, error })));
  }
  const data = protocol === "grpc-web" ? envelopeData(chunk, 0x80) : undefined;
  if (data === undefined) {
    return chunk;
  }
  const fields = new Headers();
  for (const line of fromUtf8.decode(data).split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) {
      fields.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
    }
  }
  if (!relabelGrpc(method, fields)) {
    return chunk;
  }
  const lines: string[] = [];
  fields.forEach((value, key) => lines.push(`${key}: ${value}\r\n`));
  return frame(0x80, utf8.encode(lines.join("")));
}

function enveloped(method: DescMethod, protocol: Protocol, res: UniversalServerResponse): UniversalServerResponse {
  const body = res.body;
  if (body === undefined) {
    return res;
  }
  return {
    ...res,
    body: (async function* () {
      for await (const chunk of body) {
        yield relabelChunk(method, protocol, chunk);
      }
      // gRPC sends the status as HTTP trailers, which the Node adapter writes after the body.
      if (protocol === "grpc" && res.trailer !== undefined) {
        relabelGrpc(method, res.trailer);
      }
    })(),
  };
}

/**
 * relabelDecodeErrors returns `handler` (one connect-es handler of one RPC,
 * every protocol) changed in one respect: a request it cannot decode — bytes
 * that are no binary Protobuf message of the RPC's input type, nesting past the
 * Protobuf recursion limit, a message whose compressed flag the request
 * never declared, or a compressed message that does not decompress — ends
 * with `invalid_argument` naming the problem, not `internal`. Every other
 * answer passes through untouched, byte for byte. The connect-es messages it
 * recognizes are pinned by tests, so a connect-es upgrade that changes them
 * fails loudly. It recognizes them by message, so an implementation that
 * rethrows such an error of an upstream Connect client unchanged would be
 * relabelled too: wrap upstream failures in an error of your own
 * (`new ConnectError("upstream failed", Code.Unavailable, undefined, undefined, err)`).
 */
export function relabelDecodeErrors(handler: UniversalHandler): UniversalHandler {
  const method = handler.method;
  const relabelled = async (req: UniversalServerRequest): Promise<UniversalServerResponse> => {
    const res = await handler(req);
    const protocol = protocolOf(req);
    return protocol === "connect" ? connectUnary(method, res) : enveloped(method, protocol, res);
  };
  return Object.assign(relabelled, {
    protocolNames: handler.protocolNames,
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}
