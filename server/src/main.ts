import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml, stringify } from "yaml";
import { parseUtcOffset } from "../../protocol/index.ts";
import { createApp } from "./app.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { openStore, redactUrl } from "./db/open.ts";
import { jsonLogger } from "./log.ts";
import { Metrics } from "./metrics.ts";

/**
 * First start with no tokens configured: make one of each, keep them in
 * <data_dir>/tokens.yml (0600) and use them from then on. The log names the
 * file, never the tokens.
 */
function ensureTokens(config: Config, log: ReturnType<typeof jsonLogger>): void {
  if (config.tokens.ingest.length && config.tokens.read.length) return;
  const file = join(config.data_dir, "tokens.yml");
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) {
    const gen = () => randomBytes(24).toString("base64url");
    writeFileSync(file, stringify({ ingest: gen(), read: gen() }), { mode: 0o600 });
    log.log("warn", "no tokens configured: generated an ingest and a read token", { file });
  }
  chmodSync(file, 0o600);
  const t = parseYaml(readFileSync(file, "utf8")) as { ingest?: string; read?: string };
  if (!config.tokens.ingest.length && t.ingest) config.tokens.ingest = [t.ingest];
  if (!config.tokens.read.length && t.read) config.tokens.read = [t.read];
}

const USAGE = "usage: cmdaudit-server [--config FILE] [--version]   (or CMDAUDIT_CONFIG=FILE)";

/**
 * The command line, strictly, before anything is opened: an unknown option, an option without
 * its value or an argument is an error (exit 2), never a start with the defaults.
 */
function parseCommandLine(argv: string[]): { config?: string; version: boolean; help: boolean } {
  const fail = (problem: string): never => {
    process.stderr.write(`cmdaudit-server: ${problem}\n${USAGE}\n`);
    process.exit(2);
  };
  try {
    const { values } = parseArgs({
      args: argv,
      options: { config: { type: "string", short: "c" }, version: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
    if (values.config === "") fail("option '-c, --config' needs a file");
    return { config: values.config, version: values.version ?? false, help: values.help ?? false };
  } catch (e) {
    // Node's text goes on about `--` and dashes; its first sentence names the option.
    return fail((e as Error).message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, ""));
  }
}

async function main(): Promise<void> {
  const args = parseCommandLine(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (args.version) {
    process.stdout.write(`cmdaudit-server ${process.env.CMDAUDIT_SERVER_VERSION ?? "dev"}\n`);
    return;
  }
  // The database and token files hold the audit trail and secrets: owner-only from the start.
  process.umask(0o077);
  const path = args.config ?? process.env.CMDAUDIT_CONFIG;
  let config: Config;
  try {
    config = loadConfig(path, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`cmdaudit-server: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = jsonLogger(config.log_level);
  ensureTokens(config, log);
  const store = await openStore(config.database_url || undefined, {
    dataDir: config.data_dir,
    legacyUtcOffset: parseUtcOffset(config.legacy_utc_offset)!,
  });
  const app = createApp({ store, config, logger: log, metrics: new Metrics() });
  const server = Bun.serve({
    hostname: config.listen.host,
    port: config.listen.port,
    fetch: app.fetch,
    // Slack over the decoded limit so readBody() answers 413 with a message instead of Bun cutting the connection.
    maxRequestBodySize: config.limits.max_body_bytes + 1024 * 1024,
    tls: config.tls ? { cert: Bun.file(config.tls.cert_file), key: Bun.file(config.tls.key_file) } : undefined,
  });
  log.log("info", "listening", {
    url: `${config.tls ? "https" : "http"}://${server.hostname}:${server.port}`,
    database: config.database_url ? redactUrl(config.database_url) : `sqlite:${join(config.data_dir, "cmdaudit.db")}`,
  });
  const stop = async () => {
    log.log("info", "shutting down");
    // Finish requests in flight (their batches commit), but do not wait on idle keep-alive clients.
    await Promise.race([server.stop(), Bun.sleep(5000)]);
    await server.stop(true);
    await store.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

void main().catch((e: Error) => {
  process.stderr.write(`cmdaudit-server: cannot start: ${e.message.split("\n")[0]}\n`);
  process.exit(1);
});
