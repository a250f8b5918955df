import { clone } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { EventSchema, type Event, type EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { abortableDelay, linkedAbortController } from "../lib/abortable-delay.js";
import type { UploaderSettings } from "./event-uploader-options.js";
import type { EventUploaderStats } from "./event-uploader-types.js";
import { backoffDelay } from "./refresh-policy.js";
import { isTransientError } from "./transient-error.js";

/** PendingEvent is an event taken by the uploader and not settled yet. */
export interface PendingEvent {
  /** seq numbers events in the order they were added, from 1. */
  seq: number;
  event: Event;
  /** bytes is the event's encoded size. */
  bytes: number;
  /** addedAt is the clock time of `add`, for the linger. */
  addedAt: number;
}

/** UploaderCounters are the counters of {@link EventUploaderStats} a sender updates (all but `queued`). */
export type UploaderCounters = Omit<EventUploaderStats, "queued">;

/** BatchSenderInit is what {@link createBatchSender} works with. */
export interface BatchSenderInit {
  client: Client<typeof EventService>;
  settings: UploaderSettings;
  /** signal stops the sender: the call in flight is cancelled and no retry waits. */
  signal: AbortSignal;
  /** counters is updated in place as batches settle. */
  counters: UploaderCounters;
  /** settleFront marks the first `n` in-flight events settled (stored, duplicate or rejected). */
  settleFront(n: number): void;
}

/**
 * createBatchSender returns `send(batch)`, which sends `batch` (the head of
 * the events in flight) with `IngestEvents` until every event of it is
 * settled, and throws on a terminal failure or when `signal` aborts.
 * A transient failure resends the same events after a backoff; an
 * `InvalidArgument` (the server stores all or nothing) halves the batch
 * until the culprit is alone and drops only that event.
 */
export function createBatchSender(init: BatchSenderInit): (batch: PendingEvent[]) => Promise<void> {
  const { client, signal, counters, settleFront } = init;
  const { clock, random, backoff, timeoutMs, emit } = init.settings;

  function ingest(events: PendingEvent[]): Promise<{ acceptedCount: number; duplicateCount: number }> {
    const { controller, dispose } = linkedAbortController(signal);
    const timer = clock.setTimeout(
      () => controller.abort(new ConnectError(`IngestEvents timed out after ${timeoutMs} ms`, Code.DeadlineExceeded)),
      timeoutMs,
    );
    return client.ingestEvents({ events: events.map((p) => p.event) }, { signal: controller.signal }).finally(() => {
      clock.clearTimeout(timer);
      dispose();
    });
  }

  /** reject handles an `InvalidArgument`: drops a lone event, or sends the two halves of a larger batch. */
  async function reject(batch: PendingEvent[], error: ConnectError): Promise<void> {
    if (batch.length === 1) {
      counters.rejected++;
      settleFront(1);
      emit({ type: "rejected", id: batch[0]!.event.id, event: clone(EventSchema, batch[0]!.event), error });
      return;
    }
    // All or nothing: nothing of this batch was stored. Halve it until the culprit is alone.
    const mid = Math.ceil(batch.length / 2);
    await send(batch.slice(0, mid));
    await send(batch.slice(mid));
  }

  async function send(batch: PendingEvent[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const started = clock.now();
      let res: { acceptedCount: number; duplicateCount: number };
      try {
        res = await ingest(batch);
      } catch (e) {
        if (signal.aborted) {
          throw e;
        }
        const error = ConnectError.from(e);
        if (error.code === Code.InvalidArgument) {
          return reject(batch, error);
        }
        if (!isTransientError(error)) {
          throw error;
        }
        counters.retries++;
        const delayMs = backoffDelay(attempt, random(), backoff);
        emit({ type: "retry", events: batch.length, attempt, delayMs, error });
        await abortableDelay(clock, delayMs, signal);
        continue;
      }
      counters.batches++;
      counters.accepted += res.acceptedCount;
      counters.duplicates += res.duplicateCount;
      settleFront(batch.length);
      emit({ type: "batch", events: batch.length, accepted: res.acceptedCount, duplicates: res.duplicateCount, attempt, latencyMs: clock.now() - started });
      return;
    }
  }

  return send;
}
