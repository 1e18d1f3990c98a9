import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml, stringify } from "yaml";
import { parseUtcOffset } from "../../protocol/index.ts";
import type { Redactor } from "../../protocol/redact/index.ts";
import { createChannels } from "./alerts/channels/index.ts";
import { DISPATCH_DEFAULTS, Dispatcher } from "./alerts/dispatch.ts";
import { RuleBook } from "./alerts/rulebook.ts";
import { createApp } from "./app.ts";
import { type Config, ConfigError, loadConfig, sharedIngestOn } from "./config.ts";
import { openStore, redactUrl } from "./db/open.ts";
import { HOST_TOKEN_HOST, hostToken } from "./host-token.ts";
import { jsonLogger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { DEFAULT_BATCH, MAX_BATCH, REDACT_HISTORY_USAGE, redactHistoryCommand } from "./redact-history.ts";
import { serverRedactor } from "./redaction.ts";
import { USER_USAGE, userCommand } from "./users-cli.ts";

/**
 * First start with no tokens configured: make a per-host token key and a read token, keep them in
 * <data_dir>/tokens.yml (0600) and use them from then on (`host-token` prints a host's token). A
 * tokens.yml from before per-host tokens holds a shared ingest token: it is still taken. The log
 * names the file, never the tokens.
 */
function ensureTokens(config: Config, log?: ReturnType<typeof jsonLogger>, create = true): void {
  const hasIngest = config.tokens.ingest.length > 0 || config.tokens.host_key !== undefined;
  if (hasIngest && config.tokens.read.length) return;
  const file = join(config.data_dir, "tokens.yml");
  if (!create && !existsSync(file)) return;
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) {
    const gen = (n: number) => randomBytes(n).toString("base64url");
    writeFileSync(file, stringify({ host_key: gen(32), read: gen(24) }), { mode: 0o600 });
    log?.log("warn", "no tokens configured: generated a host token key and a read token", { file });
  }
  chmodSync(file, 0o600);
  const t = parseYaml(readFileSync(file, "utf8")) as { ingest?: string; read?: string; host_key?: string };
  if (!hasIngest && t.host_key) config.tokens.host_key = t.host_key;
  if (!hasIngest && t.ingest) config.tokens.ingest = [t.ingest];
  if (!config.tokens.read.length && t.read) config.tokens.read = [t.read];
}

const USAGE = `usage: cmdaudit-server [--config FILE] [--version]   (or CMDAUDIT_CONFIG=FILE)
       cmdaudit-server host-token [--config FILE] [--generation N] HOST...   print each host's ingest token
${REDACT_HISTORY_USAGE}
${USER_USAGE}   the console's people`;

/**
 * The command line, strictly, before anything is opened: an unknown option, an option without
 * its value or an argument is an error (exit 2), never a start with the defaults.
 */
function parseCommandLine(argv: string[]): {
  config?: string; version: boolean; help: boolean; hostToken?: { hosts: string[]; generation?: number }; redactHistory?: { batch: number; dryRun: boolean };
} {
  const fail = (problem: string): never => {
    process.stderr.write(`cmdaudit-server: ${problem}\n${USAGE}\n`);
    process.exit(2);
  };
  const hostToken = argv[0] === "host-token";
  const redactHistory = argv[0] === "redact-history";
  try {
    const { values, positionals } = parseArgs({
      args: hostToken || redactHistory ? argv.slice(1) : argv,
      options: {
        config: { type: "string", short: "c" }, version: { type: "boolean" }, help: { type: "boolean", short: "h" },
        ...(hostToken ? { generation: { type: "string" } } : {}),
        ...(redactHistory ? { batch: { type: "string" }, "dry-run": { type: "boolean" } } : {}),
      },
      strict: true,
      allowPositionals: hostToken,
    });
    if (values.config === "") fail("option '-c, --config' needs a file");
    const base = { config: values.config, version: values.version ?? false, help: values.help ?? false };
    if (redactHistory) {
      const { batch: b, "dry-run": dryRun } = values as { batch?: string; "dry-run"?: boolean };
      if (b !== undefined && (!/^[1-9]\d{0,5}$/.test(b) || Number(b) > MAX_BATCH)) fail(`--batch must be an integer 1-${MAX_BATCH}`);
      return { ...base, redactHistory: { batch: b === undefined ? DEFAULT_BATCH : Number(b), dryRun: dryRun ?? false } };
    }
    if (!hostToken) return base;
    const g = (values as { generation?: string }).generation;
    if (g !== undefined && !/^(0|[1-9]\d{0,8})$/.test(g)) fail("--generation must be an integer 0-999999999");
    if (!positionals.length) fail("host-token needs at least one host name");
    return { ...base, hostToken: { hosts: positionals, generation: g === undefined ? undefined : Number(g) } };
  } catch (e) {
    // Node's text goes on about `--` and dashes; its first sentence names the option.
    return fail((e as Error).message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, ""));
  }
}

/** `host-token HOST...`: each host's token under the configured key, at its configured generation unless --generation. */
function printHostTokens(config: Config, req: { hosts: string[]; generation?: number }): void {
  const key = config.tokens.host_key;
  if (key === undefined) {
    process.stderr.write("cmdaudit-server: no per-host token key: set tokens.host_key or tokens.host_key_file (or start the server once without tokens)\n");
    process.exit(2);
  }
  const out: string[] = [];
  for (const host of req.hosts) {
    if (!HOST_TOKEN_HOST.test(host)) {
      process.stderr.write(`cmdaudit-server: host name ${JSON.stringify(host.slice(0, 80))}: a host token's host name may hold only A-Z a-z 0-9 . _ - (1-253 characters)\n`);
      process.exit(2);
    }
    out.push(hostToken(key, host, req.generation ?? config.tokens.host_generations[host.toLowerCase()] ?? 0));
  }
  process.stdout.write(out.join("\n") + "\n");
}

/** The config, or exit 2 naming what is wrong in it. */
function configOrExit(path: string | undefined): Config {
  try {
    return loadConfig(path, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`cmdaudit-server: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

/** `user …`: its own options; the config from --config/-c or CMDAUDIT_CONFIG as for the server. */
async function userMain(argv: string[]): Promise<never> {
  process.umask(0o077);
  const i = argv.findIndex((a) => a === "--config" || a === "-c");
  const eq = argv.find((a) => a.startsWith("--config="));
  const path = i >= 0 ? argv[i + 1] : eq ? eq.slice("--config=".length) : process.env.CMDAUDIT_CONFIG;
  const config = configOrExit(path);
  const open = () => openStore(config.database_url || undefined, { dataDir: config.data_dir, legacyUtcOffset: parseUtcOffset(config.legacy_utc_offset)! });
  process.exit(await userCommand(argv.filter((a) => !a.startsWith("--config=")), config, open));
}

async function main(): Promise<void> {
  if (process.argv[2] === "user") return userMain(process.argv.slice(3));
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
  const config = configOrExit(path);
  if (args.hostToken) {
    ensureTokens(config, undefined, false);
    printHostTokens(config, args.hostToken);
    return;
  }
  if (args.redactHistory) {
    const open = () => openStore(config.database_url || undefined, { dataDir: config.data_dir, legacyUtcOffset: parseUtcOffset(config.legacy_utc_offset)! });
    process.exit(await redactHistoryCommand(config, args.redactHistory, open));
  }
  const log = jsonLogger(config.log_level);
  ensureTokens(config, log);
  let redactor: Redactor | undefined;
  try {
    redactor = serverRedactor(config, log);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`cmdaudit-server: ${e.message}\n`);
    process.exit(2);
  }
  if (!redactor) log.log("warn", "redaction is off (redact.enabled: false): secrets typed in commands are stored as typed");
  if (sharedIngestOn(config) && config.tokens.ingest.length) {
    log.log("warn", "shared ingest tokens are taken: every host holding one can write records for every host; move to per-host tokens and set tokens.shared_ingest: false", { tokens: config.tokens.ingest.length });
  } else if (config.tokens.ingest.length) {
    log.log("info", "shared ingest tokens are configured and refused (tokens.shared_ingest: false)", { tokens: config.tokens.ingest.length });
  }
  const store = await openStore(config.database_url || undefined, {
    dataDir: config.data_dir,
    legacyUtcOffset: parseUtcOffset(config.legacy_utc_offset)!,
  });
  const metrics = new Metrics();
  const rules = new RuleBook(config.alerts, store, log);
  await rules.refresh();
  const dispatcher = new Dispatcher(store, createChannels(config.alerts.channels), rules, metrics, log, {
    ...DISPATCH_DEFAULTS,
    windowUs: config.alerts.dedupe_window_seconds * 1e6,
    maxBackoffMs: config.alerts.max_retry_seconds * 1000,
    silentAfterSeconds: config.hosts.silent_after_seconds,
    consoleUrl: config.alerts.console_url,
  });
  const app = createApp({ store, config, logger: log, metrics, rules, onAlerts: () => dispatcher.wake(), redactor });
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
    alertChannels: config.alerts.channels.map((c) => `${c.name} (${c.type})`),
  });
  dispatcher.start();
  const stop = async () => {
    log.log("info", "shutting down");
    // Finish requests in flight (their batches commit), but do not wait on idle keep-alive clients.
    await Promise.race([server.stop(), Bun.sleep(5000)]);
    await server.stop(true);
    await dispatcher.stop();
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
