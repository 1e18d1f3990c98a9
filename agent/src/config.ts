import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigError, readYamlMapping, validateConfig } from "../../protocol/config-file.ts";
import { redactSettingsSchema } from "../../protocol/redact/index.ts";

export const DEFAULT_CONFIG_PATH = "/etc/cmdaudit/reporter.yml";
/** Where the Ansible role puts the deployment's redaction key (root, 0600): the server's redact.key_file. */
export const DEFAULT_REDACT_KEY_FILE = "/etc/cmdaudit/redact.key";

const MiB = 1024 * 1024;
const bytes = (min: number) => z.number().int().min(min);

export const reporterConfigSchema = z.strictObject({
  server: z.strictObject({
    /** Base URL of the ingest server, e.g. https://audit.example.com:8443 */
    url: z.string().refine((s) => /^https?:\/\/[^/\s]+/.test(s), { error: "must be an http:// or https:// URL" }),
    /** The ingest token, inline (the file is root's, mode 0600) … */
    token: z.string().min(16, { error: "a token is at least 16 characters" }).optional(),
    /** … or in a file of its own. */
    token_file: z.string().min(1).optional(),
    /** PEM file of the CA that signed the server's certificate. */
    ca_file: z.string().min(1).optional(),
    timeout_seconds: z.number().positive().max(600).default(20),
  }),
  log: z.strictObject({
    path: z.string().min(1).default("/var/log/cmdaudit/commands.log"),
    /** Older logs to drain read-only (e.g. the 2018 hook's /tmp/XingkaOpsCmdHist.log); never rotated or deleted. */
    extra_paths: z.array(z.string().min(1)).default([]),
    rotate_bytes: bytes(64 * 1024).default(64 * MiB),
    max_retained_bytes: bytes(128 * 1024).default(512 * MiB),
    /** A rotated file is deleted only once drained and untouched this long (a shell may still be writing to it). */
    rotate_grace_seconds: z.number().min(0).default(60),
    /** Offset of the host's clock for the seed's zone-less lines; default: the host's current offset. */
    legacy_utc_offset: z.string().regex(/^[+-]\d\d:\d\d$/, { error: "must be ±HH:MM" }).optional(),
  }).prefault({}),
  state_dir: z.string().min(1).default("/var/lib/cmdaudit"),
  /** The stamping daemon (`listen`; docs/transport.md): where shells connect and where it spools. */
  stamp: z.strictObject({
    /** Below 1024 so that no user can bind it first (0: any free port, for tests). */
    port: z.number().int().min(0).max(1023).default(979),
    /** Default: `<state_dir>/spool` (spoolDir()). */
    spool_dir: z.string().min(1).optional(),
    quota_bytes_per_uid: bytes(64 * 1024).default(64 * MiB),
    max_connections_per_uid: z.number().int().min(1).default(256),
  }).prefault({}),
  batch: z.strictObject({
    bytes: bytes(64 * 1024).default(MiB),
    /** A record larger than `bytes` (a 4 MiB command) is sent in one body of up to this size. */
    max_bytes: bytes(64 * 1024).default(16 * MiB),
    /** Lines per body at most: the server takes 10,000 records per request by default. */
    max_lines: z.number().int().min(100).default(5000),
    gzip: z.boolean().default(true),
  }).prefault({}),
  run: z.strictObject({
    /** A cron run stops sending after this long, so it ends before the next one starts. */
    budget_seconds: z.number().positive().default(50),
    /** Tries per request before the run gives up (exit 3). */
    attempts: z.number().int().min(1).max(20).default(5),
    backoff_ms: z.number().int().min(0).default(500),
    /**
     * How long the checkpoint may wait at an unfinished multi-part record at the end of a file
     * (a shell still writing its parts) before the reporter asks the server to give it up.
     */
    unfinished_seconds: z.number().min(0).default(120),
  }).prefault({}),
  /**
   * Secrets in commands replaced before anything leaves this host (protocol/redact), as the server
   * does on receipt: the same key (so the same secret gets the same fingerprint on every host), the
   * same kind of rules. See redaction.ts for when it is on and what a missing key does.
   */
  redact: redactSettingsSchema({
    /**
     * true: on, and a key that cannot be read stops `run` (exit 2). false: off (commands leave as
     * typed; the server still redacts them before it stores them). Not set: on when `key_file` is set
     * or the default key file exists; off, named by `status` and `check`, when neither is there.
     */
    enabled: z.boolean().optional(),
    /** Its first line is the key, at least 32 characters. Default /etc/cmdaudit/redact.key. */
    key_file: z.string().min(1).optional(),
  }).prefault({}),
}).superRefine((c, ctx) => {
  if (!c.server.token === !c.server.token_file) ctx.addIssue({ code: "custom", path: ["server"], message: "set exactly one of server.token and server.token_file" });
  if (c.log.rotate_bytes >= c.log.max_retained_bytes) ctx.addIssue({ code: "custom", path: ["log", "rotate_bytes"], message: "must be smaller than log.max_retained_bytes" });
  if (c.batch.bytes > c.batch.max_bytes) ctx.addIssue({ code: "custom", path: ["batch", "bytes"], message: "must not exceed batch.max_bytes" });
});
export type ReporterConfig = z.infer<typeof reporterConfigSchema>;

export { ConfigError };

/** Parse and validate; every problem names its key; the token never appears in a message. */
export function loadReporterConfig(path: string): ReporterConfig & { tokenValue: string } {
  const c = validateConfig(reporterConfigSchema, readYamlMapping(path), path);
  let tokenValue = c.server.token ?? "";
  if (c.server.token_file) {
    try {
      tokenValue = readFileSync(c.server.token_file, "utf8").trim();
    } catch (e) {
      throw new ConfigError(`server.token_file: cannot read ${c.server.token_file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
    }
    if (tokenValue.length < 16) throw new ConfigError(`server.token_file: ${c.server.token_file} does not hold a token of at least 16 characters`);
  }
  if (/[\r\n]/.test(tokenValue)) throw new ConfigError("server.token: must be one line");
  return { ...c, tokenValue };
}

/** Where the stamping daemon spools and `run` reads: stamp.spool_dir, else <state_dir>/spool. */
export function spoolDir(cfg: ReporterConfig): string {
  return cfg.stamp.spool_dir ?? `${cfg.state_dir.replace(/\/+$/, "")}/spool`;
}
