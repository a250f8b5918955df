import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";

/** A real HTTP/2 cleartext server on 127.0.0.1 serving Connect, gRPC and gRPC-Web. */
export interface LoopbackServer {
  url: string;
  close(): Promise<void>;
}

export async function startLoopbackServer(
  routes: (router: ConnectRouter) => void,
  fallback?: Parameters<typeof connectNodeAdapter>[0]["fallback"],
): Promise<LoopbackServer> {
  const server: Http2Server = createServer(connectNodeAdapter({ routes, fallback }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const sessions = new Set<import("node:http2").ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.close();
        server.close(() => resolve());
      }),
  };
}
