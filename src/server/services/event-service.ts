import { toBinary, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { AuthErrorReason } from "../../../gen/tokenkit/v1/auth_error_pb.js";
import { EventSchema, EventService, type Event } from "../../../gen/tokenkit/v1/event_service_pb.js";
import { authError } from "../../auth-error.js";
import { systemClock, type Clock } from "../../lib/clock.js";
import type { RevocationCache } from "../revocation-cache.js";
import type { EventInput, EventStore } from "../store/event-store.js";
import { sessionClaims } from "./session-claims.js";
import { createSubjectSignal } from "./subject-signal.js";

/** SCOPE_EVENTS_WRITE is the scope `IngestEvents` and `StreamEvents` require. */
export const SCOPE_EVENTS_WRITE = "events:write";

/** SCOPE_EVENTS_READ is the scope `WatchEvents` requires. */
export const SCOPE_EVENTS_READ = "events:read";

/** MAX_EVENT_ID_LENGTH bounds `Event.id` and `Event.type` (characters). */
export const MAX_EVENT_ID_LENGTH = 256;

/** How many stored events a watch reads per store query. */
const WATCH_PAGE = 256;

/** How many types a watch may filter on. */
const MAX_WATCH_TYPES = 100;

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
 * - `IngestEvents` is all or nothing: one invalid event (missing id or
 *   type, id or type over 256 characters, encoding over `maxEventBytes`)
 *   fails the batch with `InvalidArgument` naming its index, and nothing
 *   of it is stored.
 * - `StreamEvents` stores what it receives in chunks of `maxBatchEvents`;
 *   an invalid message ends the stream with `InvalidArgument` naming the
 *   message index, after the chunks before it were stored (re-sending them
 *   is harmless: they come back as duplicates).
 * - `WatchEvents` sends the stored events after `after_sequence`, then new
 *   ones as they arrive, and ends with `Unauthenticated` + `TOKEN_EXPIRED`
 *   when the access token that opened it expires (`TOKEN_REVOKED` when its
 *   session is revoked), so no stream outlives its credential: the client
 *   resumes with a fresh token after the last sequence it saw.
 */
export function createEventService(options: EventServiceOptions): ServiceImpl<typeof EventService> {
  if (typeof options?.store?.append !== "function" || typeof options.store.list !== "function") {
    throw new TypeError('createEventService: option "store" must be an EventStore');
  }
  const maxEventBytes = positiveInteger("maxEventBytes", options.maxEventBytes, 64 * 1024);
  const maxBatchEvents = positiveInteger("maxBatchEvents", options.maxBatchEvents, 1000);
  const pollIntervalMs = positiveInteger("pollIntervalMs", options.pollIntervalMs, 1000);
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
    if (event.id === "") {
      throw new ConnectError(`${where}: id is required`, Code.InvalidArgument);
    }
    if (event.type === "") {
      throw new ConnectError(`${where}: type is required`, Code.InvalidArgument);
    }
    if (event.id.length > MAX_EVENT_ID_LENGTH || event.type.length > MAX_EVENT_ID_LENGTH) {
      throw new ConnectError(`${where}: id and type are limited to ${MAX_EVENT_ID_LENGTH} characters`, Code.InvalidArgument);
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
      const flush = async () => {
        const r = await append(sub, pending);
        pending = [];
        accepted += r.accepted;
        duplicates += r.duplicates;
      };
      for await (const m of reqs) {
        pending.push(toInput(m.event, `message ${index}`));
        index++;
        if (pending.length >= maxBatchEvents) {
          await flush();
        }
      }
      await flush();
      return { acceptedCount: accepted, duplicateCount: duplicates };
    },

    async *watchEvents(req, ctx) {
      const claims = sessionClaims(ctx, "EventService");
      if (req.afterSequence < 0n || req.afterSequence > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new ConnectError("after_sequence must be between 0 and 2^53-1", Code.InvalidArgument);
      }
      if (req.types.length > MAX_WATCH_TYPES || req.types.some((t) => t === "" || t.length > MAX_EVENT_ID_LENGTH)) {
        throw new ConnectError(`types must hold at most ${MAX_WATCH_TYPES} non-empty names of at most ${MAX_EVENT_ID_LENGTH} characters`, Code.InvalidArgument);
      }
      const subject = claims.sub;
      const expiresAt = claims.exp * 1000;
      let after = Number(req.afterSequence);
      const stop = AbortSignal.any([ctx.signal, shutdown]);
      const watch = signal.watch(subject);
      try {
        for (;;) {
          if (ctx.signal.aborted) {
            return;
          }
          if (shutdown.aborted) {
            throw new ConnectError(`server is shutting down; resume the watch after sequence ${after}`, Code.Unavailable);
          }
          if (revocations?.isRevoked(claims.sid)) {
            throw authError(AuthErrorReason.TOKEN_REVOKED, `the session of this watch was revoked after sequence ${after}`);
          }
          const now = clock.now();
          if (now >= expiresAt) {
            throw authError(AuthErrorReason.TOKEN_EXPIRED, `access token expired; refresh and resume the watch after sequence ${after}`);
          }
          const version = watch.version;
          const page = await store.list({ subject, afterSequence: after, limit: WATCH_PAGE, types: req.types });
          for (const r of page) {
            yield { event: fromBinary(EventSchema, r.payload), sequence: BigInt(r.sequence) };
            after = r.sequence;
          }
          if (page.length < WATCH_PAGE) {
            await watch.wait(version, Math.min(pollIntervalMs, expiresAt - clock.now()), stop);
          }
        }
      } finally {
        watch.close();
      }
    },
  };
}
