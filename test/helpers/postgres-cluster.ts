import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** SCRIPT is the one start/stop script CI uses too. */
export const POSTGRES_SCRIPT = fileURLToPath(new URL("../../.ci/postgres", import.meta.url));

/** PrivateCluster is a throwaway PostgreSQL cluster owned by one test (never the shared CI one). */
export interface PrivateCluster {
  url: string;
  /** kill stops the server at once, as a crash would (pg_ctl stop -m immediate). */
  kill(): Promise<void>;
  /** start starts it again on the same port and data. */
  start(): Promise<void>;
  /** destroy stops it and removes its directory. */
  destroy(): Promise<void>;
}

/** postgresBinariesAvailable reports whether `.ci/postgres` finds the PostgreSQL binaries. */
export async function postgresBinariesAvailable(): Promise<boolean> {
  return run("bash", [POSTGRES_SCRIPT, "available"]).then(
    () => true,
    () => false,
  );
}

/** startPrivateCluster creates and starts a cluster in a fresh temporary directory. */
export async function startPrivateCluster(): Promise<PrivateCluster> {
  const parent = mkdtempSync(join(tmpdir(), "tokenkit-pg-"));
  chmodSync(parent, 0o711); // the postgres user (when run as root) must reach the cluster directory
  const dir = join(parent, "cluster");
  const { stdout } = await run("bash", [POSTGRES_SCRIPT, "start", dir], { timeout: 120_000 });
  const url = stdout.trim();
  return {
    url,
    kill: async () => {
      await run("bash", [POSTGRES_SCRIPT, "kill", dir], { timeout: 60_000 });
    },
    start: async () => {
      await run("bash", [POSTGRES_SCRIPT, "start", dir], { timeout: 60_000 });
    },
    destroy: async () => {
      await run("bash", [POSTGRES_SCRIPT, "stop", dir], { timeout: 60_000 }).catch(() => {});
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
