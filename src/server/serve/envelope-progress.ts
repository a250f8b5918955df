/**
 * EnvelopeProgress follows the framing of an enveloped request body (gRPC,
 * gRPC-Web and Connect streaming: a flags byte, a 4-byte big-endian length,
 * then that many bytes) without keeping any of it.
 */
export interface EnvelopeProgress {
  /** push accounts for `chunk` and returns how many messages it completed. */
  push(chunk: Uint8Array): number;
}

/** ENVELOPE_PREFIX_BYTES is the length of the prefix before every enveloped message. */
const ENVELOPE_PREFIX_BYTES = 5;

/** createEnvelopeProgress returns an {@link EnvelopeProgress} at the start of a body. */
export function createEnvelopeProgress(): EnvelopeProgress {
  // While reading a prefix: how many of its bytes have arrived, and the length so far.
  let prefixRead = 0;
  let length = 0;
  // While reading a message: bytes still missing.
  let remaining = -1;
  return {
    push(chunk) {
      let completed = 0;
      let i = 0;
      while (i < chunk.length) {
        if (remaining < 0) {
          if (prefixRead > 0) {
            length = length * 256 + chunk[i]!; // bytes 1–4; byte 0 (flags) adds 0 to the length
          }
          prefixRead++;
          i++;
          if (prefixRead === ENVELOPE_PREFIX_BYTES) {
            remaining = length;
            prefixRead = 0;
            length = 0;
          }
        } else {
          const take = Math.min(remaining, chunk.length - i);
          remaining -= take;
          i += take;
        }
        if (remaining === 0) {
          completed++;
          remaining = -1;
        }
      }
      return completed;
    },
  };
}

/**
 * isEnvelopedContentType reports whether a request with this content type
 * carries enveloped messages: gRPC, binary gRPC-Web and Connect streaming.
 * (`application/grpc-web-text` is base64 and is bounded as a whole instead.)
 */
export function isEnvelopedContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) {
    return false;
  }
  const type = contentType.toLowerCase();
  return (type.startsWith("application/grpc") && !type.startsWith("application/grpc-web-text")) || type.startsWith("application/connect+");
}
