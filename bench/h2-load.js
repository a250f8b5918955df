// A minimal HTTP/2 load generator speaking the Connect unary protocol (binary), like h2load would:
// the point is to measure the server, so the client must cost far less per call than connect-node's.
import http2 from "node:http2";

/** openSession connects to an h2c server. */
export function openSession(baseUrl) {
  const session = http2.connect(baseUrl);
  session.on("error", () => {});
  return session;
}

/** unary posts one Connect unary request (application/proto) and resolves to the response body. */
export function unary(session, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/proto", ...headers });
    const chunks = [];
    let status = 0;
    req.on("response", (h) => (status = h[":status"]));
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const buf = Buffer.concat(chunks);
      if (status !== 200) reject(new Error(`HTTP ${status}: ${buf.toString("utf8").slice(0, 200)}`));
      else resolve(buf);
    });
    req.on("error", reject);
    req.end(body);
  });
}
