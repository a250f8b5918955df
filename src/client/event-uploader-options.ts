import type { Clock } from "../lib/clock.js";
import { checkLoopOptions } from "./loop-options.js";
import { newEventId } from "./event-id.js";
import type { BackoffOptions } from "./refresh-policy.js";
import type { EventUploaderEvent } from "./event-uploader-types.js";

/** EventUploaderOptions configures {@link createEventUploader}. */
export interface EventUploaderOptions {
  /**
   * maxBatchEvents is the most events per `IngestEvents` call, 1–1000.
   * @default 500 — half the reference server's limit of 1000
   */
  maxBatchEvents?: number;
  /**
   * maxBatchBytes is the most encoded event bytes per call; a batch closes
   * before the event that would cross it (a single larger event still goes alone).
   * @default 1 048 576 (1 MiB)
   */
  maxBatchBytes?: number;
  /**
   * maxEventBytes is the largest encoded event `add` takes; larger ones throw
   * `ERR_EVENT_INVALID` at once instead of poisoning a batch later.
   * @default 65 536 — the reference server's limit
   */
  maxEventBytes?: number;
  /**
   * lingerMs is how long an event may wait for companions before its batch is
   * sent anyway. A full batch, `flush()` or `close()` send at once; with 0,
   * the events added in one synchronous run still share a batch.
   * @default 1 000
   */
  lingerMs?: number;
  /**
   * maxQueuedEvents bounds the events taken but not yet settled (queued and
   * in flight). **Overflow policy:** once it is reached, `add` throws
   * `EventUploaderError` with code `ERR_QUEUE_FULL` and does not take the
   * event — nothing already queued is ever discarded to make room. Await
   * `flush()` (or watch `stats().queued`) and add again.
   * @default 10 000
   */
  maxQueuedEvents?: number;
  /**
   * timeoutMs bounds each `IngestEvents` call on `clock`; a call that takes
   * longer fails with `DeadlineExceeded` and its batch is retried.
   * @default 30 000
   */
  timeoutMs?: number;
  /** backoff shapes retries after transient failures (capped exponential, equal jitter). @default { initialMs: 1000, maxMs: 60 000 } */
  backoff?: BackoffOptions;
  /**
   * signal, when it aborts, stops the uploader at once like a failed `close()`:
   * the call in flight is cancelled and every unsettled event stays in `unsent()`.
   * @default none
   */
  signal?: AbortSignal;
  /** generateId returns the id of an event added without one; called once per event, at `add`. @default crypto.randomUUID */
  generateId?: () => string;
  /** clock supplies time and timers (unref'd: a lingering batch never keeps Node alive). @default systemClock */
  clock?: Clock;
  /** random returns numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
  /** onEvent observes batches, retries, rejected events and failures; an observer that throws is ignored. @default none */
  onEvent?: (event: EventUploaderEvent) => void;
}

/** UploaderSettings are {@link EventUploaderOptions} validated once, with their defaults filled in. */
export interface UploaderSettings {
  maxBatchEvents: number;
  maxBatchBytes: number;
  maxEventBytes: number;
  maxQueuedEvents: number;
  lingerMs: number;
  timeoutMs: number;
  backoff: BackoffOptions;
  signal: AbortSignal | undefined;
  generateId: () => string;
  clock: Clock;
  random: () => number;
  emit(event: EventUploaderEvent): void;
}

function positiveInt(who: string, name: string, v: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = v === undefined ? fallback : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > max) {
    throw new TypeError(`${who}: option "${name}" must be an integer from 1 to ${max}`);
  }
  return n;
}

function nonNegative(who: string, name: string, v: unknown, fallback: number): number {
  const n = v === undefined ? fallback : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
    throw new TypeError(`${who}: option "${name}" must be a non-negative number of milliseconds`);
  }
  return n;
}

/**
 * normalizeUploaderOptions validates `options` (a caller mistake throws a
 * `TypeError` naming the option, prefixed with `who`) and fills the defaults
 * documented on {@link EventUploaderOptions}.
 */
export function normalizeUploaderOptions(who: string, options: EventUploaderOptions): UploaderSettings {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${who}: options must be an object`);
  }
  const maxBatchEvents = positiveInt(who, "maxBatchEvents", options.maxBatchEvents, 500, 1000);
  const maxBatchBytes = positiveInt(who, "maxBatchBytes", options.maxBatchBytes, 1 << 20);
  const maxEventBytes = positiveInt(who, "maxEventBytes", options.maxEventBytes, 64 * 1024);
  const maxQueuedEvents = positiveInt(who, "maxQueuedEvents", options.maxQueuedEvents, 10_000);
  const lingerMs = nonNegative(who, "lingerMs", options.lingerMs, 1000);
  const timeoutMs = nonNegative(who, "timeoutMs", options.timeoutMs, 30_000);
  if (timeoutMs === 0) {
    throw new TypeError(`${who}: option "timeoutMs" must be a positive number of milliseconds`);
  }
  const backoff = options.backoff ?? {};
  if (backoff.initialMs !== undefined) positiveInt(who, "backoff.initialMs", backoff.initialMs, 1000);
  if (backoff.maxMs !== undefined) positiveInt(who, "backoff.maxMs", backoff.maxMs, 60_000);
  const { clock, random, signal, emit } = checkLoopOptions(who, options);
  const generateId = options.generateId ?? newEventId;
  if (typeof generateId !== "function") {
    throw new TypeError(`${who}: option "generateId" must be a function`);
  }
  return { maxBatchEvents, maxBatchBytes, maxEventBytes, maxQueuedEvents, lingerMs, timeoutMs, backoff, signal, generateId, clock, random, emit };
}
