/**
 * tokenkit/server — the token server half of tokenkit (Node only): the
 * TokenService, the bearer-auth interceptor for any Connect server, the key
 * ring and JWKS, the Heartbeat/Event session services, token-family and
 * event stores, and the bootstrap behind `tokenkit serve`.
 *
 * @module
 */
export { createTokenService, refreshTokenAudience, SCOPE_ISSUE, SCOPE_EXCHANGE } from "./token-service.js";
export type { TokenServiceOptions } from "./token-service.js";
export { createBearerAuthInterceptor, claimsKey } from "./bearer-auth-interceptor.js";
export type { BearerAuthInterceptorOptions } from "./bearer-auth-interceptor.js";
export { createAccessTokenVerifier } from "./jwt/access-token-verifier.js";
export type { AccessTokenVerifier, AccessTokenVerifierOptions } from "./jwt/access-token-verifier.js";
export { createTokenVerifier, TokenVerificationError } from "./jwt/token-verifier.js";
export type { TokenVerifier, TokenVerifierOptions, KeySource } from "./jwt/token-verifier.js";
export { ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE, MAX_TOKEN_BYTES, MAX_ACTOR_DEPTH } from "./jwt/claims.js";
export type { AccessTokenClaims, RefreshTokenClaims } from "./jwt/claims.js";
export { createKeyRing } from "./keys/key-ring.js";
export type { KeyRing, KeyRingOptions, JSONWebKeySet, SigningKey, VerificationKey } from "./keys/key-ring.js";
export { createFileKeyStore, createMemoryKeyStore, SIGNING_ALGORITHMS } from "./keys/key-store.js";
export type { KeyStore, StoredKey, SigningAlgorithm, FileKeyStoreOptions } from "./keys/key-store.js";
export { createRevocationCache } from "./revocation-cache.js";
export type { RevocationCache, RevocationCacheOptions } from "./revocation-cache.js";
export { HARD_MAX_REFRESH_TTL_SECONDS, MIN_REFRESH_TTL_SECONDS } from "./ttl-policy.js";
export type {
  FamilyStore,
  FamilyRecord,
  RefreshRecord,
  RotateInput,
  RotateResult,
  Revocation,
  RevokeReason,
  ActorClaim,
} from "./store/family-store.js";
export { createTokenkitServer } from "./serve/server.js";
export type { TokenkitServer, TokenkitServerOptions } from "./serve/server.js";
export { ServerOptionError, isServerOptionError } from "./serve/server-option-error.js";
export { defineTokenkitService, withServerInterceptors } from "./serve/service-registration.js";
export type { TokenkitServiceRegistration, TokenkitServerContext } from "./serve/service-registration.js";
export { listenDualProtocol } from "./serve/dual-protocol-listener.js";
export type { DualProtocolListener, DualProtocolListenerOptions, DualProtocolRequestHandler } from "./serve/dual-protocol-listener.js";
export { DEFAULT_CONNECTION_LIMITS, MAX_CONCURRENT_STREAMS_CEILING } from "./serve/connection-limits.js";
export type { ConnectionLimits } from "./serve/connection-limits.js";
export { createTokenkitHandler } from "./serve/tokenkit-handler.js";
export { createCorsHandler } from "./serve/cors-handler.js";
export type { CorsOptions } from "./serve/cors-handler.js";
export { createStaticHandler } from "./serve/static-handler.js";
export type { StaticHandlerOptions } from "./serve/static-handler.js";
export type { TokenkitHandlerOptions } from "./serve/tokenkit-handler.js";
export { createHealthService } from "./serve/health-service.js";
export type { HealthServiceOptions } from "./serve/health-service.js";
export { createReflectionServiceV1, createReflectionServiceV1alpha } from "./serve/reflection-service.js";
export type { ReflectionServiceOptions } from "./serve/reflection-service.js";
export { createJwksHandler, JWKS_PATH } from "./serve/jwks-handler.js";
export type { JwksHandlerOptions } from "./serve/jwks-handler.js";
export { openFamilyStore, FAMILY_STORE_KINDS } from "./serve/family-store-selection.js";
export type { FamilyStoreKind, FamilyStoreSelection } from "./serve/family-store-selection.js";
export { createMemoryFamilyStore } from "./store/memory-family-store.js";
export { createSqliteFamilyStore } from "./store/sqlite-family-store.js";
export type { SqliteFamilyStoreOptions } from "./store/sqlite-family-store.js";
export { createHeartbeatService, SCOPE_HEARTBEAT_WRITE } from "./services/heartbeat-service.js";
export type { HeartbeatServiceOptions } from "./services/heartbeat-service.js";
export { createEventService, SCOPE_EVENTS_READ, SCOPE_EVENTS_WRITE, MAX_EVENT_ID_LENGTH } from "./services/event-service.js";
export type { EventServiceOptions } from "./services/event-service.js";
export { sessionServices, SESSION_SCOPES } from "./services/session-services.js";
export type { SessionServicesOptions } from "./services/session-services.js";
export type { EventStore, EventInput, EventRecord, AppendResult, ListQuery, HeartbeatRecord } from "./store/event-store.js";
export { createMemoryEventStore } from "./store/memory-event-store.js";
export { createSqliteEventStore } from "./store/sqlite-event-store.js";
export type { SqliteEventStoreOptions } from "./store/sqlite-event-store.js";
export { createPostgresPool } from "./store/postgres-pool.js";
export type { PostgresPool, PostgresPoolOptions, PostgresStoreOptions } from "./store/postgres-pool.js";
export { createPostgresFamilyStore } from "./store/postgres-family-store.js";
export type { PostgresFamilyStoreOptions } from "./store/postgres-family-store.js";
export { createPostgresEventStore } from "./store/postgres-event-store.js";
export type { PostgresEventStoreOptions } from "./store/postgres-event-store.js";
export { createPostgresKeyStore } from "./keys/postgres-key-store.js";
export type { PostgresKeyStore, PostgresKeyStoreOptions } from "./keys/postgres-key-store.js";
export { parseKeyEncryptionKey, KEY_ENCRYPTION_KEY_HINT } from "./keys/key-encryption.js";
export type { KeyEncryptionKey } from "./keys/key-encryption.js";
export { startKeyReloader } from "./keys/key-reloader.js";
export type { KeyReloader, KeyReloaderOptions } from "./keys/key-reloader.js";
export { openEventStore } from "./serve/event-store-selection.js";
export { startStoreJanitor } from "./store-janitor.js";
export type { StoreJanitor, StoreJanitorOptions } from "./store-janitor.js";
