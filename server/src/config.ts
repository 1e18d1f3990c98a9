import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigError, readKeyFile, readYamlMapping, validateConfig } from "../../protocol/config-file.ts";
import { MAX_RECORDS_PER_BODY, parseUtcOffset } from "../../protocol/index.ts";
import { BUILTIN_RULES } from "./alerts/builtin-rules.ts";
import { channelListSchema } from "./alerts/channels/config.ts";
import { ruleSchema } from "./alerts/rules.ts";
import { redactSettingsSchema } from "../../protocol/redact/index.ts";
import { HOST_TOKEN_HOST } from "./host-token.ts";

// An entry that starts with "sha256:" is a digest and must be a whole one: a truncated digest would
// otherwise pass as a long plain token, and TokenSet would then fail every request of its scope.
const token = z.string().refine((s) => (s.startsWith("sha256:") ? /^sha256:[0-9a-fA-F]{64}$/.test(s) : s.length >= 16), {
  error: "a token must be at least 16 characters, or sha256:<64 hex digits> of one",
});

export const configSchema = z.strictObject({
  listen: z.strictObject({
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8080),
  }).prefault({}),
  /** mysql://user:pass@host:port/db or sqlite:path; empty → SQLite under data_dir. */
  database_url: z.string().default(""),
  data_dir: z.string().min(1).default("./data"),
  /** Offset assumed for the seed's zone-less ctime ("+08:00"). */
  legacy_utc_offset: z.string().refine((s) => parseUtcOffset(s) !== undefined, { error: "must be ±HH:MM" }).default("+00:00"),
  tokens: z.strictObject({
    /**
     * Shared ingest tokens: any host holding one may write records for every host. Taken only while
     * `shared_ingest` is true (default: true when any is configured, so existing fleets keep working).
     */
    ingest: z.array(token).default([]),
    shared_ingest: z.boolean().optional(),
    /** People and tools: may only read the audit trail and metrics. */
    read: z.array(token).default([]),
    /** May change the alert rules (PUT and DELETE /api/v1/rules/{id}); nothing else. */
    admin: z.array(token).default([]),
    /** The key of per-host ingest tokens (host-token.ts): each host's token writes for that host only. */
    host_key: z.string().min(32, { error: "host_key must be at least 32 characters" }).optional(),
    /** A file holding host_key (the first line), instead of the key in this file. */
    host_key_file: z.string().min(1).optional(),
    /** A host's current token generation (default 0): raising it revokes the host's older tokens. */
    host_generations: z.record(z.string(), z.number().int().min(0).max(999_999_999))
      .refine((g) => Object.keys(g).every((h) => HOST_TOKEN_HOST.test(h)), { error: "a host name here holds only A-Z a-z 0-9 . _ - (1-253 characters)" })
      .default({})
      .transform((g) => Object.fromEntries(Object.entries(g).map(([h, n]) => [h.toLowerCase(), n]))),
  }).refine((t) => t.host_key === undefined || t.host_key_file === undefined, { path: ["host_key_file"], error: "give host_key or host_key_file, not both" })
    .prefault({}),
  limits: z.strictObject({
    /** Largest request body, after gzip decompression. */
    max_body_bytes: z.number().int().min(1024).default(32 * 1024 * 1024),
    max_records_per_batch: z.number().int().min(1).max(100_000).default(MAX_RECORDS_PER_BODY),
    max_page_size: z.number().int().min(1).max(10_000).default(1000),
    /** A gzip body may inflate to this many times its size (and always to 8 MiB, body.ts GZIP_FLOOR_BYTES): a bomb stops early. */
    max_gzip_ratio: z.number().int().min(10).default(100),
    /** Per ingest token (its SHA-256): decompressed bytes a minute, also the burst. 429 with Retry-After above. */
    ingest_bytes_per_minute: z.number().int().min(1024 * 1024).default(256 * 1024 * 1024),
    /** Per ingest token: requests a minute, also the burst. */
    ingest_requests_per_minute: z.number().int().min(1).default(600),
  }).prefault({}),
  records: z.strictObject({
    /** A record whose time is further ahead of the server's clock than this is rejected: it would pin hosts and pages for good. */
    max_future_seconds: z.number().int().min(60).default(3600),
    /**
     * A record whose time is more than this many days before the server's clock is rejected: a
     * backdated record would slip into history an auditor already read. 0: no bound (importing old
     * logs, such as the 2018 hook's, needs it for the import).
     */
    max_age_days: z.number().int().min(0).default(30),
  }).prefault({}),
  hosts: z.strictObject({
    /**
     * A host with no new record stored for this long is not live: `stalled` while its reporter
     * still sends (only duplicates, or a body the server cannot settle), `silent` when it sends nothing.
     */
    silent_after_seconds: z.number().int().min(60).default(3600),
  }).prefault({}),
  console: z.strictObject({
    /** A signed-in browser is signed out this long after it signed in. */
    session_hours: z.number().min(0.1).max(24 * 30).default(12),
    /**
     * Host groups readers may be given (`user add --groups`): a name (no comma) and the hosts it
     * holds, each a host name or a pattern with `*` (`web-*`).
     */
    host_groups: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { error: "a group name holds only A-Z a-z 0-9 . _ - (1-64 characters)" }),
      z.array(z.string().min(1).max(253)).min(1)).default({}),
  }).prefault({}),
  alerts: z.strictObject({
    /** Rules of this server's own (server/src/alerts/rules.ts), matched after the built-in ones. */
    rules: z.array(ruleSchema).max(1000).default([])
      .refine((rs) => new Set(rs.map((r) => r.id)).size === rs.length, { error: "two rules have one id" })
      .refine((rs) => rs.every((r) => !BUILTIN_RULES.some((b) => b.id === r.id)), { error: "a rule's id is a built-in rule's" }),
    /** Built-in rules turned off, by id. */
    disabled_builtins: z.array(z.string()).default([])
      .refine((ids) => ids.every((id) => BUILTIN_RULES.some((b) => b.id === id)), { error: "not the id of a built-in rule" }),
    /** Where alerts go (server/src/alerts/channels/), each taking its min_severity and above. */
    channels: channelListSchema.default([]),
    /** Matches of one rule for one host and user within this long after an alert are counted into it, not sent again. */
    dedupe_window_seconds: z.number().int().min(0).max(7 * 86_400).default(600),
    /** The longest wait between two attempts to deliver one message (a receiver that is down is tried for as long as it takes). */
    max_retry_seconds: z.number().int().min(1).max(86_400).default(300),
    /** The console's address as people reach it (https://audit.example.com): messages link to the record. */
    console_url: z.url({ protocol: /^https?$/, error: "console_url must be an http or https URL" }).optional(),
  }).prefault({}),
  /** Secrets in commands replaced before anything stores or matches them (protocol/redact; README "Redaction"). */
  redact: redactSettingsSchema({
    enabled: z.boolean().default(true),
    /**
     * The fingerprint key, the first line of this file (at least 32 characters). Every server and
     * reporter of one deployment needs the same key, or one secret gets two fingerprints. Default:
     * <data_dir>/redact.key, made at the first start.
     */
    key_file: z.string().min(1).optional(),
  }).prefault({}),
  tls: z.strictObject({
    cert_file: z.string().min(1),
    key_file: z.string().min(1),
  }).optional(),
  log_level: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** Serve /metrics without a token (for scrapers on a trusted network). */
  metrics_public: z.boolean().default(false),
});
export type Config = z.infer<typeof configSchema>;

/** Environment overrides: each variable sets one config key. */
const ENV: Record<string, (raw: Record<string, any>, v: string) => void> = {
  // `any` here: the raw YAML tree is untyped until zod validates it below.
  CMDAUDIT_HOST: (r, v) => ((r.listen ??= {}).host = v),
  CMDAUDIT_PORT: (r, v) => ((r.listen ??= {}).port = Number(v)),
  CMDAUDIT_DATABASE_URL: (r, v) => (r.database_url = v),
  CMDAUDIT_DATA_DIR: (r, v) => (r.data_dir = v),
  CMDAUDIT_LEGACY_UTC_OFFSET: (r, v) => (r.legacy_utc_offset = v),
  CMDAUDIT_INGEST_TOKENS: (r, v) => ((r.tokens ??= {}).ingest = splitList(v)),
  CMDAUDIT_READ_TOKENS: (r, v) => ((r.tokens ??= {}).read = splitList(v)),
  CMDAUDIT_ADMIN_TOKENS: (r, v) => ((r.tokens ??= {}).admin = splitList(v)),
  CMDAUDIT_SHARED_INGEST: (r, v) => ((r.tokens ??= {}).shared_ingest = v === "true" || v === "1"),
  CMDAUDIT_HOST_KEY_FILE: (r, v) => ((r.tokens ??= {}).host_key_file = v),
  CMDAUDIT_MAX_AGE_DAYS: (r, v) => ((r.records ??= {}).max_age_days = Number(v)),
  CMDAUDIT_MAX_BODY_BYTES: (r, v) => ((r.limits ??= {}).max_body_bytes = Number(v)),
  CMDAUDIT_TLS_CERT_FILE: (r, v) => ((r.tls ??= {}).cert_file = v),
  CMDAUDIT_TLS_KEY_FILE: (r, v) => ((r.tls ??= {}).key_file = v),
  CMDAUDIT_LOG_LEVEL: (r, v) => (r.log_level = v),
  CMDAUDIT_REDACT: (r, v) => ((r.redact ??= {}).enabled = !(v === "false" || v === "0")),
  CMDAUDIT_REDACT_KEY_FILE: (r, v) => ((r.redact ??= {}).key_file = v),
  CMDAUDIT_METRICS_PUBLIC: (r, v) => (r.metrics_public = v === "true" || v === "1"),
};
/** Read by main.ts itself, not config keys. */
const ENV_OTHER = new Set(["CMDAUDIT_CONFIG"]);

function splitList(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}

export { ConfigError };

/**
 * YAML file (optional) + CMDAUDIT_* overrides, validated; every problem is
 * named by its key. Token values never appear in messages.
 */
export function loadConfig(path: string | undefined, env: Record<string, string | undefined>): Config {
  const tree: Record<string, any> = path ? readYamlMapping(path) : {}; // `any`: untyped until configSchema validates it
  const problems: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith("CMDAUDIT_") || v === undefined) continue;
    const set = ENV[k];
    if (set) set(tree, v);
    else if (!ENV_OTHER.has(k)) problems.push(`unknown environment variable ${k}`);
  }
  const config = validateConfig(configSchema, tree, path, problems);
  const file = config.tokens.host_key_file;
  if (file !== undefined) config.tokens.host_key = readKeyFile("tokens.host_key_file", file);
  return config;
}

/** Shared ingest tokens are taken: explicitly, or by default when some are configured (fleets from before per-host tokens). */
export function sharedIngestOn(config: Config): boolean {
  return config.tokens.shared_ingest ?? config.tokens.ingest.length > 0;
}
