import { Code, type ConnectError } from "@connectrpc/connect";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import type { Logger } from "../lib/logger.js";

/**
 * RefreshCause says why a refresh ran: `initial` (no usable token), `proactive` (a call found the
 * token past its refresh point), `scheduled` (the `autoRefresh` timer, or a check after the page
 * became visible or the machine woke), `reactive` (the server rejected the token), `notified`
 * (another tab or process announced a new pair through the store's `subscribe`; always `adopted`).
 */
export type RefreshCause = "initial" | "proactive" | "scheduled" | "reactive" | "notified";

/** RefreshOutcome says how a refresh ended. `adopted` means a newer pair written by another process was taken instead. */
export type RefreshOutcome = "success" | "adopted" | "transient_failure" | "terminal_failure";

/**
 * TokenSourceEvent is every event a token source emits. None carries token
 * text: `fingerprint` is a short non-reversible id of the access token.
 */
export type TokenSourceEvent =
  | { type: "refresh"; cause: RefreshCause; outcome: RefreshOutcome; latencyMs: number; fingerprint?: string; error?: ConnectError }
  | { type: "refresh_retry"; attempt: number; delayMs: number; error: ConnectError }
  | { type: "persist_failed"; attempt: number; error: unknown }
  /** session_expired: the session is over (state `session_expired`); a new login is needed. Fires once. */
  | { type: "session_expired"; reason: AuthErrorReason; error: ConnectError }
  /** refresh_failed: the refresh function reported a configuration error (state `failed`). Fires once. */
  | { type: "refresh_failed"; error: ConnectError }
  /** signed_out: `signOut()` here (`remote: false`) or in another tab or process sharing the store (`remote: true`). */
  | { type: "signed_out"; remote: boolean }
  /** visibility: the page was hidden (the `autoRefresh` timer is suspended) or shown again (freshness is checked once). */
  | { type: "visibility"; visible: boolean }
  /** wake: the `autoRefresh` timer fired `lateMs` late — the machine slept or the page was frozen; freshness is checked once. */
  | { type: "wake"; lateMs: number };

/**
 * fingerprint returns 8 hex characters identifying `token` in logs and
 * events (FNV-1a, 32 bits): enough to tell tokens apart, useless to an attacker.
 */
export function fingerprint(token: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) {
    h ^= token.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** logTokenEvent writes `event` to `logger` as one line of text, never token text. */
export function logTokenEvent(logger: Logger | undefined, event: TokenSourceEvent): void {
  if (logger === undefined) {
    return;
  }
  switch (event.type) {
    case "refresh":
      logger[event.outcome.endsWith("failure") ? "warn" : "debug"]?.(
        `tokenkit: refresh ${event.cause} ${event.outcome} in ${event.latencyMs} ms${event.fingerprint ? ` (token ${event.fingerprint})` : ""}`,
      );
      break;
    case "refresh_retry":
      logger.warn?.(`tokenkit: refresh failed (${Code[event.error.code]}); retry ${event.attempt} in ${event.delayMs} ms`);
      break;
    case "persist_failed":
      logger.warn?.(`tokenkit: saving the token failed (attempt ${event.attempt}); will retry`);
      break;
    case "session_expired":
      logger.error?.(`tokenkit: session expired (${AuthErrorReason[event.reason]}); a new login is needed`);
      break;
    case "refresh_failed":
      logger.error?.(`tokenkit: the refresh function cannot work as configured (${Code[event.error.code]}: ${event.error.rawMessage}); refreshing stopped`);
      break;
    case "signed_out":
      logger.info?.(`tokenkit: signed out${event.remote ? " (by another tab or process sharing the store)" : ""}`);
      break;
    case "visibility":
      logger.debug?.(`tokenkit: page ${event.visible ? "visible: checking freshness" : "hidden: refresh timer suspended"}`);
      break;
    case "wake":
      logger.debug?.(`tokenkit: woke from sleep (timer ${event.lateMs} ms late): checking freshness`);
      break;
  }
}
