import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { authError } from "../auth-error.js";
import { refreshPoint, type RefreshPolicy } from "./refresh-policy.js";
import type { StoredToken } from "./token-store.js";

/**
 * TokenSourceState is the lifecycle of a token source:
 * - `active`: tokens are handed out and refreshed;
 * - `session_expired` (terminal until a new login): the refresh token is spent, expired or
 *   revoked; callers get `Unauthenticated` with the reason;
 * - `failed` (terminal until `setToken`): the refresh function reported a configuration error;
 *   callers get that error;
 * - `signed_out` (terminal until a new login): `signOut()` here, or in another tab or process
 *   sharing the store; callers get `Unauthenticated` (`TOKEN_REVOKED`);
 * - `closed` (final): `close()`; callers get `Canceled`.
 *
 * `setToken` (or a pair adopted from the store) leads from any state but `closed` back to `active`.
 */
export type TokenSourceState = "active" | "session_expired" | "failed" | "signed_out" | "closed";

/**
 * SourceCore is the whole state of a token source that decides what callers
 * get: the current pair, its generation (bumped by every new pair, so a refresh
 * started for an older generation can tell it is stale), its refresh point,
 * the lifecycle state and, outside `active`, the error callers get.
 */
export interface SourceCore {
  readonly token: StoredToken | undefined;
  readonly generation: number;
  readonly point: number;
  readonly state: TokenSourceState;
  /** ended is the error callers get outside `active`. */
  readonly ended: ConnectError | undefined;
  /** install makes `token` current (a new generation) and the source `active` again unless it is closed. */
  install(token: StoredToken): void;
  /** end leaves `active` for a terminal state with the error callers will get (`signed_out` also forgets the pair); `closed` is final. */
  end(state: Exclude<TokenSourceState, "active">, error: ConnectError): void;
}

/** closedError is what callers of a closed source get. */
export function closedError(): ConnectError {
  return new ConnectError("token source is closed", Code.Canceled);
}

/** signedOutError is what callers of a signed-out source get. */
export function signedOutError(): ConnectError {
  return authError(AuthErrorReason.TOKEN_REVOKED, "signed out: a new login is needed");
}

/** createSourceCore returns the state of a new token source, `active` and without a pair. */
export function createSourceCore(policy: RefreshPolicy, random: () => number): SourceCore {
  let token: StoredToken | undefined;
  let generation = 0;
  let point = 0;
  let state: TokenSourceState = "active";
  let ended: ConnectError | undefined;
  return {
    get token() {
      return token;
    },
    get generation() {
      return generation;
    },
    get point() {
      return point;
    },
    get state() {
      return state;
    },
    get ended() {
      return ended;
    },
    install(next) {
      if (state === "closed") {
        return;
      }
      token = { ...next };
      generation++;
      point = refreshPoint(token, policy, random());
      state = "active";
      ended = undefined;
    },
    end(next, error) {
      if (state === "closed") {
        return;
      }
      state = next;
      ended = next === "closed" ? closedError() : error;
      if (next === "signed_out") {
        token = undefined; // a signed-out pair is not kept in memory either
      }
    },
  };
}
