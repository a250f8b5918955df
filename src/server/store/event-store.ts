/**
 * The event store: where the session services (HeartbeatService,
 * EventService) keep what long-running clients send — events with a
 * per-subject sequence, and the last heartbeat of each session instance.
 * One small async interface with memory, SQLite and Postgres
 * implementations; every mutation is atomic.
 *
 * Times are Unix milliseconds (heartbeats are finer than token times).
 */

/** EventInput is one event to append: its idempotency key, type and encoded body. */
export interface EventInput {
  /** id is the client-chosen idempotency key, unique per subject. */
  id: string;
  /** type is the event type (kept apart from `payload` so watches can filter on it). */
  type: string;
  /** payload is the whole `tokenkit.v1.Event`, binary-encoded; returned byte for byte. */
  payload: Uint8Array;
}

/** EventRecord is one stored event. */
export interface EventRecord extends EventInput {
  /** subject is the principal (`sub`) the event belongs to. */
  subject: string;
  /** sequence is the event's per-subject number: 1, 2, 3, … with no gaps, in commit order. */
  sequence: number;
  /** receivedAt is when the server stored it (ms). */
  receivedAt: number;
}

/** AppendResult counts what {@link EventStore.append} did. */
export interface AppendResult {
  /** accepted is the number of events newly stored. */
  accepted: number;
  /** duplicates is the number of events whose id the subject already had (or that repeat an id earlier in the batch). */
  duplicates: number;
  /** lastSequence is the subject's highest sequence after the append (0 when it has none). */
  lastSequence: number;
}

/** ListQuery selects the events {@link EventStore.list} returns. */
export interface ListQuery {
  /** subject whose events to list. */
  subject: string;
  /** afterSequence returns only events with a greater sequence. */
  afterSequence: number;
  /** limit is the most events to return. */
  limit: number;
  /**
   * maxBytes, when set, ends the page with the event that brings its payload
   * bytes to `maxBytes` or more, so a page's memory is bounded however large
   * the events: the first matching event is always returned, whatever its size.
   */
  maxBytes?: number;
  /** types keeps only these event types; empty or absent keeps all. */
  types?: readonly string[];
}

/** HeartbeatRecord is the last heartbeat of one session instance. */
export interface HeartbeatRecord {
  /** sid is the session (token family) the heartbeat came from. */
  sid: string;
  /** instanceId is the client instance within the session ("" when the client sent none). */
  instanceId: string;
  /** subject is the principal (`sub`). */
  subject: string;
  /** attributes are the labels of the last heartbeat. */
  attributes: Record<string, string>;
  /** receivedAt is when the last heartbeat arrived (ms). */
  receivedAt: number;
  /** count is how many heartbeats this instance has sent. */
  count: number;
}

/**
 * EventStore keeps the session services' data. Implementations must make
 * {@link EventStore.append} all or nothing and give each subject's events
 * gap-free, strictly increasing sequences that become visible in order (a
 * reader never sees sequence n+1 before n), so a watch resuming "after n"
 * misses nothing. Store failures surface as `ConnectError` with
 * `Code.Unavailable`.
 */
export interface EventStore {
  /**
   * append stores `events` for `subject` in one transaction, skipping (and
   * counting) ids the subject already has. `events` is non-empty and
   * already validated.
   */
  append(subject: string, events: readonly EventInput[], now: number): Promise<AppendResult>;
  /** list returns a subject's events after a sequence, oldest first. */
  list(query: ListQuery): Promise<EventRecord[]>;
  /** recordHeartbeat upserts the last heartbeat of `(sid, instanceId)` and increments its count. */
  recordHeartbeat(heartbeat: Omit<HeartbeatRecord, "count">): Promise<HeartbeatRecord>;
  /** lastHeartbeat returns the last heartbeat of `(sid, instanceId)`, if any. */
  lastHeartbeat(sid: string, instanceId: string): Promise<HeartbeatRecord | undefined>;
  /** close releases the store's resources. */
  close(): Promise<void>;
}
