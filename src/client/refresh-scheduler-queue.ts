import { createMinHeap } from "./min-heap.js";
import type { HeapEntry, Session } from "./refresh-scheduler-types.js";

/**
 * DueQueue holds the due times of a scheduler's sessions in a min-heap.
 * Rescheduling or cancelling a session leaves its old entries in place:
 * they carry an old generation number and are discarded when reached.
 */
export interface DueQueue {
  /** put makes session `s` of `id` due at `at`. */
  put(id: string, s: Session, at: number): void;
  /** peekLive discards stale entries at the top and returns the earliest live one. */
  peekLive(): HeapEntry | undefined;
  /** pop removes the earliest entry. */
  pop(): void;
  /** compact rebuilds the heap without stale entries once they outnumber live ones (and there are over 1024). */
  compact(): void;
  /** clear removes every entry. */
  clear(): void;
}

/** createDueQueue returns an empty {@link DueQueue}; `sessions` (id → live session) tells stale entries from live ones. */
export function createDueQueue(sessions: ReadonlyMap<string, Session>): DueQueue {
  const heap = createMinHeap<HeapEntry>();
  const isStale = (e: HeapEntry) => sessions.get(e.id)?.gen !== e.gen;
  return {
    put(id, s, at) {
      s.dueAt = at;
      heap.push({ at, id, gen: s.gen });
    },
    peekLive() {
      while (heap.size > 0 && isStale(heap.peek()!)) {
        heap.pop();
      }
      return heap.peek();
    },
    pop() {
      heap.pop();
    },
    compact() {
      if (heap.size > 1024 && heap.size > 2 * sessions.size) {
        heap.retain((e) => !isStale(e));
      }
    },
    clear() {
      heap.clear();
    },
  };
}
