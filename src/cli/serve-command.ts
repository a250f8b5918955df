import { readFileSync } from "node:fs";
import { defineCommand } from "./define-command.js";
import { SIGNING_ALGORITHMS } from "../server/keys/key-store.js";
import { FAMILY_STORE_KINDS } from "../server/serve/family-store-selection.js";
import { estimateKeyEntropyBits, MIN_ADMIN_KEY_BITS } from "../server/serve/admin-key-strength.js";
import { createTokenkitServer, type TokenkitServer, type TokenkitServerOptions } from "../server/serve/server.js";
import { isServerOptionError } from "../server/serve/server-option-error.js";
import type { Command } from "./cli-io.js";
import { oneOf, optionalDuration, optionalPort } from "./flag-values.js";
import { CONNECTION_LIMIT_FLAGS, connectionLimitOptions } from "./connection-limit-flags.js";
import { KEY_ENCRYPTION_KEY_ENV, keyEncryptionKeyFrom } from "./key-encryption-key-source.js";
import { formatFlagHelp, type FlagSpecs, type ParsedFlags } from "./flags.js";
import { stderrLogger, waitForShutdown } from "./serve-process.js";
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
  issuer: { type: "string", valueName: "URL", description: "Issuer (iss) of the tokens, kept in <data-dir>/issuer", defaultText: "the first start's http://HOST:PORT, kept in <data-dir>/issuer" },
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
  "cors-origin": {
    type: "string",
    multiple: true,
    valueName: "ORIGIN",
    description: "Origin whose pages may call the server from a browser (repeatable or comma-separated; * for any)",
    defaultText: "none",
  },
  static: { type: "string", valueName: "DIR", description: "Serve the files of DIR for GET requests that are no RPC (a browser app on the server's origin)" },
  // Connection limits: streams per HTTP/2 connection, idle and request timeouts, connection caps.
  ...CONNECTION_LIMIT_FLAGS,
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
its path is printed; a TOKENKIT_ADMIN_KEY under 128 bits of entropy is
refused: make one with openssl rand -base64 32). The issuer, unless --issuer
is set, is the first start's address, kept in <data-dir>/issuer so that a
restart on another port keeps every session. Every flag is checked before
anything is written. SIGINT/SIGTERM drain in-flight calls and close the
store; SIGHUP reloads the signing keys. DUR is seconds or 90s, 15m, 24h, 90d.
A flag wins over its environment twin.

With --store postgres, any number of instances share one database (set the
same --database-url, --issuer, admin key and key-encryption key on each):
tokens, revocations, events and the signing keys (sealed with
TOKENKIT_KEY_ENCRYPTION_KEY or --key-encryption-key-file) live in Postgres;
every instance re-reads the keys every 10 s and revocations every 1 s.

Flags:
${formatFlagHelp(SERVE_FLAGS)}`;

/** Maps the options of createTokenkitServer to the flags that set them, so that a mistake names the flag. */
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
  drainTimeoutSeconds: "drain-timeout",
  "postgres.statementTimeoutSeconds": "database-statement-timeout",
  "postgres.maxConnections": "database-pool-size",
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
  // --cors-origin repeats and also takes comma-separated lists.
  const corsOrigins = flags
    .strings("cors-origin")
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
  if (corsOrigins.length > 0) {
    options.corsOrigins = corsOrigins;
  }
  options.staticDir = flags.string("static");
  options.drainTimeoutSeconds = optionalDuration(flags, "drain-timeout");
  // Connection limits: flags validated and converted in connection-limit-flags.ts.
  options.limits = connectionLimitOptions(flags);
  if (options.store === "postgres") {
    Object.assign(options, postgresOptions(flags, env));
  }
  options.adminKey = adminKeyFrom(env);
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
    postgres.statementTimeoutSeconds = timeout;
  }
  return { keyEncryptionKey, postgres };
}

/**
 * adminKeyFrom returns `TOKENKIT_ADMIN_KEY` when set, refusing a key under
 * {@link MIN_ADMIN_KEY_BITS} bits of estimated entropy (a word, a pattern, a
 * placeholder) with a message saying how to make one; the key itself is never quoted.
 */
function adminKeyFrom(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const key = env.TOKENKIT_ADMIN_KEY;
  if (key === undefined || key === "") {
    return undefined;
  }
  const bits = Math.floor(estimateKeyEntropyBits(key));
  if (bits < MIN_ADMIN_KEY_BITS) {
    throw new UsageError(
      `TOKENKIT_ADMIN_KEY is too easy to guess (about ${bits} bits of entropy; at least ${MIN_ADMIN_KEY_BITS} bits are needed): ` +
        "make one with `openssl rand -base64 32`, or unset it to have a key generated into --admin-key-file",
    );
  }
  return key;
}

function readPem(flags: ParsedFlags, name: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flags.label(name)}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** optionLabel names the flag (or environment variable) that sets a server option, if one does. */
function optionLabel(option: string, flags: ParsedFlags): string | undefined {
  if (option === "adminKey") {
    return "TOKENKIT_ADMIN_KEY";
  }
  const flag = OPTION_FLAGS[option];
  return flag === undefined ? undefined : flags.label(flag);
}

/**
 * asUsageError restates a mistake `createTokenkitServer` found in the options
 * under the flag the operator typed (`--grace-period must be between 0s and
 * 300s`); anything else is returned as it is.
 */
function asUsageError(err: unknown, flags: ParsedFlags): unknown {
  if (isServerOptionError(err)) {
    const label = optionLabel(err.option, flags);
    return label === undefined ? err : new UsageError(`${label} ${err.problem}`);
  }
  return err;
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
      throw asUsageError(err, flags);
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
