import { join } from "node:path";
import type { Interceptor } from "@connectrpc/connect";
import { systemClock, type Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import { parseKeyEncryptionKey, type KeyEncryptionKey } from "../keys/key-encryption.js";
import { SIGNING_ALGORITHMS, type KeyStore, type SigningAlgorithm } from "../keys/key-store.js";
import { sessionServices } from "../services/session-services.js";
import type { EventStore } from "../store/event-store.js";
import type { FamilyStore } from "../store/family-store.js";
import type { PostgresPoolOptions } from "../store/postgres-pool.js";
import { normalizeTokenRules, type TokenRules } from "../token-service-options.js";
import { normalizeConnectionLimits, type NormalizedConnectionLimits } from "./connection-limits.js";
import { normalizeCorsOrigin } from "./cors-handler.js";
import type { DualProtocolRequestHandler } from "./dual-protocol-listener.js";
import { FAMILY_STORE_KINDS, type FamilyStoreKind } from "./family-store-selection.js";
import { formatSeconds, ServerOptionError } from "./server-option-error.js";
import type { TokenkitServerOptions } from "./server-options.js";
import type { TokenkitServiceRegistration } from "./service-registration.js";
import { createStaticHandler } from "./static-handler.js";

/** KEYS_FILE_NAME is the key-ring file inside the data directory. */
export const KEYS_FILE_NAME = "keys.json";

/** ADMIN_KEY_FILE_NAME is the generated admin-key file inside the data directory. */
export const ADMIN_KEY_FILE_NAME = "admin-key";

/**
 * ServerConfig is {@link TokenkitServerOptions} validated and normalised
 * once: every default applied, every duration in seconds. The steps of
 * `createTokenkitServer` read it and trust it. Fields not documented here
 * mean what the option of the same name says.
 */
export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  store: FamilyStoreKind | FamilyStore;
  eventStore: EventStore | undefined;
  databaseUrl: string | undefined;
  /** postgres are the pool settings in the pool's own units (milliseconds), converted once here. */
  postgres: Omit<PostgresPoolOptions, "connectionString" | "logger">;
  keyEncryptionKey: KeyEncryptionKey | undefined;
  keyReloadIntervalSeconds: number | undefined;
  keyStore: KeyStore | undefined;
  algorithm: SigningAlgorithm | undefined;
  issuer: string | undefined;
  audience: string | undefined;
  adminKey: string | undefined;
  adminKeyFile: string;
  tokens: TokenRules;
  tls: { cert: string | Buffer; key: string | Buffer } | undefined;
  drainTimeoutSeconds: number;
  /** limits are the connection limits with every default applied. */
  limits: NormalizedConnectionLimits;
  /** sessionServices is true when the built-in HeartbeatService and EventService are served. */
  sessionServices: boolean;
  /** services are the built-in session services (unless replaced) followed by the extra ones. */
  services: readonly TokenkitServiceRegistration[];
  interceptors: Interceptor[];
  corsOrigins: readonly string[] | undefined;
  staticHandler: DualProtocolRequestHandler | undefined;
  clock: Clock;
  logger: Logger | undefined;
  /** keysInDataDir is true when the signing keys live in `<dataDir>/keys.json` (and so does the kept issuer). */
  keysInDataDir: boolean;
  /** usesDataDir is true when anything is kept in `dataDir` (the keys, SQLite, or the generated admin key). */
  usesDataDir: boolean;
}

/** seconds checks a whole-seconds option within [min, max] and returns it, or `fallback` when unset. */
function seconds(options: TokenkitServerOptions, name: keyof TokenkitServerOptions, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = options[name] ?? fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ServerOptionError(
      name,
      max === Number.MAX_SAFE_INTEGER ? `must be at least ${formatSeconds(min)} (whole seconds)` : `must be between ${formatSeconds(min)} and ${formatSeconds(max)} (whole seconds)`,
    );
  }
  return v;
}

/** The server's words for a token rule out of range, which `tokenkit serve` repeats under the flag. */
function ruleFailure(name: string, min: number, max: number | undefined): ServerOptionError {
  return new ServerOptionError(
    name,
    max === undefined ? `must be at least ${formatSeconds(min)} (whole seconds)` : `must be between ${formatSeconds(min)} and ${formatSeconds(max)} (whole seconds)`,
  );
}

/**
 * tokenRules validates the token rules with the token service's own
 * normaliser. A server lowers the access and refresh TTL defaults to their caps
 * when the caps are lower, so `--max-access-ttl 10m` alone is a valid setup.
 */
function tokenRules(options: TokenkitServerOptions): TokenRules {
  const lowered = { ...options };
  if (typeof options.maxAccessTtlSeconds === "number") {
    lowered.accessTtlSeconds ??= Math.min(3600, options.maxAccessTtlSeconds);
  }
  if (typeof options.maxRefreshTtlSeconds === "number") {
    lowered.defaultRefreshTtlSeconds ??= Math.min(86_400, options.maxRefreshTtlSeconds);
  }
  return normalizeTokenRules(lowered, ruleFailure);
}

function nonEmpty(options: TokenkitServerOptions, name: "host" | "dataDir" | "adminKeyFile" | "audience" | "databaseUrl", fallback?: string): string | undefined {
  const v = options[name] ?? fallback;
  if (v !== undefined && (typeof v !== "string" || v === "")) {
    throw new ServerOptionError(name, "must be a non-empty string");
  }
  return v;
}

function checkedStore(options: TokenkitServerOptions): FamilyStoreKind | FamilyStore {
  const store = options.store ?? "sqlite";
  if (typeof store === "string" ? !FAMILY_STORE_KINDS.includes(store) : typeof store?.rotate !== "function") {
    throw new ServerOptionError("store", `must be one of ${FAMILY_STORE_KINDS.join(", ")} or a FamilyStore`);
  }
  return store;
}

function checkedIssuer(issuer: string | undefined): string | undefined {
  if (issuer !== undefined && (typeof issuer !== "string" || !/^https?:\/\/[^\s/]\S*$/.test(issuer))) {
    throw new ServerOptionError("issuer", "must be an http:// or https:// URL");
  }
  return issuer;
}

function checkedPort(port: number | undefined): number {
  const v = port ?? 8080;
  if (!Number.isSafeInteger(v) || v < 0 || v > 65_535) {
    throw new ServerOptionError("port", "must be a port number from 0 to 65535");
  }
  return v;
}

function postgresSettings(options: TokenkitServerOptions, postgres: boolean): Pick<ServerConfig, "databaseUrl" | "keyEncryptionKey"> {
  const databaseUrl = nonEmpty(options, "databaseUrl");
  if (postgres && databaseUrl === undefined) {
    throw new ServerOptionError("databaseUrl", 'is required with store "postgres" (postgres://user:password@host:5432/db)');
  }
  let keyEncryptionKey: KeyEncryptionKey | undefined;
  if (options.keyEncryptionKey !== undefined) {
    try {
      keyEncryptionKey = parseKeyEncryptionKey(options.keyEncryptionKey, "it");
    } catch (err) {
      throw new ServerOptionError("keyEncryptionKey", (err as Error).message.replace(/^it /, ""));
    }
  }
  if (postgres && options.keyStore === undefined && keyEncryptionKey === undefined) {
    throw new ServerOptionError(
      "keyEncryptionKey",
      'is required with store "postgres": the signing keys are kept in the database, sealed with it, so that every instance shares them',
    );
  }
  return { databaseUrl, keyEncryptionKey };
}

/** poolSettings checks the `postgres` option (whole seconds) and converts it to the pool's milliseconds. */
function poolSettings(options: TokenkitServerOptions): ServerConfig["postgres"] {
  const { statementTimeoutSeconds, connectTimeoutSeconds, idleTimeoutSeconds, ...rest } = options.postgres ?? {};
  const ms = (name: string, v: number | undefined): number | undefined => {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) {
      throw new ServerOptionError(`postgres.${name}`, "must be at least 1s (whole seconds)");
    }
    return v === undefined ? undefined : v * 1000;
  };
  const out: ServerConfig["postgres"] = { ...rest };
  const timeouts = {
    statementTimeoutMs: ms("statementTimeoutSeconds", statementTimeoutSeconds),
    connectTimeoutMs: ms("connectTimeoutSeconds", connectTimeoutSeconds),
    idleTimeoutMs: ms("idleTimeoutSeconds", idleTimeoutSeconds),
  };
  for (const [k, v] of Object.entries(timeouts)) {
    if (v !== undefined) {
      out[k as keyof typeof timeouts] = v;
    }
  }
  return out;
}

function checkedCorsOrigins(origins: readonly string[] | undefined): readonly string[] | undefined {
  if (origins === undefined) {
    return undefined;
  }
  if (!Array.isArray(origins) || origins.length === 0) {
    throw new ServerOptionError("corsOrigins", "must be a non-empty list of origins");
  }
  for (const origin of origins) {
    try {
      normalizeCorsOrigin(origin, "corsOrigins");
    } catch (err) {
      throw new ServerOptionError("corsOrigins", `lists ${(err as Error).message.replace(/^option "corsOrigins": /, "")}`);
    }
  }
  return origins;
}

async function checkedStaticHandler(dir: string | undefined): Promise<DualProtocolRequestHandler | undefined> {
  if (dir === undefined) {
    return undefined;
  }
  try {
    return await createStaticHandler({ root: dir });
  } catch {
    throw new ServerOptionError("staticDir", `must be an existing directory (${String(dir)})`);
  }
}

/** servicesToServe returns the built-in session services (less those `extra` replaces) and then `extra`. */
function servicesToServe(options: TokenkitServerOptions, clockToleranceSeconds: number, signal: AbortSignal): TokenkitServiceRegistration[] {
  const extra = options.services ?? [];
  if (!Array.isArray(extra) || extra.some((s) => s?.service?.kind !== "service" || typeof s.register !== "function")) {
    throw new ServerOptionError("services", "must be a list of TokenkitServiceRegistration (see defineTokenkitService)");
  }
  const builtIn = options.sessionServices === false ? [] : sessionServices({ ...options.sessionServices, signal, clockToleranceSeconds });
  return [...builtIn.filter((b) => !extra.some((s) => s.service.typeName === b.service.typeName)), ...extra];
}

/**
 * normalizeServerOptions validates every option of `createTokenkitServer`
 * once, before anything is bound, opened or written, and returns the
 * {@link ServerConfig} the steps trust. A mistake throws a
 * {@link ServerOptionError} naming the option. `shutdown` is the signal the
 * built-in session services watch to end open streams on close.
 */
export async function normalizeServerOptions(options: TokenkitServerOptions, shutdown: AbortSignal): Promise<ServerConfig> {
  const store = checkedStore(options);
  const dataDir = nonEmpty(options, "dataDir", ".tokenkit")!;
  if (options.algorithm !== undefined && !SIGNING_ALGORITHMS.includes(options.algorithm)) {
    throw new ServerOptionError("algorithm", `must be one of ${SIGNING_ALGORITHMS.join(", ")}`);
  }
  if (options.adminKey !== undefined && (typeof options.adminKey !== "string" || options.adminKey.length < 16)) {
    throw new ServerOptionError("adminKey", "must be a string of at least 16 characters");
  }
  const tokens = tokenRules(options);
  const keyReloadIntervalSeconds = options.keyReloadIntervalSeconds === undefined ? undefined : seconds(options, "keyReloadIntervalSeconds", 0, 1);
  const postgres = store === "postgres";
  const keysInDataDir = options.keyStore === undefined && store !== "memory" && !postgres;
  const adminKeyFile = nonEmpty(options, "adminKeyFile");
  return {
    host: nonEmpty(options, "host", "127.0.0.1")!,
    port: checkedPort(options.port),
    dataDir,
    store,
    eventStore: options.eventStore,
    ...postgresSettings(options, postgres),
    postgres: poolSettings(options),
    keyReloadIntervalSeconds: keyReloadIntervalSeconds ?? (postgres ? 10 : undefined),
    keyStore: options.keyStore,
    algorithm: options.algorithm,
    issuer: checkedIssuer(options.issuer),
    audience: nonEmpty(options, "audience"),
    adminKey: options.adminKey,
    adminKeyFile: adminKeyFile ?? join(dataDir, ADMIN_KEY_FILE_NAME),
    tokens,
    tls: options.tls,
    drainTimeoutSeconds: seconds(options, "drainTimeoutSeconds", 10, 0),
    limits: normalizeConnectionLimits(options.limits, "createTokenkitServer"),
    sessionServices: options.sessionServices !== false,
    services: servicesToServe(options, tokens.clockToleranceSeconds, shutdown),
    interceptors: options.interceptors ?? [],
    corsOrigins: checkedCorsOrigins(options.corsOrigins),
    staticHandler: await checkedStaticHandler(options.staticDir),
    clock: options.clock ?? systemClock,
    logger: options.logger,
    keysInDataDir,
    usesDataDir: store === "sqlite" || keysInDataDir || (options.adminKey === undefined && adminKeyFile === undefined),
  };
}
