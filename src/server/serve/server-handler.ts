import { TokenService } from "../../../gen/tokenkit/v1/token_service_pb.js";
import type { KeyRing } from "../keys/key-ring.js";
import type { RevocationCache } from "../revocation-cache.js";
import { createTokenService } from "../token-service.js";
import { createCorsHandler } from "./cors-handler.js";
import type { DualProtocolRequestHandler } from "./dual-protocol-listener.js";
import type { ServerConfig } from "./server-config.js";
import type { ServerStores } from "./server-stores.js";
import type { TokenkitServerContext } from "./service-registration.js";
import { createTokenkitHandler } from "./tokenkit-handler.js";

/** ServerParts are what the earlier steps of `createTokenkitServer` opened, for {@link createServerHandler}. */
export interface ServerParts {
  stores: ServerStores;
  keyRing: KeyRing;
  issuer: string;
  adminKey: string;
  revocations: RevocationCache;
  /** serving reports whether health checks answer SERVING (false once closing). */
  serving: () => boolean;
}

/**
 * createServerHandler builds the request handler of a server: TokenService
 * with the token rules of `config`, the session and extra services with
 * their context, health, reflection and the JWKS, static files as the
 * fallback, and CORS around everything (preflights included) when origins
 * are configured.
 */
export function createServerHandler(config: ServerConfig, parts: ServerParts): DualProtocolRequestHandler {
  const { stores, keyRing, issuer, revocations } = parts;
  const { clock, logger, interceptors, services } = config;
  const tokenService = createTokenService({
    ...config.tokens,
    store: stores.store,
    keyRing,
    issuer,
    audience: config.audience,
    adminKey: parts.adminKey,
    revocations,
    clock,
    logger,
  });
  const context: TokenkitServerContext = {
    issuer,
    audience: config.audience ?? issuer,
    keyRing,
    store: stores.store,
    eventStore: stores.eventStore,
    interceptors,
    revocations,
    clock,
    logger,
  };
  const rpcHandler = createTokenkitHandler({
    services: [TokenService, ...services.map((s) => s.service)],
    routes(router) {
      router.service(TokenService, tokenService);
      for (const s of services) {
        s.register(router, context);
      }
    },
    jwks: () => keyRing.jwks(),
    serving: parts.serving,
    interceptors,
    fallback: config.staticHandler,
  });
  return config.corsOrigins === undefined ? rpcHandler : createCorsHandler({ origins: config.corsOrigins }, rpcHandler);
}
