/** Alert and outbox pieces both dialects share (the tables' columns have the same names and meaning). */
import { and, eq, gte, inArray, lt, type SQL, sql } from "drizzle-orm";
import type { alertOutbox as mysqlOutbox, alerts as mysqlAlerts } from "./mysql/schema.ts";
import type { alerts as sqliteAlerts } from "./sqlite/schema.ts";
import { alertFromRow, type AlertFilter, type OutboxMessage } from "./store.ts";

type AlertsTable = typeof mysqlAlerts | typeof sqliteAlerts;
type OutboxRow = typeof mysqlOutbox.$inferSelect;
type AlertRow = typeof mysqlAlerts.$inferSelect;

export function alertWhere(t: AlertsTable, f: AlertFilter, beforeId: number | undefined): SQL | undefined {
  // The cast only unifies the two dialects' column types for the generic operators.
  const c = t as typeof mysqlAlerts;
  const conds: (SQL | undefined)[] = [
    f.host !== undefined ? eq(c.hostname, f.host) : undefined,
    f.ruleId !== undefined ? eq(c.ruleId, f.ruleId) : undefined,
    f.severity !== undefined ? eq(c.severity, f.severity) : undefined,
    f.fromUs !== undefined ? gte(c.raisedUs, f.fromUs) : undefined,
    f.toUs !== undefined ? lt(c.raisedUs, f.toUs) : undefined,
    f.hostIn !== undefined ? (f.hostIn.length ? inArray(c.hostname, f.hostIn) : sql`1 = 0`) : undefined,
    beforeId !== undefined ? lt(c.id, beforeId) : undefined,
  ];
  return and(...conds.filter((x): x is SQL => x !== undefined));
}

export function messageFromRow(m: OutboxRow, a: AlertRow): OutboxMessage {
  return {
    id: m.id, channel: m.channel, kind: m.kind === "repeat" ? "repeat" : "alert", count: m.count, windowEndUs: m.windowEndUs,
    attempts: m.attempts, nextAttemptUs: m.nextAttemptUs, alert: alertFromRow(a),
  };
}

/** The message that tells a channel how many more matched in a window after its alert was sent. */
export function repeatOf(m: OutboxRow, nowUs: number) {
  return {
    channel: m.channel, groupKey: m.groupKey, alertId: m.alertId, kind: "repeat", count: m.count - m.sentCount,
    windowEndUs: m.windowEndUs, nextAttemptUs: nowUs, settled: 1,
  };
}
