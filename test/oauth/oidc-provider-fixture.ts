import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import * as oauth from "oauth4webapi";
// @ts-expect-error oidc-provider ships no type declarations.
import Provider from "oidc-provider";

/** API is the resource indicator (RFC 8707) of the protected Connect API: the `aud` of the provider's access tokens. */
export const API = "https://api.tokenkit.test";
/** REDIRECT_URI is where the provider sends the authorization code; nothing listens there, the test reads the Location. */
export const REDIRECT_URI = "http://127.0.0.1/callback";

/** The registered clients, one per client authentication method. */
export const CLIENTS = {
  basic: { client_id: "tk-basic", client_secret: "tk-basic-secret-0123456789abcdef", token_endpoint_auth_method: "client_secret_basic" },
  post: { client_id: "tk-post", client_secret: "tk-post-secret-0123456789abcdef", token_endpoint_auth_method: "client_secret_post" },
  public: { client_id: "tk-public", token_endpoint_auth_method: "none" },
  jwt: { client_id: "tk-jwt", token_endpoint_auth_method: "private_key_jwt" },
} as const;

/** NO_REFRESH_CLIENT may use the authorization code grant but not refresh_token. */
export const NO_REFRESH_CLIENT = { client_id: "tk-no-refresh", client_secret: "tk-no-refresh-secret-0123456789", token_endpoint_auth_method: "client_secret_basic" };

/** Fault is what the token endpoint answers instead of the provider while set. */
export interface Fault {
  status: number;
  retryAfter?: string;
  body?: string;
}

/** OidcProviderFixture is panva's oidc-provider on loopback, behind a counter and fault switch for `POST /token`. */
export interface OidcProviderFixture {
  /** issuer is the provider's issuer URL (`http://127.0.0.1:PORT`). */
  issuer: string;
  /** jwksUri is where the provider serves its signing keys. */
  jwksUri: string;
  /** tokenRequests counts `POST /token` requests that reached the fixture (faults included). */
  tokenRequests: number;
  /** fault, while set, is answered to every `POST /token` instead of the provider's answer. */
  fault: Fault | undefined;
  /** origins lists the browser origins allowed by CORS. */
  origins: string[];
  /** clientKey is the private key of the `private_key_jwt` client. */
  clientKey: CryptoKey;
  /** login runs the authorization code flow over HTTP, driving the provider's development login and consent pages, and returns the token response. */
  login(client: keyof typeof CLIENTS): Promise<oauth.TokenEndpointResponse>;
  close(): Promise<void>;
}

/** OidcProviderFixtureOptions configures {@link startOidcProvider}. */
export interface OidcProviderFixtureOptions {
  /** rotate turns refresh-token rotation on (every refresh returns a new refresh token). */
  rotate: boolean;
  /** accessTokenTtl is the access-token lifetime in seconds. */
  accessTokenTtl: number;
  /** port to listen on (0 = any). */
  port?: number;
}

/** startOidcProvider starts a real oidc-provider with JWT (RFC 9068) access tokens for {@link API}. */
export async function startOidcProvider(options: OidcProviderFixtureOptions): Promise<OidcProviderFixture> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(options.port ?? 0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signing = await generateKeyPair("ES256", { extractable: true });
  const clientPair = await generateKeyPair("ES256", { extractable: true });
  const fixture = {
    issuer,
    jwksUri: `${issuer}/jwks`,
    tokenRequests: 0,
    fault: undefined as Fault | undefined,
    origins: [] as string[],
    clientKey: clientPair.privateKey,
  };
  const base = { grant_types: ["authorization_code", "refresh_token"], redirect_uris: [REDIRECT_URI], response_types: ["code"], id_token_signed_response_alg: "ES256" };
  const provider = new Provider(issuer, {
    clients: [
      { ...base, ...CLIENTS.basic },
      { ...base, ...CLIENTS.post },
      { ...base, ...CLIENTS.public },
      { ...base, ...NO_REFRESH_CLIENT, grant_types: ["authorization_code"] },
      { ...base, ...CLIENTS.jwt, token_endpoint_auth_signing_alg: "ES256", jwks: { keys: [{ ...(await exportJWK(clientPair.publicKey)), alg: "ES256", use: "sig" }] } },
    ],
    jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid: "op-1", alg: "ES256", use: "sig" }] },
    cookies: { keys: ["tokenkit-test-cookie-key-0123456789"] },
    scopes: ["openid", "offline_access", "api:read", "api:write"],
    rotateRefreshToken: options.rotate,
    ttl: { AccessToken: options.accessTokenTtl, RefreshToken: 30 * 86_400, Grant: 30 * 86_400, Session: 30 * 86_400, Interaction: 3600 },
    clientBasedCORS: (_ctx: unknown, origin: string) => fixture.origins.includes(origin),
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => API,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "api:read api:write",
          audience: API,
          accessTokenTTL: options.accessTokenTtl,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "ES256" } },
        }),
      },
    },
  });
  const callback = provider.callback();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === "POST" && req.url?.startsWith("/token") === true && !req.url.startsWith("/token/")) {
      fixture.tokenRequests++;
      const fault = fixture.fault;
      if (fault !== undefined) {
        req.resume();
        const headers: Record<string, string> = { "content-type": fault.body?.startsWith("{") ? "application/json" : "text/plain" };
        if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
        if (req.headers.origin !== undefined) headers["access-control-allow-origin"] = req.headers.origin;
        res.writeHead(fault.status, headers);
        res.end(fault.body ?? "unavailable");
        return;
      }
    }
    callback(req, res);
  });
  const as: oauth.AuthorizationServer = await oauth.processDiscoveryResponse(
    new URL(issuer),
    await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }),
  );

  async function login(name: keyof typeof CLIENTS): Promise<oauth.TokenEndpointResponse> {
    const c = CLIENTS[name];
    const cookies = new Map<string, string>();
    const step = async (url: string, init: RequestInit = {}): Promise<string> => {
      const res = await fetch(new URL(url, issuer), {
        ...init,
        redirect: "manual",
        headers: { ...(init.headers as Record<string, string>), cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") },
      });
      for (const sc of res.headers.getSetCookie()) {
        const [pair] = sc.split(";");
        const eq = pair!.indexOf("=");
        cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
      const text = await res.text();
      const location = res.headers.get("location");
      if (location === null) throw new Error(`oidc-provider answered ${res.status} without a redirect at ${url}: ${text.slice(text.indexOf("<body"))}`);
      return location;
    };
    const form = (body: Record<string, string>) => ({
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(body).toString(),
    });
    const verifier = oauth.generateRandomCodeVerifier();
    const auth = new URL(as.authorization_endpoint!);
    auth.search = new URLSearchParams({
      client_id: c.client_id,
      response_type: "code",
      redirect_uri: REDIRECT_URI,
      scope: "openid offline_access api:read api:write",
      prompt: "consent",
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
    }).toString();
    let location = await step(auth.href);
    for (let i = 0; i < 6 && !location.startsWith(REDIRECT_URI); i++) {
      const uid = /\/interaction\/([^/?]+)/.exec(location)?.[1];
      if (uid === undefined) {
        location = await step(location);
        continue;
      }
      const html = await (await fetch(new URL(location, issuer), { headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") } })).text();
      const prompt = html.includes('name="login"') ? { prompt: "login", login: "alice", password: "any" } : { prompt: "consent" };
      location = await step(`/interaction/${uid}`, form(prompt));
    }
    const params = oauth.validateAuthResponse(as, { client_id: c.client_id }, new URL(location), oauth.skipStateCheck);
    const res = await oauth.authorizationCodeGrantRequest(as, { client_id: c.client_id }, clientAuth(name), params, REDIRECT_URI, verifier, {
      [oauth.allowInsecureRequests]: true,
    });
    return oauth.processAuthorizationCodeResponse(as, { client_id: c.client_id }, res);
  }

  function clientAuth(name: keyof typeof CLIENTS): oauth.ClientAuth {
    switch (name) {
      case "basic":
        return oauth.ClientSecretBasic(CLIENTS.basic.client_secret);
      case "post":
        return oauth.ClientSecretPost(CLIENTS.post.client_secret);
      case "jwt":
        return oauth.PrivateKeyJwt(clientPair.privateKey);
      default:
        return oauth.None();
    }
  }

  return Object.assign(fixture, {
    login,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
