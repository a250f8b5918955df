import { describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { createAccessTokenVerifier } from "../../src/server/jwt/access-token-verifier.js";
import { TokenVerificationError } from "../../src/server/jwt/token-verifier.js";
import type { AccessTokenClaims } from "../../src/server/jwt/claims.js";
import { createVerifiedTokenCache } from "../../src/server/jwt/verified-token-cache.js";
import { createKeyRing, type KeyRing } from "../../src/server/keys/key-ring.js";
import { createMemoryKeyStore } from "../../src/server/keys/key-store.js";
import { createTokenSigner } from "../../src/server/token-signer.js";
import { createManualClock } from "../helpers/manual-clock.js";

const ISSUER = "https://cache.test";

async function setup(cache: { cacheSize?: number; cacheTtlMs?: number } = {}) {
  const clock = createManualClock();
  const ring = await createKeyRing({ store: createMemoryKeyStore(), clock });
  let lookups = 0;
  // Counts signature checks: each one looks the key up once.
  const counting: KeyRing = { ...ring, verificationKey: (kid) => (lookups++, ring.verificationKey(kid)) };
  const verify = createAccessTokenVerifier({ keys: counting, issuer: ISSUER, audience: ISSUER, clock, ...cache });
  const sign = createTokenSigner(ring);
  const now = () => Math.floor(clock.now() / 1000);
  const token = (ttl = 3600, extra: Record<string, unknown> = {}) =>
    sign({ iss: ISSUER, aud: ISSUER, sub: "alice", sid: "s1", jti: crypto.randomUUID(), iat: now(), exp: now() + ttl, scope: "a b", meta: { k: "v" }, ...extra }, "at+jwt");
  return { clock, verify, token, lookups: () => lookups };
}

async function reason(p: Promise<unknown>): Promise<AuthErrorReason | undefined> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TokenVerificationError);
  return (err as TokenVerificationError).reason;
}

describe("access-token verifier cache", () => {
  it("checks a token's signature once, then serves the same frozen claims", async () => {
    const t = await setup();
    const tok = await t.token();
    const first = await t.verify(tok);
    const second = await t.verify(tok);
    expect(t.lookups()).toBe(1);
    expect(second).toBe(first);
    expect(first).toMatchObject({ sub: "alice", sid: "s1", scopes: ["a", "b"], meta: { k: "v" } });
    expect(Object.isFrozen(first) && Object.isFrozen(first.scopes) && Object.isFrozen(first.meta)).toBe(true);
    await t.verify(await t.token());
    expect(t.lookups()).toBe(2);
  });

  it("still expires a cached token on time, with the same tolerance as a fresh check", async () => {
    const t = await setup();
    const tok = await t.token(120);
    await t.verify(tok);
    t.clock.advance(179_000); // exp + 59 s: inside the 60 s tolerance
    await expect(t.verify(tok)).resolves.toMatchObject({ sub: "alice" });
    t.clock.advance(1_000);
    expect(await reason(t.verify(tok))).toBe(AuthErrorReason.TOKEN_EXPIRED);
  });

  it("re-checks the signature after cacheTtlMs, and never caches a failure or a relaxed check", async () => {
    const t = await setup({ cacheTtlMs: 30_000 });
    const tok = await t.token();
    await t.verify(tok);
    t.clock.advance(29_999);
    await t.verify(tok);
    expect(t.lookups()).toBe(1);
    t.clock.advance(1);
    await t.verify(tok);
    expect(t.lookups()).toBe(2);

    const flipped = tok.slice(0, -2) + (tok.endsWith("AA") ? "BB" : "AA");
    expect(await reason(t.verify(flipped))).toBe(AuthErrorReason.TOKEN_INVALID);
    expect(await reason(t.verify(flipped))).toBe(AuthErrorReason.TOKEN_INVALID);
    expect(t.lookups()).toBe(4);
    await t.verify(tok, { ignoreExpiry: true });
    expect(t.lookups()).toBe(5);
  });

  it("keeps at most cacheSize tokens, dropping the oldest; 0 turns it off", async () => {
    const t = await setup({ cacheSize: 2 });
    const [a, b, c] = [await t.token(), await t.token(), await t.token()];
    await t.verify(a);
    await t.verify(b);
    await t.verify(c);
    expect(t.lookups()).toBe(3);
    await t.verify(c);
    await t.verify(b);
    expect(t.lookups()).toBe(3);
    await t.verify(a);
    expect(t.lookups()).toBe(4);

    const off = await setup({ cacheSize: 0 });
    const tok = await off.token();
    await off.verify(tok);
    await off.verify(tok);
    expect(off.lookups()).toBe(2);
  });

  it("validates its options", async () => {
    const ring = await createKeyRing({ store: createMemoryKeyStore() });
    expect(() => createAccessTokenVerifier({ keys: ring, issuer: ISSUER, audience: ISSUER, cacheSize: -1 })).toThrow(/option "cacheSize"/);
    expect(() => createAccessTokenVerifier({ keys: ring, issuer: ISSUER, audience: ISSUER, cacheTtlMs: Number.NaN })).toThrow(/option "cacheTtlMs"/);
  });

  it("serves only the exact token that verified, and holds a bounded amount of token text", () => {
    const claims = (): AccessTokenClaims => ({ iss: ISSUER, sub: "alice", aud: [ISSUER], exp: 2e9, iat: 0, jti: "j", sid: "s", scopes: [], refreshTtl: 0, meta: {} });
    const cache = createVerifiedTokenCache(10_000, 60_000, 0);
    const sig = "S".repeat(64);
    const tok = `header.payload.${sig}`;
    const got = cache.set(tok, claims(), 0);
    expect(cache.get(tok, 1)).toBe(got);
    expect(cache.get(`header.payloaX.${sig}`, 1)).toBeUndefined(); // same signature, other text
    expect(cache.get(`Xheader.payload.${sig}`, 1)).toBeUndefined();
    // A string that is not ASCII is not a compact JWS: never cached, so never confused with another.
    cache.set(`header.pay\u0141oad.${"T".repeat(64)}`, claims(), 0);
    expect(cache.get(`header.pay\u0141oad.${"T".repeat(64)}`, 1)).toBeUndefined();
    expect(cache.get(`header.payAoad.${"T".repeat(64)}`, 1)).toBeUndefined();

    // 16 MiB of token text at most: 8 kB tokens evict the oldest well before 10 000 entries.
    const big = (i: number) => `${String(i).padStart(8, "0")}.`.padEnd(8000, "p") + `.${String(i).padStart(40, "0")}`;
    for (let i = 0; i < 2200; i++) cache.set(big(i), claims(), 0);
    expect(cache.get(tok, 1)).toBeUndefined();
    expect(cache.get(big(0), 1)).toBeUndefined();
    expect(cache.get(big(2199), 1)).toBeDefined();
    expect(cache.get(big(2200 - 2000), 1)).toBeDefined();
  });
});
