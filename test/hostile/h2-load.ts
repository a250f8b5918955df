import { request as httpRequest } from "node:http";
import { connect as connectNet, type Socket } from "node:net";
import { readdirSync, readFileSync } from "node:fs";
import { PREFACE_AND_SETTINGS } from "./h2-frames.js";

// Measuring a `tokenkit serve` child under load: its RSS and open descriptors from /proc,
// and a health check that keeps asking while an attack runs.

/** rssMiB is the resident memory of process `pid`, in MiB. */
export function rssMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kib) / 1024;
}

/** openFds is the number of file descriptors process `pid` holds (sockets included). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** healthCheck is one Connect `grpc.health.v1.Health/Check` over a fresh HTTP/1.1 connection; resolves to its latency in ms. */
export function healthCheck(port: number, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path: "/grpc.health.v1.Health/Check", method: "POST", agent: false, timeout: timeoutMs, headers: { "content-type": "application/json" } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => (res.statusCode === 200 && body.includes("SERVING") ? resolve(performance.now() - started) : reject(new Error(`health: ${res.statusCode} ${body}`))));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`health check unanswered after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end("{}");
  });
}

/** Watch samples RSS and asks for health every `everyMs` until stopped. */
export interface Watch {
  /** stop ends sampling and resolves to the peak RSS (MiB), health latencies (ms) and failed checks. */
  stop(): Promise<{ peakRssMiB: number; latencies: number[]; failures: string[] }>;
}

/** watchServer starts a {@link Watch} of the server `pid` listening on `port`. */
export function watchServer(pid: number, port: number, everyMs = 250): Watch {
  let peakRssMiB = rssMiB(pid);
  const latencies: number[] = [];
  const failures: string[] = [];
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    peakRssMiB = Math.max(peakRssMiB, rssMiB(pid));
    const p = healthCheck(port).then(
      (ms) => void latencies.push(ms),
      (err: Error) => void failures.push(err.message),
    );
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      peakRssMiB = Math.max(peakRssMiB, rssMiB(pid));
      return { peakRssMiB, latencies, failures };
    },
  };
}

/**
 * openIdleSessions opens `count` h2c connections that send the preface and an
 * empty SETTINGS frame and then nothing, spread over loopback addresses
 * 127.0.0.2, .3, … with at most `perAddress` each; resolves once all are connected.
 */
export async function openIdleSessions(port: number, count: number, perAddress: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const batch = 250;
  for (let start = 0; start < count; start += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - start) }, (_, i) => {
        const n = start + i;
        return new Promise<void>((resolve, reject) => {
          const socket = connectNet({ port, host: "127.0.0.1", localAddress: `127.0.0.${2 + Math.floor(n / perAddress)}` }, () => {
            socket.write(PREFACE_AND_SETTINGS);
            resolve();
          });
          socket.on("error", reject);
          socket.resume(); // read and drop the server's SETTINGS
          sockets.push(socket);
        });
      }),
    );
  }
  return sockets;
}
