import { and, asc, desc, eq, getTableColumns, getTableName, gt, inArray, lt, lte, sql } from "drizzle-orm";
import { drizzle, type MySql2Database } from "drizzle-orm/mysql2";
import { migrate } from "drizzle-orm/mysql2/migrator";
import mysql from "mysql2/promise";
import { type AuditRecord, type IngestAuth, parseCommandTime } from "../../../../protocol/index.ts";
import { findConflicts, withConflict } from "../conflicts.ts";
import { type SessionDialect, sessionsQuery, transcriptClause, whereClause } from "../filter.ts";
import { FLAGS_BACKFILL_BATCH, flagsUpdate, fromRow, redactionsFromColumn, redactionsToColumn, type NamesOfRow, toRow } from "../rows.ts";
import { alertWhere, messageFromRow, repeatOf } from "../alerts.ts";
import {
  type AccessEntry, type AlertFilter, alertFromRow, type OutboxMessage, type OutboxStats, type StoredAlert, type StoredRule, type CommandFilter, consoleUserFromRow, type ConsoleSession, type ConsoleUser, type Cursor, type HostSummary, type InsertResult, type RedactProgress, type StoredCommand,
  joinGroups, type SessionCursor, type SessionFilter, type SessionRow, type SessionSummary, type Store, type StoredRecord,
  type TranscriptCursor, hostDeltas, REDACT_JOB, redactProgressFromRow, redactProgressIs, likeContains, sessionFromRow,
} from "../store.ts";
import { ALERT_COMMAND_CHARS, type AlertDraft, type AlertSink } from "../../alerts/raise.ts";
import { alertOutbox, alertRules, alerts, consoleAccess, consoleSessions, consoleUsers, flagsBackfill, hosts, redactProgress, servercmdhist } from "./schema.ts";


/** Rows per INSERT statement, and a byte budget well under MariaDB's default 16 MiB max_allowed_packet. */
const ROWS_PER_INSERT = 1000;
const BYTES_PER_INSERT = 4 * 1024 * 1024;
/** The largest row (2 MiB of non-UTF-8 command: ~6 MiB of U+FFFD text plus the hex of the raw bytes) must fit one packet. */
const MIN_PACKET = 16 * 1024 * 1024;
/** Attempts for a batch that InnoDB picked as a deadlock victim. */
const DEADLOCK_ATTEMPTS = 10;

/** ER_LOCK_DEADLOCK, from mysql2 directly or wrapped by drizzle's DrizzleQueryError. */
function isDeadlock(e: unknown): boolean {
  for (let x = e as { errno?: number; cause?: unknown } | undefined, i = 0; x && i < 5; x = x.cause as typeof x, i++) {
    if (x.errno === 1213) return true;
  }
  return false;
}

export interface MysqlStoreOptions {
  migrationsFolder: string;
  /** Offset (minutes) assumed for rows the 2018 backend wrote with a zone-less ctime. */
  legacyUtcOffset: number;
  poolSize?: number;
}

export async function openMysqlStore(url: string, opts: MysqlStoreOptions): Promise<Store> {
  const pool = mysql.createPool({
    uri: url,
    connectionLimit: opts.poolSize ?? 10,
    charset: "utf8mb4",
    // Without FOUND_ROWS, affectedRows counts only rows really inserted, so duplicates are exact.
    flags: ["-FOUND_ROWS"],
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
  // Strict mode: an over-long value is an error, never a silently truncated audit row.
  pool.on("connection", (conn) => {
    conn.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'");
  });
  // Positional form: drizzle 0.45's isConfig() rejects { client, mode } (its mode check is always false).
  const db = drizzle(pool, { mode: "default" });
  try {
    const [pkt] = await pool.query("SELECT @@max_allowed_packet AS n");
    const max = Number((pkt as { n: number }[])[0]?.n);
    if (max < MIN_PACKET) {
      throw new Error(`the database's max_allowed_packet is ${max} bytes; cmdaudit needs at least ${MIN_PACKET} (one row holds up to ~10 MiB of SQL)`);
    }
    // The backfill runs under the same lock: two servers starting at once must not both count the legacy rows.
    await migrateLocked(pool, db, opts.migrationsFolder, async () => {
      await backfillLegacyRows(db, opts.legacyUtcOffset);
      await backfillFlags(db);
    });
  } catch (e) {
    await pool.end();
    throw e;
  }
  return new MysqlStore(pool, db);
}

/** GROUP_CONCAT, not JSON_ARRAYAGG(DISTINCT …), which MySQL 8 lacks; its length cap raised for the statement. */
const MYSQL_SESSIONS: SessionDialect = {
  hint: sql.raw("/*+ SET_VAR(group_concat_max_len = 1048576) */"),
  names: (column) => sql.raw(`GROUP_CONCAT(DISTINCT ${column} SEPARATOR X'1F')`),
};

/** Two servers starting at once must not run the same ALTERs (or the legacy backfill) twice. */
async function migrateLocked(pool: mysql.Pool, db: MySql2Database, folder: string, thenLocked: () => Promise<void>): Promise<void> {
  const lockConn = await pool.getConnection();
  try {
    const [rows] = await lockConn.query("SELECT GET_LOCK('cmdaudit_migrate', 600) AS got");
    if ((rows as { got: number }[])[0]?.got !== 1) throw new Error("could not take the migration lock within 600 s");
    try {
      await migrate(db, { migrationsFolder: folder });
      await thenLocked();
    } finally {
      await lockConn.query("SELECT RELEASE_LOCK('cmdaudit_migrate')");
    }
  } finally {
    lockConn.release();
  }
}

/** Write the flags of rows whose names have some (the column already holds '' for the rest). */
async function setFlags(tx: Pick<MySql2Database, "update">, rows: NamesOfRow[]): Promise<void> {
  const u = flagsUpdate(rows);
  if (u) await tx.update(servercmdhist).set({ flags: u.flags }).where(inArray(servercmdhist.id, u.ids));
}

/**
 * Rows stored before the flags column get the flags ingest gives (0006 wrote which ids): a batch per
 * transaction with the progress, so a crash half-way redoes at most one batch, and the marker row is
 * gone once done (later starts read one empty table).
 */
async function backfillFlags(db: MySql2Database): Promise<void> {
  for (;;) {
    const [todo] = await db.select().from(flagsBackfill).limit(1);
    if (!todo) return;
    const rows = await db.select({
      id: servercmdhist.id, hostname: servercmdhist.hostname, suser: servercmdhist.suser, luser: servercmdhist.luser,
      terminal: servercmdhist.terminal, cwd: servercmdhist.cwd,
    }).from(servercmdhist).where(and(gt(servercmdhist.id, todo.nextId), lte(servercmdhist.id, todo.lastId)))
      .orderBy(asc(servercmdhist.id)).limit(FLAGS_BACKFILL_BATCH);
    await db.transaction(async (tx) => {
      await setFlags(tx, rows);
      if (rows.length === 0) await tx.delete(flagsBackfill);
      else await tx.update(flagsBackfill).set({ nextId: rows.at(-1)!.id });
    });
  }
}

/**
 * Rows written by the 2018 backend have no UTC time (ts_us = 0): compute it from
 * their ctime, flag their names as ingest does, and count them into the hosts table,
 * a batch per transaction so a crash half-way loses nothing and counts nothing twice.
 * Seed columns are not touched.
 */
async function backfillLegacyRows(db: MySql2Database, legacyUtcOffset: number): Promise<void> {
  for (;;) {
    const rows = await db.select({
      id: servercmdhist.id, ctime: servercmdhist.ctime, hostname: servercmdhist.hostname, serverIps: servercmdhist.serverIps,
      suser: servercmdhist.suser, luser: servercmdhist.luser, terminal: servercmdhist.terminal, cwd: servercmdhist.cwd,
    }).from(servercmdhist).where(eq(servercmdhist.tsUs, 0)).limit(2000);
    if (rows.length === 0) return;
    await db.transaction(async (tx) => {
      const ts = rows.map((r) => {
        const t = parseCommandTime(r.ctime, legacyUtcOffset);
        return typeof t === "string" ? -1 : t.tsUs; // -1: unparseable ctime, kept as it was
      });
      const cases = sql.join(rows.map((r, i) => sql`WHEN ${r.id} THEN ${ts[i]}`), sql` `);
      await tx.update(servercmdhist).set({ tsUs: sql`CASE ${servercmdhist.id} ${cases} END` })
        .where(inArray(servercmdhist.id, rows.map((r) => r.id)));
      await setFlags(tx, rows);
      const per = new Map<string, { ips: string; min: number; max: number; n: number }>();
      rows.forEach((r, i) => {
        const t = ts[i]!;
        const h = per.get(r.hostname) ?? { ips: r.serverIps ?? "", min: Number.MAX_SAFE_INTEGER, max: 0, n: 0 };
        h.n++;
        if (t > 0) {
          h.min = Math.min(h.min, t);
          if (t > h.max) { h.max = t; h.ips = r.serverIps ?? ""; } // the newest row's addresses, as on ingest
        }
        per.set(r.hostname, h);
      });
      for (const [hostname, h] of [...per].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const min = h.min === Number.MAX_SAFE_INTEGER ? 0 : h.min;
        await tx.insert(hosts).values({ hostname, serverIps: h.ips, firstSeenUs: min, lastSeenUs: h.max, lastReceivedUs: 0, records: h.n })
          .onDuplicateKeyUpdate({ set: {
            records: sql`${hosts.records} + ${h.n}`,
            firstSeenUs: sql`LEAST(${hosts.firstSeenUs}, ${min})`,
            // Evaluated before last_seen_us changes (drizzle emits SET in column order, server_ips first).
            serverIps: sql`IF(${h.max} >= ${hosts.lastSeenUs}, ${h.ips}, ${hosts.serverIps})`,
            lastSeenUs: sql`GREATEST(${hosts.lastSeenUs}, ${h.max})`,
          } });
      }
    });
  }
}

const INSERT_COLUMNS = Object.entries(getTableColumns(servercmdhist)).filter(([k]) => k !== "id");
const INSERT_HEAD = `INSERT INTO \`${getTableName(servercmdhist)}\` (${INSERT_COLUMNS.map(([, c]) => `\`${c.name}\``).join(", ")}) VALUES ?`;

/**
 * The hot path: one multi-row INSERT whose VALUES list mysql2 escapes directly,
 * run in Drizzle's transaction. Drizzle's builder spends ~30 ms of CPU on a
 * 1000-row statement; this is the same SQL for a fraction of that.
 */
function insertRows(records: AuditRecord[], receivedUs: number) {
  const values = records.map((r) => {
    const row = toRow(r, receivedUs) as Record<string, unknown>;
    return INSERT_COLUMNS.map(([k, c]) => {
      const v = row[k];
      return v instanceof Uint8Array ? c.mapToDriverValue(v) : (v ?? null);
    });
  });
  // mysql2 expands a nested array into (…), (…) rows; its SqlValue type does not describe that nesting.
  return sql.raw(mysql.format(`${INSERT_HEAD} ON DUPLICATE KEY UPDATE \`id\` = \`id\``, [values as unknown as mysql.SqlValue]));
}

/** Split rows into INSERT statements that stay under the row and byte budgets. */
export function* chunks<T extends { command: string; commandRaw: Uint8Array | null }>(records: T[]): Generator<T[]> {
  let cur: T[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = r.command.length * 4 + (r.commandRaw?.length ?? 0) * 2 + 1024;
    if (cur.length && (cur.length >= ROWS_PER_INSERT || bytes + size > BYTES_PER_INSERT)) {
      yield cur;
      cur = [];
      bytes = 0;
    }
    cur.push(r);
    bytes += size;
  }
  if (cur.length) yield cur;
}

type Tx = Parameters<Parameters<MySql2Database["transaction"]>[0]>[0];

const alertRow = (d: AlertDraft, nowUs: number) => ({
  ruleId: d.ruleId, severity: d.severity, hostname: d.hostname, luser: d.luser, suser: d.suser, recordKey: d.recordKey,
  recordTsUs: d.recordTsUs, sessionId: d.sessionId, seq: d.seq, command: d.command, raisedUs: nowUs,
});
/** Alert rows per statement: a command is at most ALERT_COMMAND_CHARS, so a statement stays near 2 MB. */
const ALERTS_PER_STATEMENT = 500;
function* slices<T>(list: T[], n = ALERTS_PER_STATEMENT): Generator<T[]> {
  for (let i = 0; i < list.length; i += n) yield list.slice(i, i + n);
}
const pairOf = (ruleId: string, recordKey: string) => `${ruleId}\u0000${recordKey}`;

/** A draft written as a new alert, with its id. */
type NewAlert = { draft: AlertDraft; id: number };

/**
 * Silence alerts (raiseAlerts): one statement each, since two servers may raise the same silence at
 * once and only the affected rows say which of them wrote it.
 */
async function insertAlertsOneByOne(tx: Tx, drafts: AlertDraft[], nowUs: number): Promise<NewAlert[]> {
  const out: NewAlert[] = [];
  for (const d of drafts) {
    const [res] = await tx.insert(alerts).values(alertRow(d, nowUs)).onDuplicateKeyUpdate({ set: { id: sql`${alerts.id}` } });
    if (res.affectedRows === 1) out.push({ draft: d, id: res.insertId });
  }
  return out;
}

/**
 * A batch's alerts, in a few statements whatever their number. Its host rows are locked, so nobody
 * else writes alerts for these records meanwhile; one may exist already only for a record stored
 * again after retention removed it, and is skipped by the (rule, record) key.
 */
async function insertRecordAlerts(tx: Tx, drafts: AlertDraft[], nowUs: number): Promise<NewAlert[] | number> {
  if (!drafts.some((d) => d.channels.length)) {
    // Nothing to route: only the number of new alerts matters, and an unchanged duplicate counts 0 (no FOUND_ROWS).
    let raised = 0;
    for (const part of slices(drafts)) {
      const [res] = await tx.insert(alerts).values(part.map((d) => alertRow(d, nowUs))).onDuplicateKeyUpdate({ set: { id: sql`${alerts.id}` } });
      raised += res.affectedRows;
    }
    return raised;
  }
  const idsOf = async (of: AlertDraft[]) => {
    const ids = new Map<string, number>();
    for (const part of slices(of)) {
      // (rule_id, record_key) is the unique index: both lists keep the look-up on it.
      const rows = await tx.select({ id: alerts.id, ruleId: alerts.ruleId, recordKey: alerts.recordKey }).from(alerts)
        .where(and(inArray(alerts.ruleId, [...new Set(part.map((d) => d.ruleId))]), inArray(alerts.recordKey, [...new Set(part.map((d) => d.recordKey))])));
      for (const r of rows) ids.set(pairOf(r.ruleId, r.recordKey), r.id);
    }
    return ids;
  };
  const before = await idsOf(drafts);
  const fresh = drafts.filter((d) => !before.has(pairOf(d.ruleId, d.recordKey)));
  for (const part of slices(fresh)) await tx.insert(alerts).values(part.map((d) => alertRow(d, nowUs)));
  const ids = await idsOf(fresh.filter((d) => d.channels.length));
  return fresh.map((draft) => ({ draft, id: ids.get(pairOf(draft.ruleId, draft.recordKey)) ?? 0 }));
}

/**
 * Outbox messages of new alerts: the first alert of a rule + host + user opens a window, one message
 * per channel that takes its severity; later ones in the window only count. One statement per
 * group, and one for every window opened.
 */
async function routeAlerts(tx: Tx, raised: NewAlert[], nowUs: number, windowUs: number): Promise<number> {
  const groups = new Map<string, NewAlert[]>();
  for (const a of raised) {
    if (!a.draft.channels.length) continue;
    const g = groups.get(a.draft.groupKey);
    if (g) g.push(a);
    else groups.set(a.draft.groupKey, [a]);
  }
  const opened: (typeof alertOutbox.$inferInsert)[] = [];
  for (const [groupKey, list] of groups) {
    const [open] = await tx.update(alertOutbox).set({ count: sql`${alertOutbox.count} + ${list.length}` })
      .where(and(eq(alertOutbox.groupKey, groupKey), eq(alertOutbox.kind, "alert"), gt(alertOutbox.windowEndUs, nowUs)));
    if (open.affectedRows > 0) continue;
    const first = list[0]!;
    for (const channel of first.draft.channels) {
      opened.push({ channel, groupKey, alertId: first.id, kind: "alert", count: list.length, windowEndUs: nowUs + windowUs, nextAttemptUs: nowUs });
    }
  }
  for (const part of slices(opened)) await tx.insert(alertOutbox).values(part);
  return opened.length;
}

/** Each new alert, and the outbox messages of the windows it opens: how many of each. */
async function writeAlerts(tx: Tx, drafts: AlertDraft[], nowUs: number, windowUs: number, underHostLocks: boolean): Promise<{ raised: number; messages: number }> {
  if (!drafts.length) return { raised: 0, messages: 0 };
  const raised = underHostLocks ? await insertRecordAlerts(tx, drafts, nowUs) : await insertAlertsOneByOne(tx, drafts, nowUs);
  if (typeof raised === "number") return { raised, messages: 0 };
  return { raised: raised.length, messages: await routeAlerts(tx, raised, nowUs, windowUs) };
}

class MysqlStore implements Store {
  readonly dialect = "mysql" as const;
  constructor(private readonly pool: mysql.Pool, private readonly db: MySql2Database) {}

  async insert(records: AuditRecord[], receivedUs: number, auth?: IngestAuth, reporter?: string, alerts?: AlertSink): Promise<InsertResult> {
    if (records.length === 0) return { inserted: 0, duplicates: 0, alerts: 0, messages: 0 };
    for (let attempt = 1; ; attempt++) {
      try {
        const { inserted, raised: { raised, messages } } = await this.insertOnce(records, receivedUs, auth, reporter, alerts);
        return { inserted, duplicates: records.length - inserted, alerts: raised, messages };
      } catch (e) {
        // Concurrent batches for many hosts can still deadlock on index gaps; InnoDB rolled the
        // victim back whole, so running it again is safe.
        if (attempt >= DEADLOCK_ATTEMPTS || !isDeadlock(e)) throw e;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
      }
    }
  }

  private async insertOnce(records: AuditRecord[], receivedUs: number, auth: IngestAuth | undefined, reporter: string | undefined, alerts: AlertSink | undefined): Promise<{ inserted: number; raised: { raised: number; messages: number } }> {
    const per = hostDeltas(records);
    const hostRows = (received: number, counts?: Map<string, number>, losses?: Map<string, number>) => [...per].map(([hostname, h]) => {
      const stored = (counts?.get(hostname) ?? 0) > 0;
      return {
        hostname, serverIps: h.serverIps, firstSeenUs: h.minTs, lastSeenUs: h.maxTs, lastReceivedUs: received,
        lastStoredUs: stored ? received : 0, records: counts?.get(hostname) ?? 0, ingestAuth: stored ? auth ?? null : null,
        losses: losses?.get(hostname) ?? 0, reporter: stored ? reporter ?? null : null,
      };
    });
    return this.db.transaction(async (tx) => {
      // Lock the batch's host rows first, in sorted order. A record's oci covers its hostname, so batches
      // for one host insert one after the other and never meet each other's uncommitted rows: there InnoDB
      // deadlocks, and MariaDB 10.11 can even report a row as a duplicate whose inserter was then rolled back.
      await tx.insert(hosts).values(hostRows(0)).onDuplicateKeyUpdate({ set: { hostname: sql`${hosts.hostname}` } });
      // With those locks held nobody else can add these keys, so affectedRows (one host) or this
      // look-up (several hosts: the counts are per host) is exact.
      const seen = new Set<string>();
      // Loss records and records that raise alerts are few: which of them are new is looked up even
      // for one host, so the host's loss count is exact and an alert is raised only by a new record.
      const lossKeys = records.filter((r) => r.kind === "loss").map((r) => r.oci);
      const keys = per.size === 1 ? [...new Set([...lossKeys, ...(alerts?.keys ?? [])])] : [...new Set(records.map((r) => r.oci))];
      for (let i = 0; i < keys.length; i += ROWS_PER_INSERT) {
        const rows = await tx.select({ oci: servercmdhist.oci }).from(servercmdhist).where(inArray(servercmdhist.oci, keys.slice(i, i + ROWS_PER_INSERT)));
        for (const r of rows) seen.add(r.oci);
      }
      const fresh: AuditRecord[] = [];
      for (const r of records) if (!seen.has(r.oci)) { seen.add(r.oci); fresh.push(r); }
      let inserted = 0;
      for (const part of chunks(fresh)) {
        const [res] = await tx.execute(insertRows(part, receivedUs));
        inserted += res.affectedRows;
      }
      const counts = new Map<string, number>();
      if (per.size === 1) counts.set(records[0]!.hostname, inserted);
      else for (const r of fresh) counts.set(r.hostname, (counts.get(r.hostname) ?? 0) + 1);
      const losses = new Map<string, number>();
      const lost = (r: AuditRecord) => { if (r.kind === "loss") losses.set(r.hostname, (losses.get(r.hostname) ?? 0) + 1); };
      for (const r of fresh) lost(r);
      if (inserted < records.length) {
        // Some keys were stored already: same content is a duplicate, other content a conflict (conflicts.ts).
        // The host rows are locked, so nobody else writes these keys meanwhile.
        const sessionKeys = [...new Set(records.filter((r) => r.sessionId !== null).map((r) => r.oci))];
        const stored = new Map<string, StoredRecord>();
        for (let i = 0; i < sessionKeys.length; i += ROWS_PER_INSERT) {
          const rows = await tx.select().from(servercmdhist).where(inArray(servercmdhist.oci, sessionKeys.slice(i, i + ROWS_PER_INSERT)));
          for (const row of rows) stored.set(row.oci, fromRow(row));
        }
        const c = findConflicts(records, stored);
        if (c.records.length) {
          const known = new Set<string>();
          const keys = c.records.map((r) => r.oci);
          for (let i = 0; i < keys.length; i += ROWS_PER_INSERT) {
            for (const row of await tx.select({ oci: servercmdhist.oci }).from(servercmdhist).where(inArray(servercmdhist.oci, keys.slice(i, i + ROWS_PER_INSERT)))) known.add(row.oci);
          }
          const added = c.records.filter((r) => !known.has(r.oci));
          for (const part of chunks(added)) await tx.execute(insertRows(part, receivedUs));
          inserted += added.length;
          fresh.push(...added);
          for (const r of added) { counts.set(r.hostname, (counts.get(r.hostname) ?? 0) + 1); lost(r); }
          for (const oci of c.flagStored) {
            await tx.update(servercmdhist).set({ flags: withConflict(stored.get(oci)!.flags).join(",") }).where(eq(servercmdhist.oci, oci));
          }
        }
      }
      // One statement for every host of the batch. Address and token kind follow receipt: the latest
      // batch that stored something new of the host (a claimed time must not pin them).
      await tx.insert(hosts).values(hostRows(receivedUs, counts, losses)).onDuplicateKeyUpdate({ set: {
        records: sql.raw("`records` + VALUES(`records`)"),
        losses: sql.raw("`losses` + VALUES(`losses`)"),
        reporter: sql.raw("IF(VALUES(`records`) > 0, COALESCE(VALUES(`reporter`), `reporter`), `reporter`)"),
        firstSeenUs: sql.raw("LEAST(`first_seen_us`, VALUES(`first_seen_us`))"),
        serverIps: sql.raw("IF(VALUES(`records`) > 0, VALUES(`server_ips`), `server_ips`)"),
        ingestAuth: sql.raw("IF(VALUES(`records`) > 0, COALESCE(VALUES(`ingest_auth`), `ingest_auth`), `ingest_auth`)"),
        lastSeenUs: sql.raw("GREATEST(`last_seen_us`, VALUES(`last_seen_us`))"),
        lastReceivedUs: sql.raw("GREATEST(`last_received_us`, VALUES(`last_received_us`))"),
        lastStoredUs: sql.raw("GREATEST(`last_stored_us`, VALUES(`last_stored_us`))"),
        // Runs before last_stored_us is set (schema.ts: column order), so `last_stored_us` here is the old value.
        cadenceUs: sql.raw("CASE WHEN VALUES(`records`) = 0 OR `last_stored_us` = 0 OR VALUES(`last_stored_us`) <= `last_stored_us` THEN `cadence_us`"
          + " WHEN `cadence_us` = 0 THEN VALUES(`last_stored_us`) - `last_stored_us`"
          + " ELSE (`cadence_us` * 7 + VALUES(`last_stored_us`) - `last_stored_us`) DIV 8 END"),
      } });
      const raised = alerts ? await writeAlerts(tx, alerts.drafts(fresh), alerts.nowUs, alerts.windowUs, true) : { raised: 0, messages: 0 };
      return { inserted, raised };
    });
  }

  async query(filter: CommandFilter, limit: number, after?: Cursor): Promise<StoredRecord[]> {
    const where = whereClause(servercmdhist, filter, after, (q) => sql`${servercmdhist.command} LIKE ${likeContains(q)}`);
    const rows = await this.db.select().from(servercmdhist).where(where)
      .orderBy(desc(servercmdhist.tsUs), desc(servercmdhist.id)).limit(limit);
    return rows.map(fromRow);
  }

  async sessions(filter: SessionFilter, limit: number, after?: SessionCursor): Promise<SessionSummary[]> {
    const [rows] = await this.db.execute(sessionsQuery(MYSQL_SESSIONS, filter, limit, after));
    return (rows as unknown as SessionRow[]).map((r) => sessionFromRow(r, "separated"));
  }

  async hosts(): Promise<HostSummary[]> {
    return (await this.db.select().from(hosts).orderBy(hosts.hostname)) as HostSummary[];
  }

  async countRejected(hostname: string, n: number): Promise<void> {
    if (n > 0) await this.db.update(hosts).set({ rejected: sql`${hosts.rejected} + ${n}` }).where(eq(hosts.hostname, hostname));
  }

  async transcript(host: string, sessionId: string, limit: number, after?: TranscriptCursor): Promise<StoredRecord[]> {
    const rows = await this.db.select().from(servercmdhist).where(transcriptClause(servercmdhist, host, sessionId, after))
      .orderBy(asc(servercmdhist.seq), asc(servercmdhist.id)).limit(limit);
    return rows.map(fromRow);
  }

  async putConsoleUser(u: ConsoleUser): Promise<void> {
    const row = { name: u.name, passwordHash: u.passwordHash, role: u.role, hostGroups: joinGroups(u.hostGroups), createdUs: u.createdUs };
    await this.db.insert(consoleUsers).values(row).onDuplicateKeyUpdate({ set: row });
  }

  async consoleUser(name: string): Promise<ConsoleUser | undefined> {
    const [r] = await this.db.select().from(consoleUsers).where(eq(consoleUsers.name, name));
    return r && consoleUserFromRow(r);
  }

  async consoleUsers(): Promise<ConsoleUser[]> {
    return (await this.db.select().from(consoleUsers).orderBy(consoleUsers.name)).map(consoleUserFromRow);
  }

  async removeConsoleUser(name: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.delete(consoleSessions).where(eq(consoleSessions.userName, name));
      const [res] = await tx.delete(consoleUsers).where(eq(consoleUsers.name, name));
      return res.affectedRows > 0;
    });
  }

  async createConsoleSession(s: ConsoleSession): Promise<void> {
    await this.db.insert(consoleSessions).values(s);
  }

  async consoleSession(idHash: string, nowUs: number): Promise<{ session: ConsoleSession; user: ConsoleUser } | undefined> {
    const [r] = await this.db.select().from(consoleSessions).innerJoin(consoleUsers, eq(consoleUsers.name, consoleSessions.userName))
      .where(eq(consoleSessions.idHash, idHash));
    if (!r) return undefined;
    if (r.cmdaudit_console_sessions.expiresUs <= nowUs) {
      await this.db.delete(consoleSessions).where(eq(consoleSessions.idHash, idHash));
      return undefined;
    }
    return { session: r.cmdaudit_console_sessions, user: consoleUserFromRow(r.cmdaudit_console_users) };
  }

  async removeConsoleSession(idHash: string): Promise<void> {
    await this.db.delete(consoleSessions).where(eq(consoleSessions.idHash, idHash));
  }

  async logAccess(e: AccessEntry): Promise<void> {
    await this.db.insert(consoleAccess).values(e);
  }

  async accessLog(limit: number, beforeId?: number): Promise<(AccessEntry & { id: number })[]> {
    return this.db.select().from(consoleAccess).where(beforeId !== undefined ? lt(consoleAccess.id, beforeId) : undefined)
      .orderBy(desc(consoleAccess.id)).limit(limit);
  }

  async raiseAlerts(drafts: AlertDraft[], nowUs: number, windowUs: number): Promise<number> {
    if (!drafts.length) return 0;
    return this.db.transaction(async (tx) => (await writeAlerts(tx, drafts, nowUs, windowUs, false)).raised);
  }

  async alerts(filter: AlertFilter, limit: number, beforeId?: number): Promise<StoredAlert[]> {
    const rows = await this.db.select().from(alerts).where(alertWhere(alerts, filter, beforeId)).orderBy(desc(alerts.id)).limit(limit);
    return rows.map(alertFromRow);
  }

  async dueMessages(nowUs: number, limit: number): Promise<OutboxMessage[]> {
    const rows = await this.db.select().from(alertOutbox).innerJoin(alerts, eq(alerts.id, alertOutbox.alertId))
      .where(and(eq(alertOutbox.state, "pending"), lte(alertOutbox.nextAttemptUs, nowUs))).orderBy(asc(alertOutbox.id)).limit(limit);
    return rows.map((r) => messageFromRow(r.cmdaudit_alert_outbox, r.cmdaudit_alerts));
  }

  async claimMessage(id: number, nextAttemptUs: number, leaseUntilUs: number): Promise<boolean> {
    const [res] = await this.db.update(alertOutbox).set({ nextAttemptUs: leaseUntilUs })
      .where(and(eq(alertOutbox.id, id), eq(alertOutbox.state, "pending"), eq(alertOutbox.nextAttemptUs, nextAttemptUs)));
    return res.affectedRows === 1;
  }

  async messageSent(id: number, count: number, nowUs: number): Promise<void> {
    await this.db.update(alertOutbox).set({ state: "sent", sentCount: count, sentUs: nowUs, attempts: sql`${alertOutbox.attempts} + 1`, lastError: "" })
      .where(eq(alertOutbox.id, id));
  }

  async messageFailed(id: number, nextAttemptUs: number, error: string): Promise<void> {
    await this.db.update(alertOutbox).set({ nextAttemptUs, lastError: error.slice(0, 255), attempts: sql`${alertOutbox.attempts} + 1` })
      .where(eq(alertOutbox.id, id));
  }

  async settleWindows(nowUs: number, limit: number): Promise<number> {
    const closed = await this.db.select().from(alertOutbox)
      .where(and(eq(alertOutbox.settled, 0), eq(alertOutbox.kind, "alert"), eq(alertOutbox.state, "sent"), lte(alertOutbox.windowEndUs, nowUs)))
      .orderBy(asc(alertOutbox.windowEndUs)).limit(limit);
    let repeats = 0;
    for (const m of closed) {
      repeats += await this.db.transaction(async (tx) => {
        // Only the one server that flips `settled` writes the repeat.
        const [res] = await tx.update(alertOutbox).set({ settled: 1 }).where(and(eq(alertOutbox.id, m.id), eq(alertOutbox.settled, 0)));
        if (res.affectedRows !== 1 || m.count <= m.sentCount) return 0;
        await tx.insert(alertOutbox).values(repeatOf(m, nowUs));
        return 1;
      });
    }
    return repeats;
  }

  async outboxStats(): Promise<OutboxStats> {
    const [r] = await this.db.select({ pending: sql<number>`count(*)`, oldest: sql<number | null>`min(${alerts.raisedUs})` })
      .from(alertOutbox).innerJoin(alerts, eq(alerts.id, alertOutbox.alertId)).where(eq(alertOutbox.state, "pending"));
    return { pending: Number(r?.pending ?? 0), oldestPendingUs: Number(r?.oldest ?? 0) };
  }

  async storedRules(): Promise<StoredRule[]> {
    return this.db.select().from(alertRules).orderBy(alertRules.id);
  }

  async putStoredRule(rule: StoredRule): Promise<void> {
    await this.db.insert(alertRules).values(rule).onDuplicateKeyUpdate({ set: { body: rule.body, updatedUs: rule.updatedUs } });
  }

  async removeStoredRule(id: string): Promise<boolean> {
    const [res] = await this.db.delete(alertRules).where(eq(alertRules.id, id));
    return res.affectedRows > 0;
  }

  async lastRecordId(): Promise<number> {
    const [r] = await this.db.select({ id: sql<number | null>`max(${servercmdhist.id})` }).from(servercmdhist);
    return Number(r?.id ?? 0);
  }

  async countRecords(afterId: number, throughId: number): Promise<number> {
    const [r] = await this.db.select({ n: sql<number>`count(*)` }).from(servercmdhist)
      .where(and(gt(servercmdhist.id, afterId), lte(servercmdhist.id, throughId)));
    return Number(r?.n ?? 0);
  }

  async commandsAfter(afterId: number, throughId: number, limit: number): Promise<StoredCommand[]> {
    const rows = await this.db.select({ id: servercmdhist.id, oci: servercmdhist.oci, command: servercmdhist.command, commandRaw: servercmdhist.commandRaw, redactions: servercmdhist.redactions })
      .from(servercmdhist).where(and(gt(servercmdhist.id, afterId), lte(servercmdhist.id, throughId))).orderBy(asc(servercmdhist.id)).limit(limit);
    return rows.map((r) => ({ ...r, redactions: redactionsFromColumn(r.redactions) }));
  }

  async redactProgress(): Promise<RedactProgress | undefined> {
    const [r] = await this.db.select().from(redactProgress).where(eq(redactProgress.job, REDACT_JOB));
    return r && redactProgressFromRow(r);
  }

  async advanceRedactProgress(expected: RedactProgress | undefined, next: RedactProgress, rewrites: StoredCommand[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // The progress row first: its row lock makes a second job's compare wait for this commit, then fail.
      const [res] = expected === undefined
        ? await tx.insert(redactProgress).values({ job: REDACT_JOB, ...next }).onDuplicateKeyUpdate({ set: { job: sql`${redactProgress.job}` } })
        : await tx.update(redactProgress).set(next).where(redactProgressIs(redactProgress, expected));
      if (res.affectedRows !== 1) return false;
      // The rule ids alerts have, so each look-up below is on the (rule_id, record_key) index.
      const ruleIds = rewrites.length ? (await tx.selectDistinct({ id: alerts.ruleId }).from(alerts)).map((r) => r.id) : [];
      for (const r of rewrites) {
        await tx.update(servercmdhist).set({ command: r.command, commandRaw: r.commandRaw, redactions: redactionsToColumn(r.redactions) })
          .where(eq(servercmdhist.id, r.id));
        if (ruleIds.length) {
          await tx.update(alerts).set({ command: r.command.slice(0, ALERT_COMMAND_CHARS) }).where(and(inArray(alerts.ruleId, ruleIds), eq(alerts.recordKey, r.oci)));
        }
      }
      return true;
    });
  }

  async ping(): Promise<void> {
    await this.db.execute(sql`SELECT 1`);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
