import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const REQUIRED = ["hot-path", "coalescing", "boundary-p99", "refresh-rpc", "issue-rpc", "http1-refresh-sqlite", "http1-refresh-memory", "http1-refresh-sqlite-identity", "http1-refresh-memory-identity", "verify", "scheduler-100k"];

describe("npm run bench -- --quick", () => {
  it("runs and writes well-formed results JSON with every required row", async () => {
    const out = join(await mkdtemp(join(tmpdir(), "tokenkit-bench-")), "results.json");
    const run = fileURLToPath(new URL("../../bench/run.js", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ["--expose-gc", run, "--quick", `--out=${out}`], { timeout: 170_000 });
    expect(stdout).toMatch(/^\| metric +\| tokenkit +\| baseline +\| ratio +\| unit/m);
    const results = JSON.parse(await readFile(out, "utf8")) as {
      machine: { cores: number; node: string };
      rows: { id: string; metric: string; tokenkit: number; baseline: number | null; ratio: number | null; unit: string; target: string | null; meets: boolean | null }[];
    };
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.node).toBe(process.version);
    const ids = results.rows.map((r) => r.id);
    expect(ids).toEqual(expect.arrayContaining(REQUIRED));
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of results.rows) {
      expect(Object.keys(r).sort()).toEqual(["baseline", "id", "meets", "metric", "ratio", "target", "tokenkit", "unit"]);
      expect(Number.isFinite(r.tokenkit)).toBe(true);
      expect(r.baseline === null || Number.isFinite(r.baseline)).toBe(true);
      expect(r.meets === null || typeof r.meets === "boolean").toBe(true);
    }
    // Refresh coalescing is exact, not a timing: 10 000 concurrent calls at expiry make one refresh.
    expect(results.rows.find((r) => r.id === "coalescing")!.tokenkit).toBe(1);
  }, 180_000);
});
