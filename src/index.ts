/**
 * tokenkit — keep long-running ConnectRPC clients authenticated. This entry
 * runs anywhere (browser, Node, Deno, workers): it imports nothing from Node.
 *
 * @module
 */
export { createTokenSource, isSessionExpired, isTerminalRefreshError } from "./client/token-source.js";
export type {
  TokenSource,
  TokenSourceOptions,
  TokenSourceState,
  GetTokenOptions,
  RefreshFunction,
  RefreshContext,
} from "./client/token-source.js";
export { sessionExpiredError, refreshConfigError, transientRefreshError } from "./client/refresh-errors.js";
export { createAuthInterceptor } from "./client/auth-interceptor.js";
export type { AuthInterceptorOptions } from "./client/auth-interceptor.js";
export { skipAuthKey } from "./client/skip-auth.js";
export { createTokenServiceRefresher, tokenPairToStoredToken } from "./client/token-service-refresher.js";
export type { TokenServiceRefresherOptions, TokenServiceTarget } from "./client/token-service-refresher.js";
export type { BackoffOptions, RefreshPolicy, RefreshPolicyOptions } from "./client/refresh-policy.js";
export type { RefreshCause, RefreshOutcome, TokenSourceEvent } from "./client/token-events.js";
export type { StoredToken, TokenStore } from "./client/token-store.js";
export { createMemoryTokenStore } from "./client/memory-token-store.js";
export { TokenStoreCorruptError } from "./client/stored-token-codec.js";
export { createRefreshScheduler } from "./client/refresh-scheduler.js";
export type {
  RefreshScheduler,
  RefreshSchedulerOptions,
  RefreshSchedulerEvent,
  RefreshExpiry,
  ScheduledRefreshFunction,
  ScheduledRefreshContext,
} from "./client/refresh-scheduler.js";
export { startHeartbeats } from "./client/heartbeats.js";
export type { Heartbeats, HeartbeatsOptions, HeartbeatsResult, HeartbeatsStopReason, HeartbeatEvent } from "./client/heartbeats.js";
export { createEventUploader, EventUploaderError } from "./client/event-uploader.js";
export type {
  EventUploader,
  EventUploaderOptions,
  EventUploaderStats,
  EventUploaderEvent,
  EventUploaderErrorCode,
  EventInit,
} from "./client/event-uploader.js";
export { watchEvents } from "./client/watch-events.js";
export type { WatchEventsStream, WatchEventsOptions, WatchEventsEvent, WatchReconnectCause } from "./client/watch-events.js";
export { isTransientError } from "./client/transient-error.js";
export { createWebStorageTokenStore } from "./client/web-storage-token-store.js";
export type { WebStorageTokenStoreOptions } from "./client/web-storage-token-store.js";
export { createIndexedDbTokenStore } from "./client/indexeddb-token-store.js";
export type { IndexedDbTokenStoreOptions } from "./client/indexeddb-token-store.js";
export { createCrossTabTokenStore } from "./client/cross-tab-token-store.js";
export type { CrossTabTokenStore, CrossTabTokenStoreOptions, CrossTabChannel, WebLocks } from "./client/cross-tab-token-store.js";
export { documentVisibility } from "./client/page-visibility.js";
export type { VisibilitySource, VisibilityDocument } from "./client/page-visibility.js";
export type { AutoRefreshOptions } from "./client/freshness-timer.js";
export { authErrorReason, AuthErrorReason } from "./auth-error.js";
export type { Clock, ClockTimer } from "./lib/clock.js";
export type { Logger } from "./lib/logger.js";
// The wire contract, so applications need no second import for the generated types.
export {
  TokenService,
  TokenPairSchema,
  IssueTokenRequestSchema,
  RefreshTokenRequestSchema,
  RevokeTokenRequestSchema,
  ExchangeTokenRequestSchema,
} from "../gen/tokenkit/v1/token_service_pb.js";
export type { TokenPair } from "../gen/tokenkit/v1/token_service_pb.js";
export { AuthErrorDetailSchema } from "../gen/tokenkit/v1/auth_error_pb.js";
export type { AuthErrorDetail } from "../gen/tokenkit/v1/auth_error_pb.js";
export { HeartbeatService } from "../gen/tokenkit/v1/heartbeat_service_pb.js";
export { EventService, EventSchema } from "../gen/tokenkit/v1/event_service_pb.js";
export type { Event, WatchEventsResponse, IngestEventsResponse } from "../gen/tokenkit/v1/event_service_pb.js";
export type { HeartbeatResponse } from "../gen/tokenkit/v1/heartbeat_service_pb.js";

// Any OAuth 2.0 / OpenID Connect provider (docs/DESIGN.md §7): the standard refresher and its parts.
export { createOAuthRefresher } from "./client/oauth/oauth-refresher.js";
export type { OAuthRefresher } from "./client/oauth/oauth-refresher.js";
export type { OAuthRefresherOptions, ClientAuthMethod } from "./client/oauth/oauth-options.js";
export { tokenResponseToStoredToken } from "./client/oauth/token-response.js";
