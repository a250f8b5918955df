import { clone } from "@bufbuild/protobuf";
import { ConnectError, type Client } from "@connectrpc/connect";
import { EventSchema, type Event, type EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { linkedAbortController } from "../lib/abortable-delay.js";
import type { ClockTimer } from "../lib/clock.js";
import { createBatchSender, type PendingEvent } from "./event-batch-sender.js";
import { createFlushWaiters } from "./flush-waiters.js";
import { EventUploaderError, uploadsStoppedError } from "./event-uploader-error.js";
import { normalizeUploaderOptions, type EventUploaderOptions } from "./event-uploader-options.js";
import type { EventInit, EventUploader, EventUploaderStats } from "./event-uploader-types.js";
import { invalidEvent, toUploadEvent } from "./upload-event.js";

export { EventUploaderError, type EventUploaderErrorCode } from "./event-uploader-error.js";
export type { EventUploaderOptions } from "./event-uploader-options.js";
export type { EventInit, EventUploader, EventUploaderEvent, EventUploaderStats } from "./event-uploader-types.js";

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
  const settings = normalizeUploaderOptions(who, options);
  const { maxBatchEvents, maxBatchBytes, maxEventBytes, maxQueuedEvents, lingerMs, clock, emit } = settings;

  const queue: PendingEvent[] = [];
  /** The batch being sent; its events settle front to back. */
  let inflight: PendingEvent[] = [];
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
  const waiters = createFlushWaiters<EventUploaderStats, EventUploaderError>();
  const stats = { added: 0, accepted: 0, duplicates: 0, rejected: 0, batches: 0, retries: 0 };
  const { controller: stopper, dispose } = linkedAbortController(settings.signal);
  stopper.signal.addEventListener("abort", () => stop(new EventUploaderError("ERR_UPLOADER_CLOSED", "the event uploader was aborted", { cause: stopper.signal.reason })), {
    once: true,
  });
  const send = createBatchSender({ client, settings, signal: stopper.signal, counters: stats, settleFront });

  function snapshot(): EventUploaderStats {
    return { ...stats, queued: queue.length + inflight.length };
  }

  function settleFront(n: number): void {
    const done = inflight.splice(0, n);
    if (done.length > 0) {
      settledSeq = done[done.length - 1]!.seq;
    }
    waiters.settled(settledSeq, snapshot);
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
    waiters.rejectAll(err);
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
      waiters.waitingBeyond(settledSeq) ||
      clock.now() - head.addedAt >= lingerMs
    );
  }

  /** Arms the linger timer, once, for when the oldest queued event has waited `lingerMs`. */
  function armLinger(): void {
    if (lingerTimer === undefined) {
      const wait = Math.max(0, queue[0]!.addedAt + lingerMs - clock.now());
      lingerTimer = clock.setTimeout(() => {
        lingerTimer = undefined;
        pump();
      }, wait);
    }
  }

  /** Moves the next batch (within `maxBatchEvents` and `maxBatchBytes`, at least one event) from the queue to `inflight`. */
  function takeBatch(): void {
    let bytes = 0;
    let n = 0;
    while (n < queue.length && n < maxBatchEvents && (n === 0 || bytes + queue[n]!.bytes <= maxBatchBytes)) {
      bytes += queue[n]!.bytes;
      n++;
    }
    inflight = queue.splice(0, n);
    queuedBytes -= bytes;
  }

  /** Starts the next batch when one is due and none is in flight; else arms the linger timer. */
  function pump(): void {
    if (sending || failed !== undefined || closed !== undefined || queue.length === 0) {
      return;
    }
    if (!batchDue()) {
      armLinger();
      return;
    }
    clearLinger();
    takeBatch();
    sending = true;
    void sendInflight().finally(() => {
      sending = false;
      if (closed === undefined && failed === undefined) {
        pump();
      }
    });
  }

  /** Sends the in-flight batch; a terminal failure requeues it and stops uploads until `resume()`. */
  async function sendInflight(): Promise<void> {
    try {
      await send(inflight.slice());
    } catch (e) {
      requeueInflight();
      if (stopper.signal.aborted) {
        return;
      }
      const error = ConnectError.from(e);
      failed = uploadsStoppedError(error);
      clearLinger();
      emit({ type: "failed", unsent: queue.length, error });
      waiters.rejectAll(failed);
    }
  }

  /** Throws the error `add` gives when it cannot take any event now. */
  function checkTaking(init: EventInit): void {
    if (closed !== undefined || closing) {
      throw new EventUploaderError("ERR_UPLOADER_CLOSED", "EventUploader.add: the uploader is closed", { cause: closed?.cause });
    }
    if (failed !== undefined) {
      throw new EventUploaderError("ERR_UPLOADER_FAILED", `EventUploader.add: ${failed.message}`, { cause: failed.cause });
    }
    if (init === null || typeof init !== "object") {
      throw invalidEvent("the event must be an object");
    }
    if (queue.length + inflight.length >= maxQueuedEvents) {
      throw new EventUploaderError("ERR_QUEUE_FULL", `EventUploader.add: ${maxQueuedEvents} events are waiting to be sent (maxQueuedEvents); the event was not taken`);
    }
  }

  function add(init: EventInit): string {
    checkTaking(init);
    const now = clock.now();
    const { event, bytes } = toUploadEvent(init, now, maxEventBytes, settings.generateId, who);
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
    const p = waiters.wait(nextSeq);
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
    unsent: (): Event[] => [...inflight, ...queue].map((p) => clone(EventSchema, p.event)),
    stats: snapshot,
  };
}
