#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { isLarderError, toLarderError } from "../errors.js";
import { larderEnvironment } from "../environment.js";

/**
 * The `larder` command. Every failure prints one line, `error [CODE]: message`, on stderr and
 * exits non-zero (1 for Larder errors, 2 for usage errors).
 */
async function main(argv: string[]): Promise<number> {
  const program = new Command("larder")
    .description("Larder: a feature store for TypeScript")
    // Not commander's .version(): a root option is also recognised after a subcommand, and would
    // swallow `larder models promote --version 3`. Handled in versionRequested instead.
    .addHelpText("after", "\nlarder --version (or -V) prints Larder's version.")
    .option("--repo <dir>", "feature repository directory", ".")
    .showHelpAfterError()
    .exitOverride();
  if (versionRequested(argv.slice(2))) {
    console.log(packageVersion());
    return 0;
  }
  try {
    // Loaded after the version check, so `larder --version` loads nothing but commander.
    const { registerCommands } = await import("./commands.js");
    registerCommands(program);
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return 0;
      return 2;
    }
    const e = toLarderError(err);
    process.stderr.write(`error [${e.code}]: ${e.message}\n`);
    const { debug } = larderEnvironment();
    if (debug && !isLarderError(err)) console.error(err);
    else if (debug) console.error(e.stack);
    return 1;
  }
}

/** True for `larder [--repo DIR] --version` (or -V): the version flag before any command. */
function versionRequested(args: readonly string[]): boolean {
  let i = 0;
  while (args[i] === "--repo") i += 2;
  if (args[i]?.startsWith("--repo=")) i++;
  return args[i] === "--version" || args[i] === "-V";
}

/** The version in Larder's package.json (two levels up from src/cli/ and from dist/cli/ alike). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`error [INTERNAL]: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
