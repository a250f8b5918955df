import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { TokenService } from "../../../gen/tokenkit/v1/token_service_pb.js";
import type { JSONWebKeySet } from "../keys/key-ring.js";
import { relabelDecodeErrors } from "./decode-errors.js";
import type { DualProtocolRequestHandler } from "./dual-protocol-listener.js";
import { createHealthService } from "./health-service.js";
import { createJwksHandler, JWKS_PATH } from "./jwks-handler.js";
import { createReflectionServiceV1, createReflectionServiceV1alpha } from "./reflection-service.js";
import { createUnaryFastPath, type UnaryFastPath } from "./unary-fast-path.js";

/**
 * COMPRESS_MIN_BYTES is the smallest response message the server compresses
 * when the client accepts gzip or br (connect-es's default is 1 KiB). Token
 * pairs, heartbeats and health answers are under 2 KiB and mostly base64
 * signatures and random ids, which gzip barely shrinks: compressing them
 * cost more CPU than the rest of a rotation's HTTP path. Event pages, the
 * only large messages, are still compressed.
 */
const COMPRESS_MIN_BYTES = 16 * 1024;

/** TokenkitHandlerOptions configures {@link createTokenkitHandler}. */
export interface TokenkitHandlerOptions {
  /** services lists the services `routes` registers, for health checks and reflection. Required. */
  services: readonly DescService[];
  /** routes registers the services' handlers. Required. */
  routes: (router: ConnectRouter) => void;
  /** jwks, when given, is served at `GET /.well-known/jwks.json`. @default none */
  jwks?: () => JSONWebKeySet;
  /** serving reports whether the server accepts calls (health answers NOT_SERVING when not). @default () => true */
  serving?: () => boolean;
  /**
   * fallback serves requests that no route and not the JWKS matched (for example static files:
   * `createStaticHandler`); it answers them itself, 404 included.
   * @default none — a plain-text 404
   */
  fallback?: DualProtocolRequestHandler;
  /** interceptors run around every call, including health and reflection. @default [] */
  interceptors?: Interceptor[];
  /**
   * readMaxBytes limits the size of one request message.
   * @default 4 194 304 (4 MiB) — token requests are tiny; a bound stops memory exhaustion.
   */
  readMaxBytes?: number;
}

/**
 * createTokenkitHandler returns one Node request handler (HTTP/1.1 and
 * HTTP/2) serving `services` over Connect, gRPC and gRPC-Web, plus
 * `grpc.health.v1.Health/Check`, gRPC server reflection v1 and v1alpha over
 * every served service (and themselves), and the JWKS. Any other path is 404.
 * A request that cannot be decoded (malformed binary, nesting past the
 * Protobuf recursion limit, an undeclared or broken compression) is
 * `InvalidArgument` on every route and protocol, never `Internal`.
 *
 * When `routes` registers tokenkit's TokenService without handler options
 * and there are no `interceptors`, plain Connect unary calls to it (the
 * refreshes and issues a token server lives on) take a lean path with
 * connect-es's own serializers and error encoding; see createUnaryFastPath.
 */
export function createTokenkitHandler(options: TokenkitHandlerOptions): DualProtocolRequestHandler {
  if (!Array.isArray(options?.services) || options.services.some((s) => s?.kind !== "service")) {
    throw new TypeError('createTokenkitHandler: option "services" must be a list of DescService');
  }
  if (typeof options.routes !== "function") {
    throw new TypeError('createTokenkitHandler: option "routes" must be a function');
  }
  const readMaxBytes = options.readMaxBytes ?? 4 * 1024 * 1024;
  if (!Number.isInteger(readMaxBytes) || readMaxBytes <= 0) {
    throw new TypeError('createTokenkitHandler: option "readMaxBytes" must be a positive integer');
  }
  const served: DescService[] = [...options.services, Health, ServerReflectionV1, ServerReflectionV1alpha];
  const names = served.map((s) => s.typeName);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) {
    throw new TypeError(`createTokenkitHandler: service "${duplicate}" is registered twice`);
  }
  if (options.fallback !== undefined && typeof options.fallback !== "function") {
    throw new TypeError('createTokenkitHandler: option "fallback" must be a request handler');
  }
  const jwks = options.jwks === undefined ? undefined : createJwksHandler({ jwks: options.jwks });
  const interceptors = options.interceptors ?? [];
  let fastPath: UnaryFastPath | undefined;
  const handler = connectNodeAdapter({
    interceptors,
    readMaxBytes,
    compressMinBytes: COMPRESS_MIN_BYTES,
    routes(router) {
      options.routes(
        interceptors.length > 0
          ? router
          : watchTokenService(router, (impl) => {
              fastPath = createUnaryFastPath({ service: TokenService, impl, readMaxBytes, compressMinBytes: COMPRESS_MIN_BYTES });
            }),
      );
      router.service(Health, createHealthService({ services: names, serving: options.serving }));
      router.service(ServerReflectionV1, createReflectionServiceV1({ services: served }));
      router.service(ServerReflectionV1alpha, createReflectionServiceV1alpha({ services: served }));
      // Undecodable requests are the caller's mistake on every route: see relabelDecodeErrors.
      router.handlers.splice(0, router.handlers.length, ...router.handlers.map(relabelDecodeErrors));
    },
    fallback(req, res) {
      const path = (req.url ?? "").split("?", 1)[0];
      if (jwks !== undefined && path === JWKS_PATH) {
        jwks(req, res);
        return;
      }
      if (options.fallback !== undefined) {
        options.fallback(req, res);
        return;
      }
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found\n");
    },
  });
  return fastPath === undefined ? handler : (req, res) => fastPath!(req, res) || handler(req, res);
}

/**
 * watchTokenService returns `router` as the routes callback sees it, telling `onTokenService`
 * about tokenkit's own TokenService implementation when it is registered without handler options
 * (no interceptors of its own). Only that service takes the unary fast path: its handlers are
 * known to need nothing the fast path leaves out.
 */
function watchTokenService(router: ConnectRouter, onTokenService: (impl: Record<string, unknown>) => void): ConnectRouter {
  const watched: ConnectRouter = Object.create(router) as ConnectRouter;
  watched.service = (service, impl, handlerOptions) => {
    if (service.typeName === TokenService.typeName && handlerOptions === undefined) {
      onTokenService(bindMethods(impl as Record<string, unknown>));
    }
    router.service(service, impl, handlerOptions);
    return watched;
  };
  return watched;
}

/** bindMethods returns the implementation's methods bound to it, as connect-es calls them. */
function bindMethods(impl: Record<string, unknown>): Record<string, unknown> {
  const bound: Record<string, unknown> = {};
  for (const method of TokenService.methods) {
    const fn = impl[method.localName];
    if (typeof fn === "function") {
      bound[method.localName] = fn.bind(impl);
    }
  }
  return bound;
}
