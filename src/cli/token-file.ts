import type { TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { tokenPairToStoredToken } from "../client/token-service-refresher.js";
import { createFileTokenStore } from "../node/file-token-store.js";
import type { FlagSpec } from "./flags.js";

/**
 * TOKEN_STORE_FLAG is the `--store FILE` flag of the client commands. Its
 * environment twin is `TOKENKIT_TOKEN_STORE`, not `TOKENKIT_STORE`, which
 * already selects the server's store for `tokenkit serve`.
 */
export const TOKEN_STORE_FLAG: FlagSpec = {
  type: "string",
  valueName: "FILE",
  env: "TOKENKIT_TOKEN_STORE",
  description: "Token file (tokenkit/node file store: mode 0600, locked across processes)",
};

/**
 * rotateStoredToken rotates the refresh token kept in the token file at
 * `path` with `refresh` and saves the new pair there, all under the file's
 * cross-process lock, so that two processes sharing the file never present
 * the same refresh token twice. Resolves to the new pair.
 */
export async function rotateStoredToken(path: string, refresh: (refreshToken: string) => Promise<TokenPair>): Promise<TokenPair> {
  const store = createFileTokenStore({ path });
  const rotate = async () => {
    const current = await store.load();
    if (current?.refreshToken === undefined || current.refreshToken === "") {
      throw new Error(`${path} holds no refresh token; run tokenkit issue --store ${path} first`);
    }
    const sentAt = Date.now();
    const pair = await refresh(current.refreshToken);
    await store.save(tokenPairToStoredToken(pair, sentAt));
    return pair;
  };
  return store.lock === undefined ? rotate() : store.lock(rotate);
}

/** saveTokenPair writes a freshly issued pair to the token file at `path`. */
export async function saveTokenPair(path: string, pair: TokenPair, receivedAt: number): Promise<void> {
  const store = createFileTokenStore({ path });
  const save = () => store.save(tokenPairToStoredToken(pair, receivedAt));
  await (store.lock === undefined ? save() : store.lock(save));
}
