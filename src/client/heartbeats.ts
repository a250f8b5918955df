import { durationMs as protoDurationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { HeartbeatResponse, HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { abortableDelay, linkedAbortController } from "../lib/abortable-delay.js";
import type { Clock } from "../lib/clock.js";
import { checkLoopOptions } from "./loop-options.js";
import { backoffDelay, type BackoffOptions } from "./refresh-policy.js";
import { isSessionExpired } from "./token-source.js";
import { isTransientError } from "./transient-error.js";

/** HeartbeatsStopReason says why {@link startHeartbeats} stopped. */
export type HeartbeatsStopReason =
  /** `stop()` was called or the `signal` aborted. */
  | "stopped"
  /** The token source's session is over (a new login is needed): see `isSessionExpired`. */
  | "session_expired"
  /** A heartbeat failed in a way retrying cannot fix (`PermissionDenied`, `InvalidArgument`, …). */
  | "failed";

/** HeartbeatsResult is what {@link Heartbeats.done} resolves to. */
export interface HeartbeatsResult {
  /** reason says why the heartbeats stopped. */
  reason: HeartbeatsStopReason;
  /** error is the failure that stopped them (absent for `"stopped"`). */
  error?: ConnectError;
  /** beats is the number of heartbeats the server acknowledged. */
  beats: number;
  /** failures is the number of heartbeats that failed. */
  failures: number;
}

/** HeartbeatEvent is every event {@link startHeartbeats} emits. */
export type HeartbeatEvent =
  /** beat: the server acknowledged a heartbeat; the next one goes out in `intervalMs`. */
  | { type: "beat"; beats: number; intervalMs: number; latencyMs: number; serverTime?: number; skewMs?: number }
  /** retry: a heartbeat failed transiently (the `attempt`-th time in a row); the next try is in `delayMs`. */
  | { type: "retry"; attempt: number; delayMs: number; error: ConnectError }
  /** stopped: the heartbeats ended; the same value {@link Heartbeats.done} resolves to. */
  | ({ type: "stopped" } & HeartbeatsResult);

/** HeartbeatsOptions configures {@link startHeartbeats}. */
export interface HeartbeatsOptions {
  /** instanceId identifies this client instance within its session. @default "" */
  instanceId?: string;
  /** attributes are labels sent with every heartbeat. @default {} */
  attributes?: Record<string, string>;
  /** signal stops the heartbeats when it aborts (like `stop()`). @default none */
  signal?: AbortSignal;
  /**
   * defaultIntervalMs is the pause after a heartbeat whose response carries no
   * `interval`. Every response that carries one replaces it.
   * @default 30 000 — the reference server's default interval
   */
  defaultIntervalMs?: number;
  /**
   * minIntervalMs is the shortest pause honoured between heartbeats; a
   * smaller server interval is raised to it, so a misconfigured server cannot
   * make its clients hammer it.
   * @default 1 000
   */
  minIntervalMs?: number;
  /**
   * maxIntervalMs is the longest pause honoured; a larger server interval is
   * lowered to it, so a client still proves it is alive.
   * @default 3 600 000 (1 h)
   */
  maxIntervalMs?: number;
  /**
   * timeoutMs bounds each heartbeat call, measured on `clock`; a call that
   * takes longer fails with `DeadlineExceeded` and is retried.
   * @default 10 000
   */
  timeoutMs?: number;
  /**
   * backoff shapes the retries after transient failures: capped exponential
   * with equal jitter (`backoffDelay`). A retry never waits longer than the
   * current interval, so a beat is never skipped for backoff alone.
   * @default { initialMs: 1000, maxMs: 60 000 }
   */
  backoff?: BackoffOptions;
  /** clock supplies time and timers (every timer is unref'd: heartbeats never keep Node alive). @default systemClock */
  clock?: Clock;
  /** random returns numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
  /** onEvent observes beats, retries and the stop; an observer that throws is ignored. @default none */
  onEvent?: (event: HeartbeatEvent) => void;
}

/** Heartbeats is the handle returned by {@link startHeartbeats}. */
export interface Heartbeats {
  /** stop ends the heartbeats, aborting a call in flight; it resolves like {@link Heartbeats.done}. Idempotent. */
  stop(): Promise<HeartbeatsResult>;
  /** done resolves (never rejects) when the heartbeats end, saying why. */
  readonly done: Promise<HeartbeatsResult>;
  /** beats is the number of heartbeats the server acknowledged so far. */
  readonly beats: number;
  /** failures is the number of heartbeats that failed so far. */
  readonly failures: number;
  /** intervalMs is the pause currently used between heartbeats (the server's, clamped). */
  readonly intervalMs: number;
}

function positive(who: string, name: string, v: unknown, fallback: number): number {
  const n = v === undefined ? fallback : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) {
    throw new TypeError(`${who}: option "${name}" must be a positive number of milliseconds`);
  }
  return n;
}

/** durationMs converts a protobuf Duration to milliseconds, or undefined when absent or not positive. */
function durationMs(d: HeartbeatResponse["interval"]): number | undefined {
  if (d === undefined) {
    return undefined;
  }
  const ms = protoDurationMs(d);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/**
 * startHeartbeats sends `Heartbeat` calls through `client` until stopped: the
 * first at once, each next one after the `interval` the server returned
 * (clamped to `[minIntervalMs, maxIntervalMs]`; `defaultIntervalMs` while the
 * server names none). A transient failure (see `isTransientError`:
 * `Unavailable`, `DeadlineExceeded`, `ResourceExhausted`, `Aborted`, a dropped
 * connection, a rejected token) is retried after a capped exponential backoff
 * with jitter, never longer than the interval. A terminal failure stops the
 * heartbeats: the token source's session expired (`reason:
 * "session_expired"`, a new login is needed) or the server refuses the call
 * for good (`"failed"`, e.g. `PermissionDenied` without scope
 * `heartbeat:write`). `stop()` or the `signal` end them at once.
 *
 * Authentication is the transport's business: give the client a transport
 * with `createAuthInterceptor`, and the heartbeats survive every token expiry.
 *
 * @example
 * const beats = startHeartbeats(createClient(HeartbeatService, transport), { instanceId: "agent-7" });
 * // … later
 * await beats.stop();
 */
export function startHeartbeats(client: Client<typeof HeartbeatService>, options: HeartbeatsOptions = {}): Heartbeats {
  const who = "startHeartbeats";
  if (typeof client?.heartbeat !== "function") {
    throw new TypeError(`${who}: the first argument must be a HeartbeatService client`);
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${who}: options must be an object`);
  }
  const instanceId = options.instanceId ?? "";
  if (typeof instanceId !== "string") {
    throw new TypeError(`${who}: option "instanceId" must be a string`);
  }
  const attributes = { ...(options.attributes ?? {}) };
  if (Object.values(attributes).some((v) => typeof v !== "string")) {
    throw new TypeError(`${who}: option "attributes" must map strings to strings`);
  }
  const minIntervalMs = positive(who, "minIntervalMs", options.minIntervalMs, 1000);
  const maxIntervalMs = positive(who, "maxIntervalMs", options.maxIntervalMs, 3_600_000);
  if (maxIntervalMs < minIntervalMs) {
    throw new TypeError(`${who}: option "maxIntervalMs" must not be smaller than "minIntervalMs"`);
  }
  const defaultIntervalMs = positive(who, "defaultIntervalMs", options.defaultIntervalMs, 30_000);
  const timeoutMs = positive(who, "timeoutMs", options.timeoutMs, 10_000);
  const backoff = options.backoff ?? {};
  positive(who, "backoff.initialMs", backoff.initialMs, 1000);
  positive(who, "backoff.maxMs", backoff.maxMs, 60_000);
  const { clock, random, signal, emit } = checkLoopOptions(who, options);

  const clamp = (ms: number) => Math.min(maxIntervalMs, Math.max(minIntervalMs, ms));
  let intervalMs = clamp(defaultIntervalMs);
  let beats = 0;
  let failures = 0;
  const { controller: stopper, dispose } = linkedAbortController(signal);

  /** One heartbeat, bounded by timeoutMs on the clock. */
  async function beatOnce(): Promise<HeartbeatResponse> {
    const { controller, dispose: undo } = linkedAbortController(stopper.signal);
    const timer = clock.setTimeout(
      () => controller.abort(new ConnectError(`heartbeat timed out after ${timeoutMs} ms`, Code.DeadlineExceeded)),
      timeoutMs,
    );
    try {
      return await client.heartbeat({ instanceId, attributes }, { signal: controller.signal });
    } finally {
      clock.clearTimeout(timer);
      undo();
    }
  }

  async function run(): Promise<HeartbeatsResult> {
    let attempt = 0;
    for (;;) {
      if (stopper.signal.aborted) {
        return { reason: "stopped", beats, failures };
      }
      const started = clock.now();
      let waitMs: number;
      try {
        const res = await beatOnce();
        beats++;
        attempt = 0;
        intervalMs = clamp(durationMs(res.interval) ?? intervalMs);
        const now = clock.now();
        const serverTime = res.serverTime === undefined ? undefined : timestampMs(res.serverTime);
        // The server stamped its time somewhere within the round trip: compare with its midpoint.
        const skewMs = serverTime === undefined ? undefined : serverTime - (started + now) / 2;
        emit({ type: "beat", beats, intervalMs, latencyMs: now - started, serverTime, skewMs });
        waitMs = intervalMs;
      } catch (e) {
        if (stopper.signal.aborted) {
          return { reason: "stopped", beats, failures };
        }
        failures++;
        const error = ConnectError.from(e);
        if (isSessionExpired(error)) {
          return { reason: "session_expired", error, beats, failures };
        }
        if (!isTransientError(error)) {
          return { reason: "failed", error, beats, failures };
        }
        attempt++;
        waitMs = Math.min(intervalMs, backoffDelay(attempt, random(), backoff));
        emit({ type: "retry", attempt, delayMs: waitMs, error });
      }
      try {
        await abortableDelay(clock, waitMs, stopper.signal);
      } catch {
        return { reason: "stopped", beats, failures };
      }
    }
  }

  const done = run().then((result) => {
    dispose();
    emit({ type: "stopped", ...result });
    return result;
  });

  return {
    stop() {
      stopper.abort(new ConnectError("heartbeats stopped", Code.Canceled));
      return done;
    },
    done,
    get beats() {
      return beats;
    },
    get failures() {
      return failures;
    },
    get intervalMs() {
      return intervalMs;
    },
  };
}
