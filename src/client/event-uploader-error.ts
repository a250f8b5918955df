import { Code, type ConnectError } from "@connectrpc/connect";
import { isSessionExpired } from "./token-source.js";

/** EventUploaderErrorCode is the stable code of an {@link EventUploaderError}; switch on it, never on the message. */
export type EventUploaderErrorCode =
  /** The queue holds `maxQueuedEvents` unsettled events: the event was not taken. Await `flush()` and add it again. */
  | "ERR_QUEUE_FULL"
  /** The event cannot be sent as given (no type, oversized, a bad id): it was not taken. */
  | "ERR_EVENT_INVALID"
  /** `close()` was called or the `signal` aborted: no event is taken any more. */
  | "ERR_UPLOADER_CLOSED"
  /** A terminal failure (session expired, permission denied) stopped uploads; see `resume()` and `unsent()`. */
  | "ERR_UPLOADER_FAILED";

/**
 * EventUploaderError is thrown by {@link EventUploader.add} when an event is
 * not taken, and rejects `flush()`/`close()` when uploads stopped. `cause`
 * holds the underlying `ConnectError`, if any.
 */
export class EventUploaderError extends Error {
  /** code says what went wrong; stable across versions. */
  readonly code: EventUploaderErrorCode;

  constructor(code: EventUploaderErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EventUploaderError";
    this.code = code;
  }
}

/** uploadsStoppedError builds the `ERR_UPLOADER_FAILED` error for a terminal `IngestEvents` failure, saying when a new login is needed. */
export function uploadsStoppedError(error: ConnectError): EventUploaderError {
  const message = isSessionExpired(error)
    ? "event uploads stopped: the session expired (a new login is needed)"
    : `event uploads stopped: [${Code[error.code]}] ${error.rawMessage}`;
  return new EventUploaderError("ERR_UPLOADER_FAILED", message, { cause: error });
}
