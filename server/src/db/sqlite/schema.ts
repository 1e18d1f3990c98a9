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
});

/** Same as the MySQL table (see ../mysql/schema.ts): rows from before the flags column still to be flagged. */
export const flagsBackfill = sqliteTable("cmdaudit_flags_backfill", {
  nextId: integer("next_id").notNull(),
  lastId: integer("last_id").notNull(),
});
