import { createCipheriv, hkdfSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { openForToken, sealForToken } from "../../src/server/grace-box.js";

const token = `tkr_${randomBytes(32).toString("base64url")}sid`;
const pair = new TextEncoder().encode("the successor pair");

describe("grace box", () => {
  it("opens only for the token it was sealed for", () => {
    const box = sealForToken(token, pair);
    expect(new TextDecoder().decode(openForToken(token, box))).toBe("the successor pair");
    expect(() => openForToken(`${token}x`, box)).toThrow();
    const tampered = Uint8Array.from(box);
    tampered[20] = tampered[20]! ^ 1;
    expect(() => openForToken(token, tampered)).toThrow();
    expect(() => openForToken(token, box.subarray(0, 20))).toThrow(/truncated/);
  });

  it("opens a box sealed by an earlier release (HKDF extract and expand), so grace holds across an upgrade", () => {
    const key = Buffer.from(hkdfSync("sha256", Buffer.from(token), Buffer.from("tokenkit.v1 grace box"), Buffer.alloc(0), 32));
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    const legacy = Buffer.concat([iv, cipher.update(pair), cipher.final(), cipher.getAuthTag()]);
    expect(new TextDecoder().decode(openForToken(token, legacy))).toBe("the successor pair");
  });
});
