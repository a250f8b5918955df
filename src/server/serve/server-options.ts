import type { Interceptor } from "@connectrpc/connect";
import type { Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import type { KeyStore, SigningAlgorithm } from "../keys/key-store.js";
import type { SessionServicesOptions } from "../services/session-services.js";
import type { EventStore } from "../store/event-store.js";
import type { FamilyStore } from "../store/family-store.js";
import type { PostgresPoolOptions } from "../store/postgres-pool.js";
import type { FamilyStoreKind } from "./family-store-selection.js";
import type { TokenkitServiceRegistration } from "./service-registration.js";
import type { ConnectionLimits } from "./connection-limits.js";

/**
 * ServerPostgresOptions tunes the Postgres pool of a `store: "postgres"`
 * server ({@link PostgresPoolOptions} in whole seconds, like every option of
 * `createTokenkitServer`).
 */
export interface ServerPostgresOptions extends Pick<PostgresPoolOptions, "maxConnections" | "schema" | "applicationName"> {
  /**
   * statementTimeoutSeconds is every connection's `statement_timeout` (which also bounds waiting for a
   * row lock); a statement over it fails with `Unavailable`. At least 1.
   * @default 5 — far above a healthy rotation (about a millisecond), well below a client's patience
   */
  statementTimeoutSeconds?: number;
  /** connectTimeoutSeconds bounds opening a connection; while the database is unreachable calls fail with `Unavailable` after at most this. At least 1. @default 5 */
  connectTimeoutSeconds?: number;
  /** idleTimeoutSeconds closes connections idle this long, so the pool shrinks after a burst. At least 1. @default 30 */
  idleTimeoutSeconds?: number;
}

/**
 * TokenkitServerOptions configures `createTokenkitServer`. Every duration is
 * whole seconds. Each option is validated once, before anything is bound or
 * written; a mistake throws a `TypeError` (a `ServerOptionError`) naming the
 * option.
 */
export interface TokenkitServerOptions {
  /**
   * host is the address to bind.
   * @default "127.0.0.1" — loopback only; binding a public address is a deliberate choice.
   */
  host?: string;
  /** port to bind; 0 picks a free port. @default 8080 */
  port?: number;
  /**
   * dataDir holds the server's state: `tokenkit.db` and `events.db` (SQLite
   * stores), `keys.json` (signing keys), `issuer` (the issuer chosen on first
   * start) and `admin-key`. Created with mode 0700; an existing one that other
   * users can read is logged as a warning.
   * @default ".tokenkit"
   */
  dataDir?: string;
  /**
   * store is the token-family store: a kind to open, or a store you built.
   * With `"memory"` the signing keys are kept in memory too, so nothing is written but the admin key.
   * @default "sqlite" — `<dataDir>/tokenkit.db`, so state survives restarts.
   */
  store?: FamilyStoreKind | FamilyStore;
  /**
   * eventStore keeps the events and heartbeats of HeartbeatService and EventService.
   * @default the kind of `store`: `<dataDir>/events.db` for sqlite, memory for memory, Postgres for postgres; memory when `store` is a FamilyStore you built
   */
  eventStore?: EventStore;
  /**
   * sessionServices configures the built-in HeartbeatService and
   * EventService (heartbeat interval, event limits, watch polling), or
   * `false` to serve TokenService alone.
   * @default {} — both served, with the defaults of `sessionServices`
   */
  sessionServices?: Omit<SessionServicesOptions, "signal" | "clockToleranceSeconds"> | false;
  /**
   * databaseUrl is the Postgres URL for `store: "postgres"`, shared by every
   * instance. Required with it. Security: it may hold a password; tokenkit never logs it.
   * @default none
   */
  databaseUrl?: string;
  /**
   * postgres tunes the one connection pool a `store: "postgres"` server
   * shares among its token, key and event stores.
   * @default {} — 10 connections, 5 s statement timeout, 5 s connect timeout, 30 s idle timeout
   */
  postgres?: ServerPostgresOptions;
  /**
   * keyEncryptionKey seals the private signing keys that `store: "postgres"`
   * keeps in the database (32 random bytes, or their base64/hex text); every
   * instance needs the same one. Required with `store: "postgres"` unless a
   * `keyStore` is given. Security: keep it apart from the database and its backups.
   * @default none
   */
  keyEncryptionKey?: string | Uint8Array;
  /**
   * keyReloadIntervalSeconds is how often the key ring re-reads its store, so
   * a rotation made by another instance or by `tokenkit keys rotate` reaches
   * this instance's JWKS within this bound (new keys sign only 10 minutes
   * after they are published, so every instance knows them first).
   * @default 10 with `store: "postgres"`; otherwise off (SIGHUP reloads)
   */
  keyReloadIntervalSeconds?: number;
  /**
   * keyStore persists the signing keys.
   * @default `<dataDir>/keys.json`; memory with `store: "memory"`; the database (sealed with `keyEncryptionKey`) with `store: "postgres"`
   */
  keyStore?: KeyStore;
  /** algorithm signs new keys. @default "EdDSA" */
  algorithm?: SigningAlgorithm;
  /**
   * issuer is the `iss` of every token; refresh tokens only rotate under the issuer that signed them.
   * @default chosen once and kept in `<dataDir>/issuer` when the keys live in `<dataDir>/keys.json`:
   * the listening URL `http://HOST:PORT` of the first start, so a restart on another port keeps every
   * session. A data dir written before the issuer was kept adopts the URL of its next start (where it
   * ran before, if the operator kept the address). Without a data dir for keys: the listening URL of
   * each start. Set it when clients reach the server under another name, and on every instance that
   * shares a Postgres database.
   */
  issuer?: string;
  /**
   * audience is the `aud` of access tokens issued without audiences, and the
   * audience a bearer token must carry to call ExchangeToken/IssueToken.
   * @default the issuer
   */
  audience?: string;
  /**
   * adminKey authorizes IssueToken through `x-api-key`; at least 16 characters.
   * Security: treat it like a root password; never log it. `tokenkit serve`
   * refuses a `TOKENKIT_ADMIN_KEY` under 128 bits of estimated entropy.
   * @default read from `adminKeyFile`, generated there (mode 0600) on first start
   */
  adminKey?: string;
  /** adminKeyFile is where the admin key is read or generated when `adminKey` is not set. @default `<dataDir>/admin-key` */
  adminKeyFile?: string;
  /** accessTtlSeconds is the access-token lifetime when a request sets none, 1 s to `maxAccessTtlSeconds`. @default 3600 (1 h), or `maxAccessTtlSeconds` when that is lower */
  accessTtlSeconds?: number;
  /** maxAccessTtlSeconds caps requested access lifetimes; at least 1 s. @default 86 400 (24 h) */
  maxAccessTtlSeconds?: number;
  /** defaultRefreshTtlSeconds is the refresh TTL when a request sets none, 60 s to `maxRefreshTtlSeconds`. @default 86 400 (24 h), or `maxRefreshTtlSeconds` when that is lower */
  defaultRefreshTtlSeconds?: number;
  /** maxRefreshTtlSeconds caps requested refresh TTLs, 60 s to 90 days. @default 7 776 000 (90 days, the hard ceiling) */
  maxRefreshTtlSeconds?: number;
  /**
   * gracePeriodSeconds is how long re-presenting the immediate predecessor of
   * the current refresh token returns the identical successor pair (a client
   * whose response was lost is not punished), 0–300 s. The store janitor keeps
   * sealed successor pairs for the longest grace period any service accepts
   * (300 s), so it never cuts a grace window short.
   * @default 30
   */
  gracePeriodSeconds?: number;
  /**
   * absoluteLifetimeSeconds caps a family's whole life (at least 60 s): no refresh token
   * outlives `created + absoluteLifetimeSeconds`.
   * @default none — unattended hosts renew indefinitely.
   */
  absoluteLifetimeSeconds?: number;
  /** clockToleranceSeconds is the skew allowed when verifying `exp`/`iat`, 0–3600 s. @default 60 */
  clockToleranceSeconds?: number;
  /** tls serves HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with these PEM contents. @default none — cleartext h2c + HTTP/1.1 */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * limits bounds what any client, with or without a token, can make the server hold:
   * HTTP/2 streams per connection and in all, idle connections, slow requests, connections per
   * server and per peer address (see {@link ConnectionLimits} for each default and why).
   * @default {} — every limit at its default
   */
  limits?: ConnectionLimits;
  /** drainTimeoutSeconds bounds the graceful shutdown of `TokenkitServer.close`: calls still running after it are cut off. @default 10 */
  drainTimeoutSeconds?: number;
  /**
   * services are extra services to serve next to TokenService (see
   * `defineTokenkitService`); one named like a built-in session service
   * (`tokenkit.v1.HeartbeatService`, `tokenkit.v1.EventService`) replaces it.
   * @default []
   */
  services?: readonly TokenkitServiceRegistration[];
  /** interceptors run around every call. @default [] */
  interceptors?: Interceptor[];
  /**
   * corsOrigins lists the origins whose pages may call the server from a browser
   * (`https://app.example.com`, `http://localhost:5173`, or `"*"` for any), with the
   * Connect/gRPC-Web headers exposed as connect-es documents (see `createCorsHandler`).
   * A disallowed origin gets no CORS headers.
   * @default none — no CORS headers; only same-origin pages (e.g. `staticDir`) and non-browser clients can call
   */
  corsOrigins?: readonly string[];
  /**
   * staticDir serves the files of this directory for `GET`/`HEAD` paths that are no RPC
   * (see `createStaticHandler`: no path traversal, content types by extension), so a browser
   * app and its token server share one origin. It must exist.
   * @default none — such paths are 404
   */
  staticDir?: string;
  /** clock supplies the time. @default systemClock */
  clock?: Clock;
  /** logger receives lifecycle and security events — never token text or the admin key. @default none */
  logger?: Logger;
}
