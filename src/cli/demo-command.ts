import type { Command } from "./cli-io.js";

/** demoCommand is the placeholder for `tokenkit demo` (a long-session client, built later). */
export const demoCommand: Command = {
  name: "demo",
  summary: "keep a session alive through many short-lived tokens (not implemented yet)",
  async run(args, io) {
    if (args.includes("--help")) {
      io.stdout("Usage: tokenkit demo\n\nA client keeping a session alive through many short-lived tokens, printing each refresh. Not implemented yet.");
      return 0;
    }
    io.stderr("tokenkit demo: not implemented yet");
    return 2;
  },
};
