import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoTransport, startDemoServer, type DemoServer } from "../../src/cli/demo-command.js";
import { startDemo, type Demo } from "../../src/cli/demo.js";
import { createManualClock, until } from "../helpers/manual-clock.js";

/** Drives `demo` on `clock` one second at a time, letting each step's calls (real loopback HTTP/2) finish before the next. */
async function drive(clock: ReturnType<typeof createManualClock>, demo: Demo, maxSteps = 1000): Promise<void> {
  let finished = false;
  demo.done.then(
    () => (finished = true),
    () => (finished = true),
  );
  await until(() => finished || demo.inFlight === 0);
  for (let i = 0; i < maxSteps && !finished; i++) {
    clock.advance(1000);
    await new Promise((r) => setImmediate(r));
    await until(() => finished || demo.inFlight === 0);
  }
}

describe("tokenkit demo, driven by a manual clock against a real in-process server", () => {
  const clock = createManualClock();
  let server: DemoServer;
  beforeAll(async () => {
    server = await startDemoServer({ clock, heartbeatIntervalSeconds: 10 });
  });
  afterAll(() => server.close());

  it("two minutes of 20 s tokens: a line per refresh with counts, resumes, and a clean summary", async () => {
    const lines: string[] = [];
    const demo = startDemo({
      connect: demoTransport(server.url, true),
      adminKey: server.adminKey,
      durationMs: 120_000,
      clock,
      random: () => 0,
      out: (l) => lines.push(l),
    });
    await drive(clock, demo);
    const summary = await demo.done;
    const text = lines.join("\n");
    if (process.env.SHOW_DEMO) console.log(text);

    expect(summary.ok, text).toBe(true);
    expect(summary.failures).toBe(0);
    // 20 s tokens refreshed with 5 s left: one every 15 s, 8 in two minutes, all ahead of expiry.
    const refreshLines = lines.filter((l) => l.includes("✓ token refreshed"));
    expect(refreshLines.length).toBeGreaterThanOrEqual(7);
    for (const l of refreshLines) {
      expect(l).toMatch(/^\[\d:\d\d\] ✓ token refreshed \(proactive, 5 s left\) {3}calls \d+ · failures 0 · refreshes \d+$/);
    }
    expect(summary.refreshes.proactive).toBe(refreshLines.length);
    expect(summary.refreshes.reactive + summary.refreshes.blocking).toBe(0);
    // Heartbeats follow the server's 10 s interval.
    expect(text).toContain("♥ heartbeat acknowledged; the server asks for one every 10s");
    expect(summary.heartbeats).toBeGreaterThanOrEqual(12);
    // The watch outlived its tokens and saw every event once.
    expect(summary.resumes).toBeGreaterThanOrEqual(5);
    expect(text).toMatch(/↻ watch resumed with a fresh token after sequence \d+/);
    expect(summary.events.added).toBeGreaterThanOrEqual(120);
    expect(summary.watched).toBe(summary.events.accepted);
    expect(summary.events.accepted).toBe(summary.events.added);
    expect(summary.gaps).toBe(0);
    // The summary block.
    expect(text).toMatch(/summary after 2m \ds/);
    expect(text).toMatch(/calls {8}\d+, 0 failed/);
    expect(text).toContain("✓ the session ran on");
    // No token text anywhere in the output.
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    expect(text).not.toContain(server.adminKey);
  });

  it("a wrong admin key fails the start with the server's error (the demo never ran)", async () => {
    const demo = startDemo({ connect: demoTransport(server.url, true), adminKey: "wrong-admin-key-0123456789", clock, out: () => {} });
    await expect(demo.done).rejects.toMatchObject({ code: expect.any(Number) });
  });

  it("stops early on its signal and still prints the summary", async () => {
    const lines: string[] = [];
    const ac = new AbortController();
    const demo = startDemo({ connect: demoTransport(server.url, true), adminKey: server.adminKey, durationMs: 600_000, clock, random: () => 0, signal: ac.signal, out: (l) => lines.push(l) });
    let steps = 0;
    await until(() => demo.inFlight === 0);
    while (steps++ < 30) {
      clock.advance(1000);
      await new Promise((r) => setImmediate(r));
      await until(() => demo.inFlight === 0);
    }
    ac.abort();
    await drive(clock, demo);
    const summary = await demo.done;
    expect(lines.join("\n")).toContain("stopping early");
    expect(summary.ok, lines.join("\n")).toBe(true);
    expect(summary.elapsedMs).toBeLessThan(60_000);
  });
});
