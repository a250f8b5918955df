import { existsSync, readFileSync } from "node:fs";
import { defineCommand } from "./define-command.js";
import { join } from "node:path";
import type { Command } from "./cli-io.js";
import { httpUrl, keyValues, optionalDuration, requiredString } from "./flag-values.js";
import { formatFlagHelp, type FlagSpecs } from "./flags.js";
import { createTokenClient, formatTokenPair } from "./token-client.js";
import { saveTokenPair, TOKEN_STORE_FLAG } from "./token-file.js";
import { UsageError } from "./usage-error.js";

const DEFAULT_ADMIN_KEY_FILE = ".tokenkit/admin-key";

const FLAGS: FlagSpecs = {
  url: { type: "string", valueName: "URL", description: "Base URL of the tokenkit server, e.g. http://127.0.0.1:8080" },
  subject: { type: "string", valueName: "S", description: "Subject (sub) of the new token family" },
  scope: { type: "string", multiple: true, valueName: "X", description: "Scope to grant" },
  audience: { type: "string", multiple: true, valueName: "A", description: "Audience of the access tokens" },
  "refresh-ttl": { type: "string", valueName: "DUR", description: "Refresh-token TTL, kept through every rotation", defaultText: "server default (24h)" },
  "access-ttl": { type: "string", valueName: "DUR", description: "Access-token lifetime", defaultText: "server default (1h)" },
  metadata: { type: "string", multiple: true, valueName: "K=V", description: "Metadata copied into the claims" },
  "admin-key-file": {
    type: "string",
    valueName: "PATH",
    description: "File holding the admin key, when TOKENKIT_ADMIN_KEY is not set",
    defaultText: "$TOKENKIT_DATA_DIR/admin-key or .tokenkit/admin-key, when it exists",
  },
  store: { ...TOKEN_STORE_FLAG, description: "Also save the pair to this token file, for tokenkit refresh --store" },
  help: { type: "boolean", env: false, description: "Show this help" },
};

const USAGE = `Usage: tokenkit issue --url URL --subject S [--scope X]... [--audience A]... [--refresh-ttl DUR]
                     [--store FILE]

Issues a new access/refresh token pair (IssueToken) with the admin key and
prints it as JSON. The admin key is read from TOKENKIT_ADMIN_KEY, else from
--admin-key-file. DUR is seconds or 90s, 15m, 24h, 90d.

Flags:
${formatFlagHelp(FLAGS)}`;

/** issueCommand implements `tokenkit issue`. */
export const issueCommand: Command = defineCommand({
  name: "issue",
  summary: "issue a token pair with the admin key",
  flags: FLAGS,
  usage: USAGE,
  async run(flags, io) {
    const url = httpUrl(flags, "url");
    const subject = requiredString(flags, "subject");
    const refreshTtl = optionalDuration(flags, "refresh-ttl");
    const accessTtl = optionalDuration(flags, "access-ttl");
    const metadata = keyValues(flags, "metadata");
    const adminKey = resolveAdminKey(io.env.TOKENKIT_ADMIN_KEY, flags.string("admin-key-file"), flags.label("admin-key-file"), io.env.TOKENKIT_DATA_DIR);

    const client = createTokenClient(url);
    const storePath = flags.string("store");
    const sentAt = Date.now();
    const res = await client.issueToken(
      {
        subject,
        scopes: flags.strings("scope"),
        audiences: flags.strings("audience"),
        metadata,
        ...(refreshTtl !== undefined ? { refreshTokenTtlSeconds: BigInt(refreshTtl) } : {}),
        ...(accessTtl !== undefined ? { accessTokenTtlSeconds: BigInt(accessTtl) } : {}),
      },
      { headers: { "x-api-key": adminKey } },
    );
    const text = formatTokenPair(res.tokenPair);
    if (storePath !== undefined && res.tokenPair !== undefined) {
      await saveTokenPair(storePath, res.tokenPair, sentAt);
    }
    io.stdout(text);
    return 0;
  },
});

/**
 * resolveAdminKey picks the admin key: TOKENKIT_ADMIN_KEY, else the key file
 * given, else the key a local `tokenkit serve` generated in
 * `$TOKENKIT_DATA_DIR/admin-key` (`.tokenkit/admin-key`) when it exists.
 */
function resolveAdminKey(fromEnv: string | undefined, file: string | undefined, fileLabel: string, dataDir: string | undefined): string {
  if (fromEnv !== undefined && fromEnv !== "") {
    return fromEnv;
  }
  const fallback = dataDir === undefined || dataDir === "" ? DEFAULT_ADMIN_KEY_FILE : join(dataDir, "admin-key");
  const path = file ?? (existsSync(fallback) ? fallback : undefined);
  if (path === undefined) {
    throw new UsageError(`no admin key: set TOKENKIT_ADMIN_KEY or --admin-key-file (the server prints the path of its generated key)`);
  }
  let key: string;
  try {
    key = readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new UsageError(`${fileLabel}: cannot read ${path}: ${(err as Error).message}`);
  }
  if (key === "") {
    throw new UsageError(`${fileLabel}: ${path} is empty`);
  }
  return key;
}
