import { parseArgs } from "node:util";
import { UsageError } from "./usage-error.js";

/** FlagSpec describes one command-line flag and its environment twin. */
export interface FlagSpec {
  /** type is `"string"` for flags taking a value, `"boolean"` for switches. */
  type: "string" | "boolean";
  /**
   * multiple lets the flag repeat (`--scope a --scope b`); its environment
   * twin then holds a comma-separated list.
   * @default false
   */
  multiple?: boolean;
  /**
   * env names the environment twin, or `false` for none (`--help`).
   * @default `TOKENKIT_` + the flag name upper-cased with `-` → `_`, see {@link envTwin}.
   */
  env?: string | false;
  /** valueName is shown in help, e.g. `DUR` or `URL`. @default "VALUE" */
  valueName?: string;
  /** description is the help text, one sentence. */
  description: string;
  /** defaultText is the default shown in help (the command applies it). */
  defaultText?: string;
}

/** FlagSpecs maps flag names (without `--`) to their specs. */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** FlagSource says where a flag's value came from. */
export type FlagSource = "flag" | "env";

/**
 * ParsedFlags holds the values of a command's flags after environment twins
 * were applied: a flag on the command line wins over its twin.
 */
export interface ParsedFlags {
  /** string returns the value of a string flag, or `undefined` when unset. */
  string(name: string): string | undefined;
  /** strings returns every value of a repeatable flag (empty when unset). */
  strings(name: string): string[];
  /** boolean returns whether a switch is set. */
  boolean(name: string): boolean;
  /** source returns where the value came from, or `undefined` when unset. */
  source(name: string): FlagSource | undefined;
  /**
   * label names the value for messages: `--port`, or `TOKENKIT_PORT` when
   * the value came from the environment.
   */
  label(name: string): string;
}

/**
 * envTwin returns the environment variable paired with a flag:
 * `default-refresh-ttl` → `TOKENKIT_DEFAULT_REFRESH_TTL`.
 */
export function envTwin(flag: string): string {
  return `TOKENKIT_${flag.toUpperCase().replace(/-/g, "_")}`;
}

function twinOf(name: string, spec: FlagSpec): string | undefined {
  if (spec.env === false) {
    return undefined;
  }
  return spec.env ?? envTwin(name);
}

/**
 * parseFlags parses `args` (the arguments after the command name) against
 * `specs` with `node:util` `parseArgs` in strict mode, then fills every flag
 * not given on the command line from its environment twin in `env`. Empty
 * environment values count as unset.
 *
 * Unknown flags, positional arguments and missing values throw a
 * {@link UsageError} naming the flag.
 */
export function parseFlags(specs: FlagSpecs, args: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedFlags {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type, ...(spec.multiple === true ? { multiple: true } : {}) };
  }
  let parsed: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }

  const values = new Map<string, string | string[] | boolean>();
  const sources = new Map<string, FlagSource>();
  for (const [name, spec] of Object.entries(specs)) {
    const given = parsed[name];
    if (given !== undefined) {
      values.set(name, Array.isArray(given) ? given.map(String) : given);
      sources.set(name, "flag");
      continue;
    }
    const twin = twinOf(name, spec);
    const fromEnv = twin === undefined ? undefined : env[twin];
    if (fromEnv === undefined || fromEnv === "") {
      continue;
    }
    if (spec.type === "boolean") {
      if (!/^(1|true|yes|0|false|no)$/i.test(fromEnv)) {
        throw new UsageError(`${twin} must be true or false (got "${fromEnv}")`);
      }
      values.set(name, /^(1|true|yes)$/i.test(fromEnv));
    } else if (spec.multiple === true) {
      values.set(
        name,
        fromEnv
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== ""),
      );
    } else {
      values.set(name, fromEnv);
    }
    sources.set(name, "env");
  }

  function known(name: string): FlagSpec {
    const spec = specs[name];
    if (spec === undefined) {
      throw new TypeError(`parseFlags: no flag "${name}" is declared`);
    }
    return spec;
  }

  return {
    string(name) {
      known(name);
      const v = values.get(name);
      return typeof v === "string" ? v : undefined;
    },
    strings(name) {
      known(name);
      const v = values.get(name);
      return Array.isArray(v) ? [...v] : typeof v === "string" ? [v] : [];
    },
    boolean(name) {
      known(name);
      return values.get(name) === true;
    },
    source(name) {
      known(name);
      return sources.get(name);
    },
    label(name) {
      const spec = known(name);
      const twin = twinOf(name, spec);
      return sources.get(name) === "env" && twin !== undefined ? twin : `--${name}`;
    },
  };
}

/**
 * formatFlagHelp renders the flag table of a command's `--help`: one line
 * per flag with its value name, description, default and environment twin.
 */
export function formatFlagHelp(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const left = spec.type === "string" ? `--${name} ${spec.valueName ?? "VALUE"}` : `--${name}`;
    const notes: string[] = [];
    if (spec.multiple === true) {
      notes.push("repeatable");
    }
    if (spec.defaultText !== undefined) {
      notes.push(`default ${spec.defaultText}`);
    }
    const twin = twinOf(name, spec);
    if (twin !== undefined) {
      notes.push(`env ${twin}`);
    }
    return [left, notes.length > 0 ? `${spec.description} (${notes.join("; ")})` : spec.description] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`).join("\n");
}
