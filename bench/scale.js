// Scale rows: the refresh scheduler holding 100 000 sessions, and the server's revocation cache.
import { createRefreshScheduler } from "../dist/src/client/refresh-scheduler.js";
import { createMemoryFamilyStore, createRevocationCache } from "../dist/src/server/index.js";
import { row } from "./lib.js";

const N = 100_000;

function heapMB() {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

export async function scaleRows() {
  const now = Date.now();
  // Baseline: the naive design, one timer per session.
  let before = heapMB();
  let t = performance.now();
  const timers = [];
  for (let i = 0; i < N; i++) timers.push(setTimeout(() => {}, 3_600_000 + i).unref());
  const naiveMs = performance.now() - t;
  const naiveMB = heapMB() - before;
  for (const x of timers) clearTimeout(x);
  timers.length = 0;

  before = heapMB();
  t = performance.now();
  const scheduler = createRefreshScheduler({ refresh: async () => ({ expiresInSeconds: 3600 }) });
  for (let i = 0; i < N; i++) scheduler.schedule(`session-${i}`, { expiresAt: now + 3_600_000 + ((i * 7919) % N) * 10 });
  const schedMs = performance.now() - t;
  const schedMB = heapMB() - before;
  scheduler.close();

  const store = createMemoryFamilyStore();
  const cache = createRevocationCache({ store });
  await cache.ready;
  before = heapMB();
  const sids = Array.from({ length: N }, (_, i) => `sid-${i.toString(36).padStart(22, "0")}`);
  const afterIds = heapMB();
  cache.add(sids, Math.floor(now / 1000));
  const revMB = heapMB() - afterIds;
  t = performance.now();
  let hits = 0;
  for (let i = 0; i < 1_000_000; i++) if (cache.isRevoked(sids[i % N])) hits++;
  const lookupNs = ((performance.now() - t) * 1e6) / 1_000_000;
  cache.close();
  void before;
  return [
    row("scheduler-100k", "Refresh scheduler: heap MB for 100 000 sessions (baseline: 100 000 unref'd timers)", schedMB, naiveMB, "MB", "< 100 MB", schedMB < 100),
    row("scheduler-100k-time", "Refresh scheduler: µs per schedule at 100 000 sessions (baseline: setTimeout)", (schedMs * 1000) / N, (naiveMs * 1000) / N, "µs/op", "O(log n)", null),
    row("revocation-100k", `Revocation cache: heap MB for 100 000 revoked families (lookup ${lookupNs.toFixed(0)} ns, ${hits} hits)`, revMB, null, "MB", null, null),
  ];
}
