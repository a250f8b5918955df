import { readFileSync } from "node:fs";
import { defineCommand } from "./define-command.js";
import type { Logger } from "../lib/logger.js";
import { SIGNING_ALGORITHMS } from "../server/keys/key-store.js";
import { FAMILY_STORE_KINDS } from "../server/serve/family-store-selection.js";
import { createTokenkitServer, type TokenkitServer, type TokenkitServerOptions } from "../server/serve/server.js";
import type { CliIo, Command } from "./cli-io.js";
import { oneOf, optionalDuration, optionalPort } from "./flag-values.js";
import { KEY_ENCRYPTION_KEY_ENV, keyEncryptionKeyFrom } from "./key-encryption-key-source.js";
import { formatFlagHelp, type FlagSpecs, type ParsedFlags } from "./flags.js";
import { UsageError } from "./usage-error.js";

/** SERVE_FLAGS is the flag table of `tokenkit serve`. */
export const SERVE_FLAGS: FlagSpecs = {
  host: { type: "string", valueName: "HOST", description: "Address to listen on", defaultText: "127.0.0.1" },
  port: { type: "string", valueName: "PORT", description: "Port to listen on; 0 picks a free one", defaultText: "8080" },
  "data-dir": { type: "string", valueName: "DIR", description: "Directory for the SQLite store, signing keys and admin key", defaultText: ".tokenkit" },
  store: { type: "string", valueName: "KIND", description: `Token-family store: ${FAMILY_STORE_KINDS.join(", ")}`, defaultText: "sqlite" },
  "database-url": { type: "string", valueName: "URL", description: "Postgres connection URL for --store postgres, the same for every instance" },
  "database-pool-size": { type: "string", valueName: "N", description: "Most Postgres connections this instance opens (instances × N must fit max_connections)", defaultText: "10" },
  "database-statement-timeout": { type: "string", valueName: "DUR", description: "Postgres statement timeout; a call over it fails with Unavailable", defaultText: "5s" },
  "key-encryption-key-file": { type: "string", valueName: "PATH", description: "File holding the key that seals the signing keys in Postgres (32 random bytes, base64 or hex); TOKENKIT_KEY_ENCRYPTION_KEY wins" },
  issuer: { type: "string", valueName: "URL", description: "Issuer (iss) of the tokens", defaultText: "http://HOST:PORT" },
  "access-ttl": { type: "string", valueName: "DUR", description: "Access-token lifetime when a request sets none", defaultText: "1h" },
  "max-access-ttl": { type: "string", valueName: "DUR", description: "Longest access-token lifetime a request may get", defaultText: "24h" },
  "default-refresh-ttl": { type: "string", valueName: "DUR", description: "Refresh-token TTL when a request sets none", defaultText: "24h" },
  "max-refresh-ttl": { type: "string", valueName: "DUR", description: "Longest refresh-token TTL a request may get (at most 90d)", defaultText: "90d" },
  "grace-period": { type: "string", valueName: "DUR", description: "Window in which re-presenting the previous refresh token returns the same pair (0-300s)", defaultText: "30s" },
  "absolute-lifetime": { type: "string", valueName: "DUR", description: "Longest life of a session however often it refreshes", defaultText: "none" },
  "admin-key-file": { type: "string", valueName: "PATH", description: "Admin key file, generated (mode 0600) when missing; ignored when TOKENKIT_ADMIN_KEY is set", defaultText: "<data-dir>/admin-key" },
  algorithm: { type: "string", valueName: "ALG", description: `Signing algorithm of new keys: ${SIGNING_ALGORITHMS.join(", ")}`, defaultText: "EdDSA" },
  "tls-cert": { type: "string", valueName: "PATH", description: "PEM certificate: serve HTTPS (with --tls-key)" },
  "tls-key": { type: "string", valueName: "PATH", description: "PEM private key for --tls-cert" },
  "heartbeat-interval": { type: "string", valueName: "DUR", description: "Interval HeartbeatService tells clients to wait between heartbeats (1s-1h)", defaultText: "30s" },
  "drain-timeout": { type: "string", valueName: "DUR", description: "How long in-flight calls may run on shutdown", defaultText: "10s" },
  "max-watches-per-subject": { type: "string", valueName: "N", description: "Most WatchEvents streams one subject may hold open on this instance (ResourceExhausted beyond)", defaultText: "32" },
  // Browsers (issue 7)
  "cors-origin": {
    type: "string",
    multiple: true,
    valueName: "ORIGIN",
    description: "Origin whose pages may call the server from a browser (repeatable or comma-separated; * for any)",
    defaultText: "none",
  },
  static: { type: "string", valueName: "DIR", description: "Serve the files of DIR for GET requests that are no RPC (a browser app on the server's origin)" },
  help: { type: "boolean", env: false, description: "Show this help" },
};

const USAGE = `Usage: tokenkit serve [--host 127.0.0.1] [--port 8080 | 0] [--data-dir .tokenkit]
                     [--store sqlite|memory|postgres] [--database-url URL]
                     [--issuer URL] [--access-ttl DUR] [--default-refresh-ttl DUR]
                     [--max-refresh-ttl DUR] [--grace-period DUR] [--admin-key-file PATH]
                     [--cors-origin ORIGIN]... [--static DIR]

Runs the token server: Connect, gRPC and gRPC-Web over HTTP/2 cleartext and
HTTP/1.1 on one port (HTTPS with --tls-cert/--tls-key), with health checks,
gRPC reflection and GET /.well-known/jwks.json. Prints
"tokenkit listening on URL" once ready. The admin key comes from
TOKENKIT_ADMIN_KEY, else from --admin-key-file (generated on first start; only
its path is printed). SIGINT/SIGTERM drain in-flight calls and close the
store; SIGHUP reloads the signing keys. DUR is seconds or 90s, 15m, 24h, 90d.
A flag wins over its environment twin.

With --store postgres, any number of instances share one database (set the
same --database-url, --issuer, admin key and key-encryption key on each):
tokens, revocations, events and the signing keys (sealed with
TOKENKIT_KEY_ENCRYPTION_KEY or --key-encryption-key-file) live in Postgres;
every instance re-reads the keys every 10 s and revocations every 1 s.

Flags:
${formatFlagHelp(SERVE_FLAGS)}`;

/** Maps the option names in createTokenkitServer's TypeErrors to the flags that set them. */
const OPTION_FLAGS: Readonly<Record<string, string>> = {
  host: "host",
  port: "port",
  dataDir: "data-dir",
  store: "store",
  databaseUrl: "database-url",
  keyEncryptionKey: "key-encryption-key-file",
  issuer: "issuer",
  accessTtlSeconds: "access-ttl",
  maxAccessTtlSeconds: "max-access-ttl",
  defaultRefreshTtlSeconds: "default-refresh-ttl",
  maxRefreshTtlSeconds: "max-refresh-ttl",
  gracePeriodSeconds: "grace-period",
  absoluteLifetimeSeconds: "absolute-lifetime",
  adminKeyFile: "admin-key-file",
  algorithm: "algorithm",
  tls: "tls-cert",
  drainTimeoutMs: "drain-timeout",
  corsOrigins: "cors-origin",
  staticDir: "static",
};

/**
 * serveOptions turns parsed `serve` flags (and `TOKENKIT_ADMIN_KEY`) into
 * {@link TokenkitServerOptions}; bad values throw a {@link UsageError}
 * naming the flag or environment variable.
 */
export function serveOptions(flags: ParsedFlags, env: Readonly<Record<string, string | undefined>>): TokenkitServerOptions {
  const options: TokenkitServerOptions = {
    host: flags.string("host"),
    port: optionalPort(flags, "port"),
    dataDir: flags.string("data-dir"),
    store: oneOf(flags, "store", FAMILY_STORE_KINDS),
    databaseUrl: flags.string("database-url"),
    issuer: flags.string("issuer"),
    accessTtlSeconds: optionalDuration(flags, "access-ttl"),
    maxAccessTtlSeconds: optionalDuration(flags, "max-access-ttl"),
    defaultRefreshTtlSeconds: optionalDuration(flags, "default-refresh-ttl"),
    maxRefreshTtlSeconds: optionalDuration(flags, "max-refresh-ttl"),
    gracePeriodSeconds: optionalDuration(flags, "grace-period"),
    absoluteLifetimeSeconds: optionalDuration(flags, "absolute-lifetime"),
    adminKeyFile: flags.string("admin-key-file"),
    algorithm: oneOf(flags, "algorithm", SIGNING_ALGORITHMS),
  };
  const heartbeat = optionalDuration(flags, "heartbeat-interval");
  if (heartbeat !== undefined) {
    if (heartbeat < 1 || heartbeat > 3600) {
      throw new UsageError(`${flags.label("heartbeat-interval")} must be between 1s and 1h`);
    }
    options.sessionServices = { heartbeatIntervalSeconds: heartbeat };
  }
  const watches = flags.string("max-watches-per-subject");
  if (watches !== undefined) {
    if (!/^[0-9]{1,6}$/.test(watches) || Number(watches) < 1 || Number(watches) > 100_000) {
      throw new UsageError(`${flags.label("max-watches-per-subject")} must be a whole number from 1 to 100000 (got "${watches}")`);
    }
    options.sessionServices = { ...options.sessionServices, maxWatchesPerSubject: Number(watches) };
  }
  // Browsers (issue 7): --cors-origin repeats and also takes comma-separated lists.
  const corsOrigins = flags
    .strings("cors-origin")
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
  if (corsOrigins.length > 0) {
    options.corsOrigins = corsOrigins;
  }
  options.staticDir = flags.string("static");
  const drain = optionalDuration(flags, "drain-timeout");
  if (drain !== undefined) {
    options.drainTimeoutMs = drain * 1000;
  }
  if (options.store === "postgres") {
    Object.assign(options, postgresOptions(flags, env));
  }
  const adminKey = env.TOKENKIT_ADMIN_KEY;
  if (adminKey !== undefined && adminKey !== "") {
    if (adminKey.length < 16) {
      throw new UsageError("TOKENKIT_ADMIN_KEY must be at least 16 characters");
    }
    options.adminKey = adminKey;
  }
  const cert = flags.string("tls-cert");
  const key = flags.string("tls-key");
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(`${cert === undefined ? "--tls-cert" : "--tls-key"} is required with ${cert === undefined ? flags.label("tls-key") : flags.label("tls-cert")}`);
  }
  if (cert !== undefined && key !== undefined) {
    options.tls = { cert: readPem(flags, "tls-cert", cert), key: readPem(flags, "tls-key", key) };
  }
  for (const k of Object.keys(options) as (keyof TokenkitServerOptions)[]) {
    if (options[k] === undefined) {
      delete options[k];
    }
  }
  return options;
}

/** postgresOptions reads the flags of `--store postgres`; a missing URL or key-encryption key is a usage error. */
function postgresOptions(flags: ParsedFlags, env: Readonly<Record<string, string | undefined>>): Partial<TokenkitServerOptions> {
  if (flags.string("database-url") === undefined) {
    throw new UsageError(`${flags.label("store")} postgres needs --database-url (or TOKENKIT_DATABASE_URL): postgres://user:password@host:5432/db`);
  }
  const keyEncryptionKey = keyEncryptionKeyFrom(flags, env);
  if (keyEncryptionKey === undefined) {
    throw new UsageError(
      `${flags.label("store")} postgres keeps the signing keys in the database, sealed with a key-encryption key that every instance shares: ` +
        `set ${KEY_ENCRYPTION_KEY_ENV} or --key-encryption-key-file (32 random bytes, e.g. openssl rand -base64 32)`,
    );
  }
  const postgres: NonNullable<TokenkitServerOptions["postgres"]> = {};
  const size = flags.string("database-pool-size");
  if (size !== undefined) {
    if (!/^[0-9]{1,4}$/.test(size) || Number(size) < 1) {
      throw new UsageError(`${flags.label("database-pool-size")} must be a whole number from 1 to 9999 (got "${size}")`);
    }
    postgres.maxConnections = Number(size);
  }
  const timeout = optionalDuration(flags, "database-statement-timeout");
  if (timeout !== undefined) {
    if (timeout < 1) {
      throw new UsageError(`${flags.label("database-statement-timeout")} must be at least 1s`);
    }
    postgres.statementTimeoutMs = timeout * 1000;
  }
  return { keyEncryptionKey, postgres };
}

function readPem(flags: ParsedFlags, name: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flags.label(name)}: cannot read ${path}: ${(err as Error).message}`);
  }
}

function stderrLogger(io: CliIo): Logger {
  const line = (level: string, message: string, details: unknown[]) => {
    const err = details.find((d): d is Error => d instanceof Error);
    io.stderr(`${level} ${message}${err !== undefined ? `: ${err.message}` : ""}`);
  };
  return {
    info: (m, ...d) => line("info", m, d),
    warn: (m, ...d) => line("warn", m, d),
    error: (m, ...d) => line("error", m, d),
  };
}

/**
 * optionLabel names the flag (or environment variable) behind an
 * `option "X"` TypeError of the server, if there is one.
 */
function optionLabel(err: unknown, flags: ParsedFlags): string | undefined {
  if (!(err instanceof TypeError)) {
    return undefined;
  }
  const option = /option "([A-Za-z]+)"/.exec(err.message)?.[1];
  if (option === "adminKey") {
    return "TOKENKIT_ADMIN_KEY";
  }
  const flag = option === undefined ? undefined : OPTION_FLAGS[option];
  return flag === undefined ? undefined : flags.label(flag);
}

/** waitForShutdown resolves on SIGINT/SIGTERM (or `io.shutdown`); SIGHUP calls `onReload`. */
function waitForShutdown(io: CliIo, onReload: () => void): { done: Promise<string>; dispose(): void } {
  if (io.shutdown !== undefined) {
    const signal = io.shutdown;
    return {
      done: new Promise((resolve) => {
        if (signal.aborted) {
          resolve("abort");
        } else {
          signal.addEventListener("abort", () => resolve("abort"), { once: true });
        }
      }),
      dispose() {},
    };
  }
  let onSignal: (s: NodeJS.Signals) => void = () => {};
  const done = new Promise<string>((resolve) => {
    onSignal = (s) => resolve(s);
  });
  let received = 0;
  const handler = (s: NodeJS.Signals) => {
    received++;
    if (received > 1) {
      io.stderr(`tokenkit serve: second ${s}, exiting without draining`);
      process.exit(1);
    }
    onSignal(s);
  };
  const reload = () => onReload();
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("SIGHUP", reload);
  return {
    done,
    dispose() {
      process.off("SIGHUP", reload);
      // SIGINT/SIGTERM stay handled until exit so that a second signal still force-exits.
    },
  };
}

/** serveCommand implements `tokenkit serve`. */
export const serveCommand: Command = defineCommand({
  name: "serve",
  summary: "run the token server",
  flags: SERVE_FLAGS,
  usage: USAGE,
  async run(flags, io) {
    const options = serveOptions(flags, io.env);
    options.logger = stderrLogger(io);
    let server: TokenkitServer;
    try {
      server = await createTokenkitServer(options);
    } catch (err) {
      const label = optionLabel(err, flags);
      if (label !== undefined) {
        throw new UsageError(`invalid ${label}: ${(err as Error).message}`);
      }
      throw err;
    }
    const shutdown = waitForShutdown(io, () => {
      server.keyRing.reload().then(
        () => io.stderr("info tokenkit: signing keys reloaded"),
        (err: unknown) => io.stderr(`warn tokenkit: reloading the signing keys failed: ${(err as Error).message}`),
      );
    });
    if (server.adminKeyPath !== undefined) {
      io.stdout(server.adminKeyPath);
    }
    io.stdout(`tokenkit listening on ${server.url}`);
    const why = await shutdown.done;
    // close() stops accepting at once; the line below means "no new connections".
    const closing = server.close();
    io.stderr(`info tokenkit: ${why === "abort" ? "shutting down" : `received ${why}, shutting down`}; draining in-flight calls`);
    try {
      await closing;
    } finally {
      shutdown.dispose();
    }
    io.stderr("info tokenkit: stopped");
    return 0;
  },
});
