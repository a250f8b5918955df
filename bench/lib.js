// Shared benchmark plumbing: interleaved rounds, medians, the table and results.json.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";

/** median of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** percentile (0–100) of numbers, nearest-rank. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/**
 * interleave runs `candidate` and `baseline` alternately (A B A B …) for
 * `rounds` rounds after one warm-up of each, and returns the medians. Each
 * function returns one measurement (a number).
 */
export async function interleave(rounds, candidate, baseline) {
  await candidate();
  await baseline();
  const a = [];
  const b = [];
  for (let i = 0; i < rounds; i++) {
    a.push(await candidate());
    b.push(await baseline());
  }
  return { tokenkit: median(a), baseline: median(b), samples: { tokenkit: a, baseline: b } };
}

/** throughput runs `op` with `concurrency` workers for `ms` and returns operations per second. */
export async function throughput(op, { concurrency, ms }) {
  let count = 0;
  const deadline = performance.now() + ms;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < deadline) {
        await op(w);
        count++;
      }
    }),
  );
  return (count * 1000) / (performance.now() - start);
}

/** row builds a results row; `target` is a ratio or value threshold described in words, `meets` a boolean or null. */
export function row(id, metric, tokenkit, baseline, unit, target, meets) {
  const ratio = baseline ? tokenkit / baseline : null;
  return { id, metric, tokenkit: round(tokenkit), baseline: baseline == null ? null : round(baseline), ratio: ratio == null ? null : round(ratio, 3), unit, target, meets };
}

function round(x, digits = 1) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** report prints the table and writes the JSON file. */
export function report(rows, path) {
  const header = ["metric", "tokenkit", "baseline", "ratio", "unit", "target", "meets"];
  const lines = rows.map((r) => [r.metric, String(r.tokenkit), r.baseline == null ? "—" : String(r.baseline), r.ratio == null ? "—" : String(r.ratio), r.unit, r.target ?? "", r.meets == null ? "" : r.meets ? "yes" : "no"]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) => "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(fmt(header));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const l of lines) console.log(fmt(l));
  const machine = { cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform, date: new Date().toISOString() };
  writeFileSync(path, JSON.stringify({ machine, rows }, null, 2) + "\n");
  console.log(`\nwrote ${path}`);
}

/**
 * spawnServer starts `node <script> ...args` with extra node flags and waits for its `port <n> [json]` line.
 * Resolves to { url, info, child, stop }.
 */
export async function spawnServer(script, args, { nodeArgs = [] } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, new URL(script, import.meta.url).pathname, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8");
  while (!out.includes("\n")) {
    const [chunk] = await Promise.race([once(child.stdout, "data"), once(child, "exit").then(() => [null])]);
    if (chunk === null) throw new Error(`${script} exited before printing its port`);
    out += chunk;
  }
  const m = /^port (\d+)(?: (.*))?$/m.exec(out);
  if (m === null) throw new Error(`${script} printed no "port <n>" line`);
  child.stdout.resume();
  return {
    url: `http://127.0.0.1:${m[1]}`,
    info: m[2] ? JSON.parse(m[2]) : undefined,
    child,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
    },
  };
}

/**
 * startServeProcess runs bench/server-process.js (the real `createTokenkitServer` bootstrap) with
 * `store` (sqlite, memory or postgres, then `extra` such as the database URL) in a fresh data
 * directory, in its own process. Resolves to { url, child, stop }; stop also removes the directory.
 */
export async function startServeProcess(store, extra = [], { nodeArgs = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-bench-"));
  let server;
  try {
    server = await spawnServer("./server-process.js", [store, dir, ...extra], { nodeArgs });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: server.url,
    child: server.child,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
