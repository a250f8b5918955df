import { existsSync } from "node:fs";
import { join } from "node:path";
import { createKeyRing } from "../server/keys/key-ring.js";
import { createFileKeyStore, SIGNING_ALGORITHMS, type KeyStore } from "../server/keys/key-store.js";
import { createPostgresKeyStore } from "../server/keys/postgres-key-store.js";
import { KEYS_FILE_NAME } from "../server/serve/server.js";
import type { Command } from "./cli-io.js";
import { oneOf } from "./flag-values.js";
import { formatFlagHelp, parseFlags, type FlagSpecs, type ParsedFlags } from "./flags.js";
import { KEY_ENCRYPTION_KEY_ENV, keyEncryptionKeyFrom } from "./key-encryption-key-source.js";
import { UsageError } from "./usage-error.js";

const FLAGS: FlagSpecs = {
  "data-dir": { type: "string", valueName: "DIR", description: "Data directory of the server", defaultText: ".tokenkit" },
  algorithm: { type: "string", valueName: "ALG", description: `Algorithm of the new key: ${SIGNING_ALGORITHMS.join(", ")}`, defaultText: "EdDSA" },
  store: { type: "string", valueName: "KIND", description: "Where the keys live: file (<data-dir>/keys.json) or postgres (the database of tokenkit serve --store postgres)", defaultText: "file; postgres when TOKENKIT_STORE=postgres" },
  "database-url": { type: "string", valueName: "URL", description: "Postgres connection URL for --store postgres" },
  "key-encryption-key-file": { type: "string", valueName: "PATH", description: "File holding the key-encryption key (TOKENKIT_KEY_ENCRYPTION_KEY wins)" },
  help: { type: "boolean", env: false, description: "Show this help" },
};

const USAGE = `Usage: tokenkit keys rotate [--data-dir .tokenkit] [--algorithm EdDSA|ES256|RS256]
       tokenkit keys rotate --store postgres --database-url URL [--algorithm ALG]

Generates a new signing key in <data-dir>/keys.json (or, with --store postgres,
in the shared database, sealed with TOKENKIT_KEY_ENCRYPTION_KEY or
--key-encryption-key-file) and prints its kid. The key is published in the
JWKS at once and starts signing 10 minutes later, so verifiers caching the
JWKS learn it first; older keys keep verifying until every token they signed
has expired. A running server picks the new key up on SIGHUP or restart; with
Postgres, every instance picks it up by itself within 10 seconds.

Flags:
${formatFlagHelp(FLAGS)}`;

/**
 * existingKeysFile returns `<data-dir>/keys.json`, refusing a data dir that
 * holds no keys: rotating there would create a directory and a key no server
 * reads (a typo in `--data-dir`), and report success.
 */
function existingKeysFile(flags: ParsedFlags): string {
  const dataDir = flags.string("data-dir") ?? ".tokenkit";
  const path = join(dataDir, KEYS_FILE_NAME);
  if (!existsSync(path)) {
    const label = flags.source("data-dir") === undefined ? "the default --data-dir" : flags.label("data-dir");
    throw new UsageError(`${label} ${dataDir} holds no signing keys (no ${KEYS_FILE_NAME}): check the path; a server creates its keys on first start`);
  }
  return path;
}

/** keysCommand implements `tokenkit keys rotate`. */
export const keysCommand: Command = {
  name: "keys",
  summary: "rotate the signing keys (keys rotate)",
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === undefined) {
      io.stderr(USAGE);
      return 2;
    }
    if (sub === "--help" || sub === "help") {
      io.stdout(USAGE);
      return 0;
    }
    if (sub !== "rotate") {
      throw new UsageError(`unknown subcommand "keys ${sub}"; the only one is "keys rotate"`);
    }
    const flags = parseFlags(FLAGS, rest, io.env);
    if (flags.boolean("help")) {
      io.stdout(USAGE);
      return 0;
    }
    const algorithm = oneOf(flags, "algorithm", SIGNING_ALGORITHMS);
    const kind = oneOf(flags, "store", ["file", "postgres", "sqlite", "memory"] as const) ?? "file";
    if (kind === "memory") {
      throw new UsageError(`${flags.label("store")} memory keeps keys inside the running server; there is nothing to rotate from outside`);
    }
    let store: KeyStore;
    let close = async () => {};
    if (kind === "postgres") {
      const connectionString = flags.string("database-url");
      if (connectionString === undefined) {
        throw new UsageError(`${flags.label("store")} postgres needs --database-url (or TOKENKIT_DATABASE_URL)`);
      }
      const keyEncryptionKey = keyEncryptionKeyFrom(flags, io.env);
      if (keyEncryptionKey === undefined) {
        throw new UsageError(`${flags.label("store")} postgres needs the key-encryption key of the servers: set ${KEY_ENCRYPTION_KEY_ENV} or --key-encryption-key-file`);
      }
      const pg = await createPostgresKeyStore({ connectionString, keyEncryptionKey, maxConnections: 1 });
      store = pg;
      close = () => pg.close();
    } else {
      store = createFileKeyStore({ path: existingKeysFile(flags) });
    }
    try {
      const keyRing = await createKeyRing({ store, algorithm });
      const kid = await keyRing.rotate();
      io.stdout(kid);
      io.stderr(
        kind === "postgres"
          ? `tokenkit keys rotate: new key ${kid} is published now and signs in 10 minutes; every running instance lists it within 10 seconds`
          : `tokenkit keys rotate: new key ${kid} is published now and signs in 10 minutes; send SIGHUP to a running server to reload its keys`,
      );
      return 0;
    } finally {
      await close();
    }
  },
};
