import { clone, create, isMessage, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { EventSchema, type Event, type EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { abortableDelay, linkedAbortController } from "../lib/abortable-delay.js";
import type { Clock, ClockTimer } from "../lib/clock.js";
import { checkLoopOptions } from "./loop-options.js";
import { newEventId } from "./event-id.js";
import { backoffDelay, type BackoffOptions } from "./refresh-policy.js";
import { isSessionExpired } from "./token-source.js";
import { isTransientError } from "./transient-error.js";

/** EventInit is what {@link EventUploader.add} takes: an `Event` or its init shape; `id` and `occurTime` are optional. */
export type EventInit = MessageInitShape<typeof EventSchema>;

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

/** EventUploaderStats counts what an uploader did since it was created. */
export interface EventUploaderStats {
  /** added is the number of events taken by `add`. */
  added: number;
  /** accepted is the number of events the server newly stored. */
  accepted: number;
  /** duplicates is the number of events the server already had (a retry after a lost response, or a re-added id). */
  duplicates: number;
  /** rejected is the number of events the server refused as invalid (reported by `rejected` events, never retried). */
  rejected: number;
  /** batches is the number of `IngestEvents` calls that succeeded. */
  batches: number;
  /** retries is the number of `IngestEvents` calls that failed transiently and were retried with the same events. */
  retries: number;
  /** queued is the number of events taken but not settled yet (the in-flight batch included). */
  queued: number;
}

/** EventUploaderEvent is every event an uploader emits. */
export type EventUploaderEvent =
  /** batch: the server took a batch (`accepted` new, `duplicates` already stored). */
  | { type: "batch"; events: number; accepted: number; duplicates: number; attempt: number; latencyMs: number }
  /** retry: a batch failed transiently; the same events, same ids, go again in `delayMs`. */
  | { type: "retry"; events: number; attempt: number; delayMs: number; error: ConnectError }
  /** rejected: the server refused this event as invalid (`InvalidArgument`); it was dropped, and only it. */
  | { type: "rejected"; id: string; event: Event; error: ConnectError }
  /** failed: a terminal failure stopped uploads; `unsent` events wait in the queue (see `resume()`, `unsent()`). */
  | { type: "failed"; unsent: number; error: ConnectError };

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

/**
 * EventUploader batches events into `IngestEvents` calls. Every event it
 * takes is either stored by the server (once, whatever the retries), reported
 * as `rejected`, or kept in `unsent()` — never silently dropped.
 */
export interface EventUploader {
  /**
   * add takes one event and returns its id (the given one, else a new UUID),
   * fixed from now on so every retry resends the same id. It throws
   * `EventUploaderError`: `ERR_QUEUE_FULL` (see `maxQueuedEvents`),
   * `ERR_EVENT_INVALID`, `ERR_UPLOADER_CLOSED` or `ERR_UPLOADER_FAILED`;
   * a thrown event was not taken. The caller's object is not modified.
   */
  add(event: EventInit): string;
  /**
   * flush sends everything added so far without waiting for `lingerMs` and
   * resolves, with the stats, once each of those events is settled (stored,
   * duplicate or rejected). It rejects with `ERR_UPLOADER_FAILED` or
   * `ERR_UPLOADER_CLOSED` when uploads stop first.
   */
  flush(): Promise<EventUploaderStats>;
  /** close takes no more events, flushes the rest and stops; it rejects like `flush`. Idempotent. */
  close(): Promise<EventUploaderStats>;
  /** resume restarts uploads after a terminal failure (say, once the token source has a new login). */
  resume(): void;
  /** unsent returns copies of the events taken but not settled, oldest first, with their ids. */
  unsent(): Event[];
  /** stats returns the counters (a snapshot). */
  stats(): EventUploaderStats;
}

/** MAX_ID_LENGTH bounds `Event.id` and `Event.type`, as the reference server does. */
const MAX_ID_LENGTH = 256;

interface Pending {
  seq: number;
  event: Event;
  bytes: number;
  addedAt: number;
}

interface FlushWaiter {
  upTo: number;
  resolve(stats: EventUploaderStats): void;
  reject(err: EventUploaderError): void;
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
 * createEventUploader returns an {@link EventUploader} sending through
 * `client` (give it a transport with `createAuthInterceptor`).
 *
 * - **Batching:** up to `maxBatchEvents` / `maxBatchBytes` per call; a
 *   partial batch goes after `lingerMs`. One call is in flight at a time, so
 *   events are stored in the order they were added.
 * - **Retries:** a transient failure (see `isTransientError`) resends the
 *   *same* events with the *same* ids after a capped exponential backoff, so
 *   a response lost after the server stored the batch costs duplicates (counted
 *   in `duplicates`), never a second copy.
 * - **Invalid events:** `InvalidArgument` rejects the whole batch (the server
 *   is all or nothing, so nothing was stored). The uploader splits the batch
 *   in halves until the culprit is alone, drops **only that event** with a
 *   `rejected` event, and stores the rest. It never loops on it.
 * - **Terminal failures** (session expired, `PermissionDenied`, …) stop
 *   uploads: a `failed` event, `flush`/`close` reject with
 *   `ERR_UPLOADER_FAILED`, and every unsettled event stays in `unsent()`
 *   until `resume()`.
 * - **Overflow:** `add` throws `ERR_QUEUE_FULL` beyond `maxQueuedEvents`;
 *   nothing queued is ever discarded.
 */
export function createEventUploader(client: Client<typeof EventService>, options: EventUploaderOptions = {}): EventUploader {
  const who = "createEventUploader";
  if (typeof client?.ingestEvents !== "function") {
    throw new TypeError(`${who}: the first argument must be an EventService client`);
  }
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

  const queue: Pending[] = [];
  /** The batch being sent; its events settle front to back. */
  let inflight: Pending[] = [];
  let queuedBytes = 0;
  let nextSeq = 0;
  let settledSeq = 0;
  let sending = false;
  let pumpQueued = false;
  let closing = false;
  let closed: EventUploaderError | undefined;
  let failed: EventUploaderError | undefined;
  let lingerTimer: ClockTimer | undefined;
  let closePromise: Promise<EventUploaderStats> | undefined;
  const waiters: FlushWaiter[] = [];
  const stats = { added: 0, accepted: 0, duplicates: 0, rejected: 0, batches: 0, retries: 0 };
  const { controller: stopper, dispose } = linkedAbortController(signal);
  stopper.signal.addEventListener("abort", () => stop(new EventUploaderError("ERR_UPLOADER_CLOSED", "the event uploader was aborted", { cause: stopper.signal.reason })), {
    once: true,
  });

  function snapshot(): EventUploaderStats {
    return { ...stats, queued: queue.length + inflight.length };
  }

  function settleFront(n: number): void {
    const done = inflight.splice(0, n);
    if (done.length > 0) {
      settledSeq = done[done.length - 1]!.seq;
    }
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.upTo <= settledSeq) {
        waiters.splice(i, 1);
        w.resolve(snapshot());
      }
    }
  }

  function rejectWaiters(err: EventUploaderError): void {
    for (const w of waiters.splice(0)) {
      w.reject(err);
    }
  }

  /** Puts the unsettled in-flight events back at the head of the queue. */
  function requeueInflight(): void {
    for (const p of inflight) {
      queuedBytes += p.bytes;
    }
    queue.unshift(...inflight);
    inflight = [];
  }

  function stop(err: EventUploaderError): void {
    if (closed !== undefined) {
      return;
    }
    closed = err;
    clearLinger();
    rejectWaiters(err);
    dispose();
  }

  function clearLinger(): void {
    if (lingerTimer !== undefined) {
      clock.clearTimeout(lingerTimer);
      lingerTimer = undefined;
    }
  }

  function batchDue(): boolean {
    const head = queue[0];
    if (head === undefined) {
      return false;
    }
    return (
      closing ||
      queue.length >= maxBatchEvents ||
      queuedBytes >= maxBatchBytes ||
      waiters.some((w) => w.upTo > settledSeq) ||
      clock.now() - head.addedAt >= lingerMs
    );
  }

  /** Starts the next batch when one is due and none is in flight; else arms the linger timer. */
  function pump(): void {
    if (sending || failed !== undefined || closed !== undefined || queue.length === 0) {
      return;
    }
    if (!batchDue()) {
      if (lingerTimer === undefined) {
        const wait = Math.max(0, queue[0]!.addedAt + lingerMs - clock.now());
        lingerTimer = clock.setTimeout(() => {
          lingerTimer = undefined;
          pump();
        }, wait);
      }
      return;
    }
    clearLinger();
    let bytes = 0;
    let n = 0;
    while (n < queue.length && n < maxBatchEvents && (n === 0 || bytes + queue[n]!.bytes <= maxBatchBytes)) {
      bytes += queue[n]!.bytes;
      n++;
    }
    inflight = queue.splice(0, n);
    queuedBytes -= bytes;
    sending = true;
    void sendAll().finally(() => {
      sending = false;
      if (closed === undefined && failed === undefined) {
        pump();
      }
    });
  }

  async function sendAll(): Promise<void> {
    try {
      await send(inflight.slice());
    } catch (e) {
      requeueInflight();
      if (stopper.signal.aborted) {
        return;
      }
      const error = ConnectError.from(e);
      failed = new EventUploaderError(
        "ERR_UPLOADER_FAILED",
        isSessionExpired(error) ? "event uploads stopped: the session expired (a new login is needed)" : `event uploads stopped: [${Code[error.code]}] ${error.rawMessage}`,
        { cause: error },
      );
      clearLinger();
      emit({ type: "failed", unsent: queue.length, error });
      rejectWaiters(failed);
    }
  }

  function ingest(events: Pending[]): Promise<{ acceptedCount: number; duplicateCount: number }> {
    const { controller, dispose: undo } = linkedAbortController(stopper.signal);
    const timer = clock.setTimeout(
      () => controller.abort(new ConnectError(`IngestEvents timed out after ${timeoutMs} ms`, Code.DeadlineExceeded)),
      timeoutMs,
    );
    return client.ingestEvents({ events: events.map((p) => p.event) }, { signal: controller.signal }).finally(() => {
      clock.clearTimeout(timer);
      undo();
    });
  }

  /** Sends `batch` (the head of `inflight`) until it is settled; throws on a terminal failure or abort. */
  async function send(batch: Pending[]): Promise<void> {
    let attempt = 0;
    for (;;) {
      attempt++;
      const started = clock.now();
      try {
        const res = await ingest(batch);
        stats.batches++;
        stats.accepted += res.acceptedCount;
        stats.duplicates += res.duplicateCount;
        settleFront(batch.length);
        emit({ type: "batch", events: batch.length, accepted: res.acceptedCount, duplicates: res.duplicateCount, attempt, latencyMs: clock.now() - started });
        return;
      } catch (e) {
        if (stopper.signal.aborted) {
          throw e;
        }
        const error = ConnectError.from(e);
        if (error.code === Code.InvalidArgument) {
          if (batch.length === 1) {
            stats.rejected++;
            settleFront(1);
            emit({ type: "rejected", id: batch[0]!.event.id, event: clone(EventSchema, batch[0]!.event), error });
            return;
          }
          // All or nothing: nothing of this batch was stored. Halve it until the culprit is alone.
          const mid = Math.ceil(batch.length / 2);
          await send(batch.slice(0, mid));
          await send(batch.slice(mid));
          return;
        }
        if (!isTransientError(error)) {
          throw error;
        }
        stats.retries++;
        const delayMs = backoffDelay(attempt, random(), backoff);
        emit({ type: "retry", events: batch.length, attempt, delayMs, error });
        await abortableDelay(clock, delayMs, stopper.signal);
      }
    }
  }

  function invalid(message: string): EventUploaderError {
    return new EventUploaderError("ERR_EVENT_INVALID", `EventUploader.add: ${message}`);
  }

  function add(init: EventInit): string {
    if (closed !== undefined || closing) {
      throw new EventUploaderError("ERR_UPLOADER_CLOSED", "EventUploader.add: the uploader is closed", { cause: closed?.cause });
    }
    if (failed !== undefined) {
      throw new EventUploaderError("ERR_UPLOADER_FAILED", `EventUploader.add: ${failed.message}`, { cause: failed.cause });
    }
    if (init === null || typeof init !== "object") {
      throw invalid("the event must be an object");
    }
    if (queue.length + inflight.length >= maxQueuedEvents) {
      throw new EventUploaderError("ERR_QUEUE_FULL", `EventUploader.add: ${maxQueuedEvents} events are waiting to be sent (maxQueuedEvents); the event was not taken`);
    }
    let event: Event;
    try {
      event = isMessage(init, EventSchema) ? clone(EventSchema, init) : create(EventSchema, init);
    } catch (err) {
      throw invalid(`not a valid Event (${err instanceof Error ? err.message : String(err)})`);
    }
    if (event.type === "") {
      throw invalid('"type" is required');
    }
    if (event.type.length > MAX_ID_LENGTH || event.id.length > MAX_ID_LENGTH) {
      throw invalid(`"id" and "type" are limited to ${MAX_ID_LENGTH} characters`);
    }
    if (event.id === "") {
      event.id = generateId();
      if (typeof event.id !== "string" || event.id === "") {
        throw new TypeError(`${who}: option "generateId" must return a non-empty string`);
      }
    }
    const now = clock.now();
    event.occurTime ??= timestampFromMs(now);
    const bytes = toBinary(EventSchema, event).byteLength;
    if (bytes > maxEventBytes) {
      throw invalid(`the event is ${bytes} bytes encoded, more than maxEventBytes (${maxEventBytes})`);
    }
    queue.push({ seq: ++nextSeq, event, bytes, addedAt: now });
    queuedBytes += bytes;
    stats.added++;
    // Pump after the current task: events added in one synchronous run share a batch, even with lingerMs 0.
    if (!pumpQueued) {
      pumpQueued = true;
      queueMicrotask(() => {
        pumpQueued = false;
        pump();
      });
    }
    return event.id;
  }

  function flush(): Promise<EventUploaderStats> {
    if (closed !== undefined) {
      return Promise.reject(closed);
    }
    if (failed !== undefined) {
      return Promise.reject(failed);
    }
    if (settledSeq >= nextSeq) {
      return Promise.resolve(snapshot());
    }
    const p = new Promise<EventUploaderStats>((resolve, reject) => waiters.push({ upTo: nextSeq, resolve, reject }));
    pump();
    return p;
  }

  return {
    add,
    flush,
    close() {
      closePromise ??= (async () => {
        closing = true;
        try {
          return await flush();
        } finally {
          stop(failed ?? new EventUploaderError("ERR_UPLOADER_CLOSED", "the event uploader is closed"));
        }
      })();
      return closePromise;
    },
    resume() {
      if (closed !== undefined || failed === undefined) {
        return;
      }
      failed = undefined;
      pump();
    },
    unsent: () => [...inflight, ...queue].map((p) => clone(EventSchema, p.event)),
    stats: snapshot,
  };
}
