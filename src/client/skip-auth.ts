import { createContextKey } from "@connectrpc/connect";

/**
 * skipAuthKey is a Connect context value that makes the client auth
 * interceptor leave a call alone: no `authorization` header, no retry.
 * Set it per call with `contextValues: createContextValues().set(skipAuthKey, true)`.
 * The token-service refresher sets it on its RefreshToken calls.
 */
export const skipAuthKey = createContextKey<boolean>(false, { description: "tokenkit: skip the auth interceptor" });
