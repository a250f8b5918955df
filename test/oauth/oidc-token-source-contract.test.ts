import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createOAuthRefresher } from "../../src/client/oauth/oauth-refresher.js";
import { tokenResponseToStoredToken } from "../../src/client/oauth/token-response.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import { createTokenSource } from "../../src/client/token-source.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { createDateClock, settle, type DateClock } from "./date-clock.js";
import { CLIENTS, startOidcProvider, type OidcProviderFixture } from "./oidc-provider-fixture.js";

// The token source's side of the refresher's failure contract, against oidc-provider: a configuration error
// is terminal (no retry loop), and a provider that said Retry-After is asked again right then.
const TTL = 60;
let op: OidcProviderFixture;
let clock: DateClock;

beforeAll(async () => {
  clock = createDateClock();
  op = await startOidcProvider({ rotate: true, accessTokenTtl: TTL });
});
afterAll(async () => {
  await op.close();
  vi.useRealTimers();
});

async function source(clientSecret: string) {
  const oidc = createOAuthRefresher({ issuer: op.issuer, clientId: CLIENTS.basic.client_id, clientSecret, allowInsecureRequests: true, clock });
  const events: TokenSourceEvent[] = [];
  let inflight: Promise<unknown> | undefined;
  clock.busy = () => inflight?.catch(() => {}) ?? Promise.resolve();
  const s = createTokenSource({ refresh: (current, ctx) => (inflight = oidc.refresh(current, ctx)), initial: tokenResponseToStoredToken(await op.login("basic"), clock.now()), clock, onEvent: (e) => events.push(e) });
  return { s, events };
}

/** getToken waits for the token (and any refresh it started, over real HTTP) before the test moves the clock on. */
async function getToken(s: Awaited<ReturnType<typeof source>>["s"]): Promise<string> {
  const p = s.getToken();
  await p.catch(() => {});
  await settle();
  return p;
}

describe("the token source with the OAuth refresher's failures", () => {
  it("invalid_client is terminal: one refresh request, no retry loop, callers get FailedPrecondition", async () => {
    const { s } = await source("wrong-secret-0123456789abcdefgh");
    const before = op.tokenRequests;
    await clock.advance(TTL * 1000);
    for (let i = 0; i < 10; i++) {
      await expectConnectError(getToken(s), Code.FailedPrecondition);
      await clock.advance(60_000);
    }
    expect(op.tokenRequests - before).toBe(1);
    s.close();
  });

  it("after a long 503 outage with Retry-After: 2, a call succeeds 2 s after the endpoint is back, not a backoff step later", async () => {
    const { s } = await source(CLIENTS.basic.client_secret);
    await clock.advance(TTL * 1000);
    op.fault = { status: 503, retryAfter: "2" };
    for (let i = 0; i < 30; i++) {
      await getToken(s).catch(() => {});
      await clock.advance(10_000);
    }
    op.fault = undefined;
    await clock.advance(2_000);
    await expect(getToken(s)).resolves.toEqual(expect.any(String));
    s.close();
  });
});
