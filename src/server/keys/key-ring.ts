import { exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { createPrivateKey, randomBytes, type JsonWebKey, type KeyObject } from "node:crypto";
import { systemClock, type Clock } from "../../lib/clock.js";
import {
  SIGNING_ALGORITHMS,
  type KeyStore,
  type SigningAlgorithm,
  type StoredKey,
} from "./key-store.js";

/** VerificationKey is an imported public key with its only algorithm. */
export interface VerificationKey {
  /** kid is the key id. */
  kid: string;
  /** alg is the only algorithm this key verifies. */
  alg: SigningAlgorithm;
  /** key is the imported public key. */
  key: CryptoKey;
}

/** SigningKey is an imported private key with its kid and algorithm. */
export interface SigningKey {
  /** kid goes into the JWS header. */
  kid: string;
  /** alg goes into the JWS header. */
  alg: SigningAlgorithm;
  /** key is the imported private key. */
  key: CryptoKey;
  /**
   * keyObject is the same private key as a node:crypto `KeyObject`, made once when the key is
   * loaded, for the token server's synchronous signing.
   */
  keyObject: KeyObject;
}

/** JSONWebKeySet is the body of `GET /.well-known/jwks.json`. */
export interface JSONWebKeySet {
  /** keys are the public keys that verify tokens now. */
  keys: JWK[];
}

/**
 * KeyRing holds the server's signing keys: the newest active key signs, every
 * unexpired key verifies. Keys are imported once, when loaded, never per
 * request.
 */
export interface KeyRing {
  /** algorithm is the algorithm of newly generated keys. */
  readonly algorithm: SigningAlgorithm;
  /** signingKey returns the key that signs now. */
  signingKey(): SigningKey;
  /** verificationKey returns the key for a kid, or undefined when unknown or expired. */
  verificationKey(kid: string): VerificationKey | undefined;
  /** jwks returns the public JSON Web Key Set: every unexpired key, including keys not yet signing. */
  jwks(): JSONWebKeySet;
  /**
   * rotate generates a new key, publishes it in the JWKS at once and lets it
   * sign after `activationDelaySeconds`; the previous keys keep verifying
   * until every token they signed has expired. Returns the new kid.
   */
  rotate(): Promise<string>;
  /** reload re-reads the key store, picking up a rotation done by another process. */
  reload(): Promise<void>;
}

/** KeyRingOptions configures {@link createKeyRing}. */
export interface KeyRingOptions {
  /** store persists the keys. Required. */
  store: KeyStore;
  /**
   * algorithm for new keys.
   * @default "EdDSA" — Ed25519: small, fast, deterministic signatures.
   */
  algorithm?: SigningAlgorithm;
  /**
   * activationDelaySeconds is how long a rotated key is published before it
   * signs, so that verifiers caching the JWKS learn it first.
   * @default 600 — twice the JWKS `max-age` of 300 s.
   */
  activationDelaySeconds?: number;
  /**
   * retentionSeconds is how long a replaced key keeps verifying after its
   * successor starts signing. It must cover the longest token lifetime.
   * @default 7 776 060 — the 90-day refresh-token ceiling plus 60 s tolerance.
   */
  retentionSeconds?: number;
  /** clock supplies the time. @default systemClock */
  clock?: Clock;
}

interface LoadedKey {
  stored: StoredKey;
  publicKey: CryptoKey;
  privateKey: CryptoKey;
  privateKeyObject: KeyObject;
}

/**
 * createKeyRing loads (or, on first start, generates) the server's keys from
 * `store` and returns a {@link KeyRing}.
 */
export async function createKeyRing(options: KeyRingOptions): Promise<KeyRing> {
  if (options?.store === undefined) {
    throw new TypeError('createKeyRing: option "store" is required');
  }
  const algorithm = options.algorithm ?? "EdDSA";
  if (!SIGNING_ALGORITHMS.includes(algorithm)) {
    throw new TypeError(`createKeyRing: option "algorithm" must be one of ${SIGNING_ALGORITHMS.join(", ")}`);
  }
  const activationDelay = options.activationDelaySeconds ?? 600;
  const retention = options.retentionSeconds ?? 7_776_060;
  for (const [name, v] of [["activationDelaySeconds", activationDelay], ["retentionSeconds", retention]] as const) {
    if (!Number.isFinite(v) || v < 0) {
      throw new TypeError(`createKeyRing: option "${name}" must be a non-negative number of seconds`);
    }
  }
  const { store } = options;
  const clock = options.clock ?? systemClock;
  const nowSeconds = () => Math.floor(clock.now() / 1000);

  let keys: LoadedKey[] = [];
  let byKid = new Map<string, LoadedKey>();
  let jwksCache: JSONWebKeySet = { keys: [] };

  async function importKey(stored: StoredKey): Promise<LoadedKey> {
    const publicKey = (await importJWK(stored.publicJwk, stored.alg)) as CryptoKey;
    const privateKey = (await importJWK(stored.privateJwk, stored.alg)) as CryptoKey;
    // From the JWK, not from the CryptoKey: KeyObject.from() of a non-extractable key is deprecated.
    const privateKeyObject = createPrivateKey({ key: stored.privateJwk as JsonWebKey, format: "jwk" });
    return { stored, publicKey, privateKey, privateKeyObject };
  }

  async function adopt(stored: StoredKey[]): Promise<void> {
    const next: LoadedKey[] = [];
    for (const s of stored) {
      const existing = byKid.get(s.kid);
      next.push(existing !== undefined && existing.stored.alg === s.alg ? { ...existing, stored: s } : await importKey(s));
    }
    next.sort((a, b) => a.stored.activatesAt - b.stored.activatesAt || a.stored.createdAt - b.stored.createdAt);
    keys = next;
    byKid = new Map(next.map((k) => [k.stored.kid, k]));
    jwksCache = { keys: next.map((k) => ({ ...k.stored.publicJwk })) };
  }

  async function generate(activatesAt: number): Promise<StoredKey> {
    const pair = await generateKeyPair(algorithm, { extractable: true, ...(algorithm === "EdDSA" ? { crv: "Ed25519" } : {}) });
    const kid = randomBytes(12).toString("base64url");
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg: algorithm, use: "sig" };
    const privateJwk = { ...(await exportJWK(pair.privateKey)), kid, alg: algorithm };
    return { kid, alg: algorithm, createdAt: nowSeconds(), activatesAt, privateJwk, publicJwk };
  }

  /** Drops keys past their expiry and stamps expiry on keys that a newer active key replaced. */
  function schedule(stored: StoredKey[], now: number): StoredKey[] {
    const sorted = [...stored].sort((a, b) => a.activatesAt - b.activatesAt || a.createdAt - b.createdAt);
    return sorted
      .map((k, i) => {
        const successor = sorted[i + 1];
        if (k.expiresAt === undefined && successor !== undefined) {
          return { ...k, expiresAt: successor.activatesAt + retention };
        }
        return k;
      })
      .filter((k) => k.expiresAt === undefined || k.expiresAt > now);
  }

  /** Applies `fn` to the stored keys atomically when the store can (see KeyStore.update). */
  async function update(fn: (current: StoredKey[]) => Promise<StoredKey[]>): Promise<StoredKey[]> {
    if (store.update !== undefined) {
      return store.update(fn);
    }
    const next = await fn(await store.load());
    await store.save(next);
    return next;
  }

  let stored = await store.load();
  if (stored.length === 0) {
    // Several instances may start on an empty shared store at once: the first one generates.
    stored = await update(async (current) => (current.length > 0 ? current : [await generate(nowSeconds())]));
  }
  await adopt(stored);

  function isLive(k: LoadedKey, now: number): boolean {
    return k.stored.expiresAt === undefined || k.stored.expiresAt > now;
  }

  return {
    algorithm,
    signingKey() {
      const now = nowSeconds();
      let chosen = keys[0];
      for (const k of keys) {
        if (k.stored.activatesAt <= now) {
          chosen = k;
        }
      }
      if (chosen === undefined) {
        throw new Error("key ring is empty");
      }
      return { kid: chosen.stored.kid, alg: chosen.stored.alg, key: chosen.privateKey, keyObject: chosen.privateKeyObject };
    },
    verificationKey(kid) {
      const k = byKid.get(kid);
      if (k === undefined || !isLive(k, nowSeconds())) {
        return undefined;
      }
      return { kid, alg: k.stored.alg, key: k.publicKey };
    },
    jwks() {
      const now = nowSeconds();
      if (keys.every((k) => isLive(k, now))) {
        return jwksCache;
      }
      return { keys: keys.filter((k) => isLive(k, now)).map((k) => ({ ...k.stored.publicJwk })) };
    },
    async rotate() {
      const now = nowSeconds();
      const fresh = await generate(now + activationDelay);
      const next = await update(async (current) => schedule([...current, fresh], now));
      await adopt(next);
      return fresh.kid;
    },
    async reload() {
      await adopt(await store.load());
    },
  };
}
