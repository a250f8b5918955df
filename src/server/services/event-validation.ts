import type { JsonValue } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { Event } from "../../../gen/tokenkit/v1/event_service_pb.js";

/** MAX_EVENT_ID_LENGTH bounds `Event.id` and `Event.type` (characters). */
export const MAX_EVENT_ID_LENGTH = 256;

/**
 * MAX_DATA_DEPTH bounds how deeply `Event.data` nests objects and lists
 * (`{"a": 1}` is depth 1). 12 is the deepest a protobuf-es watcher decodes
 * inside a binary `WatchEventsResponse` with its default recursion limit of
 * 100 (each level costs a Value, a Struct and a map entry), so every event
 * the server accepts can be delivered to every watcher, JSON or binary.
 */
export const MAX_DATA_DEPTH = 12;

/** The range of `google.protobuf.Timestamp` that its JSON form (RFC 3339) can express. */
const MIN_SECONDS = -62_135_596_800n; // 0001-01-01T00:00:00Z
const MAX_SECONDS = 253_402_300_799n; // 9999-12-31T23:59:59Z

function timestampProblem(field: string, t: Timestamp): string | undefined {
  if (t.seconds < MIN_SECONDS || t.seconds > MAX_SECONDS) {
    return `${field} seconds ${t.seconds} is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z`;
  }
  if (!Number.isInteger(t.nanos) || t.nanos < 0 || t.nanos > 999_999_999) {
    return `${field} nanos ${t.nanos} is outside 0..999999999`;
  }
  return undefined;
}

/** Names an object key in a path: `.name` when it reads as one, else `["key"]` (long keys cut). */
function keyPath(path: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key)) {
    return `${path}.${key}`;
  }
  return `${path}[${JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)}]`;
}

/**
 * Walks `data` (a Struct, which protobuf-es holds as a JsonObject: a Value
 * without a kind already reads as null). `depth` counts the objects and lists
 * around `value`.
 */
function jsonProblem(path: string, value: JsonValue, depth: number): string | undefined {
  if (typeof value === "number") {
    return Number.isFinite(value) ? undefined : `${path} is ${value}; only finite numbers can be encoded as JSON`;
  }
  if (value === null || typeof value !== "object") {
    return undefined;
  }
  if (depth + 1 > MAX_DATA_DEPTH) {
    return `${path} nests deeper than ${MAX_DATA_DEPTH} levels`;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = jsonProblem(`${path}[${i}]`, value[i]!, depth + 1);
      if (problem !== undefined) {
        return problem;
      }
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const problem = jsonProblem(keyPath(path, key), value[key]!, depth + 1);
    if (problem !== undefined) {
      return problem;
    }
  }
  return undefined;
}

/**
 * eventProblem returns why `event` must not be stored — a missing or
 * over-long id or type, an `occur_time` outside 0001-01-01..9999-12-31 or
 * with nanos outside 0..999 999 999, a `data` number that is NaN or ±Infinity,
 * or `data` nested deeper than
 * {@link MAX_DATA_DEPTH} — naming the field (`data.a[2]`), or undefined when
 * every watcher, JSON included, can receive it. These are exactly the
 * failures of the Protobuf JSON encoding for an Event (a Struct Value with
 * no kind decodes as null, which encodes), plus the depth a watcher can decode.
 */
export function eventProblem(event: Event): string | undefined {
  if (event.id === "") {
    return "id is required";
  }
  if (event.type === "") {
    return "type is required";
  }
  if (event.id.length > MAX_EVENT_ID_LENGTH || event.type.length > MAX_EVENT_ID_LENGTH) {
    return `id and type are limited to ${MAX_EVENT_ID_LENGTH} characters`;
  }
  if (event.occurTime !== undefined) {
    const problem = timestampProblem("occur_time", event.occurTime);
    if (problem !== undefined) {
      return problem;
    }
  }
  return event.data === undefined ? undefined : jsonProblem("data", event.data, 0);
}
