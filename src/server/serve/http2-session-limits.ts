import { constants, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { Clock, ClockTimer } from "../../lib/clock.js";
import type { StreamBudget } from "./connection-gate.js";
import { createEnvelopeProgress, isEnvelopedContentType } from "./envelope-progress.js";

/** Http2SessionLimitOptions configures {@link limitHttp2Session}. */
export interface Http2SessionLimitOptions {
  /** idleTimeoutMs closes the session (GOAWAY) after this long without an open stream. Required. */
  idleTimeoutMs: number;
  /** requestTimeoutMs bounds the arrival of a request, or of each message of an enveloped one. Required. */
  requestTimeoutMs: number;
  /** clock runs the timers. Required. */
  clock: Clock;
  /** streams is the server-wide budget of open streams; a stream over it is refused. Required. */
  streams: StreamBudget;
}

/**
 * limitHttp2Session enforces the idle and request timeouts on one server
 * session: while no stream is open a timer closes the session gracefully
 * (GOAWAY, then the socket closes), every stream gets a request deadline
 * from {@link limitRequestArrival}, and a stream over the server-wide budget
 * is reset with `REFUSED_STREAM` at once.
 */
export function limitHttp2Session(session: ServerHttp2Session, options: Http2SessionLimitOptions): void {
  const { clock, idleTimeoutMs } = options;
  let open = 0;
  let idleTimer: ClockTimer | undefined;
  const armIdle = () => {
    idleTimer = clock.setTimeout(() => {
      idleTimer = undefined;
      session.close();
    }, idleTimeoutMs);
  };
  const disarmIdle = () => {
    if (idleTimer !== undefined) {
      clock.clearTimeout(idleTimer);
      idleTimer = undefined;
    }
  };
  armIdle();
  session.on("stream", (stream: ServerHttp2Stream, headers) => {
    if (!options.streams.tryOpen()) {
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    open++;
    disarmIdle();
    limitRequestArrival(stream, headers["content-type"], options);
    stream.once("close", () => {
      options.streams.release();
      open--;
      if (open === 0 && !session.closed && !session.destroyed) {
        armIdle();
      }
    });
  });
  session.once("close", disarmIdle);
}

/**
 * limitRequestArrival resets `stream` with `CANCEL` unless its request
 * arrives in time: the whole body within `requestTimeoutMs` of the headers,
 * or, for an enveloped body (see `isEnvelopedContentType`), each message
 * within `requestTimeoutMs` of the previous one. Arrival is observed where
 * Node pushes received DATA into the stream, so it measures the client, not
 * how fast the handler reads.
 */
export function limitRequestArrival(stream: ServerHttp2Stream, contentType: string | string[] | undefined, options: Http2SessionLimitOptions): void {
  if (stream.endAfterHeaders) {
    return; // the request was complete with its headers (GET, or an empty body)
  }
  const { clock, requestTimeoutMs } = options;
  const progress = isEnvelopedContentType(typeof contentType === "string" ? contentType : undefined) ? createEnvelopeProgress() : undefined;
  let timer: ClockTimer | undefined;
  const arm = () => {
    timer = clock.setTimeout(() => {
      timer = undefined;
      if (!stream.closed && !stream.destroyed) {
        stream.close(constants.NGHTTP2_CANCEL);
      }
    }, requestTimeoutMs);
  };
  const disarm = () => {
    if (timer !== undefined) {
      clock.clearTimeout(timer);
      timer = undefined;
    }
  };
  arm();
  // Every received chunk passes through push; null marks the end of the request (END_STREAM).
  const push = stream.push;
  stream.push = function observedPush(this: ServerHttp2Stream, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) {
      disarm();
      stream.push = push;
    } else if (progress !== undefined && chunk instanceof Uint8Array && progress.push(chunk) > 0) {
      disarm();
      arm();
    }
    return push.call(this, chunk, encoding);
  };
  stream.once("close", disarm);
}
