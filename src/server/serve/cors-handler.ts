import { cors } from "@connectrpc/connect";
import type { DualProtocolRequestHandler } from "./dual-protocol-listener.js";

/** CorsOptions configures {@link createCorsHandler}. */
export interface CorsOptions {
  /**
   * origins lists the origins whose pages may call the server, exactly as
   * browsers send them in `Origin`: `scheme://host[:port]`, no path, no
   * trailing slash (`https://app.example.com`, `http://localhost:5173`).
   * `"*"` allows every origin — acceptable for tokenkit, whose calls carry
   * bearer tokens rather than cookies, but it lets any site's script call the
   * server with a token it holds. Required, non-empty.
   */
  origins: readonly string[];
  /**
   * allowedHeaders are request headers a page may send besides the
   * Connect/gRPC-Web protocol headers (`cors.allowedHeaders` of
   * `@connectrpc/connect`).
   * @default ["Authorization"] — the bearer token of the auth interceptor
   */
  allowedHeaders?: readonly string[];
  /**
   * maxAgeSeconds is how long a browser may cache a preflight answer.
   * @default 7200 — Chromium's cap; Firefox allows a day
   */
  maxAgeSeconds?: number;
}

/**
 * normalizeCorsOrigin returns `origin` in the form browsers send in the
 * `Origin` header (lower-case scheme and host, default port dropped), or
 * throws a TypeError naming `option` when it is not a bare http(s) origin.
 */
export function normalizeCorsOrigin(origin: string, option = "origins"): string {
  if (origin === "*") {
    return origin;
  }
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new TypeError(`option "${option}": "${origin}" is not an origin (scheme://host[:port])`);
  }
  const bare = url.pathname === "/" && url.search === "" && url.hash === "" && url.username === "" && url.password === "" && !/[?#]/.test(origin);
  if ((url.protocol !== "http:" && url.protocol !== "https:") || !bare || !/^https?:\/\/[^/]+\/?$/i.test(origin)) {
    throw new TypeError(`option "${option}": "${origin}" is not an http(s) origin (scheme://host[:port], no path)`);
  }
  return url.origin;
}

/**
 * createCorsHandler wraps `next` with CORS for browsers on other origins, as
 * connect-es documents it: a request whose `Origin` is allowed gets
 * `Access-Control-Allow-Origin` (that origin, with `Vary: Origin`) and
 * `Access-Control-Expose-Headers` of `cors.exposedHeaders` (`Grpc-Status`,
 * `Grpc-Message`, …, so connect-web can read errors); a preflight
 * (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin
 * is answered 204 with `cors.allowedMethods` and `cors.allowedHeaders` plus
 * `allowedHeaders`. A disallowed origin gets no CORS header at all (its
 * preflight a plain 403), so the browser withholds the answer from the page.
 * Requests without `Origin` pass through untouched. No credentials
 * (cookies) are ever allowed: tokenkit authenticates with bearer tokens.
 */
export function createCorsHandler(options: CorsOptions, next: DualProtocolRequestHandler): DualProtocolRequestHandler {
  const who = "createCorsHandler";
  if (!Array.isArray(options?.origins) || options.origins.length === 0 || options.origins.some((o) => typeof o !== "string")) {
    throw new TypeError(`${who}: option "origins" must be a non-empty list of origins`);
  }
  const origins = new Set(
    options.origins.map((o) => {
      try {
        return normalizeCorsOrigin(o);
      } catch (err) {
        throw new TypeError(`${who}: ${(err as Error).message}`);
      }
    }),
  );
  const extraHeaders = options.allowedHeaders ?? ["Authorization"];
  if (!Array.isArray(extraHeaders) || extraHeaders.some((h) => typeof h !== "string" || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(h))) {
    throw new TypeError(`${who}: option "allowedHeaders" must be a list of header names`);
  }
  const maxAge = options.maxAgeSeconds ?? 7200;
  if (!Number.isSafeInteger(maxAge) || maxAge < 0) {
    throw new TypeError(`${who}: option "maxAgeSeconds" must be a non-negative integer`);
  }
  const anyOrigin = origins.has("*");
  const allowMethods = cors.allowedMethods.join(", ");
  const allowHeaders = [...cors.allowedHeaders, ...extraHeaders].join(", ");
  const exposeHeaders = cors.exposedHeaders.join(", ");

  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== "string" || origin === "") {
      next(req, res);
      return;
    }
    const allowed = anyOrigin || origins.has(origin);
    const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
    res.setHeader("vary", "Origin");
    if (preflight) {
      if (!allowed) {
        res.writeHead(403, { "content-type": "text/plain; charset=utf-8" });
        res.end("origin not allowed\n");
        return;
      }
      res.writeHead(204, {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": allowMethods,
        "access-control-allow-headers": allowHeaders,
        "access-control-max-age": String(maxAge),
      });
      res.end();
      return;
    }
    if (allowed) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-expose-headers", exposeHeaders);
    }
    next(req, res);
  };
}
