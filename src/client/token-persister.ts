import type { Clock, ClockTimer } from "../lib/clock.js";
import { backoffDelay, type BackoffOptions } from "./refresh-policy.js";
import { isNewerPair, readStore } from "./store-adoption.js";
import type { StoredToken, TokenStore } from "./token-store.js";

/** TokenPersister writes a token source's pairs to its store, newest-wins. */
export interface TokenPersister {
  /**
   * save writes `token`, the newest pair of the source, and resolves once it is written or has
   * failed (it never rejects: a failure schedules a retry). It never takes the store's lock, so a
   * caller may hold it. Saves are written one at a time, in order; a save overtaken by a newer one
   * before its turn is skipped.
   */
  save(token: StoredToken): Promise<void>;
  /**
   * saveOutsideLock writes `token` from outside any lock (a pair that arrived after its refresh
   * gave up the lock): under the store's lock, only if the store holds nothing newer.
   */
  saveOutsideLock(token: StoredToken): Promise<void>;
  /** clear removes the stored pair (sign-out), dropping every queued save and pending retry; it rejects when the store does. */
  clear(): Promise<void>;
  /** heldOurs is true once the store is known to have held one of this source's pairs. */
  readonly heldOurs: boolean;
  /** markHeld records that the store held one of our pairs (it was loaded from there). */
  markHeld(): void;
  /** stop cancels the retry timer; later saves are ignored. */
  stop(): void;
}

/** PersisterHooks are what a {@link TokenPersister} needs from its source. */
export interface PersisterHooks {
  clock: Clock;
  random: () => number;
  backoff: BackoffOptions;
  /** onFailed hears every failed write (the `attempt`-th in a row). */
  onFailed: (attempt: number, error: unknown) => void;
}

/**
 * createTokenPersister returns the persister of one token source. Rules:
 * - newest-wins: every pair gets a sequence number; a write never replaces a newer pair
 *   this source wrote, and a retry never replaces a newer pair found in the store;
 * - retries coalesce: one timer, for the newest failed pair only, with capped backoff;
 * - a retry runs under the store's lock, re-reading the store first, so it cannot race a
 *   refresh in another process.
 */
export function createTokenPersister(store: TokenStore | undefined, hooks: PersisterHooks): TokenPersister {
  let seq = 0;
  let writtenSeq = 0;
  let chain: Promise<void> = Promise.resolve();
  let pending: { token: StoredToken; seq: number } | undefined;
  let failures = 0;
  let timer: ClockTimer | undefined;
  let stopped = false;
  let heldOurs = false;

  async function write(token: StoredToken, n: number): Promise<void> {
    if (stopped || n <= writtenSeq) {
      return;
    }
    try {
      await store!.save(token);
      if (n <= writtenSeq) {
        return; // cleared meanwhile (sign-out): the clear wins
      }
      writtenSeq = n;
      heldOurs = true;
      failures = 0;
      if (pending !== undefined && pending.seq <= n) {
        pending = undefined;
      }
    } catch (error) {
      failures++;
      if (pending === undefined || pending.seq < n) {
        pending = { token, seq: n };
      }
      hooks.onFailed(failures, error);
      armRetry();
    }
  }

  function enqueue(token: StoredToken, n: number): Promise<void> {
    chain = chain.then(() => write(token, n));
    return chain;
  }

  function armRetry(): void {
    if (timer !== undefined || stopped) {
      return;
    }
    timer = hooks.clock.setTimeout(() => {
      timer = undefined;
      void retry();
    }, backoffDelay(failures, hooks.random(), hooks.backoff));
  }

  /** writeUnlessStoreNewer writes under the store's lock, unless another process saved a newer pair meanwhile. */
  async function writeUnlessStoreNewer(token: StoredToken, n: number): Promise<void> {
    const attempt = async () => {
      const read = await readStore(store!);
      if (read.ok && isNewerPair(read.token, token)) {
        // Ours is older than what another process saved: never write it back.
        if (pending?.seq === n) pending = undefined;
        return;
      }
      await enqueue(token, n);
    };
    await (store!.lock ? store!.lock(attempt).catch(() => armRetry()) : attempt());
  }

  async function retry(): Promise<void> {
    if (pending !== undefined && !stopped) {
      await writeUnlessStoreNewer(pending.token, pending.seq);
    }
  }

  return {
    save(token) {
      if (store === undefined || stopped) {
        return Promise.resolve();
      }
      return enqueue(token, ++seq);
    },
    saveOutsideLock(token) {
      if (store === undefined || stopped) {
        return Promise.resolve();
      }
      return writeUnlessStoreNewer(token, ++seq);
    },
    async clear() {
      pending = undefined;
      failures = 0;
      if (timer !== undefined) hooks.clock.clearTimeout(timer);
      timer = undefined;
      if (store === undefined) {
        return;
      }
      // Every save queued so far is older than the clear: skip them, then clear under the lock.
      writtenSeq = ++seq;
      heldOurs = false;
      const clearing = chain.then(() => (store.lock ? store.lock(() => store.save(undefined)) : store.save(undefined)));
      chain = clearing.catch(() => {});
      await clearing;
    },
    get heldOurs() {
      return heldOurs;
    },
    markHeld() {
      heldOurs = true;
    },
    stop() {
      stopped = true;
      if (timer !== undefined) hooks.clock.clearTimeout(timer);
      timer = undefined;
    },
  };
}
