import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeSqlite } from "../../src/server/store/sqlite-driver.js";
import { ROOT } from "../cli/tokenkit-process.js";
import { serveForClients, type ServedTokenkit } from "./serve-for-clients.js";

// The package as users get it: `npm pack` once (dist/ is built by `npm test`), installed from the
// tarball into empty projects with the ordinary npm client (packages from the local npm cache where
// present), then used the way the README says.
const exec = promisify(execFile);
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
const DRIVERS = ["better-sqlite3", "pg", "@napi-rs/keyring"];

let work: string;
let tarball: string;
let packedFiles: string[];

async function npm(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await exec(NPM, args, { cwd, timeout: 240_000, maxBuffer: 32 << 20, env: { ...process.env, npm_config_update_notifier: "false" } });
  return stdout;
}

/** newProject writes an empty ESM project depending on the packed tarball and installs it. */
async function newProject(name: string, extra: string[] = []): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, private: true, type: "module", dependencies: { tokenkit: `file:${tarball}` } }));
  await npm(dir, ["install", "--ignore-scripts=false", "--prefer-offline", "--no-audit", "--no-fund", ...extra]);
  return dir;
}

function findFiles(dir: string, match: (name: string) => boolean, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) findFiles(p, match, out);
    else if (match(e.name)) out.push(p);
  }
  return out;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "tokenkit-packed-"));
  const [packed] = JSON.parse(await npm(ROOT, ["pack", "--ignore-scripts", "--json", "--pack-destination", work])) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, packed!.filename);
  packedFiles = packed!.files.map((f) => f.path);
}, 120_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe("npm pack", () => {
  it("ships the built entries with their types, no source maps without sources, no tests", () => {
    for (const f of ["dist/src/index.js", "dist/src/index.d.ts", "dist/src/node/index.js", "dist/src/server/index.d.ts", "bin/tokenkit", "package.json", "README.md"]) {
      expect(packedFiles).toContain(f);
    }
    const maps = packedFiles.filter((f) => f.endsWith(".map"));
    const unsourced = maps.filter((m) => {
      const { sources } = JSON.parse(readFileSync(join(ROOT, m), "utf8")) as { sources: string[] };
      return sources.some((s) => !packedFiles.includes(join(m, "..", s)));
    });
    expect(unsourced).toEqual([]);
    expect(packedFiles.filter((f) => f.startsWith("test/") || f.startsWith("bench/") || f.startsWith("src/"))).toEqual([]);
  });

  it("types resolve for consumers under moduleResolution node16 and bundler (arethetypeswrong), and publint is clean", async () => {
    const attw = await exec(join(ROOT, "node_modules/.bin/attw"), [tarball, "--profile", "esm-only", "--format", "table-flipped", "--no-color"], { timeout: 120_000 });
    // esm-only: tokenkit is ESM only, so node10 and require() resolutions are out of scope; attw exits
    // non-zero on any problem in node16 (from ESM) or bundler, and every entry shows green in both.
    for (const entry of ['"tokenkit"', '"tokenkit/node"', '"tokenkit/server"']) {
      expect(attw.stdout).toMatch(new RegExp(`│ ${entry}\\s+│ 🟢 \\(ESM\\)\\s+│ 🟢\\s+│`));
    }
    const publint = await exec(join(ROOT, "node_modules/.bin/publint"), ["run", tarball, "--strict"], { timeout: 120_000 });
    expect(publint.stdout).toContain("All good!");
  });
});

describe("a client-only install", () => {
  let project: string;
  let server: ServedTokenkit;
  beforeAll(async () => {
    [project, server] = await Promise.all([newProject("client-app"), serveForClients()]);
  }, 300_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("runs no install script and installs no native module or database driver", () => {
    const lock = JSON.parse(readFileSync(join(project, "package-lock.json"), "utf8")) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript).map(([k]) => k);
    expect(withScripts).toEqual([]);
    const paths = Object.keys(lock.packages);
    expect(paths.filter((p) => DRIVERS.some((d) => p.endsWith(`node_modules/${d}`)))).toEqual([]);
    expect(existsSync(join(project, "node_modules/tokenkit/dist/src/index.js"))).toBe(true);
    expect(findFiles(join(project, "node_modules"), (n) => n.endsWith(".node"))).toEqual([]);
  });

  it("runs every ```js block of the README as pasted, against a real tokenkit serve", async () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    const runnable = blocks.filter((b) => !/^\/\/ readme: skip — \S/.test(b));
    expect(runnable.length).toBeGreaterThan(0);
    for (const [i, code] of runnable.entries()) {
      const file = join(project, `readme-block-${i + 1}.mjs`);
      writeFileSync(file, code);
      const cwd = mkdtempSync(join(work, `cwd-${i + 1}-`));
      const env = { PATH: process.env.PATH!, HOME: cwd, TOKENKIT_URL: server.url, TOKENKIT_REFRESH_TOKEN: await server.issueRefreshToken() };
      const result = await exec(process.execPath, [file], { cwd, env, timeout: 30_000 }).catch((err: { code?: unknown; stdout?: string; stderr?: string }) => err);
      expect(result, `README js block ${i + 1}:\n${code}\n--- output:\n${result.stdout}${result.stderr}`).not.toHaveProperty("code");
    }
  });
});

describe("a server install as the README says", () => {
  let project: string;
  beforeAll(async () => {
    project = await newProject("server-app");
  }, 300_000);

  async function serve(args: string[], env: Record<string, string> = {}): Promise<{ code: unknown; stdout: string; stderr: string }> {
    // Runs until the listening line (then stopped) or until it exits by itself.
    const dataDir = mkdtempSync(join(work, "data-"));
    const child = execFile(join(project, "node_modules/.bin/tokenkit"), ["serve", "--port", "0", "--data-dir", dataDir, ...args], {
      cwd: project,
      env: { PATH: process.env.PATH!, HOME: project, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stderr!.on("data", (c) => (stderr += c));
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.stdout!.on("data", (c) => {
        stdout += c;
        if (stdout.includes("tokenkit listening on")) child.kill("SIGTERM");
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  it("serves on the memory store without any driver", async () => {
    expect((await serve(["--store", "memory"])).stdout).toMatch(/^tokenkit listening on http:\/\/127\.0\.0\.1:\d+$/m);
  });

  it("--store postgres without pg stops at once, naming the package to install", async () => {
    const r = await serve(["--store", "postgres", "--database-url", "postgres://127.0.0.1:1/none"], { TOKENKIT_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64") });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("npm install pg");
  });

  it.runIf(nodeSqlite() !== undefined)("serves on the SQLite store with Node's node:sqlite, nothing else installed", async () => {
    expect((await serve([])).stdout).toContain("tokenkit listening on");
  });

  it.runIf(nodeSqlite() === undefined)("on a Node without node:sqlite, asks for better-sqlite3, then serves with it", async () => {
    const without = await serve([]);
    expect(without.code).toBe(1);
    expect(without.stderr).toContain("npm install better-sqlite3");
    // `npm install better-sqlite3` compiles for minutes where no prebuilt binary downloads; install the
    // copy this repository already built (a link to the same package) instead.
    await npm(project, ["install", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund", join(ROOT, "node_modules/better-sqlite3")]);
    expect((await serve([])).stdout).toContain("tokenkit listening on");
  });
});
