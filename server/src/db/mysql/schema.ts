
import {
  bigint, char, customType, index, int, mediumtext, mysqlTable, smallint, text, tinyint, uniqueIndex, varchar,
} from "drizzle-orm/mysql-core";

const mediumblob = customType<{ data: Uint8Array; driverData: Buffer }>({
  dataType: () => "mediumblob",
  fromDriver: (v) => new Uint8Array(v),
  toDriver: (v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength),
});

/**
 * The seed's `servercmdhist`, upgraded in place: the seed columns keep their
 * names and meaning (wider where the seed's limits lost data), new columns are
 * nullable or defaulted so pre-upgrade rows stay as they were.
 */
export const servercmdhist = mysqlTable("servercmdhist", {
  id: bigint("id", { mode: "number", unsigned: true }).autoincrement().primaryKey(),
  oci: char("oci", { length: 32 }).notNull(),
  hostname: varchar("hostname", { length: 255 }).notNull(),
  serverIps: varchar("serverIps", { length: 2048 }),
  ctime: char("ctime", { length: 19 }).notNull(),
  luser: varchar("luser", { length: 64 }).notNull(),
  suser: varchar("suser", { length: 64 }),
  terminal: varchar("terminal", { length: 64 }),
  clientIp: varchar("clientIp", { length: 64 }).notNull(),
  command: mediumtext("command").notNull(),
  kind: varchar("kind", { length: 16 }).notNull().default("command"),
  /** UTC microseconds; 0 marks a row written by the seed backend that start-up still has to backfill. */
  tsUs: bigint("ts_us", { mode: "number" }).notNull().default(0),
  utcOffset: smallint("utc_offset"),
  sessionId: varchar("session_id", { length: 64 }),
  seq: bigint("seq", { mode: "number", unsigned: true }),
  cwd: text("cwd"),
  exitStatus: smallint("exit_status"),
  /** Milliseconds from the command's start to the next prompt; NULL when not measured (and on rows from before the column). */
  durationMs: bigint("duration_ms", { mode: "number", unsigned: true }),
  commandRaw: mediumblob("command_raw"),
  receivedUs: bigint("received_us", { mode: "number" }).notNull().default(0),
  /** The record's flags (protocol/names.ts), comma-separated; '' for none. Rows from before the column get theirs at start (flagsBackfill). */
  flags: varchar("flags", { length: 255 }).notNull().default(""),
  /** protocol/record.ts ATTESTATIONS: `kernel` or `none` (every row from before the column: none). */
  attestation: varchar("attestation", { length: 8 }).notNull().default("none"),
  /** With attestation kernel: the names of the uid and login uid the kernel gave the writer. */
  attestedUser: varchar("attested_user", { length: 64 }),
  attestedLoginUser: varchar("attested_login_user", { length: 64 }),
  /** Secrets replaced in the command: `rule@start-end` byte ranges, comma-separated; NULL for none (rows/rows.ts). */
  redactions: text("redactions"),
}, (t) => [
  uniqueIndex("oci").on(t.oci),
  index("hostname_ts").on(t.hostname, t.tsUs),
  index("luser_ts").on(t.luser, t.tsUs),
  index("suser_ts").on(t.suser, t.tsUs),
  index("clientip_ts").on(t.clientIp, t.tsUs),
  index("session_seq").on(t.sessionId, t.seq),
  index("ts").on(t.tsUs),
]);

/** One row per reporting host, maintained on ingest, so GET /hosts never scans the audit trail. */
export const hosts = mysqlTable("cmdaudit_hosts", {
  hostname: varchar("hostname", { length: 255 }).primaryKey(),
  serverIps: varchar("server_ips", { length: 2048 }).notNull().default(""),
  firstSeenUs: bigint("first_seen_us", { mode: "number" }).notNull(),
  lastSeenUs: bigint("last_seen_us", { mode: "number" }).notNull(),
  /**
   * The host's usual gap between batches that store something (µs, a moving average): how long a
   * silence is unusual. Declared before last_stored_us on purpose: Drizzle writes an upsert's SET in
   * this order and MySQL evaluates it left to right, so the average must read the old last_stored_us.
   */
  cadenceUs: bigint("cadence_us", { mode: "number" }).notNull().default(0),
  /** Receipt time of the latest batch holding a record of this host, duplicates included. */
  lastReceivedUs: bigint("last_received_us", { mode: "number" }).notNull().default(0),
  /** Receipt time of the latest batch that stored a new record of this host. */
  lastStoredUs: bigint("last_stored_us", { mode: "number" }).notNull().default(0),
  records: bigint("records", { mode: "number", unsigned: true }).notNull().default(0),
  /** How the host authenticates its ingest requests (host token or the shared token); NULL until known. */
  ingestAuth: varchar("ingest_auth", { length: 16 }),
  /** Loss records stored of this host (records the pipeline says it could not keep). */
  losses: bigint("losses", { mode: "number", unsigned: true }).notNull().default(0),
  /** Records refused at ingest from this host's own token (a shared token's are not attributed). */
  rejected: bigint("rejected", { mode: "number", unsigned: true }).notNull().default(0),
  /** The User-Agent of the latest batch that stored something new of this host: the reporter's kind and version. */
  reporter: varchar("reporter", { length: 64 }),
});

/**
 * Rows stored before the flags column still to be flagged: ids in (next_id, last_id]. The migration
 * that adds this table writes the one row (none on an empty table); the server works through it at
 * start and deletes it when done, so later starts find nothing to do without scanning the trail.
 */
export const flagsBackfill = mysqlTable("cmdaudit_flags_backfill", {
  nextId: bigint("next_id", { mode: "number", unsigned: true }).notNull(),
  lastId: bigint("last_id", { mode: "number", unsigned: true }).notNull(),
});

/** People who sign in to the console (server/src/console/): `cmdaudit-server user add`. */
export const consoleUsers = mysqlTable("cmdaudit_console_users", {
  name: varchar("name", { length: 64 }).primaryKey(),
  /** Bun.password (argon2id) hash. */
  passwordHash: varchar("password_hash", { length: 255 }).notNull(),
  role: varchar("role", { length: 16 }).notNull(),
  /** Host groups (config console.host_groups) a reader may see, comma-separated; `*`: every host. */
  hostGroups: varchar("host_groups", { length: 2048 }).notNull().default(""),
  createdUs: bigint("created_us", { mode: "number" }).notNull(),
});

/** Signed-in browsers: the SHA-256 of the cookie's token, never the token. */
export const consoleSessions = mysqlTable("cmdaudit_console_sessions", {
  idHash: char("id_hash", { length: 64 }).primaryKey(),
  userName: varchar("user_name", { length: 64 }).notNull(),
  createdUs: bigint("created_us", { mode: "number" }).notNull(),
  expiresUs: bigint("expires_us", { mode: "number" }).notNull(),
}, (t) => [index("console_sessions_user").on(t.userName)]);

/** Every view of audit data through the console, and every sign-in: the auditors are audited. */
export const consoleAccess = mysqlTable("cmdaudit_console_access", {
  id: bigint("id", { mode: "number", unsigned: true }).autoincrement().primaryKey(),
  tsUs: bigint("ts_us", { mode: "number" }).notNull(),
  userName: varchar("user_name", { length: 64 }).notNull(),
  action: varchar("action", { length: 32 }).notNull(),
  detail: text("detail").notNull(),
  clientIp: varchar("client_ip", { length: 64 }).notNull().default(""),
}, (t) => [index("console_access_ts").on(t.tsUs)]);

/**
 * Every rule match (alerts/raise.ts), written in the transaction that stores its record: one per
 * rule and record (`record_key`: the record's oci, or a silence's own key), so a record resent
 * never raises twice.
 */
export const alerts = mysqlTable("cmdaudit_alerts", {
  id: bigint("id", { mode: "number", unsigned: true }).autoincrement().primaryKey(),
  ruleId: varchar("rule_id", { length: 64 }).notNull(),
  severity: varchar("severity", { length: 16 }).notNull(),
  hostname: varchar("hostname", { length: 255 }).notNull(),
  luser: varchar("luser", { length: 64 }).notNull(),
  suser: varchar("suser", { length: 64 }).notNull(),
  recordKey: char("record_key", { length: 32 }).notNull(),
  recordTsUs: bigint("record_ts_us", { mode: "number" }).notNull(),
  sessionId: varchar("session_id", { length: 64 }),
  seq: bigint("seq", { mode: "number", unsigned: true }),
  /** The command's start (alerts/raise.ts ALERT_COMMAND_CHARS). */
  command: text("command").notNull(),
  raisedUs: bigint("raised_us", { mode: "number" }).notNull(),
}, (t) => [
  uniqueIndex("alerts_rule_record").on(t.ruleId, t.recordKey),
  index("alerts_raised").on(t.raisedUs),
  index("alerts_host_raised").on(t.hostname, t.raisedUs),
]);

/**
 * The outbox: one message per channel, written with the alert that opens a de-duplication window
 * (rule + host + user, `group_key`); later matches in the window only count. The dispatcher sends
 * what is due and keeps retrying what failed; a window that closed with more matches than were
 * sent gets one "repeat" message with the rest.
 */
export const alertOutbox = mysqlTable("cmdaudit_alert_outbox", {
  id: bigint("id", { mode: "number", unsigned: true }).autoincrement().primaryKey(),
  channel: varchar("channel", { length: 64 }).notNull(),
  groupKey: char("group_key", { length: 32 }).notNull(),
  alertId: bigint("alert_id", { mode: "number", unsigned: true }).notNull(),
  kind: varchar("kind", { length: 8 }).notNull(),
  /** Matches this message stands for; grows while the window is open. */
  count: int("count", { unsigned: true }).notNull().default(1),
  /** `count` as it was when the message was sent. */
  sentCount: int("sent_count", { unsigned: true }).notNull().default(0),
  windowEndUs: bigint("window_end_us", { mode: "number" }).notNull(),
  state: varchar("state", { length: 8 }).notNull().default("pending"),
  attempts: int("attempts", { unsigned: true }).notNull().default(0),
  /** When the next attempt is due; a claimed message is pushed out by the claim's lease. */
  nextAttemptUs: bigint("next_attempt_us", { mode: "number" }).notNull(),
  lastError: varchar("last_error", { length: 255 }).notNull().default(""),
  sentUs: bigint("sent_us", { mode: "number" }).notNull().default(0),
  /** An "alert" message whose window was settled (a repeat written, or none needed). */
  settled: tinyint("settled").notNull().default(0),
}, (t) => [
  index("outbox_due").on(t.state, t.nextAttemptUs),
  index("outbox_group").on(t.groupKey, t.windowEndUs),
  index("outbox_settle").on(t.settled, t.windowEndUs),
]);

/** Rules added through the admin API (PUT /api/v1/rules/{id}): the rule as its JSON config. */
export const alertRules = mysqlTable("cmdaudit_alert_rules", {
  id: varchar("id", { length: 64 }).primaryKey(),
  body: text("body").notNull(),
  updatedUs: bigint("updated_us", { mode: "number" }).notNull(),
});

/**
 * `cmdaudit-server redact-history` (server/src/redact-history.ts): how far it has applied which
 * rule set to stored history. One row (`job` = "history"): every row with id <= last_id was
 * redacted with the rule set whose hash is `rules`; a run with another rule set starts over at 0.
 * Each batch's rows are rewritten in the transaction that moves this row, and only if it is still
 * what the job read (a compare-and-set): two runs never rewrite the same rows.
 */
export const redactProgress = mysqlTable("cmdaudit_redact_progress", {
  job: varchar("job", { length: 32 }).primaryKey(),
  /** SHA-256 (hex) of the active rules and exceptions. */
  rules: char("rules", { length: 64 }).notNull(),
  lastId: bigint("last_id", { mode: "number", unsigned: true }).notNull(),
  /** The pass ends here: the largest id when it started (later rows were redacted at ingest). */
  endId: bigint("end_id", { mode: "number", unsigned: true }).notNull(),
  seen: bigint("seen", { mode: "number", unsigned: true }).notNull().default(0),
  changed: bigint("changed", { mode: "number", unsigned: true }).notNull().default(0),
  startedUs: bigint("started_us", { mode: "number" }).notNull(),
  /** Strictly increasing with every write: the compare-and-set's version. */
  updatedUs: bigint("updated_us", { mode: "number" }).notNull(),
  /** When the pass reached end_id; 0 while it runs. */
  finishedUs: bigint("finished_us", { mode: "number" }).notNull().default(0),
});
