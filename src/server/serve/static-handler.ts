import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { DualProtocolRequestHandler } from "./dual-protocol-listener.js";

/** StaticHandlerOptions configures {@link createStaticHandler}. */
export interface StaticHandlerOptions {
  /** root is the directory whose files are served. Required; it must exist when the handler is built. */
  root: string;
  /** index is the file served for a directory. @default "index.html" */
  index?: string;
}

/** CONTENT_TYPES maps file extensions to the Content-Type they are served with; anything else is application/octet-stream. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
};

/** contentTypeOf returns the Content-Type for a file name, by extension. */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
}

function plain(res: Parameters<DualProtocolRequestHandler>[1], status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", ...headers });
  res.end(`${text}\n`);
}

/**
 * createStaticHandler returns a Node request handler serving the files under
 * `root` for `GET` and `HEAD` (other methods: 405), for `tokenkit serve
 * --static DIR` (a browser app next to its token server). A directory serves
 * its `index` file. It never serves anything outside `root`: percent-decoded
 * paths with `..` segments, backslashes or NUL bytes are rejected (400), and
 * a symbolic link that resolves outside `root` is 404, as is a dotfile
 * (`.env`, `.git/…`). Files get a Content-Type by extension,
 * `X-Content-Type-Options: nosniff` and `Cache-Control: no-cache` (the
 * browser revalidates, so a rebuilt app is picked up).
 *
 * It resolves once `root` is found to be a directory, and rejects with a
 * TypeError naming the option otherwise.
 */
export async function createStaticHandler(options: StaticHandlerOptions): Promise<DualProtocolRequestHandler> {
  const index = options?.index ?? "index.html";
  if (typeof index !== "string" || index === "" || /[/\\]/.test(index) || index.startsWith(".")) {
    throw new TypeError('createStaticHandler: option "index" must be a file name');
  }
  const root = await resolveRoot(options?.root);
  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      plain(res, 405, "method not allowed", { allow: "GET, HEAD" });
      return;
    }
    const rawPath = (req.url ?? "/").split(/[?#]/, 1)[0]!;
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      plain(res, 400, "bad path");
      return;
    }
    const segments = path.split("/");
    if (!path.startsWith("/") || path.includes("\0") || path.includes("\\") || segments.some((s) => s === "..")) {
      plain(res, 400, "bad path");
      return;
    }
    if (segments.some((s) => s.startsWith("."))) {
      plain(res, 404, "not found");
      return;
    }
    void serveFile(join(root, ...segments), req.method === "HEAD", res);
  };

  async function serveFile(candidate: string, head: boolean, res: Parameters<DualProtocolRequestHandler>[1]): Promise<void> {
    try {
      let file = await realpath(candidate);
      let info = await stat(file);
      if (info.isDirectory()) {
        file = await realpath(join(file, index));
        info = await stat(file);
      }
      const rel = relative(root, file);
      if (rel.startsWith(`..${sep}`) || rel === ".." || isAbsolute(rel) || !info.isFile()) {
        plain(res, 404, "not found");
        return;
      }
      res.writeHead(200, {
        "content-type": contentTypeOf(file),
        "content-length": String(info.size),
        "cache-control": "no-cache",
        "last-modified": info.mtime.toUTCString(),
        "x-content-type-options": "nosniff",
      });
      if (head) {
        res.end();
        return;
      }
      const stream = createReadStream(file);
      stream.on("error", () => res.destroy());
      stream.pipe(res as NodeJS.WritableStream);
    } catch {
      if (!res.headersSent) {
        plain(res, 404, "not found");
      }
    }
  }
}

/** resolveRoot resolves `root` (symbolic links included) and checks that it is a directory. */
async function resolveRoot(root: unknown): Promise<string> {
  if (typeof root !== "string" || root === "") {
    throw new TypeError('createStaticHandler: option "root" must be a directory path');
  }
  let resolved: string;
  try {
    resolved = await realpath(resolve(root));
  } catch {
    throw new TypeError(`createStaticHandler: option "root": ${root} does not exist`);
  }
  if (!(await stat(resolved)).isDirectory()) {
    throw new TypeError(`createStaticHandler: option "root": ${root} is not a directory`);
  }
  return resolved;
}
