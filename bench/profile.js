// CPU profile of the token server under the HTTP/1.1 refresh load: runs bench/server-process.js
// (the real `createTokenkitServer` bootstrap) with `node --cpu-prof`, drives it with the same load as the
// `http1-refresh-*` rows (fetch keep-alive, 32 rotating chains, fetch's default accept-encoding) for ~10 s,
// then summarises the server's main-thread profile over the measured window only: self time in percent per
// category, and the top 15 functions by self time. Work that WebCrypto hands to libuv's thread pool is not
// on the main thread and so not in the profile; it shows up as idle time.
// Usage: node bench/profile.js [sqlite|memory] [--seconds=10] [--identity] [--out=path.json] [--keep]
// (npm run bench:profile -- memory). Prints a table; writes JSON next to results.json (bench/profile-<store>.json);
// --keep also keeps the raw profile as bench/profile-<store>.cpuprofile (open it in Chrome DevTools).
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENCODINGS, load, startTokenkit } from "./http1.js";

/**
 * CATEGORIES, in the order they are tested against a frame's script URL (first match wins). A sample is
 * charged to the category of the nearest frame on its stack, from the sampled function upwards, whose URL
 * matches one; native frames without a URL (V8 builtins, C++ bindings) take their caller's category.
 */
const CATEGORIES = [
  ["crypto/WebCrypto/jose", [/\/node_modules\/jose\//, /^node:internal\/crypto\//, /^node:crypto$/]],
  ["zlib", [/^node:zlib$/, /^node:internal\/zlib/]],
  ["SQLite", [/\/node_modules\/better-sqlite3\//, /\/dist\/src\/server\/store\/sqlite-/]],
  ["protobuf/JSON", [/\/node_modules\/@bufbuild\/protobuf\//]],
  ["connect-es", [/\/node_modules\/@connectrpc\//]],
  ["node:http/net/streams", [/^node:_http_/, /^node:http2?$/, /^node:internal\/http2?\//, /^node:net$/, /^node:internal\/(net|stream_base_commons|streams\/|webstreams\/)/, /^node:stream$/, /^node:_stream_/]],
  ["tokenkit (own JS)", [/\/dist\/src\//, /\/dist\/gen\//]],
  ["other JS", [/./]],
];
/** Self time of these V8 pseudo-frames is its own category whatever the stack. */
const SPECIAL = new Map([["(idle)", "idle"], ["(garbage collector)", "GC"], ["(program)", "program (VM, unattributed)"]]);
/** Builtins that are serialisation whoever calls them. */
const JSON_FUNCTIONS = new Set(["parse", "stringify", "JSONParse", "JSONStringify"]);

function categoryOf(node, parents) {
  const special = SPECIAL.get(node.callFrame.functionName);
  if (special !== undefined) return special;
  if (node.callFrame.url === "" && JSON_FUNCTIONS.has(node.callFrame.functionName)) return "protobuf/JSON";
  for (let n = node; n !== undefined; n = parents.get(n.id)) {
    const url = n.callFrame.url;
    if (url === "") continue;
    for (const [name, patterns] of CATEGORIES) if (patterns.some((p) => p.test(url))) return name;
  }
  return "other JS";
}

/**
 * summarize reads a .cpuprofile and returns { samples, ms, categories: [{ name, percent }], top: [{ function, where, percent }] },
 * counting only samples taken between `fromUs` and `toUs` (the profiler's monotonic clock, µs) when given.
 */
export function summarize(profile, { fromUs = -Infinity, toUs = Infinity } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parents = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n);
  const selfCount = new Map();
  let t = profile.startTime;
  let total = 0;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i];
    if (t < fromUs || t > toUs) return;
    selfCount.set(id, (selfCount.get(id) ?? 0) + 1);
    total++;
  });
  const categories = new Map();
  const functions = new Map();
  for (const [id, count] of selfCount) {
    const node = byId.get(id);
    const cat = categoryOf(node, parents);
    categories.set(cat, (categories.get(cat) ?? 0) + count);
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url === "" ? "(native)" : `${url.replace(/^.*\/node_modules\//, "").replace(/^file:\/\/.*\/dist\//, "dist/")}:${lineNumber + 1}`;
    const key = `${functionName || "(anonymous)"} ${where}`;
    const f = functions.get(key) ?? { function: functionName || "(anonymous)", where, category: cat, count: 0 };
    f.count += count;
    functions.set(key, f);
  }
  const pct = (c) => Math.round((1000 * c) / total) / 10;
  return {
    samples: total,
    categories: [...categories].sort((a, b) => b[1] - a[1]).map(([name, c]) => ({ name, percent: pct(c) })),
    top: [...functions.values()]
      .sort((a, b) => b.count - a.count)
      .slice(0, 15)
      .map((f) => ({ function: f.function, where: f.where, category: f.category, percent: pct(f.count) })),
  };
}

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const fmt = (cells) => "| " + cells.map((c, i) => String(c).padEnd(widths[i])).join(" | ") + " |";
  return [fmt(header), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...rows.map(fmt)].join("\n");
}

const args = process.argv.slice(2);
const store = args.find((a) => !a.startsWith("--")) ?? "sqlite";
const seconds = Number(args.find((a) => a.startsWith("--seconds="))?.slice(10) ?? 10);
const encoding = args.includes("--identity") ? "identity" : "default";
const out = args.find((a) => a.startsWith("--out="))?.slice(6) ?? new URL(`./profile-${store}.json`, import.meta.url).pathname;
const profDir = mkdtempSync(join(tmpdir(), "tokenkit-prof-"));
const now = () => Number(process.hrtime.bigint() / 1000n); // same monotonic clock as the profiler's timestamps (µs)

const target = await startTokenkit(store, { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profDir}`] });
let rate;
let fromUs;
let toUs;
try {
  await load(target, { ms: 1500, headers: ENCODINGS[encoding] }); // warm-up, outside the summarised window
  fromUs = now();
  rate = await load(target, { ms: seconds * 1000, headers: ENCODINGS[encoding] });
  toUs = now();
} finally {
  await target.stop(); // SIGTERM: the server closes and exits, and node writes the profile
}
const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
if (file === undefined) throw new Error(`no .cpuprofile written in ${profDir}`);
const profile = JSON.parse(readFileSync(join(profDir, file), "utf8"));
let summary = summarize(profile, { fromUs, toUs });
let window = "measured window";
if (summary.samples === 0) {
  // The clocks did not line up (another platform): summarise the whole run instead, and say so.
  summary = summarize(profile);
  window = "whole process (clock mismatch)";
}
if (args.includes("--keep")) copyFileSync(join(profDir, file), out.replace(/\.json$/, "") + ".cpuprofile");
rmSync(profDir, { recursive: true, force: true });

const result = {
  store,
  encoding,
  seconds,
  rotationsPerSecond: Math.round(rate * 10) / 10,
  window,
  node: process.version,
  date: new Date().toISOString(),
  ...summary,
};
console.log(`tokenkit serve --store ${store}, ${encoding} accept-encoding, ${seconds} s: ${result.rotationsPerSecond} rotations/s; ${summary.samples} samples (${window})\n`);
console.log(table(["category", "self %"], summary.categories.map((c) => [c.name, c.percent])));
console.log("\n" + table(["function", "where", "category", "self %"], summary.top.map((f) => [f.function, f.where, f.category, f.percent])));
writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
console.log(`\nwrote ${out}`);
