import { describe, expect, it } from "vitest";
import { parseKeyEncryptionKey } from "../../src/server/keys/key-encryption.js";
import { createKeyRing } from "../../src/server/keys/key-ring.js";
import { createPostgresKeyStore } from "../../src/server/keys/postgres-key-store.js";
import { adminQuery, dropSchema, HAS_DATABASE, postgresTitle, TEST_DATABASE_URL, uniqueName } from "../helpers/postgres.js";
import { createManualClock } from "../helpers/manual-clock.js";

const KEK = Buffer.alloc(32, 7).toString("base64");
const OTHER_KEK = Buffer.alloc(32, 9).toString("hex");

describe("key-encryption key", () => {
  it("accepts 32 bytes as base64, base64url or hex (whitespace ignored) and nothing else, never quoting the text", () => {
    const bytes = Buffer.alloc(32, 0xfb);
    const ids = [bytes.toString("base64"), bytes.toString("base64url"), `${bytes.toString("hex")}\n`, bytes].map((t) => parseKeyEncryptionKey(t).id);
    expect(new Set(ids).size).toBe(1);
    for (const bad of ["", "short", Buffer.alloc(31).toString("base64"), "z".repeat(64), "secret-value-that-is-too-weak"]) {
      expect(() => parseKeyEncryptionKey(bad, "TOKENKIT_KEY_ENCRYPTION_KEY")).toThrow(/^TOKENKIT_KEY_ENCRYPTION_KEY must be 32 random bytes in base64 or hex/);
      if (bad !== "") {
        expect(() => parseKeyEncryptionKey(bad)).not.toThrow(new RegExp(bad));
      }
    }
  });

  it("seals with a fresh IV, binds the context, and refuses another key or context", () => {
    const k = parseKeyEncryptionKey(KEK);
    const a = k.seal(Buffer.from("private"), "kid-1");
    const b = k.seal(Buffer.from("private"), "kid-1");
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(Buffer.from(k.open(a, "kid-1")).toString()).toBe("private");
    expect(() => k.open(a, "kid-2")).toThrow();
    expect(() => parseKeyEncryptionKey(OTHER_KEK).open(a, "kid-1")).toThrow();
    const tampered = Buffer.from(a);
    tampered[20]! ^= 1;
    expect(() => k.open(tampered, "kid-1")).toThrow();
  });
});

describe.skipIf(!HAS_DATABASE)(postgresTitle("Postgres key store"), () => {
  const open = (schema: string, keyEncryptionKey = KEK) => createPostgresKeyStore({ connectionString: TEST_DATABASE_URL, schema, keyEncryptionKey });

  it("every instance loads the same keys; private keys are only stored sealed", async () => {
    const schema = uniqueName("keys");
    const a = await open(schema);
    const b = await open(schema);
    try {
      const ringA = await createKeyRing({ store: a });
      await ringA.rotate();
      const ringB = await createKeyRing({ store: b });
      expect(ringB.jwks()).toEqual(ringA.jwks());
      expect(ringB.jwks().keys).toHaveLength(2);
      expect(ringB.signingKey().kid).toBe(ringA.signingKey().kid);
      const stored = await a.load();
      const dump = JSON.stringify(await adminQuery(`SELECT *, encode(private_jwk_sealed, 'escape') AS raw FROM ${schema}.tokenkit_signing_keys`));
      for (const k of stored) {
        expect(typeof k.privateJwk.d).toBe("string");
        expect(dump.includes(k.privateJwk.d!)).toBe(false);
        expect(dump.includes(k.publicJwk.x!)).toBe(true);
      }
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
    }
  });

  it("eight instances starting at once on an empty database end up with one shared key", async () => {
    const schema = uniqueName("keys");
    const stores = await Promise.all(Array.from({ length: 8 }, () => open(schema)));
    try {
      const rings = await Promise.all(stores.map((store) => createKeyRing({ store })));
      const kids = new Set(rings.map((r) => r.signingKey().kid));
      expect(kids.size).toBe(1);
      expect((await stores[0]!.load()).map((k) => k.kid)).toEqual([...kids]);
      // Two rotations at once on two instances keep both new keys.
      await Promise.all([rings[0]!.rotate(), rings[1]!.rotate()]);
      expect(await stores[2]!.load()).toHaveLength(3);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await dropSchema(schema);
    }
  });

  it("a rotation on one instance reaches another's JWKS at its next reload (no restart, no SIGHUP)", async () => {
    const schema = uniqueName("keys");
    const clock = createManualClock();
    const a = await open(schema);
    const b = await open(schema);
    try {
      const ringA = await createKeyRing({ store: a, clock });
      const ringB = await createKeyRing({ store: b, clock });
      const kid = await ringA.rotate();
      expect(ringB.jwks().keys.map((k) => k.kid)).not.toContain(kid);
      await ringB.reload();
      expect(ringB.jwks().keys.map((k) => k.kid)).toContain(kid);
      // It signs on both only once its activation time comes.
      expect(ringB.signingKey().kid).not.toBe(kid);
      clock.advance(600_000);
      expect(ringB.signingKey().kid).toBe(kid);
      expect(ringA.signingKey().kid).toBe(kid);
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
    }
  });

  it("a different key-encryption key fails loudly, naming the kid but not any key", async () => {
    const schema = uniqueName("keys");
    const a = await open(schema);
    const ring = await createKeyRing({ store: a });
    const b = await open(schema, OTHER_KEK);
    try {
      const err = (await b.load().catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(new RegExp(`cannot decrypt signing key ${ring.signingKey().kid}: it was sealed with a different key-encryption key`));
      expect(err.message).not.toContain(KEK);
      expect(err.message).not.toContain(OTHER_KEK);
      await expect(createKeyRing({ store: b })).rejects.toThrow(/TOKENKIT_KEY_ENCRYPTION_KEY/);
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
    }
  });
});

describe("Postgres key store options", () => {
  it("require a key-encryption key and validate it before connecting", async () => {
    // @ts-expect-error: keyEncryptionKey missing
    await expect(createPostgresKeyStore({ connectionString: "postgres://h/db" })).rejects.toThrow(/"keyEncryptionKey" is required/);
    await expect(createPostgresKeyStore({ connectionString: "postgres://h/db", keyEncryptionKey: "short" })).rejects.toThrow(/keyEncryptionKey" must be 32 random bytes/);
  });
});
