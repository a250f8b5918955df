/**
 * CliIo is everything a command touches outside its arguments, so that
 * commands run the same in a process and in tests.
 */
export interface CliIo {
  /** env holds the environment (flag twins, `TOKENKIT_ADMIN_KEY`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** stdout writes one line of output (results, the listening line). */
  stdout(line: string): void;
  /** stderr writes one line of diagnostics. */
  stderr(line: string): void;
  /**
   * shutdown, when given, stops `serve` when aborted; otherwise `serve`
   * listens for SIGINT and SIGTERM itself.
   */
  readonly shutdown?: AbortSignal;
}

/** processIo returns the {@link CliIo} of the current process. */
export function processIo(): CliIo {
  return {
    env: process.env,
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  };
}

/** Command is one `tokenkit` subcommand. */
export interface Command {
  /** name is what the user types, e.g. `serve`. */
  readonly name: string;
  /** summary is the one-line description shown by `tokenkit --help`. */
  readonly summary: string;
  /** run executes the command and resolves to its exit code. */
  run(args: readonly string[], io: CliIo): Promise<number>;
}
