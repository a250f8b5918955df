import { ConnectError, type Client } from "@connectrpc/connect";
import type { EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { watchEvents } from "../client/watch-events.js";
import { abortableDelay } from "../lib/abortable-delay.js";
import { countsText, type DemoContext } from "./demo-context.js";
import { durationText, errorText } from "./demo-text.js";

/** DemoWatch is the demo's watch of its own events: every sequence must arrive once, in order, across every token expiry. */
export interface DemoWatch {
  /** watched is the number of events delivered so far. */
  readonly watched: number;
  /** gaps is the number of sequences skipped so far. */
  readonly gaps: number;
  /** resumes is the number of times the watch reopened after its token expired. */
  readonly resumes: number;
  /** catchUp waits until `stored` events were delivered, at most 15 s (not at all once the session expired). */
  catchUp(stored: number): Promise<void>;
  /** stop ends the watch and waits for it to end. */
  stop(): Promise<void>;
}

/** startDemoWatch opens the watch from sequence 1, printing a line per resume and break, and counting visible failures. */
export function startDemoWatch(ctx: DemoContext, events: Client<typeof EventService>): DemoWatch {
  const { clock, tally, say } = ctx;
  const watchStop = new AbortController();
  let watched = 0;
  let gaps = 0;
  let resumes = 0;
  let expected = 1n;
  let caughtUp: (() => void) | undefined;
  let target = Infinity;
  const watch = watchEvents(events, {
    clock,
    random: ctx.random,
    signal: watchStop.signal,
    onEvent: (e) => {
      if (e.type === "reconnect" && e.cause === "token_expired") {
        resumes++;
        say(`↻ watch resumed with a fresh token after sequence ${e.afterSequence}   ${countsText(tally)}`);
      } else if (e.type === "reconnect" && !tally.winding) {
        tally.failures++;
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
    if (!tally.winding) {
      tally.failures++;
      say(`✗ watch ended (${errorText(ConnectError.from(err))})`);
    }
  });

  return {
    get watched() {
      return watched;
    },
    get gaps() {
      return gaps;
    },
    get resumes() {
      return resumes;
    },
    async catchUp(stored) {
      target = stored;
      if (watched < target && !tally.sessionExpired) {
        await Promise.race([new Promise<void>((r) => (caughtUp = r)), abortableDelay(clock, 15_000).catch(() => {})]);
      }
    },
    async stop() {
      watchStop.abort();
      await watching;
    },
  };
}
