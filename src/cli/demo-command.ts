import { randomBytes } from "node:crypto";
import { defineCommand } from "./define-command.js";
import type { Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { systemClock, type Clock } from "../lib/clock.js";
import { createTokenkitServer, type TokenkitServer } from "../server/serve/server.js";
import type { CliIo, Command } from "./cli-io.js";
import { startDemo } from "./demo.js";
import { httpUrl, optionalDuration } from "./flag-values.js";
import { formatFlagHelp, type FlagSpecs } from "./flags.js";
import { UsageError } from "./usage-error.js";

const FLAGS: FlagSpecs = {
  url: { type: "string", valueName: "URL", description: "Use this tokenkit server instead of starting one in process" },
  "admin-key": {
    type: "string",
    valueName: "KEY",
    description: "Admin key of the --url server (prefer the environment variable: a flag shows in ps)",
  },
  duration: { type: "string", valueName: "DUR", description: "How long the session runs", defaultText: "2m" },
  "access-ttl": { type: "string", valueName: "DUR", description: "Lifetime of each access token", defaultText: "20s" },
  "refresh-ttl": { type: "string", valueName: "DUR", description: "Refresh-token TTL, renewed by each refresh (at least 60s)", defaultText: "2m" },
  "heartbeat-interval": { type: "string", valueName: "DUR", description: "Heartbeat interval of the in-process server", defaultText: "10s" },
  help: { type: "boolean", env: false, description: "Show this help" },
};

const USAGE = `Usage: tokenkit demo [--duration 2m] [--access-ttl 20s] [--refresh-ttl 2m]
                    [--url URL --admin-key KEY]

A long session in miniature: a client with short-lived tokens (20 s by default)
keeps heartbeats, an event upload and a watch of its events running through
many token expiries. It prints a line per token refresh and watch resume with
running counts of calls, failures and refreshes, and a summary at the end.
Without --url it starts a tokenkit server in process (memory store, loopback,
random port). Exit code 0 when no call failed and every event arrived exactly
once, 1 otherwise. Ctrl-C stops early and still prints the summary.
DUR is seconds or 90s, 15m, 24h, 90d.

Flags:
${formatFlagHelp(FLAGS)}`;

/** DemoServer is the server a demo runs against. */
export interface DemoServer {
  /** url is the server's base URL. */
  url: string;
  /** adminKey authorizes IssueToken. */
  adminKey: string;
  /** close stops an in-process server (nothing for a remote one). */
  close(): Promise<void>;
}

/**
 * startDemoServer starts the in-process server of `tokenkit demo`: memory
 * stores, 127.0.0.1, a free port, a random admin key that never leaves the
 * process, and HeartbeatService suggesting `heartbeatIntervalSeconds`.
 */
export async function startDemoServer(options: { clock?: Clock; heartbeatIntervalSeconds?: number } = {}): Promise<DemoServer> {
  const adminKey = randomBytes(24).toString("base64url");
  const server: TokenkitServer = await createTokenkitServer({
    host: "127.0.0.1",
    port: 0,
    store: "memory",
    adminKey,
    sessionServices: { heartbeatIntervalSeconds: options.heartbeatIntervalSeconds ?? 10 },
    drainTimeoutSeconds: 2,
    clock: options.clock ?? systemClock,
  });
  return { url: server.url, adminKey, close: () => server.close() };
}

/** demoTransport connects to `url`: HTTP/2 for the in-process server, HTTP/1.1 (what any proxy accepts) for `--url`. */
export function demoTransport(url: string, inProcess: boolean) {
  return (interceptors: Interceptor[]) => createConnectTransport({ baseUrl: url, httpVersion: inProcess ? "2" : "1.1", interceptors });
}

/** stopSignal aborts on `io.shutdown`, else on the first SIGINT/SIGTERM. */
function stopSignal(io: CliIo): { signal: AbortSignal; dispose(): void } {
  if (io.shutdown !== undefined) {
    return { signal: io.shutdown, dispose() {} };
  }
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    signal: ac.signal,
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** demoCommand implements `tokenkit demo`. */
export const demoCommand: Command = defineCommand({
  name: "demo",
  summary: "watch a session outlive many short-lived tokens (heartbeats, event upload, watch)",
  flags: FLAGS,
  usage: USAGE,
  async run(flags, io) {
    const duration = optionalDuration(flags, "duration") ?? 120;
    const accessTtl = optionalDuration(flags, "access-ttl") ?? 20;
    const refreshTtl = optionalDuration(flags, "refresh-ttl") ?? 120;
    const heartbeat = optionalDuration(flags, "heartbeat-interval") ?? 10;
    for (const [name, v] of [
      ["duration", duration],
      ["access-ttl", accessTtl],
      ["heartbeat-interval", heartbeat],
    ] as const) {
      if (v < 1) {
        throw new UsageError(`${flags.label(name)} must be at least 1s`);
      }
    }
    if (refreshTtl < 60) {
      throw new UsageError(`${flags.label("refresh-ttl")} must be at least 60s (the server's minimum)`);
    }
    if (heartbeat > 3600) {
      throw new UsageError(`${flags.label("heartbeat-interval")} must be at most 1h`);
    }
    const remote = flags.string("url") !== undefined;
    const url = remote ? httpUrl(flags, "url") : undefined;
    const adminKey = flags.string("admin-key") ?? io.env.TOKENKIT_ADMIN_KEY;
    if (remote && (adminKey === undefined || adminKey === "")) {
      throw new UsageError("--url needs the server's admin key: set TOKENKIT_ADMIN_KEY (or --admin-key)");
    }

    const server: DemoServer =
      url === undefined ? await startDemoServer({ heartbeatIntervalSeconds: heartbeat }) : { url, adminKey: adminKey!, close: async () => {} };
    io.stdout(url === undefined ? `tokenkit demo: started a tokenkit server in process at ${server.url} (memory store)` : `tokenkit demo: using ${server.url}`);
    const stop = stopSignal(io);
    try {
      const demo = startDemo({
        connect: demoTransport(server.url, url === undefined),
        adminKey: server.adminKey,
        durationMs: duration * 1000,
        accessTtlSeconds: accessTtl,
        refreshTtlSeconds: refreshTtl,
        out: (line) => io.stdout(line),
        signal: stop.signal,
      });
      const summary = await demo.done;
      return summary.ok ? 0 : 1;
    } finally {
      stop.dispose();
      await server.close();
    }
  },
});
