import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { EventService, WatchEventsResponse } from "../../gen/tokenkit/v1/event_service_pb.js";
import { AuthErrorReason, authErrorReason } from "../auth-error.js";
import { abortableDelay, linkedAbortController } from "../lib/abortable-delay.js";
import type { Clock } from "../lib/clock.js";
import { checkLoopOptions } from "./loop-options.js";
import { backoffDelay, type BackoffOptions } from "./refresh-policy.js";
import { isTransientError } from "./transient-error.js";

/** WatchReconnectCause says why a watch reopened its stream. */
export type WatchReconnectCause =
  /** The stream's access token expired (`Unauthenticated` that does not end the session): the next stream carries a fresh one. */
  | "token_expired"
  /** The connection or the server failed (`Unavailable`, a reset stream, …). */
  | "transient_error"
  /** The server ended the stream cleanly (say, it is shutting down). */
  | "ended";

/** WatchEventsEvent is every event a watch emits. */
export type WatchEventsEvent =
  /** reconnect: the stream ended; it reopens after `delayMs` from `afterSequence`. */
  | { type: "reconnect"; cause: WatchReconnectCause; attempt: number; delayMs: number; afterSequence: bigint; error?: ConnectError }
  /** duplicate: the server sent a sequence at or below the last one yielded; it was skipped. */
  | { type: "duplicate"; sequence: bigint; lastSequence: bigint };

/** WatchEventsOptions configures {@link watchEvents}. */
export interface WatchEventsOptions {
  /** afterSequence is the last sequence already seen; the watch yields only later ones. @default 0n — from the beginning */
  afterSequence?: bigint;
  /** types restricts the watch to these event types. @default [] — all types */
  types?: readonly string[];
  /** signal ends the watch: iteration finishes normally, the open stream is cancelled. @default none */
  signal?: AbortSignal;
  /**
   * backoff shapes the pause before reopening after a failure: capped
   * exponential with equal jitter, reset by every event received. The
   * first reopen after a token expiry is immediate.
   * @default { initialMs: 1000, maxMs: 30 000 }
   */
  backoff?: BackoffOptions;
  /**
   * maxConsecutiveFailures ends the watch with the last error after this
   * many reopen attempts in a row without an event in between.
   * @default Infinity — a watch meant to run for weeks never gives up on a network
   */
  maxConsecutiveFailures?: number;
  /** clock supplies the backoff timers. @default systemClock */
  clock?: Clock;
  /** random returns numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
  /** onEvent observes reconnects and skipped duplicates; an observer that throws is ignored. @default none */
  onEvent?: (event: WatchEventsEvent) => void;
}

/** WatchEventsStream is what {@link watchEvents} returns: the events, and where the watch stands. */
export interface WatchEventsStream extends AsyncIterable<WatchEventsResponse> {
  /** lastSequence is the sequence of the last event yielded (or `afterSequence`): where a resume starts. */
  readonly lastSequence: bigint;
  /** reconnects counts how often the stream was reopened. */
  readonly reconnects: number;
}

/**
 * watchEvents follows the subject's events through `client.watchEvents`
 * for as long as the caller iterates, across token expiries and broken
 * connections, delivering every sequence **exactly once, in order**.
 *
 * It remembers the sequence of the last event it yielded and, when the
 * stream ends — `Unauthenticated` (`TOKEN_EXPIRED`: the server ends a watch
 * when its access token expires), a transient failure (see
 * `isTransientError`), or a clean end — reopens it with
 * `after_sequence = last`. The fresh token comes from the transport's
 * `createAuthInterceptor`, whose token source refreshes (single-flight) when
 * the old token is no longer usable or the server rejects it. A sequence at
 * or below the last yielded is skipped (a `duplicate` event), so even a
 * misbehaving server cannot make the caller see an event twice.
 *
 * The watch ends normally when the caller stops iterating or the `signal`
 * aborts, and ends with the error when it is not worth retrying: the
 * session is over (`isSessionExpired(err)`: the token source could not
 * refresh, a new login is needed — a stream the server ends with
 * `TOKEN_REVOKED` is reopened once at once so that the source learns it and
 * fires its session-expired event), `PermissionDenied` (no scope `events:read`),
 * `InvalidArgument`, or `maxConsecutiveFailures` reached. Iterate it once.
 *
 * @example
 * const watch = watchEvents(createClient(EventService, transport), { afterSequence: saved });
 * for await (const { sequence, event } of watch) {
 *   handle(event);
 *   saved = sequence;
 * }
 */
export function watchEvents(client: Client<typeof EventService>, options: WatchEventsOptions = {}): WatchEventsStream {
  const who = "watchEvents";
  if (typeof client?.watchEvents !== "function") {
    throw new TypeError(`${who}: the first argument must be an EventService client`);
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${who}: options must be an object`);
  }
  let last = options.afterSequence ?? 0n;
  if (typeof last !== "bigint" || last < 0n) {
    throw new TypeError(`${who}: option "afterSequence" must be a non-negative bigint`);
  }
  const types = [...(options.types ?? [])];
  if (types.some((t) => typeof t !== "string" || t === "")) {
    throw new TypeError(`${who}: option "types" must be a list of non-empty strings`);
  }
  const backoff: BackoffOptions = { initialMs: 1000, maxMs: 30_000, ...options.backoff };
  for (const k of ["initialMs", "maxMs"] as const) {
    if (!(Number.isFinite(backoff[k]) && backoff[k]! > 0)) {
      throw new TypeError(`${who}: option "backoff.${k}" must be a positive number of milliseconds`);
    }
  }
  const maxFailures = options.maxConsecutiveFailures ?? Infinity;
  if (!(maxFailures === Infinity || (Number.isInteger(maxFailures) && maxFailures >= 1))) {
    throw new TypeError(`${who}: option "maxConsecutiveFailures" must be a positive integer or Infinity`);
  }
  const { clock, random, signal, emit } = checkLoopOptions(who, options);

  let reconnects = 0;
  let started = false;

  async function* run(): AsyncGenerator<WatchEventsResponse, void, undefined> {
    let failures = 0;
    let tokenRetryUsed = false;
    while (!signal?.aborted) {
      const { controller, dispose } = linkedAbortController(signal);
      let cause: WatchReconnectCause = "ended";
      let error: ConnectError | undefined;
      try {
        for await (const m of client.watchEvents({ afterSequence: last, types }, { signal: controller.signal })) {
          if (m.sequence <= last) {
            emit({ type: "duplicate", sequence: m.sequence, lastSequence: last });
            continue;
          }
          last = m.sequence;
          failures = 0;
          tokenRetryUsed = false;
          yield m;
        }
      } catch (e) {
        if (signal?.aborted) {
          return;
        }
        error = ConnectError.from(e);
        // A running stream that the server ends with TOKEN_REVOKED gets one immediate reopen: through
        // the auth interceptor it makes the token source try its refresh, fail for good and enter its
        // session-expired state (firing the app's login hook) — the reopen then ends the watch. A
        // reopen that itself fails so (failures > 0) ends it at once.
        const revokedByServer =
          error.code === Code.Unauthenticated && authErrorReason(error) === AuthErrorReason.TOKEN_REVOKED && failures === 0 && !tokenRetryUsed;
        if (!isTransientError(error) && !revokedByServer) {
          throw error;
        }
        cause = error.code === Code.Unauthenticated ? "token_expired" : "transient_error";
      } finally {
        // Also runs when the caller stops iterating: cancel the open stream.
        controller.abort(new ConnectError("watch closed", Code.Canceled));
        dispose();
      }
      failures++;
      if (failures > maxFailures) {
        throw error ?? new ConnectError(`the watch ended ${maxFailures} times in a row without an event`, Code.Unavailable);
      }
      // A token expiry is expected in a long watch: reopen at once, once; a repeat backs off like any failure.
      const immediate = cause === "token_expired" && !tokenRetryUsed;
      tokenRetryUsed ||= cause === "token_expired";
      const delayMs = immediate ? 0 : backoffDelay(failures, random(), backoff);
      reconnects++;
      emit({ type: "reconnect", cause, attempt: failures, delayMs, afterSequence: last, error });
      if (delayMs > 0) {
        try {
          await abortableDelay(clock, delayMs, signal);
        } catch {
          return;
        }
      }
    }
  }

  return {
    [Symbol.asyncIterator]() {
      if (started) {
        throw new TypeError("watchEvents: a watch can be iterated only once");
      }
      started = true;
      return run();
    },
    get lastSequence() {
      return last;
    },
    get reconnects() {
      return reconnects;
    },
  };
}
