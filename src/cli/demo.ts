import { Code, ConnectError, createClient, createContextValues, type Interceptor, type Transport } from "@connectrpc/connect";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createAuthInterceptor } from "../client/auth-interceptor.js";
import { createEventUploader, EventUploaderError } from "../client/event-uploader.js";
import { startHeartbeats } from "../client/heartbeats.js";
import { skipAuthKey } from "../client/skip-auth.js";
import type { TokenSourceEvent } from "../client/token-events.js";
import { createTokenServiceRefresher, tokenPairToStoredToken } from "../client/token-service-refresher.js";
import { createTokenSource } from "../client/token-source.js";
import { watchEvents } from "../client/watch-events.js";
import { abortableDelay } from "../lib/abortable-delay.js";
import { systemClock, type Clock, type ClockTimer } from "../lib/clock.js";

/** DemoOptions configures {@link startDemo}. */
export interface DemoOptions {
  /** connect builds the transport to the server with the demo's interceptors (outermost first). Required. */
  connect(interceptors: Interceptor[]): Transport;
  /** adminKey authorizes the one IssueToken call that starts the session. Never printed. Required. */
  adminKey: string;
  /** durationMs is how long the session runs before the demo winds down. @default 120 000 */
  durationMs?: number;
  /** accessTtlSeconds is the lifetime of each access token. @default 20 — a refresh every ~15 s */
  accessTtlSeconds?: number;
  /** refreshTtlSeconds is the (sliding) refresh-token TTL. @default 120 */
  refreshTtlSeconds?: number;
  /** eventIntervalMs is how often the demo produces an event. @default 1 000 */
  eventIntervalMs?: number;
  /** subject of the session; use a new one per run, the watch checks that sequences start at 1. @default `demo-` + 8 random hex digits (crypto), so each run has its own event log */
  subject?: string;
  /** out receives each printed line. Required. */
  out(line: string): void;
  /** signal winds the demo down early (Ctrl-C); the summary is still printed. @default none */
  signal?: AbortSignal;
  /** clock drives every timer of the demo and its helpers. @default systemClock */
  clock?: Clock;
  /** random returns numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
}

/** DemoSummary is what a finished demo counted. */
export interface DemoSummary {
  /** ok is true when no application-visible call failed and the watch saw every stored event exactly once. */
  ok: boolean;
  /** elapsedMs is how long the session ran. */
  elapsedMs: number;
  /** calls is the number of Heartbeat/IngestEvents/WatchEvents calls the application made (refreshes apart). */
  calls: number;
  /** failures is the number of those calls (and watch streams) that failed where the application could see it. */
  failures: number;
  /** refreshes counts successful token refreshes: before expiry (`proactive`), after a rejection (`reactive`), with callers waiting (`blocking`), and the rest (`other`: scheduled, adopted from another process). */
  refreshes: { proactive: number; reactive: number; blocking: number; other: number };
  /** heartbeats is the number of heartbeats the server acknowledged. */
  heartbeats: number;
  /** events: produced, stored, duplicates, rejected, batches. */
  events: { added: number; accepted: number; duplicates: number; rejected: number; batches: number };
  /** watched is the number of events the watch delivered; gaps and duplicates should both be 0. */
  watched: number;
  /** gaps is the number of sequences the watch skipped. */
  gaps: number;
  /** resumes is the number of times the watch reopened after its token expired. */
  resumes: number;
  /** sessionExpired is true when the session ended for good (a new login would be needed). */
  sessionExpired: boolean;
}

/** Demo is a running demo: {@link startDemo}. */
export interface Demo {
  /** done resolves with the summary once the demo has wound down (after printing it); rejects only when the session could not start. */
  readonly done: Promise<DemoSummary>;
  /** inFlight is the number of unary calls (refreshes included) in flight right now. */
  readonly inFlight: number;
}

function clockText(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function durationText(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`;
}

function errorText(err: ConnectError): string {
  return `[${Code[err.code] ?? err.code}] ${err.rawMessage}`;
}

function times(n: number): string {
  return n === 1 ? "once" : `${n} times`;
}

/**
 * startDemo runs the `tokenkit demo` session against a tokenkit server:
 * issues a pair with short lifetimes, then keeps heartbeats, an event
 * upload and a watch of those events running through many access-token
 * expiries, printing one line per refresh, watch resume and failure with
 * running counts, and a summary at the end. Everything runs on `clock`, so
 * a test drives a whole session without waiting.
 */
export function startDemo(options: DemoOptions): Demo {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const durationMs = options.durationMs ?? 120_000;
  const accessTtlSeconds = options.accessTtlSeconds ?? 20;
  const refreshTtlSeconds = options.refreshTtlSeconds ?? 120;
  const eventIntervalMs = options.eventIntervalMs ?? 1000;
  const { out, signal } = options;
  if (typeof options.connect !== "function" || typeof out !== "function") {
    throw new TypeError('startDemo: options "connect" and "out" must be functions');
  }
  if (typeof options.adminKey !== "string" || options.adminKey === "") {
    throw new TypeError('startDemo: option "adminKey" must be a non-empty string');
  }
  for (const [name, v] of [
    ["durationMs", durationMs],
    ["accessTtlSeconds", accessTtlSeconds],
    ["refreshTtlSeconds", refreshTtlSeconds],
    ["eventIntervalMs", eventIntervalMs],
  ] as const) {
    if (!(Number.isSafeInteger(v) && v > 0)) {
      throw new TypeError(`startDemo: option "${name}" must be a positive integer`);
    }
  }
  const subject = options.subject ?? `demo-${globalThis.crypto.randomUUID().slice(0, 8)}`;

  let calls = 0;
  let failures = 0;
  let inFlight = 0;
  let winding = false;
  const started = clock.now();
  const say = (text: string) => out(`[${clockText(clock.now() - started)}] ${text}`);
  const refreshes = { proactive: 0, reactive: 0, blocking: 0, other: 0 };
  const totalRefreshes = () => refreshes.proactive + refreshes.reactive + refreshes.blocking + refreshes.other;
  const counts = () => `calls ${calls} · failures ${failures} · refreshes ${totalRefreshes()}`;

  /** Counts the application's calls and the failures it can see (outside the auth interceptor, which retries once). */
  const counter: Interceptor = (next) => async (req) => {
    const app = req.service.typeName !== TokenService.typeName;
    if (app) {
      calls++;
    }
    const unary = !req.stream;
    if (unary) {
      inFlight++;
    }
    try {
      return await next(req);
    } catch (err) {
      if (app && !winding) {
        failures++;
      }
      throw err;
    } finally {
      if (unary) {
        inFlight--;
      }
    }
  };
  const interceptors: Interceptor[] = [counter];
  const transport = options.connect(interceptors);
  const tokens = createClient(TokenService, transport);

  async function run(): Promise<DemoSummary> {
    const pair = (
      await tokens.issueToken(
        {
          subject,
          scopes: ["heartbeat:write", "events:write", "events:read"],
          accessTokenTtlSeconds: BigInt(accessTtlSeconds),
          refreshTokenTtlSeconds: BigInt(refreshTtlSeconds),
        },
        { headers: { "x-api-key": options.adminKey }, contextValues: createContextValues().set(skipAuthKey, true) },
      )
    ).tokenPair;
    if (pair === undefined) {
      throw new ConnectError("the server answered IssueToken without a token pair", Code.Internal);
    }
    const initial = tokenPairToStoredToken(pair, clock.now());
    const lifetimeMs = initial.expiresAt - initial.receivedAt;
    say(
      `session "${subject}": access tokens live ${durationText(lifetimeMs)}, the refresh token ${durationText(Number(pair.refreshTokenTtlSeconds) * 1000)} (renewed by every refresh); running for ${durationText(durationMs)}`,
    );

    let tokenExpiresAt = initial.expiresAt;
    let sessionExpired = false;
    const source = createTokenSource({
      refresh: createTokenServiceRefresher(transport, { clock }),
      initial,
      clock,
      random,
      onEvent: (e: TokenSourceEvent) => {
        if (e.type === "refresh" && (e.outcome === "success" || e.outcome === "adopted")) {
          refreshes[e.cause === "proactive" || e.cause === "reactive" ? e.cause : e.cause === "initial" ? "blocking" : "other"]++;
          const leftMs = tokenExpiresAt - (clock.now() - e.latencyMs);
          tokenExpiresAt = source.current()?.expiresAt ?? tokenExpiresAt;
          const why = leftMs > 0 ? `${e.cause}, ${Math.round(leftMs / 1000)} s left` : `${e.cause}, the old token had expired`;
          say(`✓ token refreshed (${why})   ${counts()}`);
        } else if (e.type === "refresh_retry") {
          say(`✗ token refresh failed (${errorText(e.error)}); the current token still works, retry in ${durationText(e.delayMs)}`);
        } else if (e.type === "session_expired") {
          sessionExpired = true;
          say(`✗ session expired (${AuthErrorReason[e.reason]}): a new login is needed`);
        }
      },
    });
    interceptors.push(createAuthInterceptor(source, { clock }));

    let lastInterval = 0;
    const heartbeats = startHeartbeats(createClient(HeartbeatService, transport), {
      instanceId: "tokenkit-demo",
      clock,
      random,
      onEvent: (e) => {
        if (e.type === "beat" && e.intervalMs !== lastInterval) {
          lastInterval = e.intervalMs;
          say(`♥ heartbeat acknowledged; the server asks for one every ${durationText(e.intervalMs)}`);
        } else if (e.type === "retry") {
          say(`✗ heartbeat failed (${errorText(e.error)}); retry in ${durationText(e.delayMs)}   ${counts()}`);
        } else if (e.type === "stopped" && e.error !== undefined) {
          say(`✗ heartbeats stopped (${errorText(e.error)})`);
        }
      },
    });

    const events = createClient(EventService, transport);
    const uploader = createEventUploader(events, {
      clock,
      random,
      lingerMs: 5000,
      onEvent: (e) => {
        if (e.type === "retry") {
          say(`✗ event upload failed (${errorText(e.error)}); resending the same ${e.events} events in ${durationText(e.delayMs)}`);
        } else if (e.type === "rejected") {
          say(`✗ event ${e.id} rejected (${errorText(e.error)})`);
        } else if (e.type === "failed") {
          say(`✗ event uploads stopped (${errorText(e.error)}); ${e.unsent} events unsent`);
        }
      },
    });

    // The watch: every sequence must arrive once, in order, across every token expiry.
    const watchStop = new AbortController();
    let watched = 0;
    let gaps = 0;
    let resumes = 0;
    let expected = 1n;
    let caughtUp: (() => void) | undefined;
    let target = Infinity;
    const watch = watchEvents(events, {
      clock,
      random,
      signal: watchStop.signal,
      onEvent: (e) => {
        if (e.type === "reconnect" && e.cause === "token_expired") {
          resumes++;
          say(`↻ watch resumed with a fresh token after sequence ${e.afterSequence}   ${counts()}`);
        } else if (e.type === "reconnect" && !winding) {
          failures++;
          say(`✗ watch stream broke (${e.error ? errorText(e.error) : "ended"}); resuming after sequence ${e.afterSequence} in ${durationText(e.delayMs)}`);
        }
      },
    });
    const watching = (async () => {
      for await (const m of watch) {
        if (m.sequence !== expected) {
          gaps += Number(m.sequence - expected);
        }
        expected = m.sequence + 1n;
        watched++;
        if (watched >= target) {
          caughtUp?.();
        }
      }
    })().catch((err: unknown) => {
      if (!winding) {
        failures++;
        say(`✗ watch ended (${errorText(ConnectError.from(err))})`);
      }
    });

    // The producer: one event per eventIntervalMs.
    let n = 0;
    let producer: ClockTimer | undefined;
    const produce = () => {
      n++;
      try {
        uploader.add({ type: "demo.tick", data: { n, subject }, attributes: { source: "tokenkit demo" } });
      } catch (err) {
        if (err instanceof EventUploaderError && err.code !== "ERR_UPLOADER_CLOSED") {
          failures++;
          say(`✗ event ${n} not taken (${err.code})`);
        }
      }
      producer = clock.setTimeout(produce, eventIntervalMs);
    };
    produce();

    // Run for the duration (or until the signal), then wind down.
    try {
      await abortableDelay(clock, durationMs, signal);
    } catch {
      say("stopping early");
    }
    clock.clearTimeout(producer);
    const stats = await uploader.close().catch(() => uploader.stats());
    // Give the watch up to 15 s to deliver what was stored.
    target = stats.accepted;
    if (watched < target && !sessionExpired) {
      await Promise.race([new Promise<void>((r) => (caughtUp = r)), abortableDelay(clock, 15_000).catch(() => {})]);
    }
    winding = true;
    const hb = await heartbeats.stop();
    watchStop.abort();
    await watching;
    source.close();

    const elapsedMs = clock.now() - started;
    const summary: DemoSummary = {
      ok: false,
      elapsedMs,
      calls,
      failures,
      refreshes: { ...refreshes },
      heartbeats: hb.beats,
      events: { added: stats.added, accepted: stats.accepted, duplicates: stats.duplicates, rejected: stats.rejected, batches: stats.batches },
      watched,
      gaps,
      resumes,
      sessionExpired,
    };
    summary.ok = failures === 0 && gaps === 0 && !sessionExpired && watched === stats.accepted && stats.queued === 0;
    printSummary(summary);
    return summary;
  }

  function printSummary(s: DemoSummary): void {
    const r = s.refreshes;
    out("");
    out(`summary after ${durationText(s.elapsedMs)}`);
    out(`  calls        ${s.calls}, ${s.failures} failed where the application could see it`);
    out(`  refreshes    ${totalRefreshes()} (${r.proactive} proactive, ${r.reactive} reactive, ${r.blocking} blocking, ${r.other} other); ${totalRefreshes() + 1} access tokens used`);
    out(`  heartbeats   ${s.heartbeats} acknowledged`);
    out(
      `  events       ${s.events.added} produced, ${s.events.batches} batches: ${s.events.accepted} stored, ${s.events.duplicates} duplicates, ${s.events.rejected} rejected`,
    );
    out(`  watch        ${s.watched} received in order, ${s.gaps} gaps; resumed ${times(s.resumes)} after a token expired`);
    out(
      s.ok
        ? `✓ the session ran on ${totalRefreshes() + 1} access tokens without a failed call, and every event arrived exactly once`
        : `✗ ${s.sessionExpired ? "the session expired" : s.failures > 0 ? `${s.failures} failures` : "the watch missed events"}: see the lines above`,
    );
  }

  return {
    done: run(),
    get inFlight() {
      return inFlight;
    },
  };
}
