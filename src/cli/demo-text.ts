import { Code, type ConnectError } from "@connectrpc/connect";
import { totalRefreshes } from "./demo-context.js";
import type { DemoSummary } from "./demo-types.js";

/** clockText formats `ms` since the demo started as `m:ss`. */
export function clockText(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** durationText formats `ms` as whole seconds, with minutes from one minute on: `45s`, `2m 5s`. */
export function durationText(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`;
}

/** errorText formats a Connect error as `[Code] message`. */
export function errorText(err: ConnectError): string {
  return `[${Code[err.code] ?? err.code}] ${err.rawMessage}`;
}

function times(n: number): string {
  return n === 1 ? "once" : `${n} times`;
}

/** printDemoSummary prints the summary block that ends a demo, one line per `out` call. */
export function printDemoSummary(out: (line: string) => void, s: DemoSummary): void {
  const r = s.refreshes;
  const total = totalRefreshes(r);
  out("");
  out(`summary after ${durationText(s.elapsedMs)}`);
  out(`  calls        ${s.calls}, ${s.failures} failed where the application could see it`);
  out(`  refreshes    ${total} (${r.proactive} proactive, ${r.reactive} reactive, ${r.blocking} blocking, ${r.other} other); ${total + 1} access tokens used`);
  out(`  heartbeats   ${s.heartbeats} acknowledged`);
  out(
    `  events       ${s.events.added} produced, ${s.events.batches} batches: ${s.events.accepted} stored, ${s.events.duplicates} duplicates, ${s.events.rejected} rejected`,
  );
  out(`  watch        ${s.watched} received in order, ${s.gaps} gaps; resumed ${times(s.resumes)} after a token expired`);
  out(
    s.ok
      ? `✓ the session ran on ${total + 1} access tokens without a failed call, and every event arrived exactly once`
      : `✗ ${s.sessionExpired ? "the session expired" : s.failures > 0 ? `${s.failures} failures` : "the watch missed events"}: see the lines above`,
  );
}
