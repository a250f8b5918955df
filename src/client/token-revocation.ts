import { Code, ConnectError } from "@connectrpc/connect";
import type { Clock } from "../lib/clock.js";
import { raceAbort } from "./abort-race.js";
import type { RefreshFunction } from "./refresh-function.js";
import type { StoredToken } from "./token-store.js";

/**
 * revokeAtServer ends the session of `token` at the token service through
 * `revoke` (the refresh function's), bounded by `timeoutMs` even if `revoke`
 * ignores its signal. It resolves to the failure (never rejects), or
 * `undefined` when revoked — or when there is nothing to revoke with.
 */
export async function revokeAtServer(
  revoke: RefreshFunction["revoke"],
  token: StoredToken,
  clock: Clock,
  timeoutMs: number,
): Promise<ConnectError | undefined> {
  if (revoke === undefined || (token.refreshToken || token.accessToken) === "") {
    return undefined;
  }
  const controller = new AbortController();
  const timer = clock.setTimeout(
    () => controller.abort(new ConnectError(`revoking timed out after ${timeoutMs} ms`, Code.DeadlineExceeded)),
    timeoutMs,
  );
  try {
    await raceAbort(Promise.resolve().then(() => revoke(token, { signal: controller.signal })), controller.signal);
    return undefined;
  } catch (e) {
    const err = ConnectError.from(e, Code.Unavailable);
    return new ConnectError(`revoking the session at the token service failed: ${err.rawMessage}`, err.code, undefined, undefined, e);
  } finally {
    clock.clearTimeout(timer);
  }
}
