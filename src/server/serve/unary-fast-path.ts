import { create, isMessage, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import { createMethodSerializationLookup, validateReadWriteMaxBytes, type MethodSerializationLookup } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  parseContentType,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import { relabelDecodeError } from "./decode-errors.js";
import type { DualProtocolRequestHandler } from "./dual-protocol-options.js";

type Request = Parameters<DualProtocolRequestHandler>[0];
type Response = Parameters<DualProtocolRequestHandler>[1];

/** UnaryImpl is one unary method of a service implementation, as `router.service` receives it. */
type UnaryImpl = (request: never, context: HandlerContext) => unknown;

/** UnaryFastPathOptions configures {@link createUnaryFastPath}. */
export interface UnaryFastPathOptions {
  /** service is the service whose unary methods take the fast path. */
  service: DescService;
  /**
   * impl is its implementation. It must not depend on the context's abort signal firing when the
   * client goes away, nor on interceptors: the fast path runs none (it is only used where the
   * server has none).
   */
  impl: Record<string, unknown>;
  /** readMaxBytes is the largest request message accepted, as for the Connect handler. */
  readMaxBytes: number;
  /** compressMinBytes is the Connect handler's, for the same limit validation. */
  compressMinBytes: number;
}

/** UnaryFastPath serves a request and returns true, or returns false (touching nothing) when it is not one it takes. */
export type UnaryFastPath = (req: Request, res: Response) => boolean;

interface Route {
  method: DescMethod & { input: DescMessage; output: DescMessage };
  impl: UnaryImpl;
  serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

/** How much of a request this path takes: plain Connect unary POSTs, nothing a connect-es handler treats specially. */
interface Eligible {
  route: Route;
  binary: boolean;
  /** length is the declared content-length, or undefined when the body is streamed without one. */
  length: number | undefined;
}

/**
 * createUnaryFastPath returns a {@link UnaryFastPath} for the Connect protocol's
 * plain unary calls to one service: a `POST` with `application/json` or
 * `application/proto`, no `content-encoding`, no `connect-timeout-ms`, and a
 * `content-length` (if any) within `readMaxBytes`. Everything else — GET,
 * compressed bodies, timeouts, gRPC and gRPC-Web, streams — returns false
 * and goes to connect-node as before.
 *
 * It does what connect-es's unary handler does for those requests, with
 * connect-es's own serializers, error encoding and status mapping, minus the
 * per-call machinery a token rotation does not use (a linked abort
 * controller and deadline per call, three `Headers` objects, async-iterable
 * bodies): on a rotation over HTTP/1.1 that machinery cost more server CPU
 * than the rotation itself. Responses are never compressed; token service
 * answers are far below the size the Connect handler compresses.
 */
export function createUnaryFastPath(options: UnaryFastPathOptions): UnaryFastPath {
  const limits = validateReadWriteMaxBytes(options.readMaxBytes, undefined, options.compressMinBytes);
  const routes = new Map<string, Route>();
  for (const method of options.service.methods) {
    const impl = options.impl[method.localName];
    if (method.methodKind !== "unary" || typeof impl !== "function") {
      continue;
    }
    routes.set(`/${options.service.typeName}/${method.name}`, {
      method,
      impl: impl as UnaryImpl,
      serialization: createMethodSerializationLookup(method, undefined, undefined, limits),
    });
  }

  function eligible(req: Request): Eligible | undefined {
    if (req.method !== "POST") {
      return undefined;
    }
    const route = routes.get(req.url ?? "");
    const h = req.headers;
    const type = route === undefined ? undefined : parseContentType(h["content-type"] ?? null);
    if (route === undefined || type === undefined || type.stream) {
      return undefined;
    }
    const encoding = h["content-encoding"];
    if ((encoding !== undefined && encoding !== "identity") || h["connect-timeout-ms"] !== undefined) {
      return undefined;
    }
    const declared = h["content-length"];
    const length = declared === undefined ? undefined : Number(declared);
    if (length !== undefined && (!Number.isSafeInteger(length) || length < 0 || length > limits.readMaxBytes)) {
      return undefined;
    }
    return { route, binary: type.binary, length };
  }

  return (req, res) => {
    const call = eligible(req);
    if (call === undefined) {
      return false;
    }
    readBody(req, limits.readMaxBytes)
      .then((body) => (body === undefined ? undefined : answer(call, req, res, body, limits.readMaxBytes)))
      // A broken request stream, or an answer that cannot be written (the client left, a header
      // value Node refuses): end this exchange, never the process with an unhandled rejection.
      .catch(() => res.destroy());
    return true;
  };
}

/** Body is a request body as read: its bytes (up to the limit) and how many bytes arrived in all. */
interface Body {
  bytes: Buffer;
  received: number;
}

/**
 * readBody resolves to the request body, keeping at most `limit` + 1 bytes (the rest is read and
 * dropped, so an oversized body costs no memory), or to undefined when the client went away first.
 */
function readBody(req: Request, limit: number): Promise<Body | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      if (received <= limit) {
        chunks.push(chunk);
      }
      received += chunk.byteLength;
    });
    req.once("end", () => resolve({ bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), received }));
    req.once("error", reject);
    req.once("aborted", () => resolve(undefined));
  });
}

async function answer(call: Eligible, req: Request, res: Response, { bytes, received }: Body, readMaxBytes: number): Promise<void> {
  const { route, binary, length } = call;
  const context = new FastContext(route.method, req);
  let status = 200;
  let body: Uint8Array;
  try {
    // The same checks, and words, as connect-es's readAllBytes.
    if (length !== undefined && received !== length) {
      throw new ConnectError(`protocol error: promised ${length} bytes, received ${received}`, Code.InvalidArgument);
    }
    if (received > readMaxBytes) {
      throw new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
    }
    let input: unknown;
    try {
      input = route.serialization.getI(binary).parse(bytes);
    } catch (err) {
      throw relabelDecodeError(route.method, err);
    }
    const output = await route.impl(input as never, context);
    const message = isMessage(output, route.method.output) ? output : create(route.method.output, output as never);
    body = route.serialization.getO(binary).serialize(message);
  } catch (e) {
    const error = e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
    status = codeToHttpStatus(error.code);
    error.metadata.forEach((value, key) => context.responseHeader.set(key, value));
    body = errorToJsonBytes(error, undefined);
  }
  const headers: Record<string, string> = { "content-type": binary && status === 200 ? contentTypeUnaryProto : contentTypeUnaryJson };
  context.finish(headers);
  headers["content-length"] = String(body.byteLength);
  if (!res.destroyed) {
    res.writeHead(status, headers);
    res.end(body);
  }
}

/**
 * FastContext is a {@link HandlerContext} whose parts are made only when the handler asks for them.
 * A class rather than an object literal with getters: one is made per call, and an instance with
 * its accessors on a shared prototype costs a fraction of a literal that defines six of them.
 */
class FastContext implements HandlerContext {
  readonly requestMethod = "POST";
  readonly protocolName = "connect";
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;
  #values: ContextValues | undefined;
  #controller: AbortController | undefined;

  constructor(
    readonly method: DescMethod,
    private readonly req: Request,
  ) {}

  get service(): DescService {
    return this.method.parent;
  }
  get url(): string {
    return `http://${this.req.headers.host ?? this.req.headers[":authority"] ?? "localhost"}${this.req.url}`;
  }
  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }
  get requestHeader(): Headers {
    return (this.#requestHeader ??= toHeaders(this.req.headers));
  }
  get responseHeader(): Headers {
    return (this.#responseHeader ??= new Headers());
  }
  get responseTrailer(): Headers {
    return (this.#responseTrailer ??= new Headers());
  }
  get values(): ContextValues {
    return (this.#values ??= createContextValues());
  }
  timeoutMs(): number | undefined {
    return undefined;
  }

  /** finish ends the call: the signal (if anyone took it) aborts, as connect-es aborts it, and headers set by the handler go into `out`. */
  finish(out: Record<string, string>): void {
    this.#controller?.abort();
    if (this.#responseHeader !== undefined || this.#responseTrailer !== undefined) {
      trailerMux(this.#responseHeader ?? new Headers(), this.#responseTrailer ?? new Headers()).forEach((value, key) => {
        out[key] = value;
      });
    }
  }
}

/** toHeaders turns Node's request headers into `Headers`, leaving out HTTP/2 pseudo-headers as connect-node does. */
function toHeaders(incoming: Request["headers"]): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(incoming)) {
    if (key.startsWith(":") || value === undefined) {
      continue;
    }
    if (Array.isArray(value)) {
      for (const v of value) headers.append(key, v);
    } else {
      headers.set(key, value);
    }
  }
  return headers;
}
