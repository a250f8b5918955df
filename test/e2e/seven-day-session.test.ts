import { describe, it } from "vitest";
import { expectAWeekUnbroken, type Scenario } from "./seven-day-session.js";

describe("a simulated 7-day session never breaks (in-process router transport)", () => {
  const scenarios: [string, Scenario][] = [
    ["as planned", { wire: "in-process" }],
    ["token service down 10 min mid-week", { wire: "in-process", outage: true }],
    ["server clock 5 min ahead of the client", { wire: "in-process", serverAheadMs: 5 * 60_000 }],
  ];
  it.each(scenarios)("%s: zero failed calls, zero lost or duplicated events, every refresh counted", (_name, scenario) => expectAWeekUnbroken(scenario), 600_000); // a hang guard, not a speed check
});
