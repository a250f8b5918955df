import { parseDuration } from "./duration.js";
import type { ParsedFlags } from "./flags.js";
import { UsageError } from "./usage-error.js";

/** requiredString returns a string flag's value or throws a {@link UsageError} naming it. */
export function requiredString(flags: ParsedFlags, name: string): string {
  const v = flags.string(name);
  if (v === undefined || v === "") {
    throw new UsageError(`--${name} is required`);
  }
  return v;
}

/** optionalDuration parses a `DUR` flag into seconds, or returns `undefined` when unset. */
export function optionalDuration(flags: ParsedFlags, name: string): number | undefined {
  const v = flags.string(name);
  return v === undefined ? undefined : parseDuration(v, flags.label(name));
}

/** optionalPort parses a port flag (0–65535), or returns `undefined` when unset. */
export function optionalPort(flags: ParsedFlags, name: string): number | undefined {
  const v = flags.string(name);
  if (v === undefined) {
    return undefined;
  }
  if (!/^[0-9]{1,5}$/.test(v) || Number(v) > 65535) {
    throw new UsageError(`${flags.label(name)} must be a port number from 0 to 65535 (got "${v}")`);
  }
  return Number(v);
}

/** oneOf returns a flag's value when it is one of `allowed`, else throws a {@link UsageError} naming it. */
export function oneOf<T extends string>(flags: ParsedFlags, name: string, allowed: readonly T[]): T | undefined {
  const v = flags.string(name);
  if (v === undefined) {
    return undefined;
  }
  if (!(allowed as readonly string[]).includes(v)) {
    throw new UsageError(`${flags.label(name)} must be one of ${allowed.join(", ")} (got "${v}")`);
  }
  return v as T;
}

/** httpUrl validates an `http:`/`https:` URL flag and returns it without a trailing slash. */
export function httpUrl(flags: ParsedFlags, name: string): string {
  const v = requiredString(flags, name);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new UsageError(`${flags.label(name)} must be an http:// or https:// URL (got "${v}")`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`${flags.label(name)} must be an http:// or https:// URL (got "${v}")`);
  }
  return v.replace(/\/+$/, "");
}

/** keyValues parses repeatable `key=value` flags into a map. */
export function keyValues(flags: ParsedFlags, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of flags.strings(name)) {
    const eq = entry.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(`${flags.label(name)} must be key=value (got "${entry}")`);
    }
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}
