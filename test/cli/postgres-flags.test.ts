import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFlags } from "../../src/cli/flags.js";
import { SERVE_FLAGS, serveOptions } from "../../src/cli/serve-command.js";
import { usageMessage } from "./usage-message.js";

const KEK = Buffer.alloc(32, 5).toString("base64");
const serve = (args: string[], env: Record<string, string>) => serveOptions(parseFlags(SERVE_FLAGS, args, env), env);

describe("tokenkit serve --store postgres options", () => {
  it("takes the URL, pool size, statement timeout and key-encryption key from flags or TOKENKIT_* twins", () => {
    const env = { TOKENKIT_STORE: "postgres", TOKENKIT_DATABASE_URL: "postgres://tk:pw@db:5432/tokenkit", TOKENKIT_KEY_ENCRYPTION_KEY: KEK, TOKENKIT_DATABASE_POOL_SIZE: "4" };
    expect(serve(["--database-statement-timeout", "2s"], env)).toEqual({
      store: "postgres",
      databaseUrl: "postgres://tk:pw@db:5432/tokenkit",
      keyEncryptionKey: KEK,
      postgres: { maxConnections: 4, statementTimeoutSeconds: 2 },
    });
  });

  it("reads the key-encryption key from --key-encryption-key-file (the environment variable wins)", () => {
    const file = join(mkdtempSync(join(tmpdir(), "tokenkit-kek-")), "kek");
    writeFileSync(file, `${Buffer.alloc(32, 1).toString("hex")}\n`, { mode: 0o600 });
    const args = ["--store", "postgres", "--database-url", "postgres://db/tk", "--key-encryption-key-file", file];
    expect(serve(args, {}).keyEncryptionKey).toBe(`${Buffer.alloc(32, 1).toString("hex")}\n`);
    expect(serve(args, { TOKENKIT_KEY_ENCRYPTION_KEY: KEK }).keyEncryptionKey).toBe(KEK);
  });

  it.each([
    [["--store", "postgres"], { TOKENKIT_KEY_ENCRYPTION_KEY: KEK }, /--store postgres needs --database-url \(or TOKENKIT_DATABASE_URL\)/],
    [[], { TOKENKIT_STORE: "postgres", TOKENKIT_DATABASE_URL: "postgres://db/tk" }, /TOKENKIT_STORE postgres keeps the signing keys in the database.*set TOKENKIT_KEY_ENCRYPTION_KEY or --key-encryption-key-file/],
    [["--store", "postgres", "--database-url", "postgres://db/tk"], { TOKENKIT_KEY_ENCRYPTION_KEY: "hunter2-not-a-key" }, /^TOKENKIT_KEY_ENCRYPTION_KEY must be 32 random bytes/],
    [["--store", "postgres", "--database-url", "postgres://db/tk", "--key-encryption-key-file", "/nonexistent/kek"], {}, /--key-encryption-key-file \/nonexistent\/kek: cannot read/],
    [["--store", "postgres", "--database-url", "postgres://db/tk", "--database-pool-size", "0"], { TOKENKIT_KEY_ENCRYPTION_KEY: KEK }, /--database-pool-size must be a whole number/],
    [["--store", "postgres", "--database-url", "postgres://db/tk", "--database-statement-timeout", "0"], { TOKENKIT_KEY_ENCRYPTION_KEY: KEK }, /--database-statement-timeout must be at least 1s/],
  ] as [string[], Record<string, string>, RegExp][])("%j %j → usage error %s", (args, env, message) => {
    const m = usageMessage(() => serve(args, env));
    expect(m).toMatch(message);
    expect(m).not.toContain("hunter2");
  });
});
