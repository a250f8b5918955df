// The baseline token server of the HTTP/1.1 refresh rows: panva's oidc-provider (v9) in its own process,
// configured like a production refresh-token deployment: EdDSA (Ed25519) JWT access tokens through a
// default resource indicator, refresh-token rotation on, the default in-memory adapter, and one
// confidential client (client_secret_basic) allowed the refresh_token grant.
// Usage: node bench/oidc-provider-process.js <chains>. Prints one line on stdout when ready:
// `port <n> <json>` where json is { tokenPath, clientId, clientSecret, resource, refreshTokens: [...] }.
// The initial refresh tokens are minted in-process from a saved Grant, exactly as the authorization code
// grant would mint them (same model fields), so every later refresh goes through the real token endpoint:
// client authentication, lookup, consume, rotation, a new JWT access token.
import { createServer } from "node:http";
import { exportJWK, generateKeyPair } from "jose";

const chains = Number(process.argv[2] ?? 32);
const RESOURCE = "https://api.bench.test";
const CLIENT = { client_id: "bench-client", client_secret: "bench-client-secret-0123456789abcdef", token_endpoint_auth_method: "client_secret_basic" };
const ACCOUNT = "bench";

// oidc-provider warns about the runtime and development defaults (memory adapter, keys) through the
// console, some of it while loading; the bench wants its own stdout line only, so it is imported after.
console.warn = () => {};
console.info = () => {};
console.log = () => {};
console.error = () => {};
const { default: Provider } = await import("oidc-provider");

const server = createServer();
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;
const signing = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });

const provider = new Provider(issuer, {
  clients: [{ ...CLIENT, grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], redirect_uris: ["http://127.0.0.1/callback"], id_token_signed_response_alg: "EdDSA" }],
  jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid: "op-ed25519", alg: "EdDSA", use: "sig" }] },
  enabledJWA: { idTokenSigningAlgValues: ["EdDSA"] },
  cookies: { keys: ["bench-cookie-key-0123456789abcdef"] },
  scopes: ["openid", "offline_access", "api:read", "api:write"],
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  rotateRefreshToken: true,
  ttl: { AccessToken: 900, RefreshToken: 30 * 86_400, Grant: 30 * 86_400, Session: 30 * 86_400 },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "api:read api:write",
        audience: RESOURCE,
        accessTokenTTL: 900,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "EdDSA" } },
      }),
    },
  },
});
provider.on("server_error", () => {});
server.on("request", provider.callback());

// What the authorization code grant saves for `scope=offline_access api:read api:write` with the
// default resource: a Grant holding the OIDC and resource scopes, and a RefreshToken bound to it.
const client = await provider.Client.find(CLIENT.client_id);
const now = Math.floor(Date.now() / 1000);
const refreshTokens = [];
for (let i = 0; i < chains; i++) {
  const grant = new provider.Grant({ accountId: ACCOUNT, clientId: CLIENT.client_id });
  grant.addOIDCScope("offline_access");
  grant.addResourceScope(RESOURCE, "api:read api:write");
  const grantId = await grant.save();
  const rt = new provider.RefreshToken({
    accountId: ACCOUNT,
    client,
    grantId,
    gty: "authorization_code",
    authTime: now,
    iiat: now,
    resource: RESOURCE,
    scope: "offline_access api:read api:write",
  });
  refreshTokens.push(await rt.save());
}

const tokenPath = new URL(provider.issuer).pathname.replace(/\/$/, "") + "/token";
process.stdout.write(
  `port ${port} ${JSON.stringify({ tokenPath, clientId: CLIENT.client_id, clientSecret: CLIENT.client_secret, resource: RESOURCE, refreshTokens })}\n`,
);
process.on("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
