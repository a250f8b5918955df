import { describe, expect, it } from "vitest";
import { createKeyringTokenStore } from "../../src/node/keyring-token-store.js";

describe("OS keyring token store", () => {
  it("fails with ERR_KEYRING_UNAVAILABLE and a clear message where the keyring cannot store (this CI host has no keyring service)", async () => {
    const store = createKeyringTokenStore({ account: "ci-test" });
    const err = await store.save({ accessToken: "a", receivedAt: 0, expiresAt: 1 }).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err).toMatchObject({ code: "ERR_KEYRING_UNAVAILABLE" });
    expect(err!.message).toMatch(/^no OS keyring service is available \(.+\); use createFileTokenStore instead$/);
    // Reading finds nothing rather than inventing a token.
    expect(await store.load().catch((e: { code: string }) => e.code)).toSatisfy((v) => v === undefined || v === "ERR_KEYRING_UNAVAILABLE");
  });

  it("validates options", () => {
    expect(() => createKeyringTokenStore({ account: "" })).toThrow(/account/);
  });
});
