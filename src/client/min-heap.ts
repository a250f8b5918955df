/**
 * MinHeap is a binary min-heap ordered by `at`: O(log n) push and pop. The
 * refresh scheduler keeps one entry per pending refresh in it, so 100 000
 * sessions need one live timer, not 100 000.
 */
export interface MinHeap<T extends { at: number }> {
  /** push adds an entry. */
  push(entry: T): void;
  /** peek returns the earliest entry without removing it. */
  peek(): T | undefined;
  /** pop removes and returns the earliest entry. */
  pop(): T | undefined;
  /** size is the number of entries (stale ones included). */
  readonly size: number;
  /** clear removes every entry. */
  clear(): void;
  /** retain keeps only the entries for which `keep` returns true, in O(n). */
  retain(keep: (entry: T) => boolean): void;
}

/** createMinHeap returns an empty {@link MinHeap}. */
export function createMinHeap<T extends { at: number }>(): MinHeap<T> {
  let a: T[] = [];
  function up(i: number): void {
    const x = a[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.at <= x.at) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = x;
  }
  function down(i: number): void {
    const x = a[i]!;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]!.at < a[l]!.at ? r : l;
      if (a[c]!.at >= x.at) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = x;
  }
  return {
    push(entry) {
      a.push(entry);
      up(a.length - 1);
    },
    peek: () => a[0],
    pop() {
      const top = a[0];
      const last = a.pop();
      if (a.length > 0 && last !== undefined) {
        a[0] = last;
        down(0);
      }
      return top;
    },
    get size() {
      return a.length;
    },
    clear() {
      a.length = 0;
    },
    retain(keep) {
      a = a.filter(keep);
      for (let i = (a.length >> 1) - 1; i >= 0; i--) down(i);
    },
  };
}
