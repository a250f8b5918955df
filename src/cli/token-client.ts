import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { TokenPairSchema, TokenService, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { authErrorReason } from "../auth-error.js";

/** CLIENT_TIMEOUT_MS bounds every call a client command makes, so a dead server never hangs a script. */
export const CLIENT_TIMEOUT_MS = 30_000;

/**
 * createTokenClient returns a TokenService client for `baseUrl` speaking the
 * Connect protocol over HTTP/1.1, which every tokenkit server (and any proxy
 * in front of it) accepts.
 */
export function createTokenClient(baseUrl: string): Client<typeof TokenService> {
  return createClient(TokenService, createConnectTransport({ baseUrl, httpVersion: "1.1", defaultTimeoutMs: CLIENT_TIMEOUT_MS }));
}

/** formatTokenPair renders a TokenPair as indented Protobuf JSON (`toJson`), the output of the client commands. */
export function formatTokenPair(pair: TokenPair | undefined): string {
  if (pair === undefined) {
    throw new ConnectError("the server answered without a token pair", Code.Internal);
  }
  return JSON.stringify(toJson(TokenPairSchema, pair), null, 2);
}

/**
 * describeError renders a failure for stderr: the Connect code, the message
 * and the `AuthErrorDetail` reason when there is one. Messages of tokenkit
 * servers never contain token text.
 */
export function describeError(err: unknown): string {
  if (err instanceof ConnectError) {
    const reason = authErrorReason(err);
    const suffix = reason === undefined ? "" : ` (reason ${AuthErrorReason[reason] ?? reason})`;
    return `[${Code[err.code] ?? err.code}] ${err.rawMessage}${suffix}`;
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "EADDRINUSE") {
    return `the address is already in use (${e.message})`;
  }
  return err instanceof Error ? err.message : String(err);
}
