import { processIo, type CliIo, type Command } from "./cli-io.js";
import { demoCommand } from "./demo-command.js";
import { issueCommand } from "./issue-command.js";
import { keysCommand } from "./keys-command.js";
import { refreshCommand } from "./refresh-command.js";
import { revokeCommand } from "./revoke-command.js";
import { serveCommand } from "./serve-command.js";
import { describeError } from "./token-client.js";
import { isUsageError } from "./usage-error.js";

/** COMMANDS lists every `tokenkit` subcommand, in help order. */
export const COMMANDS: readonly Command[] = [serveCommand, issueCommand, refreshCommand, revokeCommand, keysCommand, demoCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    "Usage: tokenkit <command> [flags]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    'Run "tokenkit <command> --help" for the flags of a command. Every flag has a',
    "TOKENKIT_* environment twin (--data-dir ↔ TOKENKIT_DATA_DIR); flags win.",
  ].join("\n");
}

/**
 * main runs the `tokenkit` command line and resolves to the exit code:
 * 0 success, 1 runtime failure, 2 usage error (the message names the flag).
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(usage());
    return 2;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    io.stdout(usage());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.stderr(`tokenkit: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (isUsageError(err)) {
      io.stderr(`tokenkit ${command.name}: ${err.message}`);
      io.stderr(`Run "tokenkit ${command.name} --help" for usage.`);
      return 2;
    }
    io.stderr(`tokenkit ${command.name}: ${describeError(err)}`);
    return 1;
  }
}
