import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { EventSchema, EventService, type Event } from "../../../gen/tokenkit/v1/event_service_pb.js";
import { systemClock, type Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import type { RevocationCache } from "../revocation-cache.js";
import type { EventInput, EventStore } from "../store/event-store.js";
import { eventProblem } from "./event-validation.js";
import { createWatchHandler } from "./event-watch.js";
import { sessionClaims } from "./session-claims.js";
import { createSubjectSignal } from "./subject-signal.js";

/** SCOPE_EVENTS_WRITE is the scope `IngestEvents` and `StreamEvents` require. */
export const SCOPE_EVENTS_WRITE = "events:write";

/** SCOPE_EVENTS_READ is the scope `WatchEvents` requires. */
export const SCOPE_EVENTS_READ = "events:read";

export { MAX_EVENT_ID_LENGTH, MAX_DATA_DEPTH } from "./event-validation.js";

/**
 * STREAM_CHUNK_BYTES bounds what `StreamEvents` holds before storing it: a
 * chunk is stored once it reaches `maxBatchEvents` events or this many
 * payload bytes, so one stream pins about 1 MiB, not 1 000 × 64 KiB.
 */
export const STREAM_CHUNK_BYTES = 1024 * 1024;

/** EventServiceOptions configures {@link createEventService}. */
export interface EventServiceOptions {
  /** store keeps the events. Required. */
  store: EventStore;
  /**
   * maxEventBytes bounds one event, measured as its binary Protobuf
   * encoding (data, attributes and all).
   * @default 65536 — 64 KiB: room for rich telemetry, not for file uploads.
   */
  maxEventBytes?: number;
  /**
   * maxBatchEvents bounds one `IngestEvents` batch, and is the chunk size in
   * which `StreamEvents` stores what it receives.
   * @default 1000
   */
  maxBatchEvents?: number;
  /**
   * pollIntervalMs is how often an idle watch re-reads the store, so it
   * sees events appended by another server instance sharing the store and
   * notices a revocation. Appends through this service wake its watches at once.
   * @default 1000
   */
  pollIntervalMs?: number;
  /**
   * maxWatchPageBytes bounds the event payload bytes a watch reads from the
   * store at once (besides at most 256 events), so a watcher that does not
   * read holds about this much, however large its backlog. A page always
   * holds one event, however large.
   * @default 262144 — 256 KiB: four of the largest events (64 KiB each), hundreds of typical ones.
   */
  maxWatchPageBytes?: number;
  /**
   * maxWatchesPerSubject caps the `WatchEvents` streams one subject
   * (principal, delegates included) may hold open on this server process;
   * one more fails with `ResourceExhausted`. Together with
   * `maxWatchPageBytes` it bounds what one principal's watches can pin.
   * `tokenkit serve --max-watches-per-subject` sets it.
   * @default 32 — room for many devices and tabs of one user, not for a flood.
   */
  maxWatchesPerSubject?: number;
  /**
   * revocations ends the watches of revoked sessions (`TOKEN_REVOKED`) within
   * one poll interval. Without it a watch runs until its token expires.
   * @default none
   */
  revocations?: RevocationCache;
  /**
   * signal ends every open watch with `Unavailable` when aborted (a server
   * shutting down), so draining does not wait for streams that never end.
   * @default none
   */
  signal?: AbortSignal;
  /** clock supplies the time for expiry and polling. @default systemClock */
  clock?: Clock;
  /**
   * logger hears about stored events a watch skips because no watcher could
   * receive them (written before ingest validated them). Never given event content.
   * @default none
   */
  logger?: Logger;
}

function positiveInteger(name: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
    throw new TypeError(`createEventService: option "${name}" must be a positive integer`);
  }
  return v;
}

/**
 * createEventService returns the `tokenkit.v1.EventService`
 * implementation. Events belong to the token's subject (`sub`: a
 * delegated token acts for its principal) and get per-subject sequences
 * 1, 2, 3 …; an `id` the subject already stored counts as a duplicate and
 * is not stored again. Serve it behind `createBearerAuthInterceptor` with
 * scopes {@link SCOPE_EVENTS_WRITE} (ingest, stream) and
 * {@link SCOPE_EVENTS_READ} (watch).
 *
 * - `IngestEvents` is all or nothing: one invalid event fails the batch
 *   with `InvalidArgument` naming its index and field, and nothing of it is
 *   stored. Invalid is a missing id or type, an id or type over 256
 *   characters, an encoding over `maxEventBytes`, and anything a JSON
 *   watcher could not receive: an `occur_time` outside 0001..9999 or with
 *   bad nanos, a NaN or ±Infinity in `data`, or `data` nested deeper than
 *   `MAX_DATA_DEPTH` (see `eventProblem`).
 * - `StreamEvents` stores what it receives in chunks of `maxBatchEvents`
 *   events or {@link STREAM_CHUNK_BYTES}, whichever comes first;
 *   an invalid message ends the stream with `InvalidArgument` naming the
 *   message index, after the chunks before it were stored (re-sending them
 *   is harmless: they come back as duplicates).
 * - `WatchEvents` sends the stored events after `after_sequence`, then new
 *   ones as they arrive, and ends with `Unauthenticated` + `TOKEN_EXPIRED`
 *   when the access token that opened it expires (`TOKEN_REVOKED` when its
 *   session is revoked), so no stream outlives its credential: the client
 *   resumes with a fresh token after the last sequence it saw. Pages are
 *   bounded by `maxWatchPageBytes`, open watches per subject by
 *   `maxWatchesPerSubject` (`ResourceExhausted` beyond); a stored event no
 *   watcher could receive is skipped with a warning to `logger`.
 */
export function createEventService(options: EventServiceOptions): ServiceImpl<typeof EventService> {
  if (typeof options?.store?.append !== "function" || typeof options.store.list !== "function") {
    throw new TypeError('createEventService: option "store" must be an EventStore');
  }
  const maxEventBytes = positiveInteger("maxEventBytes", options.maxEventBytes, 64 * 1024);
  const maxBatchEvents = positiveInteger("maxBatchEvents", options.maxBatchEvents, 1000);
  const pollIntervalMs = positiveInteger("pollIntervalMs", options.pollIntervalMs, 1000);
  const maxPageBytes = positiveInteger("maxWatchPageBytes", options.maxWatchPageBytes, 256 * 1024);
  const maxWatchesPerSubject = positiveInteger("maxWatchesPerSubject", options.maxWatchesPerSubject, 32);
  if (options.revocations !== undefined && typeof options.revocations.isRevoked !== "function") {
    throw new TypeError('createEventService: option "revocations" must be a RevocationCache');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError('createEventService: option "signal" must be an AbortSignal');
  }
  const { store, revocations } = options;
  const shutdown = options.signal ?? new AbortController().signal;
  const clock = options.clock ?? systemClock;
  const signal = createSubjectSignal(clock);

  function toInput(event: Event | undefined, where: string): EventInput {
    if (event === undefined) {
      throw new ConnectError(`${where}: event is required`, Code.InvalidArgument);
    }
    const problem = eventProblem(event);
    if (problem !== undefined) {
      throw new ConnectError(`${where}: ${problem}`, Code.InvalidArgument);
    }
    const payload = toBinary(EventSchema, event);
    if (payload.byteLength > maxEventBytes) {
      throw new ConnectError(`${where} is ${payload.byteLength} bytes encoded, over the limit of ${maxEventBytes}`, Code.InvalidArgument);
    }
    return { id: event.id, type: event.type, payload };
  }

  async function append(subject: string, inputs: EventInput[]): Promise<{ accepted: number; duplicates: number }> {
    if (inputs.length === 0) {
      return { accepted: 0, duplicates: 0 };
    }
    const r = await store.append(subject, inputs, clock.now());
    if (r.accepted > 0) {
      signal.notify(subject);
    }
    return r;
  }

  return {
    async ingestEvents(req, ctx) {
      const { sub } = sessionClaims(ctx, "EventService");
      if (req.events.length > maxBatchEvents) {
        throw new ConnectError(`events has ${req.events.length} entries, over the limit of ${maxBatchEvents} per batch`, Code.InvalidArgument);
      }
      const inputs = req.events.map((e, i) => toInput(e, `events[${i}]`));
      const r = await append(sub, inputs);
      return { acceptedCount: r.accepted, duplicateCount: r.duplicates };
    },

    async streamEvents(reqs, ctx) {
      const { sub } = sessionClaims(ctx, "EventService");
      let accepted = 0;
      let duplicates = 0;
      let index = 0;
      let pending: EventInput[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        const r = await append(sub, pending);
        pending = [];
        pendingBytes = 0;
        accepted += r.accepted;
        duplicates += r.duplicates;
      };
      for await (const m of reqs) {
        const input = toInput(m.event, `message ${index}`);
        pending.push(input);
        pendingBytes += input.payload.byteLength;
        index++;
        if (pending.length >= maxBatchEvents || pendingBytes >= STREAM_CHUNK_BYTES) {
          await flush();
        }
      }
      await flush();
      return { acceptedCount: accepted, duplicateCount: duplicates };
    },

    watchEvents: createWatchHandler({
      store,
      signal,
      clock,
      pollIntervalMs,
      maxPageBytes,
      maxWatchesPerSubject,
      shutdown,
      revocations,
      logger: options.logger,
    }),
  };
}
