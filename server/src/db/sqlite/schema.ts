import { customType, index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Exact bytes as Uint8Array, like the MySQL schema's mediumblob. */
const bytes = customType<{ data: Uint8Array; driverData: Buffer }>({
  dataType: () => "blob",
  fromDriver: (v) => new Uint8Array(v),
  toDriver: (v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength),
});

/** Same columns and meaning as the MySQL table (see ../mysql/schema.ts). */
export const servercmdhist = sqliteTable("servercmdhist", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  oci: text("oci").notNull(),
  hostname: text("hostname").notNull(),
  serverIps: text("serverIps"),
  ctime: text("ctime").notNull(),
  luser: text("luser").notNull(),
  suser: text("suser"),
  terminal: text("terminal"),
  clientIp: text("clientIp").notNull(),
  command: text("command").notNull(),
  kind: text("kind").notNull().default("command"),
  tsUs: integer("ts_us").notNull().default(0),
  utcOffset: integer("utc_offset"),
  sessionId: text("session_id"),
  seq: integer("seq"),
  cwd: text("cwd"),
  exitStatus: integer("exit_status"),
  durationMs: integer("duration_ms"),
  commandRaw: bytes("command_raw"),
  receivedUs: integer("received_us").notNull().default(0),
  flags: text("flags").notNull().default(""),
  attestation: text("attestation").notNull().default("none"),
  attestedUser: text("attested_user"),
  attestedLoginUser: text("attested_login_user"),
  /** As in MySQL: `rule@start-end`, comma-separated; NULL for none. */
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

export const hosts = sqliteTable("cmdaudit_hosts", {
  hostname: text("hostname").primaryKey(),
  serverIps: text("server_ips").notNull().default(""),
  firstSeenUs: integer("first_seen_us").notNull(),
  lastSeenUs: integer("last_seen_us").notNull(),
  /** Receipt time of the latest batch holding a record of this host, duplicates included. */
  lastReceivedUs: integer("last_received_us").notNull().default(0),
  /** Receipt time of the latest batch that stored a new record of this host. */
  lastStoredUs: integer("last_stored_us").notNull().default(0),
  records: integer("records").notNull().default(0),
  ingestAuth: text("ingest_auth"),
  losses: integer("losses").notNull().default(0),
  rejected: integer("rejected").notNull().default(0),
  reporter: text("reporter"),
  cadenceUs: integer("cadence_us").notNull().default(0),
});

/** Same as the MySQL table (see ../mysql/schema.ts): rows from before the flags column still to be flagged. */
export const flagsBackfill = sqliteTable("cmdaudit_flags_backfill", {
  nextId: integer("next_id").notNull(),
  lastId: integer("last_id").notNull(),
});

/** Same as the MySQL tables (see ../mysql/schema.ts): the console's users, signed-in browsers and access log. */
export const consoleUsers = sqliteTable("cmdaudit_console_users", {
  name: text("name").primaryKey(),
  passwordHash: text("password_hash").notNull(),
  role: text("role").notNull(),
  hostGroups: text("host_groups").notNull().default(""),
  createdUs: integer("created_us").notNull(),
});

export const consoleSessions = sqliteTable("cmdaudit_console_sessions", {
  idHash: text("id_hash").primaryKey(),
  userName: text("user_name").notNull(),
  createdUs: integer("created_us").notNull(),
  expiresUs: integer("expires_us").notNull(),
}, (t) => [index("console_sessions_user").on(t.userName)]);

export const consoleAccess = sqliteTable("cmdaudit_console_access", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  tsUs: integer("ts_us").notNull(),
  userName: text("user_name").notNull(),
  action: text("action").notNull(),
  detail: text("detail").notNull(),
  clientIp: text("client_ip").notNull().default(""),
}, (t) => [index("console_access_ts").on(t.tsUs)]);

/** Same as the MySQL tables (see ../mysql/schema.ts): alerts, their outbox, rules added through the API. */
export const alerts = sqliteTable("cmdaudit_alerts", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  ruleId: text("rule_id").notNull(),
  severity: text("severity").notNull(),
  hostname: text("hostname").notNull(),
  luser: text("luser").notNull(),
  suser: text("suser").notNull(),
  recordKey: text("record_key").notNull(),
  recordTsUs: integer("record_ts_us").notNull(),
  sessionId: text("session_id"),
  seq: integer("seq"),
  command: text("command").notNull(),
  raisedUs: integer("raised_us").notNull(),
}, (t) => [
  uniqueIndex("alerts_rule_record").on(t.ruleId, t.recordKey),
  index("alerts_raised").on(t.raisedUs),
  index("alerts_host_raised").on(t.hostname, t.raisedUs),
]);

export const alertOutbox = sqliteTable("cmdaudit_alert_outbox", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  channel: text("channel").notNull(),
  groupKey: text("group_key").notNull(),
  alertId: integer("alert_id").notNull(),
  kind: text("kind").notNull(),
  count: integer("count").notNull().default(1),
  sentCount: integer("sent_count").notNull().default(0),
  windowEndUs: integer("window_end_us").notNull(),
  state: text("state").notNull().default("pending"),
  attempts: integer("attempts").notNull().default(0),
  nextAttemptUs: integer("next_attempt_us").notNull(),
  lastError: text("last_error").notNull().default(""),
  sentUs: integer("sent_us").notNull().default(0),
  settled: integer("settled").notNull().default(0),
}, (t) => [
  index("outbox_due").on(t.state, t.nextAttemptUs),
  index("outbox_group").on(t.groupKey, t.windowEndUs),
  index("outbox_settle").on(t.settled, t.windowEndUs),
]);

export const alertRules = sqliteTable("cmdaudit_alert_rules", {
  id: text("id").primaryKey(),
  body: text("body").notNull(),
  updatedUs: integer("updated_us").notNull(),
});

/** Same as the MySQL table (see ../mysql/schema.ts): redact-history's progress. */
export const redactProgress = sqliteTable("cmdaudit_redact_progress", {
  job: text("job").primaryKey(),
  rules: text("rules").notNull(),
  lastId: integer("last_id").notNull(),
  endId: integer("end_id").notNull(),
  seen: integer("seen").notNull().default(0),
  changed: integer("changed").notNull().default(0),
  startedUs: integer("started_us").notNull(),
  updatedUs: integer("updated_us").notNull(),
  finishedUs: integer("finished_us").notNull().default(0),
});
