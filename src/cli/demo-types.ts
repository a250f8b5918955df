import type { Interceptor, Transport } from "@connectrpc/connect";
import type { Clock } from "../lib/clock.js";

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
