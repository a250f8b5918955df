import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Logger } from "../../lib/logger.js";

/**
 * AUTHORITY matches an RFC 3986 authority without userinfo, as HTTP allows in
 * `Host` and `:authority`: a bracketed IPv6 literal or a non-empty reg-name /
 * IPv4 address, then an optional port.
 */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{0,5})?$/;

/**
 * isUsableAuthority reports whether `value` can name the server a request was
 * sent to: a well-formed `host[:port]` that a URL can be built on. Anything
 * else (missing, empty, spaces, userinfo, a path, a port over 65535) is the
 * client's mistake.
 */
export function isUsableAuthority(value: string | undefined): boolean {
  if (value === undefined || !AUTHORITY.test(value)) {
    return false;
  }
  try {
    new URL(`http://${value}/`);
    return true;
  } catch {
    return false;
  }
}

/**
 * requestAuthority is the authority a request names: `:authority` over
 * HTTP/2 (falling back to `Host`, as RFC 9113 §8.3.1 allows), `Host` over
 * HTTP/1.x.
 */
export function requestAuthority(req: IncomingMessage | Http2ServerRequest): string | undefined {
  if (req.httpVersionMajor === 2) {
    return (req as Http2ServerRequest).authority || req.headers.host;
  }
  return req.headers.host;
}

/**
 * refuseUnusableHost answers 400 to a request whose Host (or `:authority`) is
 * missing or malformed: the client's mistake, logged at debug level only so a
 * scanner cannot flood the log.
 */
export function refuseUnusableHost(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, logger: Logger | undefined): void {
  logger?.debug?.("tokenkit: refused a request without a usable Host header (400)");
  if (req.httpVersionMajor === 1) {
    (res as ServerResponse).shouldKeepAlive = false; // the rest of the connection cannot be trusted either
  }
  res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
  res.end("missing or invalid Host header\n");
}
