import { describe, it } from "vitest";
import { expectAWeekUnbroken } from "./seven-day-session.js";

describe("a simulated 7-day session never breaks (real tokenkit server, Connect over h2c on loopback)", () => {
  // Over the wire one week carries both troubles at once: a week per variant would double the suite's time.
  it(
    "token service down 10 min mid-week and server clock 5 min ahead: zero failed calls, zero lost or duplicated events, every refresh counted",
    () => expectAWeekUnbroken({ wire: "h2c", outage: true, serverAheadMs: 5 * 60_000 }),
    // A hang guard, not a speed check: a week is ~20 000 steps and 30 000 RPCs, about 150 s on a
    // loaded two-core machine and more while other suites share it.
    600_000,
  );
});
