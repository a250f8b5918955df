import { SignJWT, type JWTPayload } from "jose";
import type { KeyRing } from "./keys/key-ring.js";

/** TokenSigner signs a JWT payload with the key ring's current key and the given `typ`. */
export type TokenSigner = (payload: JWTPayload, typ: string) => Promise<string>;

/**
 * createTokenSigner returns a {@link TokenSigner} over `keyRing`: the newest
 * active key signs, its `kid` and `alg` go into the header. The key is
 * already imported; nothing is parsed per call.
 */
export function createTokenSigner(keyRing: KeyRing): TokenSigner {
  return (payload, typ) => {
    const { kid, alg, key } = keyRing.signingKey();
    return new SignJWT(payload).setProtectedHeader({ alg, kid, typ }).sign(key);
  };
}
