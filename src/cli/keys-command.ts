import { join } from "node:path";
import { createKeyRing } from "../server/keys/key-ring.js";
import { createFileKeyStore, SIGNING_ALGORITHMS } from "../server/keys/key-store.js";
import { KEYS_FILE_NAME } from "../server/serve/server.js";
import type { Command } from "./cli-io.js";
import { oneOf } from "./flag-values.js";
import { formatFlagHelp, parseFlags, type FlagSpecs } from "./flags.js";
import { UsageError } from "./usage-error.js";

const FLAGS: FlagSpecs = {
  "data-dir": { type: "string", valueName: "DIR", description: "Data directory of the server", defaultText: ".tokenkit" },
  algorithm: { type: "string", valueName: "ALG", description: `Algorithm of the new key: ${SIGNING_ALGORITHMS.join(", ")}`, defaultText: "EdDSA" },
  help: { type: "boolean", env: false, description: "Show this help" },
};

const USAGE = `Usage: tokenkit keys rotate [--data-dir .tokenkit] [--algorithm EdDSA|ES256|RS256]

Generates a new signing key in <data-dir>/keys.json and prints its kid. The
key is published in the JWKS at once and starts signing 10 minutes later, so
verifiers caching the JWKS learn it first; older keys keep verifying until
every token they signed has expired. A running server picks the new key up
on SIGHUP or restart.

Flags:
${formatFlagHelp(FLAGS)}`;

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
    const dataDir = flags.string("data-dir") ?? ".tokenkit";
    const algorithm = oneOf(flags, "algorithm", SIGNING_ALGORITHMS);
    const keyRing = await createKeyRing({ store: createFileKeyStore({ path: join(dataDir, KEYS_FILE_NAME) }), algorithm });
    const kid = await keyRing.rotate();
    io.stdout(kid);
    io.stderr(`tokenkit keys rotate: new key ${kid} is published now and signs in 10 minutes; send SIGHUP to a running server to reload its keys`);
    return 0;
  },
};
