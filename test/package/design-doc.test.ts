import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// The project carries its own contract: docs/DESIGN.md, numbered sections that README and source
// comments cite as "docs/DESIGN.md §N". Every such citation must point at a section that exists.
function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

describe("docs/DESIGN.md", () => {
  const design = readFileSync("docs/DESIGN.md", "utf8");
  const sections = new Set([...design.matchAll(/^## (\d+)\. /gm)].map((m) => Number(m[1])));

  it("has its numbered sections: wire contract, tokens, server rules, client rules, limits", () => {
    for (const [n, title] of [[2, "Wire contract"], [3, "Tokens"], [4, "Server rules"], [5, "Client rules"], [8, "Limits"]] as const) {
      expect(design).toMatch(new RegExp(`^## ${n}\\. ${title}`, "m"));
    }
  });

  it("every docs/DESIGN.md §N cited in the README and the sources exists", () => {
    const cited: { file: string; n: number }[] = [];
    for (const file of ["README.md", ...sourceFiles("src")]) {
      for (const m of readFileSync(file, "utf8").matchAll(/docs\/DESIGN\.md\)? §(\d+)(?:[–-]§?(\d+))?/g)) {
        cited.push({ file, n: Number(m[1]) });
        if (m[2] !== undefined) cited.push({ file, n: Number(m[2]) });
      }
    }
    expect(cited.length).toBeGreaterThan(0);
    expect(cited.filter((c) => !sections.has(c.n))).toEqual([]);
  });
});
