import type { Interceptor, Transport } from "@connectrpc/connect";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import type { Clock } from "../lib/clock.js";
import type { DemoSummary } from "./demo-types.js";

/** DemoTally is what a running demo counts; the printed lines and the summary read it. */
export interface DemoTally {
  /** calls is the number of application calls (refreshes apart). */
  calls: number;
  /** failures is the number of failures the application could see. */
  failures: number;
  /** inFlight is the number of unary calls (refreshes included) in flight. */
  inFlight: number;
  /** winding is true once the demo stops its helpers: failures from then on are the shutdown's, not counted. */
  winding: boolean;
  /** refreshes counts successful token refreshes by cause. */
  refreshes: DemoSummary["refreshes"];
  /** sessionExpired is true once the session ended for good. */
  sessionExpired: boolean;
}

/** DemoContext is what every part of a running demo shares. */
export interface DemoContext {
  clock: Clock;
  random: () => number;
  transport: Transport;
  subject: string;
  tally: DemoTally;
  /** say prints one line, prefixed with the time since the demo started. */
  say(text: string): void;
}

/** createDemoTally returns a {@link DemoTally} with every count at zero. */
export function createDemoTally(): DemoTally {
  return { calls: 0, failures: 0, inFlight: 0, winding: false, refreshes: { proactive: 0, reactive: 0, blocking: 0, other: 0 }, sessionExpired: false };
}

/** totalRefreshes is the number of successful refreshes, whatever their cause. */
export function totalRefreshes(r: DemoSummary["refreshes"]): number {
  return r.proactive + r.reactive + r.blocking + r.other;
}

/** countsText is the running counts printed at the end of a line. */
export function countsText(tally: DemoTally): string {
  return `calls ${tally.calls} · failures ${tally.failures} · refreshes ${totalRefreshes(tally.refreshes)}`;
}

/**
 * countingInterceptor counts the application's calls into `tally` and the
 * failures it can see; it sits outside the auth interceptor, which retries
 * once, so a retried call counts once.
 */
export function countingInterceptor(tally: DemoTally): Interceptor {
  return (next) => async (req) => {
    const app = req.service.typeName !== TokenService.typeName;
    if (app) {
      tally.calls++;
    }
    const unary = !req.stream;
    if (unary) {
      tally.inFlight++;
    }
    try {
      return await next(req);
    } catch (err) {
      if (app && !tally.winding) {
        tally.failures++;
      }
      throw err;
    } finally {
      if (unary) {
        tally.inFlight--;
      }
    }
  };
}
