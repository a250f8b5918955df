import { EventService } from "../../../gen/tokenkit/v1/event_service_pb.js";
import { HeartbeatService } from "../../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { createBearerAuthInterceptor } from "../bearer-auth-interceptor.js";
import { createAccessTokenVerifier } from "../jwt/access-token-verifier.js";
import { withServerInterceptors, type TokenkitServerContext, type TokenkitServiceRegistration } from "../serve/service-registration.js";
import { createEventService, SCOPE_EVENTS_READ, SCOPE_EVENTS_WRITE, type EventServiceOptions } from "./event-service.js";
import { createHeartbeatService, SCOPE_HEARTBEAT_WRITE } from "./heartbeat-service.js";

/** SessionServicesOptions configures {@link sessionServices}. */
export interface SessionServicesOptions extends Pick<
    EventServiceOptions,
    "maxEventBytes" | "maxBatchEvents" | "pollIntervalMs" | "maxWatchPageBytes" | "maxWatchesPerSubject" | "signal"
  > {
  /** heartbeatIntervalSeconds is the interval HeartbeatService suggests. @default 30 */
  heartbeatIntervalSeconds?: number;
  /** clockToleranceSeconds is the skew allowed when verifying bearer tokens. @default 60 */
  clockToleranceSeconds?: number;
}

/** SESSION_SCOPES maps the session services' procedures to the scopes they require. */
export const SESSION_SCOPES: Readonly<Record<string, readonly string[]>> = {
  [`${HeartbeatService.typeName}/Heartbeat`]: [SCOPE_HEARTBEAT_WRITE],
  [`${EventService.typeName}/IngestEvents`]: [SCOPE_EVENTS_WRITE],
  [`${EventService.typeName}/StreamEvents`]: [SCOPE_EVENTS_WRITE],
  [`${EventService.typeName}/WatchEvents`]: [SCOPE_EVENTS_READ],
};

/**
 * sessionServices returns the registrations of HeartbeatService and
 * EventService for `createTokenkitServer`, each behind a bearer-auth
 * interceptor that verifies the server's own access tokens (from its key
 * ring, never a fetch to itself), rejects revoked sessions and enforces
 * {@link SESSION_SCOPES}. Both keep their data in the server's event store.
 */
export function sessionServices(options: SessionServicesOptions = {}): TokenkitServiceRegistration[] {
  // Each service gets its own bearer-auth interceptor, inside the server-wide interceptors.
  const authOptions = (context: TokenkitServerContext) =>
    withServerInterceptors(context, {
      interceptors: [
        createBearerAuthInterceptor({
          verifier: createAccessTokenVerifier({
            keys: context.keyRing,
            issuer: context.issuer,
            audience: context.audience,
            clock: context.clock,
            clockToleranceSeconds: options.clockToleranceSeconds,
          }),
          scopes: SESSION_SCOPES,
          revocations: context.revocations,
        }),
      ],
    });
  return [
    {
      service: HeartbeatService,
      register(router, context) {
        const impl = createHeartbeatService({ store: context.eventStore, intervalSeconds: options.heartbeatIntervalSeconds, clock: context.clock });
        router.service(HeartbeatService, impl, authOptions(context));
      },
    },
    {
      service: EventService,
      register(router, context) {
        const impl = createEventService({
          store: context.eventStore,
          maxEventBytes: options.maxEventBytes,
          maxBatchEvents: options.maxBatchEvents,
          pollIntervalMs: options.pollIntervalMs,
          maxWatchPageBytes: options.maxWatchPageBytes,
          maxWatchesPerSubject: options.maxWatchesPerSubject,
          revocations: context.revocations,
          logger: context.logger,
          signal: options.signal,
          clock: context.clock,
        });
        router.service(EventService, impl, authOptions(context));
      },
    },
  ];
}
