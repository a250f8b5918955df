import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Request limits keep every issued token well under the 8 KiB that
 * verification accepts: a server must never mint a token it would reject.
 */
export const LIMITS = {
  /** Longest subject or actor, in characters. */
  subject: 256,
  /** Most scopes per token. */
  scopes: 64,
  /** Longest scope or audience, in characters. */
  name: 256,
  /** Most audiences per token. */
  audiences: 16,
  /** Most metadata entries. */
  metadataEntries: 32,
  /** Most metadata bytes (keys + values, UTF-16 length). */
  metadataChars: 2048,
} as const;

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** checkIdentifier validates a subject or actor field. */
export function checkIdentifier(field: string, value: string): string {
  if (value === "") {
    throw invalid(`${field} is required`);
  }
  if (value.length > LIMITS.subject) {
    throw invalid(`${field} is longer than ${LIMITS.subject} characters`);
  }
  return value;
}

/** checkNames validates scopes or audiences (no spaces, bounded) and returns them de-duplicated in order. */
export function checkNames(field: "scopes" | "audiences", values: readonly string[]): string[] {
  const max = field === "scopes" ? LIMITS.scopes : LIMITS.audiences;
  if (values.length > max) {
    throw invalid(`${field} has more than ${max} entries`);
  }
  values.forEach((v, i) => {
    if (v === "" || v.length > LIMITS.name || /\s/.test(v)) {
      throw invalid(`${field}[${i}] must be 1–${LIMITS.name} characters without spaces`);
    }
  });
  return [...new Set(values)];
}

/** checkMetadata validates a metadata map and returns a plain copy. */
export function checkMetadata(metadata: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(metadata);
  if (entries.length > LIMITS.metadataEntries) {
    throw invalid(`metadata has more than ${LIMITS.metadataEntries} entries`);
  }
  let size = 0;
  for (const [k, v] of entries) {
    if (k === "") {
      throw invalid("metadata keys must not be empty");
    }
    size += k.length + v.length;
  }
  if (size > LIMITS.metadataChars) {
    throw invalid(`metadata is larger than ${LIMITS.metadataChars} characters`);
  }
  return Object.fromEntries(entries);
}
