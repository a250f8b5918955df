import type { KeyRing } from "../keys/key-ring.js";
import { createRevocationCache } from "../revocation-cache.js";
import { startStoreJanitor } from "../store-janitor.js";
import { resolveAdminKey } from "./admin-key-file.js";
import { createCleanupStack } from "./cleanup-stack.js";
import { prepareDataDir } from "./data-dir.js";
import { listenDualProtocol, type DualProtocolRequestHandler } from "./dual-protocol-listener.js";
import { resolveIssuer } from "./issuer-file.js";
import { normalizeServerOptions, type ServerConfig } from "./server-config.js";
import { createServerHandler } from "./server-handler.js";
import { openServerKeyRing } from "./server-key-ring.js";
import type { TokenkitServerOptions } from "./server-options.js";
import { openServerStores } from "./server-stores.js";

export { ADMIN_KEY_FILE_NAME, KEYS_FILE_NAME } from "./server-config.js";
export type { TokenkitServerOptions } from "./server-options.js";

/** TokenkitServer is a running server returned by {@link createTokenkitServer}. */
export interface TokenkitServer {
  /** url is `http://HOST:PORT` with the real port. */
  readonly url: string;
  /** host is the bound address. */
  readonly host: string;
  /** port is the bound port. */
  readonly port: number;
  /** issuer is the `iss` of the server's tokens. */
  readonly issuer: string;
  /** adminKeyPath is the file holding the admin key, when it came from a file. */
  readonly adminKeyPath?: string;
  /** adminKeyGenerated is true when the admin key file was created by this start. */
  readonly adminKeyGenerated: boolean;
  /** keyRing is the server's key ring (call `reload()` after `tokenkit keys rotate`). */
  readonly keyRing: KeyRing;
  /**
   * close stops accepting connections, lets in-flight calls finish (bounded by
   * `drainTimeoutSeconds`), then closes the store. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * createTokenkitServer starts the server behind `tokenkit serve`: it
 * validates every option, binds one port for Connect, gRPC and gRPC-Web over
 * HTTP/2 cleartext and HTTP/1.1 (or HTTPS), and only then touches the disk:
 * the data dir, the kept issuer, the stores, the key ring, the admin key.
 * It serves TokenService, any extra `services`, health checks, gRPC
 * reflection and the JWKS, and resolves once the server is ready (requests
 * arriving before get 503 with `Retry-After`). A mistake in the options
 * throws a `TypeError` naming the option before anything is bound or written.
 */
export async function createTokenkitServer(options: TokenkitServerOptions = {}): Promise<TokenkitServer> {
  // Aborted first thing on close(), so open watches end instead of holding the drain.
  const shutdown = new AbortController();
  const config = await normalizeServerOptions(options, shutdown.signal);
  const { clock, logger } = config;
  const cleanups = createCleanupStack();
  let handler: DualProtocolRequestHandler | undefined;
  let serving = false;
  const listener = await listenDualProtocol({
    host: config.host,
    port: config.port,
    tls: config.tls,
    drainTimeoutMs: config.drainTimeoutSeconds * 1000,
    // Connection timers (drain, idle, request timeouts) measure the network, so they run on
    // the system clock: `clock` is token time, which tests move by days between calls.
    limits: config.limits,
    logger,
    handler: (req, res) => (handler === undefined ? notReady(res) : handler(req, res)),
  });
  try {
    if (config.usesDataDir) {
      await prepareDataDir(config.dataDir, logger);
    }
    const issuer = await resolveIssuer({ given: config.issuer, dataDir: config.dataDir, keep: config.keysInDataDir, listenUrl: listener.url, logger });
    warnUnsharedIssuer(config, issuer);
    const stores = await openServerStores(config, cleanups);
    const keyRing = await openServerKeyRing(config, stores.postgresPool, cleanups);
    const adminKey = await resolveAdminKey(config.adminKey, config.adminKeyFile, logger);
    const revocations = createRevocationCache({ store: stores.store, clock, logger });
    cleanups.push(() => revocations.close());
    await revocations.ready;
    // Expired refresh records and sealed pairs older than the grace window are purged every 10 minutes.
    const janitor = startStoreJanitor({ store: stores.store, clock, logger });
    cleanups.push(() => janitor.stop());
    handler = createServerHandler(config, { stores, keyRing, issuer, adminKey: adminKey.key, revocations, serving: () => serving });
    serving = true;

    let closing: Promise<void> | undefined;
    return {
      url: listener.url,
      host: listener.host,
      port: listener.port,
      issuer,
      adminKeyPath: adminKey.path,
      adminKeyGenerated: adminKey.generated,
      keyRing,
      close() {
        closing ??= (async () => {
          serving = false;
          shutdown.abort();
          // Drain in-flight calls first: they still need the stores that close after.
          const [first] = await closeAll(listener.close(), cleanups.run);
          if (first !== undefined) {
            throw first;
          }
        })();
        return closing;
      },
    };
  } catch (err) {
    shutdown.abort();
    for (const e of await closeAll(listener.close(), cleanups.run)) {
      logger?.warn?.("tokenkit: cleanup after a failed start failed", e);
    }
    throw err;
  }
}

/** closeAll waits for the listener to close, then runs the undo steps; it resolves to every error, the listener's first. */
async function closeAll(listenerClosed: Promise<void>, runCleanups: () => Promise<unknown[]>): Promise<unknown[]> {
  const errors: unknown[] = [];
  await listenerClosed.catch((err: unknown) => errors.push(err));
  return [...errors, ...(await runCleanups())];
}

function notReady(res: Parameters<DualProtocolRequestHandler>[1]): void {
  res.writeHead(503, { "retry-after": "1" });
  res.end();
}

/** warnUnsharedIssuer: instances sharing a database must share one issuer, or one's tokens fail `iss` on another. */
function warnUnsharedIssuer(config: ServerConfig, issuer: string): void {
  if (config.issuer === undefined && config.store === "postgres") {
    config.logger?.warn?.(
      `tokenkit: no issuer set, so tokens carry this instance's own address ${issuer}; set --issuer to the public URL when several instances share the database`,
    );
  }
}
