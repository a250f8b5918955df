/**
 * Logger is the logging interface tokenkit writes to: any object with some of
 * `debug`, `info`, `warn`, `error` taking a message first — `console` and pino
 * loggers both fit. tokenkit never passes token text to a logger.
 */
export interface Logger {
  /** debug logs a diagnostic message. */
  debug?(message: string, ...details: unknown[]): void;
  /** info logs a notable event. */
  info?(message: string, ...details: unknown[]): void;
  /** warn logs a recoverable problem. */
  warn?(message: string, ...details: unknown[]): void;
  /** error logs a failure. */
  error?(message: string, ...details: unknown[]): void;
}
