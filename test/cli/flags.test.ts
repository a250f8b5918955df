import { describe, expect, it } from "vitest";
import { envTwin, formatFlagHelp, parseFlags, type FlagSpecs } from "../../src/cli/flags.js";
import { SERVE_FLAGS, serveOptions } from "../../src/cli/serve-command.js";
import { usageMessage } from "./usage-message.js";

const SPECS: FlagSpecs = {
  port: { type: "string", description: "port" },
  "default-refresh-ttl": { type: "string", description: "ttl" },
  scope: { type: "string", multiple: true, description: "scope" },
  "token-store": { type: "string", env: "TOKENKIT_CLIENT_STORE", description: "custom twin" },
  verbose: { type: "boolean", description: "switch" },
  help: { type: "boolean", env: false, description: "help" },
};

describe("envTwin", () => {
  it.each([
    ["port", "TOKENKIT_PORT"],
    ["data-dir", "TOKENKIT_DATA_DIR"],
    ["default-refresh-ttl", "TOKENKIT_DEFAULT_REFRESH_TTL"],
    ["admin-key-file", "TOKENKIT_ADMIN_KEY_FILE"],
  ])("%s ↔ %s", (flag, env) => {
    expect(envTwin(flag)).toBe(env);
  });
});

describe("parseFlags precedence", () => {
  it.each([
    { name: "flag only", args: ["--port", "1"], env: {}, want: "1", source: "flag", label: "--port" },
    { name: "env only", args: [], env: { TOKENKIT_PORT: "2" }, want: "2", source: "env", label: "TOKENKIT_PORT" },
    { name: "flag wins over env", args: ["--port", "1"], env: { TOKENKIT_PORT: "2" }, want: "1", source: "flag", label: "--port" },
    { name: "inline flag wins over env", args: ["--port=3"], env: { TOKENKIT_PORT: "2" }, want: "3", source: "flag", label: "--port" },
    { name: "empty env is unset", args: [], env: { TOKENKIT_PORT: "" }, want: undefined, source: undefined, label: "--port" },
    { name: "neither", args: [], env: {}, want: undefined, source: undefined, label: "--port" },
  ])("$name", ({ args, env, want, source, label }) => {
    const flags = parseFlags(SPECS, args, env);
    expect(flags.string("port")).toBe(want);
    expect(flags.source("port")).toBe(source);
    expect(flags.label("port")).toBe(label);
  });

  it("reads hyphenated twins", () => {
    const flags = parseFlags(SPECS, [], { TOKENKIT_DEFAULT_REFRESH_TTL: "7d" });
    expect(flags.string("default-refresh-ttl")).toBe("7d");
    expect(flags.label("default-refresh-ttl")).toBe("TOKENKIT_DEFAULT_REFRESH_TTL");
  });

  it("splits a repeatable flag's twin on commas, and the flag replaces the whole list", () => {
    expect(parseFlags(SPECS, [], { TOKENKIT_SCOPE: "a, b,,c" }).strings("scope")).toEqual(["a", "b", "c"]);
    expect(parseFlags(SPECS, ["--scope", "x", "--scope", "y"], { TOKENKIT_SCOPE: "a,b" }).strings("scope")).toEqual(["x", "y"]);
  });

  it("uses a declared twin name instead of the derived one", () => {
    const flags = parseFlags(SPECS, [], { TOKENKIT_TOKEN_STORE: "ignored", TOKENKIT_CLIENT_STORE: "/tmp/t.json" });
    expect(flags.string("token-store")).toBe("/tmp/t.json");
  });

  it("parses boolean twins and rejects garbage naming the variable", () => {
    expect(parseFlags(SPECS, [], { TOKENKIT_VERBOSE: "true" }).boolean("verbose")).toBe(true);
    expect(parseFlags(SPECS, [], { TOKENKIT_VERBOSE: "0" }).boolean("verbose")).toBe(false);
    expect(usageMessage(() => parseFlags(SPECS, [], { TOKENKIT_VERBOSE: "maybe" }))).toContain("TOKENKIT_VERBOSE");
  });

  it("gives --help no twin", () => {
    expect(parseFlags(SPECS, [], { TOKENKIT_HELP: "true" }).boolean("help")).toBe(false);
  });

  it("rejects unknown flags, missing values and positionals naming them", () => {
    expect(usageMessage(() => parseFlags(SPECS, ["--prot", "1"], {}))).toContain("--prot");
    expect(usageMessage(() => parseFlags(SPECS, ["--port"], {}))).toContain("--port");
    expect(usageMessage(() => parseFlags(SPECS, ["extra"], {}))).toContain("extra");
  });

  it("lists every flag and its twin in help", () => {
    const help = formatFlagHelp(SPECS);
    expect(help).toContain("--default-refresh-ttl VALUE");
    expect(help).toContain("env TOKENKIT_DEFAULT_REFRESH_TTL");
    expect(help).toContain("env TOKENKIT_CLIENT_STORE");
    expect(help).not.toContain("TOKENKIT_HELP");
  });
});

describe("serve options from flags and env twins", () => {
  const serveFlags = (args: string[], env: Record<string, string>) => parseFlags(SERVE_FLAGS, args, env);

  it("takes each option from its twin and lets flags win", () => {
    const env = {
      TOKENKIT_PORT: "9000",
      TOKENKIT_HOST: "127.0.0.2",
      TOKENKIT_DATA_DIR: "/var/lib/tokenkit",
      TOKENKIT_DEFAULT_REFRESH_TTL: "7d",
      TOKENKIT_GRACE_PERIOD: "45s",
      TOKENKIT_STORE: "memory",
      TOKENKIT_DRAIN_TIMEOUT: "3s",
      TOKENKIT_HEARTBEAT_INTERVAL: "1m",
      TOKENKIT_ADMIN_KEY: "q3Jx0vS1xM8yJ8m0m3cQm6tXo1r2b7e4Wk9ZfL5uH2E=",
    };
    const opts = serveOptions(serveFlags(["--port", "0", "--grace-period", "0", "--data-dir", "/tmp/tk"], env), env);
    expect(opts).toEqual({
      port: 0,
      host: "127.0.0.2",
      dataDir: "/tmp/tk",
      defaultRefreshTtlSeconds: 604_800,
      gracePeriodSeconds: 0,
      store: "memory",
      drainTimeoutSeconds: 3,
      sessionServices: { heartbeatIntervalSeconds: 60 },
      adminKey: "q3Jx0vS1xM8yJ8m0m3cQm6tXo1r2b7e4Wk9ZfL5uH2E=",
    });
  });

  it.each([
    [["--port", "70000"], {}, "--port"],
    [[], { TOKENKIT_PORT: "http" }, "TOKENKIT_PORT"],
    [["--access-ttl", "1.5h"], {}, "--access-ttl"],
    [[], { TOKENKIT_MAX_REFRESH_TTL: "-1d" }, "TOKENKIT_MAX_REFRESH_TTL"],
    [["--store", "mongo"], {}, "--store"],
    [[], { TOKENKIT_ALGORITHM: "HS256" }, "TOKENKIT_ALGORITHM"],
    [["--tls-cert", "/nonexistent.pem"], {}, "--tls-key"],
    [["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], {}, "--tls-cert"],
    [[], { TOKENKIT_ADMIN_KEY: "short" }, "TOKENKIT_ADMIN_KEY"],
    [["--heartbeat-interval", "2h"], {}, "--heartbeat-interval"],
  ] as [string[], Record<string, string>, string][])("%j %j → usage error naming %s", (args, env, label) => {
    expect(usageMessage(() => serveOptions(serveFlags(args, env), env))).toContain(label);
  });
});
