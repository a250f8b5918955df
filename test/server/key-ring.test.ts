import { createLocalJWKSet, jwtVerify } from "jose";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createKeyRing } from "../../src/server/keys/key-ring.js";
import { createFileKeyStore, createMemoryKeyStore } from "../../src/server/keys/key-store.js";
import { ISSUER, createTokenServerFixture, decodeHeader } from "../helpers/token-server-fixture.js";
import { createManualClock } from "../helpers/manual-clock.js";

describe("key ring", () => {
  it.each(["EdDSA", "ES256", "RS256"] as const)("%s: issued tokens carry kid/alg and verify against the JWKS with plain jose", async (alg) => {
    const f = await createTokenServerFixture({ algorithm: alg });
    const p = (await f.issue({ subject: "alice", scopes: ["heartbeat:write"] })).tokenPair!;
    const h = decodeHeader(p.accessToken);
    expect(h).toMatchObject({ alg, typ: "at+jwt" });
    expect(p.refreshToken).toMatch(/^tkr_[A-Za-z0-9_-]{43}/); // an opaque handle: nothing to sign or verify
    const jwks = f.keyRing.jwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual([h.kid]);
    expect(jwks.keys[0]).not.toHaveProperty("d");
    const { payload } = await jwtVerify(p.accessToken, createLocalJWKSet(jwks), { issuer: ISSUER, audience: ISSUER, currentDate: new Date(f.clock.now()) });
    expect(payload.sub).toBe("alice");
    await f.callAs(p.accessToken);
    await f.close();
  });

  it("rotation publishes the new key at once but signs with it only after the activation delay; old tokens keep verifying", async () => {
    const clock = createManualClock();
    const ring = await createKeyRing({ store: createMemoryKeyStore(), clock, activationDelaySeconds: 600 });
    const oldKid = ring.signingKey().kid;
    const newKid = await ring.rotate();
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([oldKid, newKid]);
    expect(ring.signingKey().kid).toBe(oldKid);
    clock.advance(599_000);
    expect(ring.signingKey().kid).toBe(oldKid);
    clock.advance(1_000);
    expect(ring.signingKey().kid).toBe(newKid);
    expect(ring.verificationKey(oldKid)).toBeDefined();
    // A second rotation stamps the old key's expiry: activation of its successor + retention.
    await ring.rotate();
    clock.advance((7_776_060 + 1) * 1000);
    await ring.rotate();
    expect(ring.verificationKey(oldKid)).toBeUndefined();
    expect(ring.jwks().keys.map((k) => k.kid)).not.toContain(oldKid);
  });

  it("persists keys in a 0600 file so a restart verifies old tokens with the same kid", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tokenkit-keys-"));
    const path = join(dir, "data", "keys.json");
    const a = await createKeyRing({ store: createFileKeyStore({ path }) });
    const b = await createKeyRing({ store: createFileKeyStore({ path }) });
    expect(b.signingKey().kid).toBe(a.signingKey().kid);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "data"))).mode & 0o777).toBe(0o700);
    const kid = await a.rotate();
    await b.reload();
    expect(b.verificationKey(kid)).toBeDefined();
    expect(JSON.parse(await readFile(path, "utf8")).keys).toHaveLength(2);
  });

  it("validates options at construction", async () => {
    await expect(createKeyRing({ store: createMemoryKeyStore(), algorithm: "HS256" as never })).rejects.toThrow(/algorithm/);
    expect(() => createFileKeyStore({ path: "" })).toThrow(/path/);
  });
});
