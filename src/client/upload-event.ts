import { clone, create, isMessage, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EventSchema, type Event } from "../../gen/tokenkit/v1/event_service_pb.js";
import { EventUploaderError } from "./event-uploader-error.js";
import type { EventInit } from "./event-uploader-types.js";

/** MAX_ID_LENGTH bounds `Event.id` and `Event.type`, as the reference server does. */
const MAX_ID_LENGTH = 256;

/** UploadEvent is an event ready to queue: a private copy with its id and time fixed, and its encoded size. */
export interface UploadEvent {
  event: Event;
  bytes: number;
}

/** invalidEvent builds the `ERR_EVENT_INVALID` error `EventUploader.add` throws for an event it cannot send. */
export function invalidEvent(message: string): EventUploaderError {
  return new EventUploaderError("ERR_EVENT_INVALID", `EventUploader.add: ${message}`);
}

/**
 * toUploadEvent copies `init` (the caller's object is never modified),
 * checks it as the reference server would, gives it an id from `generateId`
 * when it has none and `occurTime` = `now` when unset, and measures it.
 * It throws `ERR_EVENT_INVALID` for an event that cannot be sent, and a
 * `TypeError` naming `who`'s "generateId" option when that returns no id.
 */
export function toUploadEvent(init: EventInit, now: number, maxEventBytes: number, generateId: () => string, who: string): UploadEvent {
  let event: Event;
  try {
    event = isMessage(init, EventSchema) ? clone(EventSchema, init) : create(EventSchema, init);
  } catch (err) {
    throw invalidEvent(`not a valid Event (${err instanceof Error ? err.message : String(err)})`);
  }
  if (event.type === "") {
    throw invalidEvent('"type" is required');
  }
  if (event.type.length > MAX_ID_LENGTH || event.id.length > MAX_ID_LENGTH) {
    throw invalidEvent(`"id" and "type" are limited to ${MAX_ID_LENGTH} characters`);
  }
  if (event.id === "") {
    event.id = generateId();
    if (typeof event.id !== "string" || event.id === "") {
      throw new TypeError(`${who}: option "generateId" must return a non-empty string`);
    }
  }
  event.occurTime ??= timestampFromMs(now);
  const bytes = toBinary(EventSchema, event).byteLength;
  if (bytes > maxEventBytes) {
    throw invalidEvent(`the event is ${bytes} bytes encoded, more than maxEventBytes (${maxEventBytes})`);
  }
  return { event, bytes };
}
