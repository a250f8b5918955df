import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor, ServiceImpl } from "@connectrpc/connect";
import type { UniversalHandlerOptions } from "@connectrpc/connect/protocol";
import type { Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import type { KeyRing } from "../keys/key-ring.js";
import type { RevocationCache } from "../revocation-cache.js";
import type { EventStore } from "../store/event-store.js";
import type { FamilyStore } from "../store/family-store.js";

/**
 * TokenkitServerContext is what a service registered with
 * `createTokenkitServer` may use: the server's issuer, keys, store and
 * revocation cache (to build a bearer-auth interceptor, for example).
 */
export interface TokenkitServerContext {
  /** issuer is the `iss` of the server's tokens (known once it listens). */
  readonly issuer: string;
  /** audience is what the server's access tokens carry by default and what bearers must hold here. */
  readonly audience: string;
  /** keyRing signs and verifies the server's tokens. */
  readonly keyRing: KeyRing;
  /** store is the token-family store. */
  readonly store: FamilyStore;
  /** eventStore keeps the session services' events and heartbeats. */
  readonly eventStore: EventStore;
  /**
   * interceptors are the server-wide interceptors. Handler options given to
   * `router.service` replace them, so a registration with interceptors of
   * its own must put these first (as {@link defineTokenkitService} does).
   */
  readonly interceptors: readonly Interceptor[];
  /** revocations knows which families are revoked. */
  readonly revocations: RevocationCache;
  /** clock is the server's clock. */
  readonly clock: Clock;
  /** logger is the server's logger, if any. */
  readonly logger?: Logger;
}

/**
 * TokenkitServiceRegistration is an extra service for `createTokenkitServer`:
 * its descriptor (for health checks and reflection) and how to register it.
 * Build one with {@link defineTokenkitService}.
 */
export interface TokenkitServiceRegistration {
  /** service is the descriptor of the service. */
  readonly service: DescService;
  /** register adds the service's handlers to `router`. */
  register(router: ConnectRouter, context: TokenkitServerContext): void;
}

/**
 * defineTokenkitService returns a {@link TokenkitServiceRegistration} for
 * `service`. `implementation` is the service implementation, or a function
 * building it from the server context once the server listens; `options`
 * are handler options such as `interceptors` (which run inside the
 * server-wide interceptors, not instead of them).
 */
export function defineTokenkitService<S extends DescService>(
  service: S,
  implementation: Partial<ServiceImpl<S>> | ((context: TokenkitServerContext) => Partial<ServiceImpl<S>>),
  options?: Partial<UniversalHandlerOptions>,
): TokenkitServiceRegistration {
  if (service?.kind !== "service") {
    throw new TypeError("defineTokenkitService: service must be a DescService");
  }
  if (implementation === null || (typeof implementation !== "object" && typeof implementation !== "function")) {
    throw new TypeError("defineTokenkitService: implementation must be an object or a function of the server context");
  }
  return {
    service,
    register(router, context) {
      const impl = typeof implementation === "function" ? implementation(context) : implementation;
      router.service(service, impl, withServerInterceptors(context, options));
    },
  };
}

/**
 * withServerInterceptors returns handler options whose interceptors are the
 * server-wide ones followed by `options.interceptors`: connect-es replaces
 * the router's interceptors with a service's own, so both must be listed.
 */
export function withServerInterceptors(
  context: TokenkitServerContext,
  options: Partial<UniversalHandlerOptions> | undefined,
): Partial<UniversalHandlerOptions> | undefined {
  if (options?.interceptors === undefined) {
    return options;
  }
  return { ...options, interceptors: [...context.interceptors, ...options.interceptors] };
}
