import type { Socket } from "node:net";
import type { Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";

/** ConnectionGateOptions configures {@link createConnectionGate}. */
export interface ConnectionGateOptions {
  /** maxConnections caps open connections in all. Required. */
  maxConnections: number;
  /** maxConnectionsPerPeer caps open connections from one remote address. Required. */
  maxConnectionsPerPeer: number;
  /** clock times the log reports. Required. */
  clock: Clock;
  /** logger receives the refusal reports. @default none */
  logger?: Logger;
  /**
   * reportIntervalMs is the least time between two refusal reports of one cap:
   * a flood of refused connections yields one line per interval, not one per
   * connection.
   * @default 60 000
   */
  reportIntervalMs?: number;
}

/** ConnectionGate admits or refuses new connections against the server-wide and per-peer caps. */
export interface ConnectionGate {
  /**
   * admit counts `socket` as open until it closes and returns true, or
   * returns false when a cap is reached (the caller then destroys the socket).
   */
  admit(socket: Socket): boolean;
  /** open is the number of admitted connections still open. */
  readonly open: number;
  /** peers is the number of remote addresses with open connections. */
  readonly peers: number;
}

/** peerAddress is the remote address a per-peer cap counts: IPv4-mapped IPv6 addresses as IPv4. */
export function peerAddress(socket: Socket): string | undefined {
  const address = socket.remoteAddress;
  return address?.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/**
 * createRefusalReport returns a function to call on every refusal by one cap:
 * it logs the first one at once (`warn`), and the number refused since then at
 * most once per `intervalMs`. `describe` names the cap and its state.
 */
export function createRefusalReport(
  what: "connection" | "stream",
  clock: Clock,
  intervalMs: number,
  logger: Logger | undefined,
  describe: () => string,
): () => void {
  let lastReportAt = -Infinity;
  let unreported = 0;
  let timer: unknown;
  const flush = () => {
    timer = undefined;
    if (unreported > 0) {
      logger?.warn?.(`tokenkit: refused ${unreported} more ${what}(s) in the last ${Math.round(intervalMs / 1000)} s: ${describe()}`);
      unreported = 0;
      lastReportAt = clock.now();
    }
  };
  return () => {
    if (clock.now() - lastReportAt >= intervalMs && timer === undefined) {
      lastReportAt = clock.now();
      logger?.warn?.(`tokenkit: refusing ${what}s: ${describe()}`);
      return;
    }
    unreported++;
    timer ??= clock.setTimeout(flush, Math.max(0, lastReportAt + intervalMs - clock.now()));
  };
}

/** createConnectionGate returns a {@link ConnectionGate}. */
export function createConnectionGate(options: ConnectionGateOptions): ConnectionGate {
  const { maxConnections, maxConnectionsPerPeer, clock, logger } = options;
  const intervalMs = options.reportIntervalMs ?? 60_000;
  const perPeer = new Map<string, number>();
  let open = 0;
  let lastPeer = "";
  const reportTotal = createRefusalReport("connection", clock, intervalMs, logger, () => `${open} open connections reach --max-connections ${maxConnections}`);
  const reportPeer = createRefusalReport(
    "connection",
    clock,
    intervalMs,
    logger,
    () => `${lastPeer} has ${maxConnectionsPerPeer} open connections, the --max-connections-per-peer cap`,
  );
  return {
    admit(socket) {
      const peer = peerAddress(socket);
      if (peer === undefined) {
        return false; // already disconnected
      }
      if (open >= maxConnections) {
        reportTotal();
        return false;
      }
      const fromPeer = perPeer.get(peer) ?? 0;
      if (fromPeer >= maxConnectionsPerPeer) {
        lastPeer = peer;
        reportPeer();
        return false;
      }
      open++;
      perPeer.set(peer, fromPeer + 1);
      socket.once("close", () => {
        open--;
        const left = perPeer.get(peer)! - 1;
        if (left === 0) {
          perPeer.delete(peer); // the map holds only peers with open connections
        } else {
          perPeer.set(peer, left);
        }
      });
      return true;
    },
    get open() {
      return open;
    },
    get peers() {
      return perPeer.size;
    },
  };
}

/** StreamBudget counts HTTP/2 streams open across all connections against `maxOpenStreams`. */
export interface StreamBudget {
  /** tryOpen counts one more open stream and returns true, or reports a refusal and returns false. */
  tryOpen(): boolean;
  /** release gives back a stream that {@link StreamBudget.tryOpen} counted. */
  release(): void;
  /** open is the number of streams counted now. */
  readonly open: number;
}

/** createStreamBudget returns a {@link StreamBudget} of `max` streams whose refusals are logged as the connection caps' are. */
export function createStreamBudget(max: number, clock: Clock, logger: Logger | undefined, reportIntervalMs = 60_000): StreamBudget {
  let open = 0;
  const report = createRefusalReport("stream", clock, reportIntervalMs, logger, () => `${open} open HTTP/2 streams reach --max-open-streams ${max}`);
  return {
    tryOpen() {
      if (open >= max) {
        report();
        return false;
      }
      open++;
      return true;
    },
    release() {
      open--;
    },
    get open() {
      return open;
    },
  };
}
