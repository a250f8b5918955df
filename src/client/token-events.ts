import type { ConnectError } from "@connectrpc/connect";
import type { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";

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
  | { type: "session_expired"; reason: AuthErrorReason; error: ConnectError }
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
