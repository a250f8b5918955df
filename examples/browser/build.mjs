// Builds the browser example into a directory: esbuild bundles src/main.ts (importing "tokenkit"
// from this repository's source) and copies the static files next to it.
//
//   node examples/browser/build.mjs [OUTDIR]     (default examples/browser/dist)
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * buildBrowserExample bundles the example into `outdir` (created if needed) and resolves to it.
 * @param {{ outdir?: string, minify?: boolean }} [options]
 * @returns {Promise<string>}
 */
export async function buildBrowserExample(options = {}) {
  const outdir = resolve(options.outdir ?? join(here, "dist"));
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: [join(here, "src", "main.ts")],
    outfile: join(outdir, "main.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    sourcemap: true,
    minify: options.minify ?? false,
    logLevel: "warning",
    // In an application this is the installed package; here it is this repository's source.
    alias: { tokenkit: join(here, "..", "..", "src", "index.ts") },
  });
  for (const file of ["index.html", "style.css"]) {
    await copyFile(join(here, file), join(outdir, file));
  }
  return outdir;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outdir = await buildBrowserExample({ outdir: process.argv[2] });
  console.log(`browser example built in ${outdir}`);
}
