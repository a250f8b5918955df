import { build } from "esbuild";
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

describe("the tokenkit entry is browser-safe", () => {
  it("bundles for platform browser with no Node built-in, no Buffer, no native module", async () => {
    const entry = fileURLToPath(new URL("../../src/index.ts", import.meta.url));
    const nodeImports: string[] = [];
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      platform: "browser",
      format: "esm",
      logLevel: "silent",
      metafile: true,
      plugins: [
        {
          name: "forbid-node",
          setup(b) {
            b.onResolve({ filter: /.*/ }, (args) => {
              const bare = args.path.replace(/^node:/, "");
              if (args.path.startsWith("node:") || builtinModules.includes(bare) || args.path.endsWith(".node")) {
                nodeImports.push(`${args.path} (from ${args.importer})`);
                return { path: args.path, external: true };
              }
              return undefined;
            });
          },
        },
      ],
    });
    expect(nodeImports).toEqual([]);
    const code = result.outputFiles[0]!.text;
    expect(code).not.toMatch(/\bBuffer\.(from|alloc|concat)\b/);
    expect(code).not.toContain("better-sqlite3");
    // The bundle really contains the client (a broken entry would bundle to nothing).
    expect(code).toContain("createTokenSource");
    expect(Object.keys(result.metafile!.inputs).some((f) => f.includes("src/server"))).toBe(false);
  });
});
