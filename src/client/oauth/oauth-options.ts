import * as oauth from "oauth4webapi";
import { systemClock, type Clock } from "../../lib/clock.js";

/** ClientAuthMethod is how the client authenticates at the token and revocation endpoints (RFC 6749 §2.3, RFC 7523). */
export type ClientAuthMethod = "none" | "client_secret_basic" | "client_secret_post" | "private_key_jwt";

/** OAuthRefresherOptions configures {@link createOAuthRefresher}. */
export interface OAuthRefresherOptions {
  /**
   * issuer is the provider's issuer identifier; its metadata is discovered once, on the first
   * refresh (`/.well-known/openid-configuration`, or RFC 8414 with `discovery: "oauth2"`), and the
   * `issuer` it reports must equal this one. At least one of `issuer` and `tokenEndpoint` is
   * required; with both, nothing is discovered and `issuer` only names the provider (it is the
   * audience of `private_key_jwt` assertions).
   */
  issuer?: string | URL;
  /**
   * discovery picks the metadata document: `"oidc"` (OpenID Connect Discovery) or `"oauth2"`
   * (RFC 8414 `/.well-known/oauth-authorization-server`). Only with `issuer`.
   * @default "oidc"
   */
  discovery?: "oidc" | "oauth2";
  /** tokenEndpoint skips discovery: the RFC 6749 token endpoint URL. @default none — discovered from `issuer` */
  tokenEndpoint?: string | URL;
  /** revocationEndpoint is the RFC 7009 endpoint `revoke` uses; it overrides a discovered one. @default from discovery; none with an explicit `tokenEndpoint` */
  revocationEndpoint?: string | URL;
  /** clientId is the OAuth client id registered at the provider. Required, no default. */
  clientId: string;
  /**
   * clientAuthentication is the token endpoint auth method registered for the client.
   * @default "client_secret_basic" with `clientSecret`, "private_key_jwt" with `privateKey`, else "none" (a public client)
   */
  clientAuthentication?: ClientAuthMethod;
  /**
   * clientSecret is the secret for `client_secret_basic` / `client_secret_post`. Never put it in browser code.
   * @default none — a public or `private_key_jwt` client
   */
  clientSecret?: string;
  /**
   * privateKey signs the `private_key_jwt` client assertion (RFC 7523): a non-extractable
   * WebCrypto key, with the `kid` the provider knows it by when it holds several keys.
   * @default none
   */
  privateKey?: CryptoKey | { key: CryptoKey; kid?: string };
  /** scope asks for a narrower scope on each refresh (RFC 6749 §6). @default none — the granted scope */
  scope?: string | readonly string[];
  /** resource names the API(s) the access token is for (RFC 8707), as absolute URLs sent exactly as given. @default none */
  resource?: string | readonly string[];
  /**
   * allowInsecureRequests lets the refresher talk to `http:` endpoints.
   * Security: only for a provider on loopback in development and tests.
   * @default false
   */
  allowInsecureRequests?: boolean;
  /** fetch replaces the global `fetch` (proxies, instrumentation). @default globalThis.fetch */
  fetch?: typeof fetch;
  /** clock measures receipt times. @default systemClock */
  clock?: Clock;
}

/** NormalizedOAuthOptions are the options after validation, ready for oauth4webapi. */
export interface NormalizedOAuthOptions {
  issuer?: URL;
  algorithm: "oidc" | "oauth2";
  tokenEndpoint?: string;
  revocationEndpoint?: string;
  client: oauth.Client;
  clientAuth: oauth.ClientAuth;
  parameters: URLSearchParams;
  http: { [oauth.allowInsecureRequests]?: boolean; [oauth.customFetch]?: typeof fetch };
  clock: Clock;
}

function toUrl(name: string, value: string | URL): URL {
  try {
    return new URL(value);
  } catch {
    throw new TypeError(`createOAuthRefresher: option "${name}" must be an absolute URL`);
  }
}

function names(name: string, value: string | readonly string[] | undefined): string[] {
  const list = value === undefined ? [] : typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.some((v) => typeof v !== "string" || v === "")) {
    throw new TypeError(`createOAuthRefresher: option "${name}" must be a non-empty string or a list of them`);
  }
  return [...list];
}

function clientAuthentication(o: OAuthRefresherOptions): oauth.ClientAuth {
  const method = o.clientAuthentication ?? (o.clientSecret !== undefined ? "client_secret_basic" : o.privateKey !== undefined ? "private_key_jwt" : "none");
  const secret = () => {
    if (typeof o.clientSecret !== "string" || o.clientSecret === "") {
      throw new TypeError(`createOAuthRefresher: option "clientSecret" is required with clientAuthentication "${method}"`);
    }
    return o.clientSecret;
  };
  switch (method) {
    case "none":
      return oauth.None();
    case "client_secret_basic":
      return oauth.ClientSecretBasic(secret());
    case "client_secret_post":
      return oauth.ClientSecretPost(secret());
    case "private_key_jwt": {
      const pk = o.privateKey;
      if (pk === undefined || (!(pk instanceof CryptoKey) && !(pk.key instanceof CryptoKey))) {
        throw new TypeError('createOAuthRefresher: option "privateKey" must be a CryptoKey (or { key, kid }) with clientAuthentication "private_key_jwt"');
      }
      return oauth.PrivateKeyJwt(pk);
    }
    default:
      throw new TypeError('createOAuthRefresher: option "clientAuthentication" must be "none", "client_secret_basic", "client_secret_post" or "private_key_jwt"');
  }
}

/** normalizeOAuthOptions validates the options once, at construction; caller mistakes throw `TypeError` naming the option. */
export function normalizeOAuthOptions(o: OAuthRefresherOptions): NormalizedOAuthOptions {
  if (typeof o?.clientId !== "string" || o.clientId === "") {
    throw new TypeError('createOAuthRefresher: option "clientId" must be a non-empty string');
  }
  if (o.issuer === undefined && o.tokenEndpoint === undefined) {
    throw new TypeError('createOAuthRefresher: one of the options "issuer" and "tokenEndpoint" is required');
  }
  if (o.discovery !== undefined && o.discovery !== "oidc" && o.discovery !== "oauth2") {
    throw new TypeError('createOAuthRefresher: option "discovery" must be "oidc" or "oauth2"');
  }
  if (o.fetch !== undefined && typeof o.fetch !== "function") {
    throw new TypeError('createOAuthRefresher: option "fetch" must be a function');
  }
  const parameters = new URLSearchParams();
  const scope = names("scope", o.scope);
  if (scope.length > 0) {
    parameters.set("scope", scope.join(" "));
  }
  for (const r of names("resource", o.resource)) {
    toUrl("resource", r);
    // Sent exactly as given: URL parsing would add a trailing slash the provider may not know.
    parameters.append("resource", r);
  }
  const normalized: NormalizedOAuthOptions = {
    algorithm: o.discovery ?? "oidc",
    client: { client_id: o.clientId },
    clientAuth: clientAuthentication(o),
    parameters,
    http: {},
    clock: o.clock ?? systemClock,
  };
  if (o.issuer !== undefined) {
    normalized.issuer = toUrl("issuer", o.issuer);
  }
  if (o.tokenEndpoint !== undefined) {
    normalized.tokenEndpoint = toUrl("tokenEndpoint", o.tokenEndpoint).href;
  }
  if (o.revocationEndpoint !== undefined) {
    normalized.revocationEndpoint = toUrl("revocationEndpoint", o.revocationEndpoint).href;
  }
  if (o.allowInsecureRequests === true) {
    normalized.http[oauth.allowInsecureRequests] = true;
  }
  if (o.fetch !== undefined) {
    normalized.http[oauth.customFetch] = o.fetch;
  }
  return normalized;
}
