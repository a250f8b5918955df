import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Interceptor } from "@connectrpc/connect";
import { TokenService } from "../../../gen/tokenkit/v1/token_service_pb.js";
import { systemClock, type Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import { createKeyRing, type KeyRing } from "../keys/key-ring.js";
import { startKeyReloader } from "../keys/key-reloader.js";
import { parseKeyEncryptionKey } from "../keys/key-encryption.js";
import { createPostgresKeyStore } from "../keys/postgres-key-store.js";
import { createPostgresPool, type PostgresPool, type PostgresPoolOptions } from "../store/postgres-pool.js";
import { createFileKeyStore, createMemoryKeyStore, SIGNING_ALGORITHMS, type KeyStore, type SigningAlgorithm } from "../keys/key-store.js";
import { createMemoryEventStore } from "../store/memory-event-store.js";
import { createRevocationCache, type RevocationCache } from "../revocation-cache.js";
import { startStoreJanitor } from "../store-janitor.js";
import { sessionServices, type SessionServicesOptions } from "../services/session-services.js";
import type { EventStore } from "../store/event-store.js";
import type { FamilyStore } from "../store/family-store.js";
import { createTokenService, type TokenServiceOptions } from "../token-service.js";
import { loadOrCreateAdminKey } from "./admin-key-file.js";
import { normalizeConnectionLimits, type ConnectionLimits } from "./connection-limits.js";
import { listenDualProtocol, type DualProtocolListener, type DualProtocolRequestHandler } from "./dual-protocol-listener.js";
import { openEventStore } from "./event-store-selection.js";
import { FAMILY_STORE_KINDS, openFamilyStore, type FamilyStoreKind } from "./family-store-selection.js";
import type { TokenkitServerContext, TokenkitServiceRegistration } from "./service-registration.js";
import { createTokenkitHandler } from "./tokenkit-handler.js";
import { createCorsHandler, normalizeCorsOrigin } from "./cors-handler.js";
import { createStaticHandler } from "./static-handler.js";

/** KEYS_FILE_NAME is the key-ring file inside the data directory. */
export const KEYS_FILE_NAME = "keys.json";

/** ADMIN_KEY_FILE_NAME is the generated admin-key file inside the data directory. */
export const ADMIN_KEY_FILE_NAME = "admin-key";

/** The TokenService settings `createTokenkitServer` passes through unchanged (see {@link TokenServiceOptions}). */
const TOKEN_SERVICE_SECONDS = [
  "clockToleranceSeconds",
  "accessTtlSeconds",
  "maxAccessTtlSeconds",
  "defaultRefreshTtlSeconds",
  "maxRefreshTtlSeconds",
  "gracePeriodSeconds",
  "absoluteLifetimeSeconds",
] as const;

/**
 * TokenkitServerOptions configures {@link createTokenkitServer}. Durations are seconds. The
 * TokenService settings (`audience`, TTLs, grace period, absolute lifetime, clock tolerance) are
 * documented on {@link TokenServiceOptions}.
 */
export interface TokenkitServerOptions extends Pick<TokenServiceOptions, "audience" | (typeof TOKEN_SERVICE_SECONDS)[number]> {
  /**
   * host is the address to bind.
   * @default "127.0.0.1" — loopback only; binding a public address is a deliberate choice.
   */
  host?: string;
  /** port to bind; 0 picks a free port. @default 8080 */
  port?: number;
  /**
   * dataDir holds the server's state: `tokenkit.db` (SQLite store),
   * `keys.json` (signing keys) and `admin-key`. Created with mode 0700.
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
   * eventStore keeps the events and heartbeats of HeartbeatService and
   * EventService.
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
   * instance. Required with it. Security: it may hold a password; tokenkit
   * never logs it.
   * @default none
   */
  databaseUrl?: string;
  /**
   * postgres tunes the one connection pool a `store: "postgres"` server
   * shares among its token, key and event stores (see {@link PostgresPoolOptions}
   * for each default: 10 connections, 5 s statement timeout, 5 s connect timeout).
   * @default {}
   */
  postgres?: Omit<PostgresPoolOptions, "connectionString" | "logger">;
  /**
   * keyEncryptionKey seals the private signing keys that `store: "postgres"`
   * keeps in the database (32 random bytes, or their base64/hex text); every
   * instance needs the same one. Required with `store: "postgres"` unless a
   * `keyStore` is given (e.g. a file key store on a directory all instances share).
   * Security: keep it apart from the database and its backups.
   * @default none
   */
  keyEncryptionKey?: string | Uint8Array;
  /**
   * keyReloadIntervalMs is how often the key ring re-reads its store, so a
   * rotation made by another instance or by `tokenkit keys rotate` reaches
   * this instance's JWKS within this bound (new keys sign only 10 minutes
   * after they are published, so every instance knows them first).
   * @default 10 000 with `store: "postgres"`; otherwise off (SIGHUP reloads)
   */
  keyReloadIntervalMs?: number;
  /**
   * keyStore persists the signing keys.
   * @default `<dataDir>/keys.json`; memory with `store: "memory"`; the database (sealed with `keyEncryptionKey`) with `store: "postgres"`
   */
  keyStore?: KeyStore;
  /** algorithm signs new keys. @default "EdDSA" */
  algorithm?: SigningAlgorithm;
  /**
   * issuer is the `iss` of every token.
   * @default the listening URL, `http://HOST:PORT` — set it when clients reach the server under another name.
   */
  issuer?: string;
  /**
   * adminKey authorizes IssueToken through `x-api-key`.
   * Security: treat it like a root password; never log it.
   * @default read from `adminKeyFile`, generated there (mode 0600) on first start
   */
  adminKey?: string;
  /** adminKeyFile is where the admin key is read or generated when `adminKey` is not set. @default `<dataDir>/admin-key` */
  adminKeyFile?: string;
  /** tls serves HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with these PEM contents. @default none — cleartext h2c + HTTP/1.1 */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** drainTimeoutMs bounds the graceful shutdown of {@link TokenkitServer.close}. @default 10000 */
  drainTimeoutMs?: number;
  /**
   * limits bounds what any client, with or without a token, can make the server hold:
   * HTTP/2 streams per connection, idle connections, slow requests, connections per
   * server and per peer address (see {@link ConnectionLimits} for each default and why).
   * @default {} — every limit at its default
   */
  limits?: ConnectionLimits;
  /**
   * services are extra services to serve next to TokenService (see
   * `defineTokenkitService`); one named like a built-in session service
   * (`tokenkit.v1.HeartbeatService`, `tokenkit.v1.EventService`) replaces it.
   * @default []
   */
  services?: readonly TokenkitServiceRegistration[];
  /** interceptors run around every call. @default [] */
  interceptors?: Interceptor[];
  // --- Browsers (issue 7): CORS and static files ---
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
  // --- end Browsers ---
  /**
   * clock supplies the time of tokens, sessions and polling. Connection timers (drain, idle and
   * request timeouts) always run on the system clock.
   * @default systemClock
   */
  clock?: Clock;
  /** logger receives lifecycle and security events — never token text or the admin key. @default none */
  logger?: Logger;
}

/** TokenkitServer is a running server returned by {@link createTokenkitServer}. */
export interface TokenkitServer {
  /** url is `http://HOST:PORT` with the real port. */
  readonly url: string;
  /** host is the bound address. */
  readonly host: string;
  /** port is the bound port. */
  readonly port: number;
  /** issuer is the `iss` of the server's tokens. */
  readonly issuer: string;
  /** adminKeyPath is the file holding the admin key, when it came from a file. */
  readonly adminKeyPath?: string;
  /** adminKeyGenerated is true when the admin key file was created by this start. */
  readonly adminKeyGenerated: boolean;
  /** keyRing is the server's key ring (call `reload()` after `tokenkit keys rotate`). */
  readonly keyRing: KeyRing;
  /**
   * close stops accepting connections, lets in-flight calls finish (bounded by
   * `drainTimeoutMs`), then closes the store. Idempotent.
   */
  close(): Promise<void>;
}

function checkSeconds(name: string, v: unknown): void {
  if (v !== undefined && (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)) {
    throw new TypeError(`createTokenkitServer: option "${name}" must be a non-negative integer number of seconds`);
  }
}

/**
 * createTokenkitServer starts the server behind `tokenkit serve`: it opens
 * the store and key ring from `dataDir`, resolves the admin key, listens on
 * one port for Connect, gRPC and gRPC-Web over HTTP/2 cleartext and HTTP/1.1
 * (or HTTPS), and serves TokenService, any extra `services`, health checks,
 * gRPC reflection and the JWKS. It resolves once the server is ready.
 */
export async function createTokenkitServer(options: TokenkitServerOptions = {}): Promise<TokenkitServer> {
  const dataDir = options.dataDir ?? ".tokenkit";
  if (typeof dataDir !== "string" || dataDir === "") {
    throw new TypeError('createTokenkitServer: option "dataDir" must be a non-empty string');
  }
  const storeOption = options.store ?? "sqlite";
  if (typeof storeOption === "string" && !FAMILY_STORE_KINDS.includes(storeOption)) {
    throw new TypeError(`createTokenkitServer: option "store" must be one of ${FAMILY_STORE_KINDS.join(", ")} or a FamilyStore`);
  }
  if (options.algorithm !== undefined && !SIGNING_ALGORITHMS.includes(options.algorithm)) {
    throw new TypeError(`createTokenkitServer: option "algorithm" must be one of ${SIGNING_ALGORITHMS.join(", ")}`);
  }
  if (options.issuer !== undefined && !/^https?:\/\/\S+$/.test(options.issuer)) {
    throw new TypeError('createTokenkitServer: option "issuer" must be an http(s) URL');
  }
  if (options.audience !== undefined && (typeof options.audience !== "string" || options.audience === "")) {
    throw new TypeError('createTokenkitServer: option "audience" must be a non-empty string');
  }
  if (options.adminKey !== undefined && (typeof options.adminKey !== "string" || options.adminKey.length < 16)) {
    throw new TypeError('createTokenkitServer: option "adminKey" must be a string of at least 16 characters');
  }
  for (const name of TOKEN_SERVICE_SECONDS) {
    checkSeconds(name, options[name]);
  }
  if (options.keyReloadIntervalMs !== undefined && (!Number.isSafeInteger(options.keyReloadIntervalMs) || options.keyReloadIntervalMs <= 0)) {
    throw new TypeError('createTokenkitServer: option "keyReloadIntervalMs" must be a positive integer number of milliseconds');
  }
  const postgres = storeOption === "postgres";
  if (postgres && (typeof options.databaseUrl !== "string" || options.databaseUrl === "")) {
    throw new TypeError('createTokenkitServer: option "databaseUrl" is required with store "postgres" (postgres://user:password@host:5432/db)');
  }
  const keyEncryptionKey =
    options.keyEncryptionKey === undefined ? undefined : parseKeyEncryptionKey(options.keyEncryptionKey, 'createTokenkitServer: option "keyEncryptionKey"');
  if (postgres && options.keyStore === undefined && keyEncryptionKey === undefined) {
    throw new TypeError(
      'createTokenkitServer: option "keyEncryptionKey" is required with store "postgres": the signing keys are kept in the database, sealed with it, so that every instance shares them',
    );
  }
  const extra = options.services ?? [];
  if (!Array.isArray(extra) || extra.some((s) => s?.service?.kind !== "service" || typeof s.register !== "function")) {
    throw new TypeError('createTokenkitServer: option "services" must be a list of TokenkitServiceRegistration (see defineTokenkitService)');
  }
  // --- Browsers (issue 7): validate corsOrigins and staticDir before anything is opened ---
  const corsOrigins = options.corsOrigins;
  if (corsOrigins !== undefined) {
    if (!Array.isArray(corsOrigins) || corsOrigins.length === 0) {
      throw new TypeError('createTokenkitServer: option "corsOrigins" must be a non-empty list of origins');
    }
    for (const origin of corsOrigins) {
      try {
        normalizeCorsOrigin(origin, "corsOrigins");
      } catch (err) {
        throw new TypeError(`createTokenkitServer: ${(err as Error).message}`);
      }
    }
  }
  let staticHandler: DualProtocolRequestHandler | undefined;
  if (options.staticDir !== undefined) {
    try {
      staticHandler = await createStaticHandler({ root: options.staticDir });
    } catch {
      throw new TypeError(`createTokenkitServer: option "staticDir" must be an existing directory (${String(options.staticDir)})`);
    }
  }
  // --- end Browsers ---
  // Connection limits: validated here, before anything is opened.
  const limits = normalizeConnectionLimits(options.limits, "createTokenkitServer");
  const clock = options.clock ?? systemClock;
  const { logger } = options;

  // Undo steps, run in reverse: stop listening (drain), stop polling, close the store.
  const cleanups: (() => Promise<void> | void)[] = [];
  async function cleanup(): Promise<unknown[]> {
    const errors: unknown[] = [];
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    return errors;
  }

  try {
    const usesDataDir =
      storeOption === "sqlite" ||
      (options.keyStore === undefined && storeOption !== "memory" && !postgres) ||
      (options.adminKey === undefined && options.adminKeyFile === undefined);
    if (usesDataDir) {
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
    }

    // One pool for every Postgres store of this server; ended last, after the stores closed.
    let postgresPool: PostgresPool | undefined;
    if (postgres) {
      const pool = createPostgresPool({ ...options.postgres, connectionString: options.databaseUrl!, logger });
      postgresPool = pool;
      cleanups.push(() => pool.end());
    }

    const store: FamilyStore =
      typeof storeOption === "string" ? await openFamilyStore({ kind: storeOption, dataDir, databaseUrl: options.databaseUrl, postgresPool }) : storeOption;
    if (typeof storeOption === "string") {
      cleanups.push(() => store.close());
    }

    let eventStore = options.eventStore;
    if (eventStore === undefined && options.sessionServices !== false) {
      const kind = typeof storeOption === "string" ? storeOption : "memory";
      const opened = await openEventStore({ kind, dataDir, databaseUrl: options.databaseUrl, postgresPool });
      cleanups.push(() => opened.close());
      eventStore = opened;
    }

    const keyStore =
      options.keyStore ??
      (postgresPool !== undefined
        ? await createPostgresKeyStore({ pool: postgresPool, keyEncryptionKey: keyEncryptionKey! })
        : storeOption === "memory"
          ? createMemoryKeyStore()
          : createFileKeyStore({ path: join(dataDir, KEYS_FILE_NAME) }));
    const keyRing = await createKeyRing({ store: keyStore, algorithm: options.algorithm, clock });
    // Instances sharing a key store see each other's rotations within the reload interval.
    if (postgres || options.keyReloadIntervalMs !== undefined) {
      const reloader = startKeyReloader({ keyRing, intervalMs: options.keyReloadIntervalMs, clock, logger });
      cleanups.push(() => reloader.stop());
    }

    let adminKey = options.adminKey;
    let adminKeyPath: string | undefined;
    let adminKeyGenerated = false;
    if (adminKey === undefined) {
      const file = await loadOrCreateAdminKey(options.adminKeyFile ?? join(dataDir, ADMIN_KEY_FILE_NAME), logger);
      adminKey = file.key;
      adminKeyPath = file.path;
      adminKeyGenerated = file.generated;
      if (file.generated) {
        logger?.info?.(`tokenkit: generated an admin key in ${file.path}`);
      }
    }

    const revocations: RevocationCache = createRevocationCache({ store, clock, logger });
    cleanups.push(() => revocations.close());
    await revocations.ready;
    // Expired refresh records and stale sealed pairs are purged every 10 minutes.
    const janitor = startStoreJanitor({ store, gracePeriodSeconds: options.gracePeriodSeconds, clock, logger });
    cleanups.push(() => janitor.stop());

    let serving = false;
    let handler: DualProtocolRequestHandler | undefined;
    const listener: DualProtocolListener = await listenDualProtocol({
      host: options.host,
      port: options.port,
      tls: options.tls,
      drainTimeoutMs: options.drainTimeoutMs,
      // Connection timers (drain, idle, request timeouts) measure the network, so they run on
      // the system clock: `clock` is token time, which tests move by days between calls.
      limits,
      logger,
      handler(req, res) {
        if (handler === undefined) {
          res.writeHead(503, { "retry-after": "1" });
          res.end();
          return;
        }
        handler(req, res);
      },
    });
    cleanups.push(() => listener.close());

    const issuer = options.issuer ?? listener.url;
    if (options.issuer === undefined && storeOption === "postgres") {
      // Instances sharing a database must share one issuer, or one's tokens fail `iss` on another.
      logger?.warn?.(`tokenkit: no issuer set, so tokens carry this instance's own address ${issuer}; set --issuer to the public URL when several instances share the database`);
    }
    const tokenService = createTokenService({
      store,
      keyRing,
      issuer,
      audience: options.audience,
      adminKey,
      ...Object.fromEntries(TOKEN_SERVICE_SECONDS.map((name) => [name, options[name]])),
      revocations,
      clock,
      logger,
    });
    // Aborted first thing on close(), so open watches end instead of holding the drain.
    const shutdown = new AbortController();
    const interceptors = options.interceptors ?? [];
    // A service in `services` replaces the built-in one of the same name.
    const builtIn =
      options.sessionServices === false
        ? []
        : sessionServices({ ...options.sessionServices, signal: shutdown.signal, clockToleranceSeconds: options.clockToleranceSeconds });
    const services = [...builtIn.filter((b) => !extra.some((s) => s.service.typeName === b.service.typeName)), ...extra];
    const context: TokenkitServerContext = {
      issuer,
      audience: options.audience ?? issuer,
      keyRing,
      store,
      eventStore: eventStore ?? createMemoryEventStore(),
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
      serving: () => serving,
      interceptors,
      fallback: staticHandler,
    });
    // Browsers (issue 7): CORS wraps everything, preflights included.
    handler = corsOrigins === undefined ? rpcHandler : createCorsHandler({ origins: corsOrigins }, rpcHandler);
    serving = true;

    let closing: Promise<void> | undefined;
    return {
      url: listener.url,
      host: listener.host,
      port: listener.port,
      issuer,
      adminKeyPath,
      adminKeyGenerated,
      keyRing,
      close() {
        closing ??= (async () => {
          serving = false;
          shutdown.abort();
          const [first] = await cleanup();
          if (first !== undefined) {
            throw first;
          }
        })();
        return closing;
      },
    };
  } catch (err) {
    for (const e of await cleanup()) {
      logger?.warn?.("tokenkit: cleanup after a failed start failed", e);
    }
    throw err;
  }
}
