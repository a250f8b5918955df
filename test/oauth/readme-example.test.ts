import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API, CLIENTS, startOidcProvider, type OidcProviderFixture } from "./oidc-provider-fixture.js";

// The README's identity-provider example is marked "readme: skip" (it needs a provider); this test runs the very
// block, extracted from README.md by its heading, against oidc-provider on loopback. Needs `npm run build` first:
// the block imports "tokenkit", which resolves to this package's dist/ (a package may import itself by name).
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const HEADING = "## Using tokenkit with your identity provider";

async function readmeBlock(): Promise<string> {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf(`${HEADING}\n`));
  const block = /```js\n([\s\S]*?)```/.exec(section.slice(0, section.indexOf("\n## ", HEADING.length)));
  if (block === null) throw new Error(`README.md has no js block under "${HEADING}"`);
  return block[1]!;
}

let op: OidcProviderFixture;
let dir: string;
beforeAll(async () => {
  op = await startOidcProvider({ rotate: true, accessTokenTtl: 300 });
  // Inside the package, so bare imports resolve from its node_modules and "tokenkit" from its exports.
  dir = await mkdtemp(join(ROOT, ".readme-idp-"));
});
afterAll(async () => {
  await op.close();
  await rm(dir, { recursive: true, force: true });
});

describe("README: Using tokenkit with your identity provider", () => {
  it("runs the example against oidc-provider: one call authenticated with the provider's token, then a sign-out", async () => {
    const code = await readmeBlock();
    expect(code.split("\n")[0]).toMatch(/^\/\/ readme: skip — /);
    const file = join(dir, "example.mjs");
    await writeFile(file, code);
    const first = await op.login("basic");
    const before = op.tokenRequests;
    const { stdout } = await promisify(execFile)(process.execPath, [file], {
      cwd: dir,
      timeout: 20_000,
      env: {
        ...process.env,
        OIDC_ISSUER: op.issuer,
        OIDC_CLIENT_ID: CLIENTS.basic.client_id,
        OIDC_CLIENT_SECRET: CLIENTS.basic.client_secret,
        OIDC_AUDIENCE: API,
        OIDC_REFRESH_TOKEN: first.refresh_token!,
      },
    });
    expect(stdout).toContain("call from alice");
    expect(stdout).toContain("signed out at the provider: true");
    expect(stdout).not.toContain(first.refresh_token!);
    expect(op.tokenRequests - before).toBe(1);
  });
});
