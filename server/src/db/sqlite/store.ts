import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { and, asc, desc, eq, gt, inArray, lt, lte, sql } from "drizzle-orm";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import type { AuditRecord, IngestAuth } from "../../../../protocol/index.ts";
import { findConflicts, withConflict } from "../conflicts.ts";
import { type SessionDialect, sessionsQuery, transcriptClause, whereClause } from "../filter.ts";
import { FLAGS_BACKFILL_BATCH, flagsUpdate, fromRow, redactionsFromColumn, redactionsToColumn, toRow } from "../rows.ts";
import {
  type AccessEntry, type AlertFilter, alertFromRow, type OutboxMessage, type OutboxStats, type StoredAlert, type StoredRule, type CommandFilter, consoleUserFromRow, type ConsoleSession, type ConsoleUser, type Cursor, type HostSummary, type InsertResult, type RedactProgress, type StoredCommand,
  joinGroups, type SessionCursor, type SessionFilter, type SessionRow, type SessionSummary, type Store, type StoredRecord,
  type TranscriptCursor, hostDeltas, REDACT_JOB, redactProgressFromRow, redactProgressIs, sessionFromRow,
} from "../store.ts";
import { ALERT_COMMAND_CHARS, type AlertDraft, type AlertSink } from "../../alerts/raise.ts";
import { alertWhere, messageFromRow, repeatOf } from "../alerts.ts";
import { alertOutbox, alertRules, alerts, consoleAccess, consoleSessions, consoleUsers, flagsBackfill, hosts, redactProgress, servercmdhist } from "./schema.ts";


/** json_group_array takes DISTINCT (SQLite's group_concat does not with a separator). */
const SQLITE_SESSIONS: SessionDialect = { hint: sql``, names: (column) => sql.raw(`json_group_array(DISTINCT ${column})`) };

/** 20 bound values a row; SQLite allows 32766 per statement. */
const ROWS_PER_INSERT = 1000;

export function openSqliteStore(path: string, opts: { migrationsFolder: string }): Store {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const sqlite = new Database(path, { create: true, strict: true });
  // WAL for concurrent readers; synchronous=FULL so an acknowledged batch survives a power cut.
  sqlite.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;");
  const db = drizzle({ client: sqlite });
  migrate(db, { migrationsFolder: opts.migrationsFolder });
  backfillFlags(db);
  return new SqliteStore(sqlite, db);
}

/** Rows stored before the flags column get the flags ingest gives, as in the MySQL store (0004 wrote which ids). */
function backfillFlags(db: BunSQLiteDatabase): void {
  for (;;) {
    const todo = db.select().from(flagsBackfill).limit(1).get();
    if (!todo) return;
    const rows = db.select({
      id: servercmdhist.id, hostname: servercmdhist.hostname, suser: servercmdhist.suser, luser: servercmdhist.luser,
      terminal: servercmdhist.terminal, cwd: servercmdhist.cwd,
    }).from(servercmdhist).where(and(gt(servercmdhist.id, todo.nextId), lte(servercmdhist.id, todo.lastId)))
      .orderBy(asc(servercmdhist.id)).limit(FLAGS_BACKFILL_BATCH).all();
    db.transaction((tx) => {
      const u = flagsUpdate(rows);
      if (u) tx.update(servercmdhist).set({ flags: u.flags }).where(inArray(servercmdhist.id, u.ids)).run();
      if (rows.length === 0) tx.delete(flagsBackfill).run();
      else tx.update(flagsBackfill).set({ nextId: rows.at(-1)!.id }).run();
    });
  }
}

type Tx = Parameters<Parameters<BunSQLiteDatabase["transaction"]>[0]>[0];

/** As the MySQL store's writeAlerts: a new alert opens a window with its messages, or counts in the open one. */
/** Each new alert, and the outbox messages of the windows it opens: how many of each. */
function writeAlerts(tx: Tx, drafts: AlertDraft[], nowUs: number, windowUs: number): { raised: number; messages: number } {
  let raised = 0;
  let messages = 0;
  for (const d of drafts) {
    const row = tx.insert(alerts).values({
      ruleId: d.ruleId, severity: d.severity, hostname: d.hostname, luser: d.luser, suser: d.suser, recordKey: d.recordKey,
      recordTsUs: d.recordTsUs, sessionId: d.sessionId, seq: d.seq, command: d.command, raisedUs: nowUs,
    }).onConflictDoNothing().returning({ id: alerts.id }).get();
    if (!row) continue;
    raised++;
    if (!d.channels.length) continue;
    const open = tx.update(alertOutbox).set({ count: sql`${alertOutbox.count} + 1` })
      .where(and(eq(alertOutbox.groupKey, d.groupKey), eq(alertOutbox.kind, "alert"), gt(alertOutbox.windowEndUs, nowUs))).returning({ id: alertOutbox.id }).all();
    if (open.length > 0) continue;
    messages += d.channels.length;
    tx.insert(alertOutbox).values(d.channels.map((channel) => ({
      channel, groupKey: d.groupKey, alertId: row.id, kind: "alert", windowEndUs: nowUs + windowUs, nextAttemptUs: nowUs,
    }))).run();
  }
  return { raised, messages };
}

class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  constructor(private readonly sqlite: Database, private readonly db: BunSQLiteDatabase) {}

  async insert(records: AuditRecord[], receivedUs: number, auth?: IngestAuth, reporter?: string, alertSink?: AlertSink): Promise<InsertResult> {
    if (records.length === 0) return { inserted: 0, duplicates: 0, alerts: 0, messages: 0 };
    const { inserted, raised: { raised, messages } } = this.db.transaction((tx) => {
      let total = 0;
      const fresh: AuditRecord[] = [];
      for (const [hostname, h] of hostDeltas(records)) {
        let n = 0;
        let losses = 0;
        const insert = (recs: AuditRecord[]) => {
          let added = 0;
          for (let i = 0; i < recs.length; i += ROWS_PER_INSERT) {
            const part = recs.slice(i, i + ROWS_PER_INSERT);
            const got = tx.insert(servercmdhist).values(part.map((r) => toRow(r, receivedUs))).onConflictDoNothing({ target: servercmdhist.oci })
              .returning({ kind: servercmdhist.kind, oci: servercmdhist.oci }).all();
            added += got.length;
            losses += got.filter((r) => r.kind === "loss").length;
            if (alertSink && got.length) {
              const stored = new Set(got.map((r) => r.oci));
              for (const r of part) if (stored.delete(r.oci)) fresh.push(r);
            }
          }
          return added;
        };
        n += insert(h.records);
        if (n < h.records.length) {
          // Some keys were stored already: same content is a duplicate, other content a conflict (conflicts.ts).
          const keys = [...new Set(h.records.filter((r) => r.sessionId !== null).map((r) => r.oci))];
          const stored = new Map<string, StoredRecord>();
          for (let i = 0; i < keys.length; i += ROWS_PER_INSERT) {
            for (const row of tx.select().from(servercmdhist).where(inArray(servercmdhist.oci, keys.slice(i, i + ROWS_PER_INSERT))).all()) stored.set(row.oci, fromRow(row));
          }
          const c = findConflicts(h.records, stored);
          n += insert(c.records);
          for (const oci of c.flagStored) {
            tx.update(servercmdhist).set({ flags: withConflict(stored.get(oci)!.flags).join(",") }).where(eq(servercmdhist.oci, oci)).run();
          }
        }
        total += n;
        // Address and token kind follow receipt: the latest batch that stored something new of the host
        // (a claimed time can be up to records.max_future_seconds ahead; it must not pin them).
        const stored = n > 0;
        tx.insert(hosts).values({
          hostname, serverIps: h.serverIps, firstSeenUs: h.minTs, lastSeenUs: h.maxTs, lastReceivedUs: receivedUs, lastStoredUs: stored ? receivedUs : 0, records: n,
          ingestAuth: stored ? auth ?? null : null, losses, reporter: stored ? reporter ?? null : null,
        })
          .onConflictDoUpdate({ target: hosts.hostname, set: {
            records: sql`${hosts.records} + ${n}`,
            firstSeenUs: sql`min(${hosts.firstSeenUs}, ${h.minTs})`,
            serverIps: stored ? h.serverIps : sql`${hosts.serverIps}`,
            ingestAuth: stored && auth ? auth : sql`${hosts.ingestAuth}`,
            losses: sql`${hosts.losses} + ${losses}`,
            reporter: stored && reporter ? reporter : sql`${hosts.reporter}`,
            lastSeenUs: sql`max(${hosts.lastSeenUs}, ${h.maxTs})`,
            lastReceivedUs: sql`max(${hosts.lastReceivedUs}, ${receivedUs})`,
            lastStoredUs: sql`max(${hosts.lastStoredUs}, ${n > 0 ? receivedUs : 0})`,
            // SQLite's upsert reads the old row in every expression: last_stored_us here is the previous batch's.
            cadenceUs: stored
              ? sql`CASE WHEN ${hosts.lastStoredUs} = 0 OR ${receivedUs} <= ${hosts.lastStoredUs} THEN ${hosts.cadenceUs} WHEN ${hosts.cadenceUs} = 0 THEN ${receivedUs} - ${hosts.lastStoredUs} ELSE (${hosts.cadenceUs} * 7 + ${receivedUs} - ${hosts.lastStoredUs}) / 8 END`
              : sql`${hosts.cadenceUs}`,
          } }).run();
      }
      const raised = alertSink ? writeAlerts(tx, alertSink.drafts(fresh), alertSink.nowUs, alertSink.windowUs) : { raised: 0, messages: 0 };
      return { inserted: total, raised };
    }, { behavior: "immediate" });
    return { inserted, duplicates: records.length - inserted, alerts: raised, messages };
  }

  async query(filter: CommandFilter, limit: number, after?: Cursor): Promise<StoredRecord[]> {
    const where = whereClause(servercmdhist, filter, after, (q) => sql`instr(${servercmdhist.command}, ${q}) > 0`);
    const rows = this.db.select().from(servercmdhist).where(where)
      .orderBy(desc(servercmdhist.tsUs), desc(servercmdhist.id)).limit(limit).all();
    return rows.map(fromRow);
  }

  async sessions(filter: SessionFilter, limit: number, after?: SessionCursor): Promise<SessionSummary[]> {
    return this.db.all<SessionRow>(sessionsQuery(SQLITE_SESSIONS, filter, limit, after)).map((r) => sessionFromRow(r, "json"));
  }

  async hosts(): Promise<HostSummary[]> {
    return this.db.select().from(hosts).orderBy(hosts.hostname).all() as HostSummary[];
  }

  async countRejected(hostname: string, n: number): Promise<void> {
    if (n > 0) this.db.update(hosts).set({ rejected: sql`${hosts.rejected} + ${n}` }).where(eq(hosts.hostname, hostname)).run();
  }

  async transcript(host: string, sessionId: string, limit: number, after?: TranscriptCursor): Promise<StoredRecord[]> {
    return this.db.select().from(servercmdhist).where(transcriptClause(servercmdhist, host, sessionId, after))
      .orderBy(asc(servercmdhist.seq), asc(servercmdhist.id)).limit(limit).all().map(fromRow);
  }

  async putConsoleUser(u: ConsoleUser): Promise<void> {
    const row = { name: u.name, passwordHash: u.passwordHash, role: u.role, hostGroups: joinGroups(u.hostGroups), createdUs: u.createdUs };
    this.db.insert(consoleUsers).values(row).onConflictDoUpdate({ target: consoleUsers.name, set: row }).run();
  }

  async consoleUser(name: string): Promise<ConsoleUser | undefined> {
    const r = this.db.select().from(consoleUsers).where(eq(consoleUsers.name, name)).get();
    return r && consoleUserFromRow(r);
  }

  async consoleUsers(): Promise<ConsoleUser[]> {
    return this.db.select().from(consoleUsers).orderBy(consoleUsers.name).all().map(consoleUserFromRow);
  }

  async removeConsoleUser(name: string): Promise<boolean> {
    return this.db.transaction((tx) => {
      tx.delete(consoleSessions).where(eq(consoleSessions.userName, name)).run();
      return tx.delete(consoleUsers).where(eq(consoleUsers.name, name)).returning({ name: consoleUsers.name }).all().length > 0;
    });
  }

  async createConsoleSession(s: ConsoleSession): Promise<void> {
    this.db.insert(consoleSessions).values(s).run();
  }

  async consoleSession(idHash: string, nowUs: number): Promise<{ session: ConsoleSession; user: ConsoleUser } | undefined> {
    const r = this.db.select().from(consoleSessions).innerJoin(consoleUsers, eq(consoleUsers.name, consoleSessions.userName))
      .where(eq(consoleSessions.idHash, idHash)).get();
    if (!r) return undefined;
    if (r.cmdaudit_console_sessions.expiresUs <= nowUs) {
      this.db.delete(consoleSessions).where(eq(consoleSessions.idHash, idHash)).run();
      return undefined;
    }
    return { session: r.cmdaudit_console_sessions, user: consoleUserFromRow(r.cmdaudit_console_users) };
  }

  async removeConsoleSession(idHash: string): Promise<void> {
    this.db.delete(consoleSessions).where(eq(consoleSessions.idHash, idHash)).run();
  }

  async logAccess(e: AccessEntry): Promise<void> {
    this.db.insert(consoleAccess).values(e).run();
  }

  async accessLog(limit: number, beforeId?: number): Promise<(AccessEntry & { id: number })[]> {
    return this.db.select().from(consoleAccess).where(beforeId !== undefined ? lt(consoleAccess.id, beforeId) : undefined)
      .orderBy(desc(consoleAccess.id)).limit(limit).all();
  }

  async raiseAlerts(drafts: AlertDraft[], nowUs: number, windowUs: number): Promise<number> {
    if (!drafts.length) return 0;
    return this.db.transaction((tx) => writeAlerts(tx, drafts, nowUs, windowUs).raised, { behavior: "immediate" });
  }

  async alerts(filter: AlertFilter, limit: number, beforeId?: number): Promise<StoredAlert[]> {
    return this.db.select().from(alerts).where(alertWhere(alerts, filter, beforeId)).orderBy(desc(alerts.id)).limit(limit).all().map(alertFromRow);
  }

  async dueMessages(nowUs: number, limit: number): Promise<OutboxMessage[]> {
    return this.db.select().from(alertOutbox).innerJoin(alerts, eq(alerts.id, alertOutbox.alertId))
      .where(and(eq(alertOutbox.state, "pending"), lte(alertOutbox.nextAttemptUs, nowUs))).orderBy(asc(alertOutbox.id)).limit(limit).all()
      .map((r) => messageFromRow(r.cmdaudit_alert_outbox, r.cmdaudit_alerts));
  }

  async claimMessage(id: number, nextAttemptUs: number, leaseUntilUs: number): Promise<boolean> {
    return this.db.update(alertOutbox).set({ nextAttemptUs: leaseUntilUs })
      .where(and(eq(alertOutbox.id, id), eq(alertOutbox.state, "pending"), eq(alertOutbox.nextAttemptUs, nextAttemptUs)))
      .returning({ id: alertOutbox.id }).all().length === 1;
  }

  async messageSent(id: number, count: number, nowUs: number): Promise<void> {
    this.db.update(alertOutbox).set({ state: "sent", sentCount: count, sentUs: nowUs, attempts: sql`${alertOutbox.attempts} + 1`, lastError: "" })
      .where(eq(alertOutbox.id, id)).run();
  }

  async messageFailed(id: number, nextAttemptUs: number, error: string): Promise<void> {
    this.db.update(alertOutbox).set({ nextAttemptUs, lastError: error.slice(0, 255), attempts: sql`${alertOutbox.attempts} + 1` })
      .where(eq(alertOutbox.id, id)).run();
  }

  async settleWindows(nowUs: number, limit: number): Promise<number> {
    return this.db.transaction((tx) => {
      const closed = tx.select().from(alertOutbox)
        .where(and(eq(alertOutbox.settled, 0), eq(alertOutbox.kind, "alert"), eq(alertOutbox.state, "sent"), lte(alertOutbox.windowEndUs, nowUs)))
        .orderBy(asc(alertOutbox.windowEndUs)).limit(limit).all();
      let repeats = 0;
      for (const m of closed) {
        tx.update(alertOutbox).set({ settled: 1 }).where(eq(alertOutbox.id, m.id)).run();
        if (m.count > m.sentCount) {
          tx.insert(alertOutbox).values(repeatOf(m, nowUs)).run();
          repeats++;
        }
      }
      return repeats;
    }, { behavior: "immediate" });
  }

  async outboxStats(): Promise<OutboxStats> {
    const r = this.db.select({ pending: sql<number>`count(*)`, oldest: sql<number | null>`min(${alerts.raisedUs})` })
      .from(alertOutbox).innerJoin(alerts, eq(alerts.id, alertOutbox.alertId)).where(eq(alertOutbox.state, "pending")).get();
    return { pending: Number(r?.pending ?? 0), oldestPendingUs: Number(r?.oldest ?? 0) };
  }

  async storedRules(): Promise<StoredRule[]> {
    return this.db.select().from(alertRules).orderBy(alertRules.id).all();
  }

  async putStoredRule(rule: StoredRule): Promise<void> {
    this.db.insert(alertRules).values(rule).onConflictDoUpdate({ target: alertRules.id, set: { body: rule.body, updatedUs: rule.updatedUs } }).run();
  }

  async removeStoredRule(id: string): Promise<boolean> {
    return this.db.delete(alertRules).where(eq(alertRules.id, id)).returning({ id: alertRules.id }).all().length > 0;
  }

  async lastRecordId(): Promise<number> {
    return Number(this.db.select({ id: sql<number | null>`max(${servercmdhist.id})` }).from(servercmdhist).get()?.id ?? 0);
  }

  async countRecords(afterId: number, throughId: number): Promise<number> {
    return Number(this.db.select({ n: sql<number>`count(*)` }).from(servercmdhist)
      .where(and(gt(servercmdhist.id, afterId), lte(servercmdhist.id, throughId))).get()?.n ?? 0);
  }

  async commandsAfter(afterId: number, throughId: number, limit: number): Promise<StoredCommand[]> {
    return this.db.select({ id: servercmdhist.id, oci: servercmdhist.oci, command: servercmdhist.command, commandRaw: servercmdhist.commandRaw, redactions: servercmdhist.redactions })
      .from(servercmdhist).where(and(gt(servercmdhist.id, afterId), lte(servercmdhist.id, throughId))).orderBy(asc(servercmdhist.id)).limit(limit).all()
      .map((r) => ({ ...r, redactions: redactionsFromColumn(r.redactions) }));
  }

  async redactProgress(): Promise<RedactProgress | undefined> {
    const r = this.db.select().from(redactProgress).where(eq(redactProgress.job, REDACT_JOB)).get();
    return r && redactProgressFromRow(r);
  }

  async advanceRedactProgress(expected: RedactProgress | undefined, next: RedactProgress, rewrites: StoredCommand[]): Promise<boolean> {
    // Immediate: the write lock is taken before the compare, so another process's compare waits for this commit.
    return this.db.transaction((tx) => {
      const moved = expected === undefined
        ? tx.insert(redactProgress).values({ job: REDACT_JOB, ...next }).onConflictDoNothing().returning({ job: redactProgress.job }).all()
        : tx.update(redactProgress).set(next).where(redactProgressIs(redactProgress, expected)).returning({ job: redactProgress.job }).all();
      if (moved.length !== 1) return false;
      const ruleIds = rewrites.length ? tx.selectDistinct({ id: alerts.ruleId }).from(alerts).all().map((r) => r.id) : [];
      for (const r of rewrites) {
        tx.update(servercmdhist).set({ command: r.command, commandRaw: r.commandRaw, redactions: redactionsToColumn(r.redactions) })
          .where(eq(servercmdhist.id, r.id)).run();
        if (ruleIds.length) {
          tx.update(alerts).set({ command: r.command.slice(0, ALERT_COMMAND_CHARS) }).where(and(inArray(alerts.ruleId, ruleIds), eq(alerts.recordKey, r.oci))).run();
        }
      }
      return true;
    }, { behavior: "immediate" });
  }

  async ping(): Promise<void> {
    this.sqlite.query("SELECT 1").get();
  }

  async close(): Promise<void> {
    this.sqlite.close();
  }
}
