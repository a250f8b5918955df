import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { HeartbeatService } from "../../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { systemClock, type Clock } from "../../lib/clock.js";
import type { EventStore } from "../store/event-store.js";
import { sessionClaims } from "./session-claims.js";

/** SCOPE_HEARTBEAT_WRITE is the scope `HeartbeatService.Heartbeat` requires. */
export const SCOPE_HEARTBEAT_WRITE = "heartbeat:write";

/** Limits on what one heartbeat may carry, so a client cannot grow the store without bound. */
const MAX_INSTANCE_ID_LENGTH = 256;
const MAX_ATTRIBUTES = 64;
const MAX_ATTRIBUTE_LENGTH = 1024;

/** HeartbeatServiceOptions configures {@link createHeartbeatService}. */
export interface HeartbeatServiceOptions {
  /** store records the last heartbeat of each session instance. Required. */
  store: EventStore;
  /**
   * intervalSeconds is the `interval` every response suggests: when the
   * client should send its next heartbeat. Between 1 s and 1 h.
   * @default 30 — frequent enough to notice a dead client within a minute, cheap for the store.
   */
  intervalSeconds?: number;
  /** clock supplies `server_time`. @default systemClock */
  clock?: Clock;
}

/**
 * createHeartbeatService returns the `tokenkit.v1.HeartbeatService`
 * implementation: each heartbeat is recorded as the last one of its session
 * (`sid`) and `instance_id`, and answered with the server time and the
 * suggested interval. Serve it behind `createBearerAuthInterceptor` with
 * scope {@link SCOPE_HEARTBEAT_WRITE}. Instance ids are at most 256
 * characters; at most 64 attributes of at most 1 KiB each
 * (`InvalidArgument` otherwise).
 */
export function createHeartbeatService(options: HeartbeatServiceOptions): ServiceImpl<typeof HeartbeatService> {
  if (typeof options?.store?.recordHeartbeat !== "function") {
    throw new TypeError('createHeartbeatService: option "store" must be an EventStore');
  }
  const intervalSeconds = options.intervalSeconds ?? 30;
  if (!Number.isSafeInteger(intervalSeconds) || intervalSeconds < 1 || intervalSeconds > 3600) {
    throw new TypeError('createHeartbeatService: option "intervalSeconds" must be an integer from 1 to 3600');
  }
  const { store } = options;
  const clock = options.clock ?? systemClock;
  return {
    async heartbeat(req, ctx) {
      const claims = sessionClaims(ctx, "HeartbeatService");
      if (req.instanceId.length > MAX_INSTANCE_ID_LENGTH) {
        throw new ConnectError(`instance_id is longer than ${MAX_INSTANCE_ID_LENGTH} characters`, Code.InvalidArgument);
      }
      const entries = Object.entries(req.attributes);
      if (entries.length > MAX_ATTRIBUTES) {
        throw new ConnectError(`attributes has ${entries.length} entries, over the limit of ${MAX_ATTRIBUTES}`, Code.InvalidArgument);
      }
      for (const [k, v] of entries) {
        if (k.length > MAX_ATTRIBUTE_LENGTH || v.length > MAX_ATTRIBUTE_LENGTH) {
          throw new ConnectError(`attributes entry "${k.slice(0, 64)}" is longer than ${MAX_ATTRIBUTE_LENGTH} characters`, Code.InvalidArgument);
        }
      }
      const now = clock.now();
      await store.recordHeartbeat({ sid: claims.sid, instanceId: req.instanceId, subject: claims.sub, attributes: req.attributes, receivedAt: now });
      return { serverTime: timestampFromMs(now), interval: { seconds: BigInt(intervalSeconds), nanos: 0 } };
    },
  };
}
