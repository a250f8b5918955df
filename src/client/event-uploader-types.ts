import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import type { Event, EventSchema } from "../../gen/tokenkit/v1/event_service_pb.js";

/** EventInit is what {@link EventUploader.add} takes: an `Event` or its init shape; `id` and `occurTime` are optional. */
export type EventInit = MessageInitShape<typeof EventSchema>;

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
