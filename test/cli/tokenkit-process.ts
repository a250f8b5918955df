import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";

/** ROOT is the repository root; BIN the CLI launcher (needs `npm run build`). */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = fileURLToPath(new URL("../../bin/tokenkit", import.meta.url));
export const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

/** cleanEnv is the test process's environment without any TOKENKIT_* variable, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("TOKENKIT_") && v !== undefined) {
      env[k] = v;
    }
  }
  return { ...env, ...extra };
}

/** CliResult is the outcome of one finished `tokenkit` run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** runCli runs `tokenkit ...args` to completion. */
export function runCli(args: string[], env: Record<string, string> = cleanEnv()): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** ServeProcess is a running `tokenkit serve` child. */
export interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  /** url from the listening line. */
  url: string;
  port: number;
  /** stdoutLines printed so far. */
  readonly stdoutLines: string[];
  /** stderr printed so far. */
  readonly stderr: string;
  /** waitForStderr resolves once stderr contains `text`. */
  waitForStderr(text: string): Promise<void>;
  /** exited resolves to the exit code (or signal name). */
  exited: Promise<number | string>;
  /** stop sends `signal` and resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

const LISTENING = /^tokenkit listening on (https?:\/\/127\.0\.0\.1:(\d+))$/;

/** startServe spawns `tokenkit serve ...args` and resolves once it printed its listening line. */
export function startServe(args: string[], env: Record<string, string> = cleanEnv()): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, "serve", ...args], { cwd: ROOT, env });
  const stdoutLines: string[] = [];
  let stderr = "";
  let partial = "";
  const stderrWaiters: { text: string; resolve: () => void }[] = [];
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  child.stderr.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
    for (const w of stderrWaiters.splice(0)) {
      if (stderr.includes(w.text)) {
        w.resolve();
      } else {
        stderrWaiters.push(w);
      }
    }
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    void exited.then((code) => reject(new Error(`tokenkit serve exited (${code}) before listening:\n${stderr}`)));
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      partial += c;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        stdoutLines.push(line);
        const m = LISTENING.exec(line);
        if (m !== null) {
          const proc: ServeProcess = {
            child,
            url: m[1]!,
            port: Number(m[2]),
            stdoutLines,
            get stderr() {
              return stderr;
            },
            waitForStderr(text) {
              if (stderr.includes(text)) {
                return Promise.resolve();
              }
              return new Promise((r) => stderrWaiters.push({ text, resolve: r }));
            },
            exited,
            stop(signal = "SIGTERM") {
              if (child.exitCode === null && child.signalCode === null) {
                child.kill(signal);
              }
              return exited;
            },
          };
          resolve(proc);
        }
      }
    });
  });
}
