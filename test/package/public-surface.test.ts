import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

// The public surface: what each entry exports, checked against the internals that must stay private and
// against the README's API section, which lists every export (values and types).
const ENTRIES = {
  tokenkit: "src/index.ts",
  "tokenkit/node": "src/node/index.ts",
  "tokenkit/server": "src/server/index.ts",
} as const;

const LOAD: Record<keyof typeof ENTRIES, () => Promise<Record<string, unknown>>> = {
  tokenkit: () => import("../../src/index.js"),
  "tokenkit/node": () => import("../../src/node/index.js"),
  "tokenkit/server": () => import("../../src/server/index.js"),
};

const INTERNAL: Record<keyof typeof ENTRIES, string[]> = {
  tokenkit: ["backoffDelay", "isUsable", "normalizeRefreshPolicy", "refreshPoint", "fingerprint", "systemClock", "authError"],
  "tokenkit/node": ["acquireFileLock"],
  "tokenkit/server": [
    "contentTypeOf",
    "normalizeCorsOrigin",
    "describePostgresUrl",
    "migratePostgres",
    "POSTGRES_MIGRATIONS",
    "HTTP2_PREFACE",
    "generateAdminKey",
    "loadOrCreateAdminKey",
    "KEYS_FILE_NAME",
    "ADMIN_KEY_FILE_NAME",
    "SQLITE_FILE_NAME",
    "EVENTS_FILE_NAME",
  ],
};

/** exportedNames lists every name an entry's index.ts re-exports, `export type` included. */
function exportedNames(file: string): string[] {
  const source = readFileSync(file, "utf8");
  const names: string[] = [];
  for (const m of source.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}\s*from/g)) {
    for (const part of m[1]!.split(",")) {
      const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/).pop()!.trim();
      if (name !== "") names.push(name);
    }
  }
  return names;
}

function readmeSection(title: string): string {
  const readme = readFileSync("README.md", "utf8");
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README has a "## ${title}" section`).toBeGreaterThan(0);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

describe("public surface", () => {
  for (const [entry, file] of Object.entries(ENTRIES) as [keyof typeof ENTRIES, string][]) {
    it(`${entry} exports none of the internals`, async () => {
      const mod = await LOAD[entry]();
      const leaked = INTERNAL[entry].filter((name) => name in mod || exportedNames(file).includes(name));
      expect(leaked).toEqual([]);
    });

    it(`the README's API section lists every export of ${entry}`, async () => {
      const api = readmeSection("API");
      const names = exportedNames(file);
      expect(names.length).toBeGreaterThan(5);
      // Every runtime export is seen by the parser (no `export *`, nothing declared inline).
      const mod = await LOAD[entry]();
      expect(Object.keys(mod).filter((k) => !names.includes(k))).toEqual([]);
      expect(names.filter((name) => !api.includes("`" + name + "`"))).toEqual([]);
    });
  }
});
