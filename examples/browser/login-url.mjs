// Turns the JSON of `tokenkit issue` (on stdin) into a login URL for the browser example:
// the pair travels in the URL fragment, which browsers never send to a server; the page
// installs it and removes it from the address bar.
//
//   tokenkit issue --url URL --subject me --scope heartbeat:write | node examples/browser/login-url.mjs PAGE_URL
import { readFileSync } from "node:fs";

const page = process.argv[2] ?? "http://127.0.0.1:8080/";
const pair = JSON.parse(readFileSync(0, "utf8"));
const fragment = new URLSearchParams({
  access_token: pair.accessToken,
  refresh_token: pair.refreshToken,
  expires_in: String(pair.expiresInSeconds),
});
if (pair.refreshTokenTtlSeconds) fragment.set("refresh_expires_in", String(pair.refreshTokenTtlSeconds));
if (pair.sessionId) fragment.set("session_id", pair.sessionId);
console.log(`${page.replace(/#.*$/, "")}#${fragment}`);
