import { connect as connectHttp2, constants } from "node:http2";
import { request as httpRequest } from "node:http";

/** The wire protocols a raw RPC request can speak. */
export type RawProtocol = "connect" | "connect-stream" | "grpc" | "grpc-web";

/** RawRpcRequest is one hand-built RPC request, bytes exactly as given. */
export interface RawRpcRequest {
  baseUrl: string;
  http: "1.1" | "2";
  path: string;
  contentType: string;
  headers?: Record<string, string>;
  body: Uint8Array;
}

/** RawRpcResponse is what came back, undecoded. */
export interface RawRpcResponse {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string>;
  body: Buffer;
}

function flatten(h: Record<string, string | string[] | number | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v !== undefined && !k.startsWith(":")) {
      out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : String(v);
    }
  }
  return out;
}

/** rawRpc sends `req` over HTTP/2 prior knowledge or HTTP/1.1 and collects the whole answer (bounded by 5 s). */
export function rawRpc(req: RawRpcRequest): Promise<RawRpcResponse> {
  const headers = { "content-type": req.contentType, ...(req.headers ?? {}) };
  if (req.http === "1.1") {
    return new Promise((resolve, reject) => {
      const r = httpRequest(`${req.baseUrl}${req.path}`, { method: "POST", headers, timeout: 5000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: flatten(res.headers), trailers: flatten(res.trailers), body: Buffer.concat(chunks) }),
        );
      });
      r.on("timeout", () => r.destroy(new Error("raw HTTP/1.1 request timed out")));
      r.on("error", reject);
      r.end(req.body);
    });
  }
  return new Promise((resolve, reject) => {
    const session = connectHttp2(req.baseUrl);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": req.path, te: "trailers", ...headers });
    stream.setTimeout(5000, () => stream.close(constants.NGHTTP2_CANCEL));
    let status = 0;
    let responseHeaders: Record<string, string> = {};
    let trailers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      responseHeaders = flatten(h);
    });
    stream.on("trailers", (h) => (trailers = flatten(h)));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      resolve({ status, headers: responseHeaders, trailers, body: Buffer.concat(chunks) });
    });
    stream.end(req.body);
  });
}

/** envelope frames `data` as one gRPC / Connect-streaming message with `flags`. */
export function envelope(data: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + data.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, flags);
  view.setUint32(1, data.byteLength);
  out.set(data, 5);
  return out;
}

function envelopes(body: Buffer): { flags: number; data: Buffer }[] {
  const out: { flags: number; data: Buffer }[] = [];
  for (let i = 0; i + 5 <= body.byteLength; ) {
    const len = body.readUInt32BE(i + 1);
    out.push({ flags: body[i]!, data: body.subarray(i + 5, i + 5 + len) });
    i += 5 + len;
  }
  return out;
}

/** RpcOutcome is the status an RPC ended with: the Connect code string and its message. */
export interface RpcOutcome {
  code: string;
  message: string;
}

const GRPC_CODES = [
  "ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists", "permission_denied",
  "resource_exhausted", "failed_precondition", "aborted", "out_of_range", "unimplemented", "internal", "unavailable",
  "data_loss", "unauthenticated",
];

function grpcOutcome(fields: Record<string, string>): RpcOutcome {
  const status = Number(fields["grpc-status"] ?? "2");
  return { code: GRPC_CODES[status] ?? "unknown", message: decodeURIComponent(fields["grpc-message"] ?? "") };
}

/** outcome reads how the RPC ended, whatever its protocol put the status in. */
export function outcome(protocol: RawProtocol, res: RawRpcResponse): RpcOutcome {
  switch (protocol) {
    case "connect": {
      if (res.status === 200) {
        return { code: "ok", message: "" };
      }
      const j = JSON.parse(res.body.toString("utf8")) as { code: string; message?: string };
      return { code: j.code, message: j.message ?? "" };
    }
    case "connect-stream": {
      const end = envelopes(res.body).find((e) => (e.flags & 0x02) !== 0);
      const j = JSON.parse(end?.data.toString("utf8") ?? "{}") as { error?: { code: string; message?: string } };
      return j.error === undefined ? { code: "ok", message: "" } : { code: j.error.code, message: j.error.message ?? "" };
    }
    case "grpc":
      return grpcOutcome("grpc-status" in res.trailers ? res.trailers : res.headers);
    case "grpc-web": {
      const trailer = envelopes(res.body).find((e) => (e.flags & 0x80) !== 0);
      if (trailer === undefined) {
        return grpcOutcome(res.headers);
      }
      const fields: Record<string, string> = {};
      for (const line of trailer.data.toString("utf8").split("\r\n")) {
        const i = line.indexOf(":");
        if (i > 0) {
          fields[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
      }
      return grpcOutcome(fields);
    }
  }
}
