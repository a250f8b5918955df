import { Code, ConnectError } from "@connectrpc/connect";
import { raceAbort } from "./abort-race.js";
import { classifyRefreshFailure } from "./refresh-errors.js";
import { isUsable } from "./refresh-policy.js";
import type { RefreshRetry } from "./refresh-retry.js";
import { isNewerPair, readStore } from "./store-adoption.js";
import { fingerprint, type RefreshCause, type TokenSourceEvent } from "./token-events.js";
import type { TokenPersister } from "./token-persister.js";
import type { SourceSettings } from "./token-source-options.js";
import { closedError, type SourceCore } from "./token-source-state.js";
import type { StoredToken } from "./token-store.js";

/** FlightHooks are the token source transitions a refresh flight drives. */
export interface FlightHooks {
  settings: SourceSettings;
  core: SourceCore;
  retry: RefreshRetry;
  persister: TokenPersister;
  emit(event: TokenSourceEvent): void;
  /** install makes a refreshed pair current. */
  install(token: StoredToken): void;
  /** adopt makes a pair found in the store current. */
  adopt(token: StoredToken, cause: RefreshCause): void;
  /** end enters a terminal state, emitting `event`, and returns the error callers get. */
  end(state: "session_expired" | "failed", error: ConnectError, event: TokenSourceEvent): ConnectError;
  /** signedOutElsewhere enters `signed_out` because the store was cleared by another process. */
  signedOutElsewhere(): ConnectError;
}

/** RefreshFlight is a token source's single-flight refresher: at most one refresh at a time, shared by every caller. */
export interface RefreshFlight {
  /** start joins the refresh in flight, or starts one for `cause`; `force` wants a pair other than the current one. */
  start(cause: RefreshCause, force?: boolean): Promise<StoredToken>;
  /** busy reports whether a refresh is in flight. */
  readonly busy: boolean;
  /** abort ends the refresh in flight with `reason` (close, sign-out). */
  abort(reason: ConnectError): void;
}

interface Flight {
  /** baseGen is the generation this refresh may replace; adopting a pair moves it forward. */
  baseGen: number;
  controller: AbortController;
  promise: Promise<StoredToken>;
}

/**
 * createRefreshFlight returns the single-flight refresher of a token source.
 * Each refresh is tagged with the generation of the pair it replaces (as jose
 * tags JWKS reloads), so one that finishes after a newer pair arrived — by
 * `setToken` or adoption — neither replaces it (success) nor ends or
 * re-rotates it (failure). Each has its own deadline, which its waiters
 * never wait past; a success arriving after it is still kept unless a newer
 * pair exists. Under the store's lock it first re-reads the store and adopts
 * a newer pair instead of refreshing, and it persists before releasing.
 */
export function createRefreshFlight(h: FlightHooks): RefreshFlight {
  const { settings, core, retry, persister } = h;
  const { store, clock, policy } = settings;
  let flight: Flight | undefined;

  function start(cause: RefreshCause, force = false): Promise<StoredToken> {
    if (flight !== undefined) {
      return flight.promise;
    }
    const controller = new AbortController();
    const f: Flight = { baseGen: core.generation, controller, promise: undefined as never };
    const deadline = clock.setTimeout(
      () => controller.abort(new ConnectError(`token refresh timed out after ${settings.refreshTimeoutMs} ms`, Code.DeadlineExceeded)),
      settings.refreshTimeoutMs,
    );
    flight = f;
    f.promise = run(f, cause, force).finally(() => {
      clock.clearTimeout(deadline);
      if (flight === f) flight = undefined;
    });
    f.promise.catch(() => {});
    return f.promise;
  }

  async function run(f: Flight, cause: RefreshCause, force: boolean): Promise<StoredToken> {
    const started = clock.now();
    let result: { token: StoredToken; adopted: boolean };
    try {
      const work = () => attempt(f, cause, force);
      result = await raceAbort(store?.lock ? store.lock(work, { signal: f.controller.signal }) : work(), f.controller.signal);
    } catch (e) {
      return settleFailure(f, cause, started, e);
    }
    if (core.state !== "active") {
      throw core.ended ?? closedError();
    }
    if (!result.adopted && core.generation === f.baseGen) {
      h.install(result.token);
    }
    // Else a newer pair arrived while this refresh ran: it wins, and this result is dropped.
    retry.reset();
    const outcome = result.adopted ? "adopted" : "success";
    h.emit({ type: "refresh", cause, outcome, latencyMs: clock.now() - started, fingerprint: fingerprint(core.token!.accessToken) });
    return core.token!;
  }

  /** attempt runs under the store's lock: adopt a newer stored pair, or refresh and persist. */
  async function attempt(f: Flight, cause: RefreshCause, force: boolean): Promise<{ token: StoredToken; adopted: boolean }> {
    const startGen = f.baseGen;
    if (store !== undefined) {
      const read = await readStore(store);
      if (read.ok && read.token === undefined && persister.heldOurs && core.state === "active") {
        throw h.signedOutElsewhere();
      }
      if (read.ok && isNewerPair(read.token, core.token)) {
        h.adopt(read.token, cause);
      }
    }
    if (core.generation !== startGen) {
      f.baseGen = core.generation;
      // A forced refresh wanted another token and got one; otherwise refresh only if the new pair is stale too.
      const now = clock.now();
      if (force || (now < core.point && isUsable(core.token, now, policy))) {
        return { token: core.token!, adopted: true };
      }
    }
    const gen = f.baseGen;
    const call = Promise.resolve().then(() => settings.refresh(core.token, { signal: f.controller.signal, cause }));
    call.then((late) => f.controller.signal.aborted && keepLate(gen, late, cause), () => {});
    const next = await raceAbort(call, f.controller.signal);
    if (core.generation === gen) {
      await persister.save(next); // under the lock: the store holds the new pair before another process reads it
    }
    return { token: next, adopted: false };
  }

  /** keepLate keeps a pair that arrived after its refresh timed out — the server already rotated — unless a newer pair exists. */
  function keepLate(gen: number, late: StoredToken, cause: RefreshCause): void {
    if (core.state !== "active" || core.generation !== gen) {
      return;
    }
    h.install(late);
    void persister.saveOutsideLock(late);
    h.emit({ type: "refresh", cause, outcome: "success", latencyMs: 0, fingerprint: fingerprint(late.accessToken) });
  }

  async function settleFailure(f: Flight, cause: RefreshCause, started: number, thrown: unknown): Promise<StoredToken> {
    if (core.state !== "active") {
      throw core.ended ?? closedError();
    }
    const latencyMs = clock.now() - started;
    if (core.generation !== f.baseGen && core.token !== undefined) {
      // A newer pair arrived while this refresh ran: its failure concerns a pair no longer in use.
      settings.logger?.debug?.("tokenkit: a refresh for an older token generation failed late; ignored");
      return core.token;
    }
    const refreshExpired = core.token?.refreshExpiresAt !== undefined && clock.now() >= core.token.refreshExpiresAt;
    const failure = classifyRefreshFailure(thrown, refreshExpired);
    if (failure.kind === "transient") {
      h.emit({ type: "refresh", cause, outcome: "transient_failure", latencyMs, error: failure.error });
      const { attempt: n, delayMs } = retry.schedule(failure.error, failure.retryAfterMs, onRetry);
      h.emit({ type: "refresh_retry", attempt: n, delayMs, error: failure.error });
      throw failure.error;
    }
    if (failure.kind === "session_expired" && store !== undefined) {
      // Another process may have rotated the pair we just spent: adopt it instead of ending the session.
      const read = await readStore(store);
      if (read.ok && isNewerPair(read.token, core.token) && core.state === "active") {
        h.adopt(read.token, cause);
        return core.token!;
      }
    }
    h.emit({ type: "refresh", cause, outcome: "terminal_failure", latencyMs, error: failure.error });
    throw failure.kind === "session_expired"
      ? h.end("session_expired", failure.error, { type: "session_expired", reason: failure.reason, error: failure.error })
      : h.end("failed", failure.error, { type: "refresh_failed", error: failure.error });
  }

  function onRetry(): void {
    if (core.state === "active" && flight === undefined) {
      start("proactive").catch(() => {});
    }
  }

  return {
    start,
    get busy() {
      return flight !== undefined;
    },
    abort(reason) {
      flight?.controller.abort(reason);
    },
  };
}
