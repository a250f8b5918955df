import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BUF = join(ROOT, "node_modules/.bin/buf");

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

const temp: string[] = [];
afterAll(async () => {
  await Promise.all(temp.map((d) => rm(d, { recursive: true, force: true })));
});

describe("proto/ and gen/", () => {
  it("pass buf lint (STANDARD + COMMENTS)", async () => {
    const { stdout, stderr } = await run(BUF, ["lint"], { cwd: ROOT }).catch((err: { stdout: string; stderr: string }) => {
      throw new Error(`buf lint failed:\n${err.stdout}${err.stderr}`);
    });
    expect(stdout + stderr).toBe("");
  });

  it("gen/ is exactly what buf generate produces from proto/", async () => {
    const out = await mkdtemp(join(tmpdir(), "tokenkit-gen-"));
    temp.push(out);
    await run(BUF, ["generate", "--output", out], { cwd: ROOT });
    const fresh = join(out, "gen");
    const committed = join(ROOT, "gen");
    const [freshFiles, committedFiles] = await Promise.all([listFiles(fresh), listFiles(committed)]);
    expect(freshFiles.length).toBeGreaterThan(0);
    // Missing files (in proto/ but not committed) and extra files (committed but no longer generated).
    expect(committedFiles, "gen/ must hold exactly the generated files; run npm run generate").toEqual(freshFiles);
    const stale: string[] = [];
    for (const file of freshFiles) {
      const [a, b] = await Promise.all([readFile(join(fresh, file)), readFile(join(committed, file))]);
      if (!a.equals(b)) {
        stale.push(file);
      }
    }
    expect(stale, "stale generated files; run npm run generate").toEqual([]);
  });
});
