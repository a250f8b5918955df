import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { AuthErrorReason } from "../../../gen/tokenkit/v1/auth_error_pb.js";
import { EventSchema, type Event, type EventService, type WatchEventsRequest } from "../../../gen/tokenkit/v1/event_service_pb.js";
import { authError } from "../../auth-error.js";
import type { Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import type { RevocationCache } from "../revocation-cache.js";
import type { EventRecord, EventStore } from "../store/event-store.js";
import { eventProblem, MAX_EVENT_ID_LENGTH } from "./event-validation.js";
import { sessionClaims } from "./session-claims.js";
import type { SubjectSignal } from "./subject-signal.js";

/** How many stored events a watch reads per store query, at most. */
const WATCH_PAGE = 256;

/** How many types a watch may filter on. */
const MAX_WATCH_TYPES = 100;

/** WatchSettings is what {@link createWatchHandler} needs, validated by `createEventService`. */
export interface WatchSettings {
  store: EventStore;
  signal: SubjectSignal;
  clock: Clock;
  pollIntervalMs: number;
  /** maxPageBytes bounds the payload bytes one store query returns (one event at least). */
  maxPageBytes: number;
  /** maxWatchesPerSubject caps the open watches of one subject in this process. */
  maxWatchesPerSubject: number;
  shutdown: AbortSignal;
  revocations?: RevocationCache;
  logger?: Logger;
}

type WatchHandler = ServiceImpl<typeof EventService>["watchEvents"];

function checkRequest(req: WatchEventsRequest): void {
  if (req.afterSequence < 0n || req.afterSequence > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ConnectError("after_sequence must be between 0 and 2^53-1", Code.InvalidArgument);
  }
  if (req.types.length > MAX_WATCH_TYPES || req.types.some((t) => t === "" || t.length > MAX_EVENT_ID_LENGTH)) {
    throw new ConnectError(`types must hold at most ${MAX_WATCH_TYPES} non-empty names of at most ${MAX_EVENT_ID_LENGTH} characters`, Code.InvalidArgument);
  }
}

/**
 * createWatchHandler returns the `WatchEvents` implementation: stored events
 * after `after_sequence` in pages bounded by count and bytes (a watcher that
 * does not read holds one page, not its backlog), then new ones as they
 * arrive; at most `maxWatchesPerSubject` at once per subject
 * (`ResourceExhausted` beyond). A stored event no watcher could receive
 * (stored before ingest validated events) is skipped with a warning, so a
 * watch never ends on it and a resuming client never meets it again.
 */
export function createWatchHandler(settings: WatchSettings): WatchHandler {
  const { store, signal, clock, revocations, shutdown, logger } = settings;

  /** The decoded event, or undefined (and a warning) when no watcher could receive it. */
  function deliverable(subject: string, r: EventRecord): Event | undefined {
    let event: Event | undefined;
    let problem: string | undefined;
    try {
      event = fromBinary(EventSchema, r.payload);
      problem = eventProblem(event);
    } catch (err) {
      problem = `the stored payload does not decode (${(err as Error).message})`;
    }
    if (problem === undefined) {
      return event;
    }
    logger?.warn?.(`tokenkit: skipped stored event ${r.sequence} of subject ${JSON.stringify(subject)} in a watch, as no watcher could receive it: ${problem}`);
    return undefined;
  }

  return async function* watchEvents(req, ctx) {
    const claims = sessionClaims(ctx, "EventService");
    checkRequest(req);
    const subject = claims.sub;
    if (signal.watchers(subject) >= settings.maxWatchesPerSubject) {
      throw new ConnectError(
        `subject already has ${settings.maxWatchesPerSubject} open watches, the limit per subject (tokenkit serve --max-watches-per-subject); close one first`,
        Code.ResourceExhausted,
      );
    }
    const expiresAt = claims.exp * 1000;
    let after = Number(req.afterSequence);
    const stop = AbortSignal.any([ctx.signal, shutdown]);
    const watch = signal.watch(subject);
    // A client that leaves while this generator waits at a `yield` (its stream blocked on flow
    // control) never resumes it, so `finally` would not run: free the slot when the call ends.
    const release = () => watch.close();
    stop.addEventListener("abort", release, { once: true });
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
        if (clock.now() >= expiresAt) {
          throw authError(AuthErrorReason.TOKEN_EXPIRED, `access token expired; refresh and resume the watch after sequence ${after}`);
        }
        const version = watch.version;
        const page = await store.list({ subject, afterSequence: after, limit: WATCH_PAGE, maxBytes: settings.maxPageBytes, types: req.types });
        for (const r of page) {
          const event = deliverable(subject, r);
          if (event !== undefined) {
            yield { event, sequence: BigInt(r.sequence) };
          }
          after = r.sequence;
        }
        // A page cut short by bytes is no sign of the end: only an empty read waits.
        if (page.length === 0) {
          await watch.wait(version, Math.min(settings.pollIntervalMs, expiresAt - clock.now()), stop);
        }
      }
    } finally {
      stop.removeEventListener("abort", release);
      watch.close();
    }
  };
}
