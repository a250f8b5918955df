import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/cli/duration.js";
import { UsageError } from "../../src/cli/usage-error.js";

describe("parseDuration", () => {
  it.each([
    ["0", 0],
    ["1", 1],
    ["3600", 3600],
    ["90s", 90],
    ["15m", 900],
    ["24h", 86_400],
    ["90d", 7_776_000],
    ["0d", 0],
    ["007s", 7],
    ["9007199254740991", Number.MAX_SAFE_INTEGER],
    ["9007199254740991s", Number.MAX_SAFE_INTEGER],
    ["104249991374d", 104_249_991_374 * 86_400],
  ])("%s → %d seconds", (text, seconds) => {
    expect(parseDuration(text, "--access-ttl")).toBe(seconds);
  });

  it.each([
    ["", "must be a duration"],
    ["h", "must be a duration"],
    ["1.5h", "must be a duration"],
    ["1e3", "must be a duration"],
    ["10 m", "must be a duration"],
    [" 10m", "must be a duration"],
    ["10m ", "must be a duration"],
    ["10M", "must be a duration"],
    ["10ms", "must be a duration"],
    ["1h30m", "must be a duration"],
    ["10w", "must be a duration"],
    ["+5", "must be a duration"],
    ["0x10", "must be a duration"],
    ["-5", "must not be negative"],
    ["-5m", "must not be negative"],
    ["9007199254740992", "too large"],
    ["104249991375d", "too large"],
    ["99999999999999999999999999h", "too large"],
  ])("rejects %j (%s) naming the flag", (text, problem) => {
    let caught: unknown;
    try {
      parseDuration(text, "--grace-period");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as Error).message).toContain("--grace-period");
    expect((caught as Error).message).toContain(problem);
  });
});
