import { Code, ConnectError, type Interceptor, type StreamRequest, type StreamResponse } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { systemClock, type Clock } from "../lib/clock.js";
import { skipAuthKey } from "./skip-auth.js";
import type { TokenSource } from "./token-source.js";

/** AuthInterceptorOptions configures {@link createAuthInterceptor}. */
export interface AuthInterceptorOptions {
  /**
   * retryUnauthenticated retries a call once, with a refreshed token, when it
   * fails with `Unauthenticated` (unary, and server-streaming before the
   * first response message; never client or bidi streams).
   * @default true
   */
  retryUnauthenticated?: boolean;
  /** clock measures elapsed time so a retry carries only the remaining deadline. @default systemClock */
  clock?: Clock;
}

const GRPC_TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Copies `header` with the deadline headers reduced by `elapsedMs`, so a retry gets only the remaining time. */
function retryHeader(header: Headers, token: string, elapsedMs: number): Headers {
  const h = new Headers(header);
  h.set("authorization", `Bearer ${token}`);
  const connect = h.get("connect-timeout-ms");
  if (connect !== null && /^\d+$/.test(connect)) {
    h.set("connect-timeout-ms", String(Math.max(1, Number(connect) - elapsedMs)));
  }
  const grpc = /^(\d+)([HMSmun])$/.exec(h.get("grpc-timeout") ?? "");
  if (grpc !== null) {
    const ms = Number(grpc[1]) * GRPC_TIMEOUT_UNITS[grpc[2]!]!;
    h.set("grpc-timeout", `${Math.max(1, Math.ceil(ms - elapsedMs))}m`);
  }
  return h;
}

function isUnauthenticated(err: unknown): boolean {
  return ConnectError.from(err).code === Code.Unauthenticated;
}

/**
 * createAuthInterceptor returns a Connect client interceptor that sends
 * `authorization: Bearer <token>` from `source` on every call (on a copy of
 * the request headers) and, when a call fails with `Unauthenticated`, asks
 * the source for a new token — which refreshes only if the token that failed
 * is still the current one — and retries exactly once with the identical
 * request message and the remaining deadline. Unary calls and
 * server-streaming calls that failed before their first response message are
 * retried; client and bidi streams never are, since their input cannot be
 * replayed. A call with the {@link skipAuthKey} context value is left alone.
 */
export function createAuthInterceptor(source: TokenSource, options: AuthInterceptorOptions = {}): Interceptor {
  if (source === undefined || typeof source.getToken !== "function") {
    throw new TypeError("createAuthInterceptor: the first argument must be a TokenSource");
  }
  const retry = options.retryUnauthenticated ?? true;
  const clock = options.clock ?? systemClock;
  // The header value of the last token sent: built once per token, not once per call. A fresh
  // token is the same string object call after call, so the comparison is a pointer check.
  let lastToken: string | undefined;
  let lastValue = "";

  return (next) => (req) => {
    if (req.contextValues.get(skipAuthKey)) {
      return next(req);
    }
    const token = source.peekToken();
    if (token === undefined) {
      return source.getToken({ signal: req.signal }).then((t) => call(next, req, t));
    }
    return call(next, req, token);
  };

  function call(next: Parameters<Interceptor>[0], req: Parameters<ReturnType<Interceptor>>[0], token: string): ReturnType<ReturnType<Interceptor>> {
    if (token !== lastToken) {
      lastValue = `Bearer ${token}`;
      lastToken = token;
    }
    // connect-es builds a new Headers object for every call, so this changes no caller's object;
    // a retry gets a copy of it (retryHeader).
    req.header.set("authorization", lastValue);
    if (!retry) {
      return next(req);
    }
    const started = clock.now();
    if (req.stream) {
      return callStream(next, req, token, started);
    }
    // No async/await on the success path, and one closure per call: the cached-token call costs
    // no extra microtask hop.
    return next(req).catch(async (err: unknown) => {
      if (!isUnauthenticated(err)) {
        throw err;
      }
      const fresh = await renew(req, token, err);
      return next({ ...req, header: retryHeader(req.header, fresh, clock.now() - started) });
    });
  }

  /** renew returns the token to retry with; it rethrows `err` when the call itself was cancelled. */
  function renew(req: { signal: AbortSignal }, failedToken: string, err: unknown): Promise<string> {
    return req.signal.aborted ? Promise.reject(err) : source.getToken({ forceRefresh: true, failedToken, signal: req.signal });
  }

  async function callStream(next: Parameters<Interceptor>[0], req: StreamRequest, token: string, started: number): Promise<StreamResponse> {
    if (req.method.methodKind !== "server_streaming") {
      return next(req) as Promise<StreamResponse>;
    }
    // Server streaming: the input is one message in a one-shot iterable; keep it to re-supply it on retry.
    const input: unknown[] = [];
    for await (const m of req.message) {
      input.push(m);
    }
    const attempt = (h: Headers) =>
      next({ ...req, header: h, message: createAsyncIterable(input) } as StreamRequest) as Promise<StreamResponse>;

    let first: StreamResponse;
    try {
      first = await attempt(req.header);
    } catch (err) {
      if (!isUnauthenticated(err)) {
        throw err;
      }
      return attempt(retryHeader(req.header, await renew(req, token, err), clock.now() - started));
    }
    let active = first;
    async function* messages(): AsyncGenerator<unknown> {
      const it = first.message[Symbol.asyncIterator]();
      let delivered = false;
      let failure: unknown;
      try {
        for (;;) {
          const r = await it.next();
          if (r.done) {
            return;
          }
          delivered = true;
          yield r.value;
        }
      } catch (err) {
        if (delivered || !isUnauthenticated(err)) {
          throw err;
        }
        failure = err;
      }
      active = await attempt(retryHeader(req.header, await renew(req, token, failure), clock.now() - started));
      yield* active.message;
    }
    return Object.defineProperties({ ...first, message: messages() } as StreamResponse, {
      header: { get: () => active.header, enumerable: true },
      trailer: { get: () => active.trailer, enumerable: true },
    });
  }
}
