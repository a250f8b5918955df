import type { Command } from "./cli-io.js";
import { defineCommand } from "./define-command.js";
import { httpUrl } from "./flag-values.js";
import { formatFlagHelp, type FlagSpecs } from "./flags.js";
import { createTokenClient, formatTokenPair } from "./token-client.js";
import { rotateStoredToken, TOKEN_STORE_FLAG } from "./token-file.js";
import { UsageError } from "./usage-error.js";

const FLAGS: FlagSpecs = {
  url: { type: "string", valueName: "URL", description: "Base URL of the tokenkit server" },
  "refresh-token": { type: "string", valueName: "T", description: "The refresh token to rotate" },
  store: TOKEN_STORE_FLAG,
  help: { type: "boolean", env: false, description: "Show this help" },
};

const USAGE = `Usage: tokenkit refresh --url URL [--refresh-token T | --store FILE]

Rotates a refresh token into a new pair (RefreshToken) and prints it as JSON.
With --store, the refresh token is read from the token file and the new pair
written back, under the file's cross-process lock. Prefer
TOKENKIT_REFRESH_TOKEN over --refresh-token: arguments are visible to other
users.

Flags:
${formatFlagHelp(FLAGS)}`;

/** refreshCommand implements `tokenkit refresh`. */
export const refreshCommand: Command = defineCommand({
  name: "refresh",
  summary: "rotate a refresh token into a new pair",
  flags: FLAGS,
  usage: USAGE,
  async run(flags, io) {
    const url = httpUrl(flags, "url");
    const refreshToken = flags.string("refresh-token");
    const storePath = flags.string("store");
    if (refreshToken !== undefined && storePath !== undefined) {
      throw new UsageError(`${flags.label("refresh-token")} and ${flags.label("store")} exclude each other`);
    }
    if ((refreshToken === undefined || refreshToken === "") && storePath === undefined) {
      throw new UsageError("--refresh-token or --store is required");
    }
    const client = createTokenClient(url);
    const refresh = async (token: string) => {
      const pair = (await client.refreshToken({ refreshToken: token })).tokenPair;
      if (pair === undefined) {
        throw new Error("the server answered without a token pair");
      }
      return pair;
    };
    const pair = storePath !== undefined ? await rotateStoredToken(storePath, refresh) : await refresh(refreshToken ?? "");
    io.stdout(formatTokenPair(pair));
    return 0;
  },
});
