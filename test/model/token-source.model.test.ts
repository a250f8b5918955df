/**
 * Model-based test of the token source: fast-check drives random interleavings of the commands
 * below against a real token source (fake clock, a refresh function whose calls the test settles
 * late and out of order, a memory store whose saves can fail and which another "process" writes
 * to), and checks these invariants after every step:
 *
 * 1. never `session_expired` while a newer usable pair is known: the source ends a session only
 *    when the refresh that failed was for its current pair and the store holds nothing newer;
 *    `setToken` or an adopted pair always leaves the source `active`;
 * 2. the stored pair is the newest: no write ever replaces a stored pair with an older one;
 * 3. at most one refresh in flight (calls whose signal has not been aborted);
 * 4. no more than one refresh per token lifetime without a failure or a forced refresh: every
 *    refresh that is neither forced nor a retry starts at or after its pair's refresh point, or
 *    when that pair is no longer usable;
 * 5. nothing runs after `close()`: no refresh call, no store write, no pending timer;
 * and every caller's failure is a `ConnectError` with a code the contract allows.
 *
 * CI runs a fixed seed with at least 10 000 steps; `npm run test:model` runs many more
 * (TOKENKIT_MODEL_RUNS runs, TOKENKIT_MODEL_SEED to replay one).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { authError } from "../../src/auth-error.js";
import { createMemoryTokenStore } from "../../src/client/memory-token-store.js";
import { refreshConfigError, transientRefreshError } from "../../src/client/refresh-errors.js";
import { isUsable, normalizeRefreshPolicy, refreshPoint } from "../../src/client/refresh-policy.js";
import type { RefreshCause } from "../../src/client/token-events.js";
import { createTokenSource, type RefreshFunction, type TokenSource } from "../../src/client/token-source.js";
import type { StoredToken, TokenStore } from "../../src/client/token-store.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";

const RUNS = Number(process.env.TOKENKIT_MODEL_RUNS ?? 300);
const SEED = Number(process.env.TOKENKIT_MODEL_SEED ?? 20_261_202);
const JITTER = 0.5;
const policy = normalizeRefreshPolicy();
const ALLOWED_CODES = new Set([Code.Unauthenticated, Code.Unavailable, Code.DeadlineExceeded, Code.FailedPrecondition, Code.Canceled]);
let steps = 0;

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
};

interface Call {
  current: StoredToken | undefined;
  cause: RefreshCause;
  signal: AbortSignal;
  resolve(t: StoredToken): void;
  reject(e: unknown): void;
  settled: boolean;
}

/** The system under test and what the test observes of it. */
class Real {
  readonly clock: ManualClock = createManualClock();
  readonly calls: Call[] = [];
  readonly inner = createMemoryTokenStore();
  readonly violations: string[] = [];
  readonly source: TokenSource;
  failSaves = false;
  closed = false;
  writesAfterClose = 0;
  /** failedSince: a refresh failed or was forced since this access token was installed. */
  readonly failedSince = new Set<string>();
  private serial = 0;
  private listener: ((t: StoredToken | undefined) => void) | undefined;

  constructor(readonly lifetimeMs: number) {
    const refresh: RefreshFunction = (current, { signal, cause }) =>
      new Promise((resolve, reject) => {
        if (this.closed) this.violations.push("refresh called after close()");
        const now = this.clock.now();
        const due = current === undefined || !isUsable(current, now, policy) || now >= refreshPoint(current, policy, JITTER);
        if (cause !== "reactive" && !due && !this.failedSince.has(current!.accessToken)) {
          this.violations.push(`refresh (${cause}) of a fresh pair without a failure`);
        }
        this.calls.push({ current, cause, signal, resolve, reject, settled: false });
      });
    const store: TokenStore = {
      load: () => this.inner.load(),
      lock: (fn, o) => this.inner.lock(fn, o),
      save: async (t) => {
        if (this.closed) this.writesAfterClose++;
        if (this.failSaves) throw new Error("disk full");
        const stored = await this.inner.load();
        if (t !== undefined && stored !== undefined && t.receivedAt < stored.receivedAt) {
          this.violations.push("a save replaced a newer stored pair");
        }
        await this.inner.save(t);
      },
      subscribe: (l) => ((this.listener = l), () => (this.listener = undefined)),
    };
    this.source = createTokenSource({ clock: this.clock, random: () => JITTER, refresh, store, refreshToken: "seed" });
  }

  pair(owner: string): StoredToken {
    const now = this.clock.now();
    return { accessToken: `${owner}-${++this.serial}`, refreshToken: `r-${this.serial}`, receivedAt: now, expiresAt: now + this.lifetimeMs, refreshExpiresAt: now + 20 * this.lifetimeMs };
  }

  /** another process rotates under the lock and saves, announcing it (or not); it may wait for our lock holder. */
  otherProcessSaves(announce: boolean): void {
    void this.inner.lock(async () => {
      const p = this.pair("other");
      await this.inner.save(p);
      if (announce && !this.closed) this.listener?.(structuredClone(p));
    });
  }

  inFlight(): number {
    return this.calls.filter((c) => !c.settled && !c.signal.aborted).length;
  }

  pending(i: number): Call | undefined {
    const open = this.calls.filter((c) => !c.settled);
    return open.length === 0 ? undefined : open[i % open.length];
  }

  caller(p: Promise<string>): void {
    p.catch((e: unknown) => {
      if (!(e instanceof ConnectError) || !ALLOWED_CODES.has(e.code)) this.violations.push(`caller got ${String(e)}`);
    });
  }

  async check(): Promise<void> {
    await flush();
    steps++;
    if (this.inFlight() > 1) this.violations.push(`${this.inFlight()} refreshes in flight`);
    if (this.closed && this.clock.timers > 0) this.violations.push(`${this.clock.timers} timers pending after close()`);
    if (this.closed && this.writesAfterClose > 0) this.violations.push("store written after close()");
    expect(this.violations).toEqual([]);
  }
}

type Cmd = fc.AsyncCommand<object, Real>;
const cmd = (name: string, run: (r: Real) => Promise<void>): Cmd => ({
  check: () => true,
  run: async (_m, r) => {
    await run(r);
    await r.check();
  },
  toString: () => name,
});

const settleWith = (i: number, kind: "success" | "transient" | "retry-after" | "reused" | "config") =>
  cmd(`settle(${i}, ${kind})`, async (r) => {
    const call = r.pending(i);
    if (call === undefined) return;
    call.settled = true;
    const before = { state: r.source.state, token: r.source.current(), stored: await r.inner.load() };
    if (kind === "success") {
      call.resolve(r.pair("refresh"));
      return;
    }
    if (call.current !== undefined) r.failedSince.add(call.current.accessToken);
    if (before.token !== undefined) r.failedSince.add(before.token.accessToken);
    call.reject(
      kind === "transient"
        ? new TypeError("fetch failed")
        : kind === "retry-after"
          ? transientRefreshError("busy", { retryAfterSeconds: 3 })
          : kind === "config"
            ? refreshConfigError("unknown client")
            : authError(AuthErrorReason.REFRESH_TOKEN_REUSED, "reused"),
    );
    await flush();
    if (before.state === "active" && r.source.state === "session_expired") {
      // Invariant 1: only the refresh of the current pair may end the session, and only if the store has nothing newer.
      if (call.current?.accessToken !== before.token?.accessToken) r.violations.push("an older generation's failure ended the session");
      // "Known" is what the store held when the failure arrived; a pair another process saves
      // afterwards is adopted when it is announced or read (invariant 1 covers that too: setToken/adoption → active).
      const stored = before.stored;
      if (stored !== undefined && stored.receivedAt > (before.token?.receivedAt ?? -Infinity) && stored.accessToken !== before.token?.accessToken) {
        r.violations.push("session ended while the store held a newer pair");
      }
    }
  });

const commands = [
  fc.constant(cmd("getToken", async (r) => r.caller(r.source.getToken()))),
  fc.constant(
    cmd("forceRefresh", async (r) => {
      const failed = r.source.current()?.accessToken;
      if (failed !== undefined) r.failedSince.add(failed);
      r.caller(r.source.getToken({ forceRefresh: true, failedToken: failed }));
    }),
  ),
  fc.tuple(fc.nat(5), fc.constantFrom("success", "success", "transient", "retry-after", "reused", "config") as fc.Arbitrary<"success">).map(([i, k]) => settleWith(i, k)),
  fc.constant(
    cmd("setToken", async (r) => {
      if (r.closed) return;
      await r.source.setToken(r.pair("login"));
      if (r.source.state !== "active") r.violations.push(`setToken left the source ${r.source.state}`);
    }),
  ),
  fc.boolean().map((announce) =>
    cmd(`otherProcessSaves(${announce})`, async (r) => {
      if (!r.closed) r.otherProcessSaves(announce);
    }),
  ),
  fc.constant(cmd("toggleSaveFailure", async (r) => void (r.failSaves = !r.failSaves))),
  fc.constantFrom(0.1, 0.3, 0.8, 1.5, 25).map((f) => cmd(`advance(${f}×)`, async (r) => r.clock.advance(Math.round(f * r.lifetimeMs)))),
  fc.constantFrom(0.5, 3).map((f) => cmd(`jump(${f}×)`, async (r) => r.clock.jump(Math.round(f * r.lifetimeMs)))),
  fc.constant(cmd("advance(refreshTimeout)", async (r) => r.clock.advance(30_000))),
  fc.constant(
    cmd("close", async (r) => {
      r.source.close();
      r.closed = true;
    }),
  ),
];

describe("token source model", () => {
  afterAll(() => {
    // The CI budget: at least 10 000 random steps.
    console.log(`token source model: ${steps} steps`);
    if (RUNS >= 300) expect(steps).toBeGreaterThanOrEqual(10_000);
  });

  it(`keeps its invariants over random interleavings (seed ${SEED}, ${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(2_000, 20_000, 3_600_000), fc.commands(commands, { maxCommands: 80, size: "max" }), async (lifetime, cmds) => {
        const real = new Real(lifetime);
        try {
          await fc.asyncModelRun(() => ({ model: {}, real }), cmds);
        } finally {
          real.source.close();
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  }, 600_000);
});
