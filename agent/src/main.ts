/**
 * cmdaudit-reporter: ships the hook's audit log to the ingest server. Run by cron.
 *
 *   cmdaudit-reporter [-c FILE] run      the cron job; silent unless something is wrong
 *   cmdaudit-reporter [-c FILE] status [--json]
 *   cmdaudit-reporter [-c FILE] check    config, log file, server + token
 *   cmdaudit-reporter [-c FILE] listen   the stamping daemon (docs/transport.md), until SIGTERM
 *   cmdaudit-reporter version            (also --version; -h/--help prints the usage)
 *
 * Exit codes: 0 ok · 1 internal error · 2 bad command line, config (a redaction key that is on and cannot be read) or state · 3 server unreachable
 * (5xx, timeout; the backlog is kept) · 4 server refused (token, 4xx) · 5 another run
 * holds the lock · 6 stuck: a file the server answers for and settles nothing of (run; check
 * fails with it too), or (check) the log file or state dir is not as the hook needs it.
 */
import { parseArgs } from "node:util";
import { MAX_LOG_LINE_BYTES } from "../../protocol/index.ts";
import { ConfigError, DEFAULT_CONFIG_PATH, loadReporterConfig, type ReporterConfig, spoolDir } from "./config.ts";
import { startStampServer } from "./stamp/server.ts";
import { check } from "./check.ts";
import { EXIT, run } from "./run.ts";
import { VERSION } from "./ship.ts";
import { StateError, StateWriteError } from "./state.ts";
import { status } from "./status.ts";

const USAGE = "usage: cmdaudit-reporter [-c CONFIG] run|status [--json]|check|listen|version";
const COMMANDS = ["run", "status", "check", "listen", "version"];

/** The command line, strictly: an unknown option, or an option without its value, is an error (exit 2). */
function parseCommandLine(argv: string[]): { cmd: string; configPath: string; json: boolean } | { problem: string } | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: "string", short: "c" },
        json: { type: "boolean" },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    // Node's text goes on about `--` and dashes; its first sentence names the option.
    return { problem: (e as Error).message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, "") };
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  if (values.config === "") return { problem: "option '-c, --config' needs a file" };
  const [cmd, ...extra] = values.version ? ["version", ...positionals] : positionals;
  if (!cmd) return { problem: "no command" };
  if (!COMMANDS.includes(cmd)) return { problem: `unknown command ${JSON.stringify(cmd)}` };
  if (extra.length) return { problem: `unexpected argument ${JSON.stringify(extra[0])}` };
  if (values.json && cmd !== "status") return { problem: "option '--json' is for status only" };
  return { cmd, configPath: values.config ?? (process.env.CMDAUDIT_REPORTER_CONFIG || DEFAULT_CONFIG_PATH), json: values.json ?? false };
}

async function main(argv: string[]): Promise<number> {
  const line = parseCommandLine(argv);
  if (line === "help") {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if ("problem" in line) return usage(line.problem);
  const { cmd, configPath, json } = line;
  if (cmd === "version") {
    process.stdout.write(`cmdaudit-reporter ${VERSION}\n`);
    return EXIT.ok;
  }

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
    if (cmd === "listen") return await listen(cfg);
    return await check(cfg);
  } catch (e) {
    // redact: on, and its key cannot be read (redaction.ts): nothing was read or sent.
    if (e instanceof StateError || e instanceof ConfigError) {
      process.stderr.write(`cmdaudit-reporter: ${e.message}\n`);
      return EXIT.config;
    }
    if (e instanceof StateWriteError) {
      process.stderr.write(`cmdaudit-reporter: ${e.message}\n`);
      return EXIT.internal;
    }
    throw e;
  }
}

/** The stamping daemon in the foreground; its counters on stderr when SIGTERM stops it. */
async function listen(cfg: ReporterConfig): Promise<number> {
  const d = startStampServer({
    port: cfg.stamp.port, spoolDir: spoolDir(cfg), quotaBytesPerUid: cfg.stamp.quota_bytes_per_uid,
    maxConnectionsPerUid: cfg.stamp.max_connections_per_uid, maxLineBytes: MAX_LOG_LINE_BYTES,
  });
  process.stderr.write(`cmdaudit-reporter: listening on 127.0.0.1:${d.port}, spooling to ${spoolDir(cfg)}\n`);
  await new Promise<void>((done) => {
    process.once("SIGTERM", done);
    process.once("SIGINT", done);
  });
  d.stop();
  process.stderr.write(`cmdaudit-reporter: stopped: ${JSON.stringify(d.counters)}\n`);
  return EXIT.ok;
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
