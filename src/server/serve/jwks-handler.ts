import type { DualProtocolRequestHandler } from "./dual-protocol-listener.js";
import type { JSONWebKeySet } from "../keys/key-ring.js";

/** JWKS_PATH is where the public JSON Web Key Set is served (RFC 8414 convention). */
export const JWKS_PATH = "/.well-known/jwks.json";

/** JwksHandlerOptions configures {@link createJwksHandler}. */
export interface JwksHandlerOptions {
  /** jwks returns the key set to publish, e.g. `() => keyRing.jwks()`. Required. */
  jwks: () => JSONWebKeySet;
  /**
   * maxAgeSeconds is the `Cache-Control: max-age` verifiers may cache the set for.
   * @default 300 — the key ring publishes a rotated key 600 s before it signs, twice this.
   */
  maxAgeSeconds?: number;
}

/**
 * createJwksHandler returns a Node request handler for `GET`/`HEAD`
 * {@link JWKS_PATH}: the public keys as `application/json`, cacheable for
 * `maxAgeSeconds`, readable cross-origin (the keys are public). Other methods
 * get 405. It does not look at the path; route to it.
 */
export function createJwksHandler(options: JwksHandlerOptions): DualProtocolRequestHandler {
  if (typeof options?.jwks !== "function") {
    throw new TypeError('createJwksHandler: option "jwks" must be a function returning the key set');
  }
  const maxAge = options.maxAgeSeconds ?? 300;
  if (!Number.isInteger(maxAge) || maxAge < 0) {
    throw new TypeError('createJwksHandler: option "maxAgeSeconds" must be a non-negative integer');
  }
  const { jwks } = options;
  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" });
      res.end();
      return;
    }
    const body = JSON.stringify(jwks());
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "cache-control": `public, max-age=${maxAge}`,
      "access-control-allow-origin": "*",
    });
    if (req.method === "HEAD") {
      res.end();
    } else {
      res.end(body);
    }
  };
}
