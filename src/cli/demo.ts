import { createClient } from "@connectrpc/connect";
import { EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createAuthInterceptor } from "../client/auth-interceptor.js";
import { abortableDelay } from "../lib/abortable-delay.js";
import { systemClock } from "../lib/clock.js";
import { countingInterceptor, createDemoTally, type DemoContext } from "./demo-context.js";
import { issueDemoPair, startDemoTokenSource, type DemoSessionOptions } from "./demo-session.js";
import { clockText, printDemoSummary } from "./demo-text.js";
import { startDemoHeartbeats, startDemoProducer, startDemoUploader } from "./demo-traffic.js";
import type { Demo, DemoOptions, DemoSummary } from "./demo-types.js";
import { startDemoWatch } from "./demo-watch.js";

export type { Demo, DemoOptions, DemoSummary } from "./demo-types.js";

/** DemoSettings are {@link DemoOptions} validated, with their defaults filled in. */
interface DemoSettings extends DemoSessionOptions {
  eventIntervalMs: number;
  subject: string;
}

/** normalizeDemoOptions validates `options` (a mistake throws a `TypeError` naming the option) and fills the defaults. */
function normalizeDemoOptions(options: DemoOptions): DemoSettings {
  const durationMs = options.durationMs ?? 120_000;
  const accessTtlSeconds = options.accessTtlSeconds ?? 20;
  const refreshTtlSeconds = options.refreshTtlSeconds ?? 120;
  const eventIntervalMs = options.eventIntervalMs ?? 1000;
  if (typeof options.connect !== "function" || typeof options.out !== "function") {
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
  return { adminKey: options.adminKey, durationMs, accessTtlSeconds, refreshTtlSeconds, eventIntervalMs, subject };
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
  const settings = normalizeDemoOptions(options);
  const { out, signal } = options;
  const tally = createDemoTally();
  const started = clock.now();
  const interceptors = [countingInterceptor(tally)];
  const transport = options.connect(interceptors);
  const ctx: DemoContext = {
    clock,
    random,
    transport,
    subject: settings.subject,
    tally,
    say: (text) => out(`[${clockText(clock.now() - started)}] ${text}`),
  };

  async function run(): Promise<DemoSummary> {
    const initial = await issueDemoPair(ctx, createClient(TokenService, transport), settings);
    const source = startDemoTokenSource(ctx, initial);
    interceptors.push(createAuthInterceptor(source, { clock }));
    const heartbeats = startDemoHeartbeats(ctx);
    const events = createClient(EventService, transport);
    const uploader = startDemoUploader(ctx, events);
    const watch = startDemoWatch(ctx, events);
    const producer = startDemoProducer(ctx, uploader, settings.eventIntervalMs);

    // Run for the duration (or until the signal), then wind down.
    try {
      await abortableDelay(clock, settings.durationMs, signal);
    } catch {
      ctx.say("stopping early");
    }
    producer.stop();
    const stats = await uploader.close().catch(() => uploader.stats());
    // Give the watch up to 15 s to deliver what was stored.
    await watch.catchUp(stats.accepted);
    tally.winding = true;
    const hb = await heartbeats.stop();
    await watch.stop();
    source.close();

    const { calls, failures, sessionExpired } = tally;
    const summary: DemoSummary = {
      ok: failures === 0 && watch.gaps === 0 && !sessionExpired && watch.watched === stats.accepted && stats.queued === 0,
      elapsedMs: clock.now() - started,
      calls,
      failures,
      refreshes: { ...tally.refreshes },
      heartbeats: hb.beats,
      events: { added: stats.added, accepted: stats.accepted, duplicates: stats.duplicates, rejected: stats.rejected, batches: stats.batches },
      watched: watch.watched,
      gaps: watch.gaps,
      resumes: watch.resumes,
      sessionExpired,
    };
    printDemoSummary(out, summary);
    return summary;
  }

  return {
    done: run(),
    get inFlight() {
      return tally.inFlight;
    },
  };
}
