import { createClient, type Client } from "@connectrpc/connect";
import type { EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { createEventUploader, EventUploaderError, type EventUploader } from "../client/event-uploader.js";
import { startHeartbeats, type Heartbeats } from "../client/heartbeats.js";
import type { ClockTimer } from "../lib/clock.js";
import { countsText, type DemoContext } from "./demo-context.js";
import { durationText, errorText } from "./demo-text.js";

/** startDemoHeartbeats starts the demo's heartbeats, printing the interval the server asks for and every failure. */
export function startDemoHeartbeats(ctx: DemoContext): Heartbeats {
  const { say } = ctx;
  let lastInterval = 0;
  return startHeartbeats(createClient(HeartbeatService, ctx.transport), {
    instanceId: "tokenkit-demo",
    clock: ctx.clock,
    random: ctx.random,
    onEvent: (e) => {
      if (e.type === "beat" && e.intervalMs !== lastInterval) {
        lastInterval = e.intervalMs;
        say(`♥ heartbeat acknowledged; the server asks for one every ${durationText(e.intervalMs)}`);
      } else if (e.type === "retry") {
        say(`✗ heartbeat failed (${errorText(e.error)}); retry in ${durationText(e.delayMs)}   ${countsText(ctx.tally)}`);
      } else if (e.type === "stopped" && e.error !== undefined) {
        say(`✗ heartbeats stopped (${errorText(e.error)})`);
      }
    },
  });
}

/** startDemoUploader returns the demo's event uploader (batches linger 5 s), printing every retry, rejection and failure. */
export function startDemoUploader(ctx: DemoContext, events: Client<typeof EventService>): EventUploader {
  const { say } = ctx;
  return createEventUploader(events, {
    clock: ctx.clock,
    random: ctx.random,
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
}

/**
 * startDemoProducer adds one event to `uploader` now and every
 * `intervalMs` until the returned `stop` is called; an event the uploader
 * does not take (for any reason but its close) counts as a failure.
 */
export function startDemoProducer(ctx: DemoContext, uploader: EventUploader, intervalMs: number): { stop(): void } {
  let n = 0;
  let producer: ClockTimer | undefined;
  const produce = () => {
    n++;
    try {
      uploader.add({ type: "demo.tick", data: { n, subject: ctx.subject }, attributes: { source: "tokenkit demo" } });
    } catch (err) {
      if (err instanceof EventUploaderError && err.code !== "ERR_UPLOADER_CLOSED") {
        ctx.tally.failures++;
        ctx.say(`✗ event ${n} not taken (${err.code})`);
      }
    }
    producer = ctx.clock.setTimeout(produce, intervalMs);
  };
  produce();
  return { stop: () => ctx.clock.clearTimeout(producer) };
}
