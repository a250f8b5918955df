import type { Logger } from "../lib/logger.js";
import type { CliIo } from "./cli-io.js";

// How `tokenkit serve` lives as a process: its log lines on stderr and its signals.

/** stderrLogger writes each log line to stderr as `LEVEL message[: error message]`. */
export function stderrLogger(io: CliIo): Logger {
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

/** waitForShutdown resolves on SIGINT/SIGTERM (or `io.shutdown`); SIGHUP calls `onReload`. A second SIGINT/SIGTERM exits at once. */
export function waitForShutdown(io: CliIo, onReload: () => void): { done: Promise<string>; dispose(): void } {
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

