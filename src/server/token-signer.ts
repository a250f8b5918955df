import { sign as signBytes, type KeyObject, type SignKeyObjectInput } from "node:crypto";
import type { KeyRing, SigningKey } from "./keys/key-ring.js";
import type { SigningAlgorithm } from "./keys/key-store.js";

/** TokenSigner signs a JWT payload with the key ring's current key and the given `typ`, returning the compact JWS. */
export type TokenSigner = (payload: Record<string, unknown>, typ: string) => string;

/** The node:crypto digest and key input that produce each JWS algorithm's signature (RFC 7518 §3, RFC 8037). */
function signInput(alg: SigningAlgorithm, key: KeyObject): { digest: string | null; input: KeyObject | SignKeyObjectInput } {
  switch (alg) {
    case "EdDSA":
      return { digest: null, input: key };
    case "ES256":
      // JWS carries ECDSA signatures as R || S (IEEE P1363), not DER.
      return { digest: "sha256", input: { key, dsaEncoding: "ieee-p1363" } };
    case "RS256":
      // RSASSA-PKCS1-v1_5, node:crypto's default padding for RSA keys.
      return { digest: "sha256", input: key };
  }
}

interface PreparedKey {
  source: SigningKey["key"];
  kid: string;
  digest: string | null;
  input: KeyObject | SignKeyObjectInput;
  /** headers maps `typ` to its encoded protected header, built once per key. */
  headers: Map<string, string>;
}

function prepare(k: SigningKey): PreparedKey {
  return { source: k.key, kid: k.kid, ...signInput(k.alg, k.keyObject), headers: new Map() };
}

function encodedHeader(p: PreparedKey, alg: SigningAlgorithm, typ: string): string {
  let header = p.headers.get(typ);
  if (header === undefined) {
    header = Buffer.from(JSON.stringify({ alg, kid: p.kid, typ })).toString("base64url");
    p.headers.set(typ, header);
  }
  return header;
}

/**
 * createTokenSigner returns a {@link TokenSigner} over `keyRing`: the newest
 * active key signs, its `kid` and `alg` go into the header. It signs with
 * node:crypto synchronously, with the key ring's ready `KeyObject` and
 * each header encoded once: a token server signs on every
 * rotation, and WebCrypto's asynchronous sign (what jose's `SignJWT` uses)
 * costs a thread-pool round trip per token that is larger than the
 * signature itself. Tokens are verified with jose everywhere, so what is
 * produced here is checked by the same library that checks every other JWS.
 */
export function createTokenSigner(keyRing: KeyRing): TokenSigner {
  let prepared: PreparedKey | undefined;
  return (payload, typ) => {
    const current = keyRing.signingKey();
    if (prepared?.source !== current.key || prepared.kid !== current.kid) {
      prepared = prepare(current);
    }
    const signingInput = `${encodedHeader(prepared, current.alg, typ)}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
    const signature = signBytes(prepared.digest, Buffer.from(signingInput), prepared.input);
    return `${signingInput}.${signature.toString("base64url")}`;
  };
}
