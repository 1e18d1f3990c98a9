/**
 * cmdaudit-reporter: ships the hook's audit log to the ingest server. Run by cron.
 *
 *   cmdaudit-reporter [-c FILE] run      the cron job; silent unless something is wrong
 *   cmdaudit-reporter [-c FILE] status [--json]
 *   cmdaudit-reporter [-c FILE] check    config, log file, server + token
 *   cmdaudit-reporter version
 *
 * Exit codes: 0 ok · 1 internal error · 2 bad config or state · 3 server unreachable
 * (5xx, timeout; the backlog is kept) · 4 server refused (token, 4xx) · 5 another run
 * holds the lock · 6 stuck: a file the server answers for and settles nothing of (run; check
 * fails with it too), or (check) the log file or state dir is not as the hook needs it.
 */
import { ConfigError, DEFAULT_CONFIG_PATH, loadReporterConfig } from "./config.ts";
import { check } from "./check.ts";
import { EXIT, run } from "./run.ts";
import { VERSION } from "./ship.ts";
import { StateError } from "./state.ts";
import { status } from "./status.ts";

const USAGE = "usage: cmdaudit-reporter [-c CONFIG] run|status [--json]|check|version";

async function main(argv: string[]): Promise<number> {
  let configPath = process.env.CMDAUDIT_REPORTER_CONFIG || DEFAULT_CONFIG_PATH;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-c" || a === "--config") {
      const v = argv[++i];
      if (!v) return usage("-c needs a file");
      configPath = v;
    } else rest.push(a);
  }
  const [cmd, ...args] = rest;
  if (cmd === "version" || cmd === "--version") {
    process.stdout.write(`cmdaudit-reporter ${VERSION}\n`);
    return EXIT.ok;
  }
  if (!cmd || !["run", "status", "check"].includes(cmd)) return usage(cmd ? `unknown command ${JSON.stringify(cmd)}` : "no command");
  const json = args.includes("--json");
  const unknown = args.filter((a) => !(cmd === "status" && a === "--json"));
  if (unknown.length) return usage(`unknown argument ${JSON.stringify(unknown[0])}`);

  process.umask(0o077);
  let cfg;
  try {
    cfg = loadReporterConfig(configPath);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`cmdaudit-reporter: ${e.message}\n`);
    return EXIT.config;
  }
  try {
    if (cmd === "run") return await run(cfg);
    if (cmd === "status") return status(cfg, json);
    return await check(cfg);
  } catch (e) {
    if (e instanceof StateError) {
      process.stderr.write(`cmdaudit-reporter: ${e.message}\n`);
      return EXIT.config;
    }
    throw e;
  }
}

function usage(problem: string): number {
  process.stderr.write(`cmdaudit-reporter: ${problem}\n${USAGE}\n`);
  return EXIT.config;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    // Never the config or the token: only what went wrong and where.
    const err = e as Error;
    process.stderr.write(`cmdaudit-reporter: internal error: ${err.name}: ${err.message?.slice(0, 300)}\n`);
    process.exit(EXIT.internal);
  },
);
