import type { Command } from "./cli-io.js";
import { defineCommand } from "./define-command.js";
import { httpUrl, requiredString } from "./flag-values.js";
import { formatFlagHelp, type FlagSpecs } from "./flags.js";
import { createTokenClient } from "./token-client.js";

const FLAGS: FlagSpecs = {
  url: { type: "string", valueName: "URL", description: "Base URL of the tokenkit server" },
  token: { type: "string", valueName: "T", description: "A refresh or access token of the family to revoke" },
  help: { type: "boolean", env: false, description: "Show this help" },
};

const USAGE = `Usage: tokenkit revoke --url URL --token T

Revokes the whole token family (and its delegated children) of a refresh or
access token (RevokeToken, RFC 7009). An unknown token is not an error.
Prefer TOKENKIT_TOKEN over --token: arguments are visible to other users.

Flags:
${formatFlagHelp(FLAGS)}`;

/** revokeCommand implements `tokenkit revoke`. */
export const revokeCommand: Command = defineCommand({
  name: "revoke",
  summary: "revoke the token family of a token",
  flags: FLAGS,
  usage: USAGE,
  async run(flags, io) {
    const url = httpUrl(flags, "url");
    const token = requiredString(flags, "token");
    await createTokenClient(url).revokeToken({ token });
    io.stdout("{}");
    return 0;
  },
});
