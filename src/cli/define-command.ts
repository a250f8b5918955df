import type { CliIo, Command } from "./cli-io.js";
import { parseFlags, type FlagSpecs, type ParsedFlags } from "./flags.js";

/** CommandSpec describes a subcommand for {@link defineCommand}. */
export interface CommandSpec {
  /** name is what the user types, e.g. `issue`. */
  name: string;
  /** summary is the one-line description shown by `tokenkit --help`. */
  summary: string;
  /** flags is the command's flag table (a `help` flag included). */
  flags: FlagSpecs;
  /** usage is the text `--help` prints. */
  usage: string;
  /** run executes the command with its parsed flags and resolves to the exit code. */
  run(flags: ParsedFlags, io: CliIo): Promise<number>;
}

/**
 * defineCommand returns the {@link Command} for `spec`: it parses the
 * arguments and their `TOKENKIT_*` twins (a mistake throws a `UsageError`
 * naming the flag), answers `--help` with the usage text, and otherwise
 * runs the command.
 */
export function defineCommand(spec: CommandSpec): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    async run(args, io) {
      const flags = parseFlags(spec.flags, args, io.env);
      if (flags.boolean("help")) {
        io.stdout(spec.usage);
        return 0;
      }
      return spec.run(flags, io);
    },
  };
}
