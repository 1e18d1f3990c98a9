/**
 * Opening the store on a database the 2018 seed backend filled: the migrations
 * upgrade `servercmdhist` in place and the legacy backfill fills ts_us and the
 * hosts table, without changing a byte of what the seed stored.
 *
 * The seed table is created from test/fixtures/seed-servercmdhist.sql (the seed
 * document's DDL, verbatim) and filled the way the seed backend did: plain
 * INSERTs over a utf8 (3-byte) connection, oci = md5("host-ctime-luser-suser-command").
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mysql from "mysql2/promise";
import { normalizeRecord, type AuditRecord } from "../../protocol/index.ts";
import { openStore } from "../../server/src/db/open.ts";
import type { HostSummary, Store, StoredRecord } from "../../server/src/db/store.ts";
import { Rng } from "../protocol/helpers.ts";
import { createTestDatabase } from "../support/mysql.ts";
import { hookRecord } from "./conformance.ts";

const SEED_DDL = readFileSync(new URL("../fixtures/seed-servercmdhist.sql", import.meta.url), "utf8");
const SEED_COLUMNS = ["id", "oci", "hostname", "serverIps", "ctime", "luser", "suser", "terminal", "clientIp", "command"] as const;
const LEGACY_OFFSET = 480; // the seed fleet ran on China Standard Time
const OPEN = { dataDir: "/nonexistent-data-dir", legacyUtcOffset: LEGACY_OFFSET };
const SLOW = 30_000; // bun's default 5 s is tight for creating and upgrading databases on a slow CI host
/** The committed MySQL migrations: each must be recorded as applied exactly once. */
const MIGRATIONS = (JSON.parse(readFileSync(new URL("../../server/drizzle/mysql/meta/_journal.json", import.meta.url), "utf8")) as { entries: unknown[] }).entries.length;

type TestDb = Awaited<ReturnType<typeof createTestDatabase>>;

interface SeedRow {
  hostname: string;
  serverIps: string | null;
  ctime: string;
  luser: string;
  suser: string | null;
  terminal: string | null;
  clientIp: string;
  command: string;
}

/** The seed backend's key: python's "%s-%s-%s-%s-%s" % (...) (None formats as "None"), md5 of the UTF-8 bytes. */
function pythonOci(r: SeedRow): string {
  return createHash("md5").update(`${r.hostname}-${r.ctime}-${r.luser}-${r.suser ?? "None"}-${r.command}`, "utf8").digest("hex");
}

/** A zone-less seed ctime read as China Standard Time → UTC µs (independent of protocol/time.ts). */
function cstToUs(ctime: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(ctime);
  if (!m) throw new Error(`bad fixture ctime ${ctime}`);
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return (Date.UTC(y, mo - 1, d, h, mi, s) - 8 * 3600_000) * 1000;
}

/** "YYYY-MM-DD HH:MM:SS" of a local-time counter in seconds since 2018-12-11 09:00:00 (local). */
function localCtime(secondsSinceStart: number): string {
  const d = new Date(Date.UTC(2018, 11, 11, 9, 0, 0) + secondsSinceStart * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

const TEN_K = "echo " + "审计".repeat(4997) + "!"; // exactly 10,000 characters: the seed's varchar(10000) limit

/** Rows that matter one by one (found again by their command). */
const SPECIAL: SeedRow[] = [
  { hostname: "web01", serverIps: "10.0.0.11", ctime: "2018-12-11 08:59:00", luser: "root", suser: "root", terminal: "pts/0", clientIp: "192.168.1.2", command: "echo '你好，世界' > /tmp/问候.txt" },
  { hostname: "web02", serverIps: "10.0.0.12", ctime: "2018-12-11 08:59:01", luser: "deploy", suser: "deploy", terminal: "pts/1", clientIp: "192.168.1.3", command: TEN_K },
  { hostname: "web01", serverIps: "10.0.0.11", ctime: "2018-12-11 08:59:02", luser: "root", suser: "root", terminal: "tty1", clientIp: "", command: "reboot" },
  { hostname: "db-master", serverIps: "10.0.1.5,10.0.1.6", ctime: "2018-12-11 08:59:03", luser: "root", suser: "root", terminal: "tty1", clientIp: "11:58", command: "systemctl status mysqld" },
  { hostname: "db-master", serverIps: "10.0.1.5,10.0.1.6", ctime: "2018-12-11 08:59:04", luser: "dba", suser: "root", terminal: "pts/2", clientIp: "10.0.9.9", command: "mysql -uroot -p'pa$$w0rd' -e \"select * from t where name like '%_x' and p = 'C:\\\\tmp'\"" },
  { hostname: "web02", serverIps: "10.0.0.12", ctime: "2018-12-11 08:59:05", luser: "deploy", suser: "root", terminal: "pts/1", clientIp: "192.168.1.3", command: "ls -la   " },
  { hostname: "ops-跳板机", serverIps: "172.16.0.1", ctime: "2018-12-11 08:59:06", luser: "ops", suser: "root", terminal: "pts/4", clientIp: "172.16.0.100", command: "grep -r '错误' /var/log/应用/ | tail -n 20" },
  // rows the seed's reporter could not have sent, but which a 2018 table can hold (imports, hand edits)
  { hostname: "web02", serverIps: null, ctime: "2018-12-11 08:59:07", luser: "backup", suser: null, terminal: null, clientIp: "192.168.1.4", command: "tar czf /backup/etc.tgz /etc" },
  { hostname: "ops-跳板机", serverIps: "172.16.0.1", ctime: "2018-12-11 08:59:08", luser: "ops", suser: null, terminal: "pts/4", clientIp: "172.16.0.100", command: "ssh web01" },
  // a login name that imitates root (Cyrillic о): the backfill flags it as ingest would
  { hostname: "web02", serverIps: "10.0.0.12", ctime: "2018-12-11 08:59:09", luser: "r\u043e\u043et", suser: "root", terminal: "pts/1", clientIp: "192.168.1.3", command: "id" },
];

/** The flags each old row must get (protocol/names.ts): the Chinese host name is not RFC 1123, the look-alike login is flagged twice. */
function seedFlags(r: Row): string {
  if (r.luser === "r\u043e\u043et") return "user-nonstandard,name-confusable";
  return r.hostname === "ops-跳板机" ? "hostname-nonstandard" : "";
}

/** ~2,600 seed rows: several hosts reporting in interleaved batches; web01's addresses change on 2018-12-13. */
function seedRows(seed: number): SeedRow[] {
  const rng = new Rng(seed);
  const hosts = ["web01", "web02", "db-master", "ops-跳板机"];
  const ipsOf = (h: string, t: number) => h === "web01" ? (t < 2 * 86400 ? "10.0.0.11" : "10.0.0.11,172.17.0.1")
    : h === "web02" ? "10.0.0.12" : h === "db-master" ? "10.0.1.5,10.0.1.6" : "172.16.0.1";
  const commands = ["ls -la", "cd /etc && vim nginx.conf", "tail -f /var/log/messages", "echo '中文日志' >> /tmp/a.log", "ps aux | grep java", "df -h", "free -m", "top", "history | grep ssh", "printf 'a\\tb\\n'"];
  const batches: SeedRow[][] = [];
  for (const h of hosts) {
    let t = rng.int(600);
    let batch: SeedRow[] = [];
    for (let i = 0; i < 650; i++) {
      t += rng.int(1200) + 1; // strictly increasing per host: one newest row per host
      const luser = rng.pick(["root", "deploy", "admin"]);
      batch.push({
        hostname: h, serverIps: ipsOf(h, t), ctime: localCtime(t), luser, suser: rng.chance(0.9) ? rng.pick(["root", luser]) : null,
        terminal: `pts/${rng.int(5)}`, clientIp: `192.168.${rng.int(3)}.${rng.range(2, 254)}`, command: `${rng.pick(commands)} #${h}:${i}`,
      });
      if (batch.length === 50) { batches.push(batch); batch = []; }
    }
    if (batch.length) batches.push(batch);
  }
  // the reporters' batches reached the backend interleaved, each host's in order
  const queues = hosts.map((h) => batches.filter((b) => b[0]!.hostname === h));
  const rows: SeedRow[] = [...SPECIAL];
  while (queues.some((q) => q.length)) rows.push(...rng.pick(queues.filter((q) => q.length)).shift()!);
  return rows;
}

/** Create the seed table in `db` (as utf8 database, like a 2018 one) and fill it as the seed backend did. */
async function createSeedDatabase(db: TestDb, rows: SeedRow[]): Promise<void> {
  const c = await mysql.createConnection({ uri: db.url, charset: "UTF8_GENERAL_CI" });
  try {
    await c.query(`ALTER DATABASE \`${db.name}\` CHARACTER SET utf8 COLLATE utf8_general_ci`);
    await c.query(SEED_DDL);
    for (let i = 0; i < rows.length; i += 500) {
      const values = rows.slice(i, i + 500).map((r) => [pythonOci(r), r.hostname, r.serverIps, r.ctime, r.luser, r.suser, r.terminal, r.clientIp, r.command]);
      await c.query("INSERT INTO servercmdhist (oci, hostname, serverIps, ctime, luser, suser, terminal, clientIp, command) VALUES ?", [values]);
    }
    // a few rows deleted by hand over the years: ids have gaps
    await c.query("DELETE FROM servercmdhist WHERE id IN (100, 101, 1234)");
  } finally {
    await c.end();
  }
}

async function q<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = await mysql.createConnection({ uri: url, charset: "UTF8MB4_BIN" });
  try {
    const [rows] = await c.query(sql, params);
    return rows as T[];
  } finally {
    await c.end();
  }
}

type Row = Record<string, unknown>;
const hexSql = `SELECT ${SEED_COLUMNS.map((c) => `HEX(\`${c}\`) AS \`${c}\``).join(", ")} FROM servercmdhist WHERE id <= ? ORDER BY id`;
const seedColsSql = `SELECT ${SEED_COLUMNS.map((c) => `\`${c}\``).join(", ")} FROM servercmdhist WHERE id <= ? ORDER BY id`;

/** hosts() as the seed rows say it must be: counts, first/last seen at +08:00, addresses of the newest row. */
function expectedHosts(rows: Row[]): HostSummary[] {
  const by = new Map<string, HostSummary>();
  for (const r of rows) {
    const ts = cstToUs(r.ctime as string);
    const ips = (r.serverIps as string | null) ?? "";
    const h = by.get(r.hostname as string);
    if (!h) { by.set(r.hostname as string, { hostname: r.hostname as string, serverIps: ips, firstSeenUs: ts, lastSeenUs: ts, lastReceivedUs: 0, lastStoredUs: 0, cadenceUs: 0, records: 1, ingestAuth: null, losses: 0, rejected: 0, reporter: null }); continue; }
    h.records++;
    h.firstSeenUs = Math.min(h.firstSeenUs, ts);
    if (ts > h.lastSeenUs) { h.lastSeenUs = ts; h.serverIps = ips; }
  }
  return [...by.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : 1));
}

const sortHosts = (hs: HostSummary[]) => hs.map((h) => ({ ...h })).sort((a, b) => (a.hostname < b.hostname ? -1 : 1));

function legacyWire(r: Row): AuditRecord {
  const rec = normalizeRecord({
    ctime: r.ctime, hostname: r.hostname, serverIps: r.serverIps, suser: r.suser, luser: r.luser,
    terminal: r.terminal, clientIp: r.clientIp, command: r.command,
  }, { legacyUtcOffset: LEGACY_OFFSET });
  if (typeof rec === "string") throw new Error(`normalizeRecord rejected a seed row: ${rec}`);
  return rec;
}

describe("opening the store on the 2018 seed's database", () => {
  const rows = seedRows(2018);
  let db: TestDb;
  let store: Store;
  let maxOldId = 0;
  let before: { typed: Row[]; hex: Row[] };
  let hostsAfterOpen: HostSummary[];

  beforeAll(async () => {
    db = await createTestDatabase("seed");
    await createSeedDatabase(db, rows);
    const [{ m }] = await q<{ m: number }>(db.url, "SELECT MAX(id) AS m FROM servercmdhist") as [{ m: number }];
    maxOldId = m;
    before = { typed: await q<Row>(db.url, "SELECT * FROM servercmdhist ORDER BY id"), hex: await q<Row>(db.url, hexSql, [maxOldId]) };
    store = await openStore(db.url, OPEN);
    hostsAfterOpen = sortHosts(await store.hosts());
  }, { timeout: SLOW });

  afterAll(async () => {
    await store?.close();
    await db?.drop();
  }, { timeout: SLOW });

  test("the fixture is the seed's table with realistic rows", () => {
    expect(before.typed.length).toBe(rows.length - 3);
    expect(Object.keys(before.typed[0]!)).toEqual([...SEED_COLUMNS]);
    // the seed backend's oci, 10,000-character and Chinese commands, console logins, NULL susers are all there
    const byCmd = new Map(before.typed.map((r) => [r.command as string, r]));
    expect((byCmd.get(TEN_K)?.command as string).length).toBe(10_000);
    expect(byCmd.get("reboot")?.clientIp).toBe("");
    expect(before.typed.filter((r) => r.suser === null).length).toBeGreaterThan(2);
    for (const r of before.typed.slice(0, 50)) expect(r.oci).toBe(pythonOci(r as unknown as SeedRow));
  });

  test("every seed column of every row is byte-identical after the upgrade, ids included", async () => {
    expect(await q<Row>(db.url, hexSql, [maxOldId])).toEqual(before.hex);
    expect(await q<Row>(db.url, seedColsSql, [maxOldId])).toEqual(before.typed);
  });

  test("the old rows got their UTC time from ctime at +08:00, their names' flags, and nothing else new", async () => {
    const got = await q<Row>(db.url, "SELECT id, ctime, hostname, luser, flags, ts_us, utc_offset, kind, session_id, seq, cwd, exit_status, duration_ms, command_raw, received_us FROM servercmdhist WHERE id <= ? ORDER BY id", [maxOldId]);
    expect(got.length).toBe(before.typed.length);
    expect(got.filter((r) => r.flags !== "").length).toBeGreaterThan(100);
    for (const r of got) {
      expect({ id: r.id, ts: Number(r.ts_us), flags: r.flags }).toEqual({ id: r.id, ts: cstToUs(r.ctime as string), flags: seedFlags(r) });
      expect([r.utc_offset, r.kind, r.session_id, r.seq, r.cwd, r.exit_status, r.duration_ms, r.command_raw, Number(r.received_us)])
        .toEqual([null, "command", null, null, null, null, null, null, 0]);
    }
  });

  test("the store reads the old rows as records", async () => {
    const want = before.typed.filter((r) => r.hostname === "web02").map((r): StoredRecord => ({
      id: r.id as number, oci: r.oci as string, kind: "command", ctime: r.ctime as string, tsUs: cstToUs(r.ctime as string), utcOffset: null,
      hostname: "web02", serverIps: (r.serverIps as string | null) ?? "", suser: (r.suser as string | null) ?? "", luser: r.luser as string,
      terminal: (r.terminal as string | null) ?? "", clientIp: r.clientIp as string, command: r.command as string, commandRaw: null,
      sessionId: null, seq: null, cwd: null, exitStatus: null, durationMs: null, receivedUs: 0, attestation: "none", attestedUser: null, attestedLoginUser: null,
      flags: seedFlags(r) === "" ? [] : seedFlags(r).split(",") as StoredRecord["flags"], redactions: [],
    })).sort((a, b) => b.tsUs - a.tsUs || b.id - a.id);
    const got = (await store.query({ host: "web02" }, 100_000)).filter((r) => r.id <= maxOldId);
    expect(got).toEqual(want);
    expect((await store.query({ q: "问候" }, 10)).map((r) => r.command)).toEqual(["echo '你好，世界' > /tmp/问候.txt"]);
  });

  test("hosts() counts the old rows per host, with first/last seen and the newest row's addresses", () => {
    expect(hostsAfterOpen).toEqual(expectedHosts(before.typed));
    expect(hostsAfterOpen.find((h) => h.hostname === "web01")?.serverIps).toBe("10.0.0.11,172.17.0.1");
  });

  test("the table is utf8mb4 (binary collation) throughout", async () => {
    const [t] = await q<Row>(db.url, "SELECT TABLE_COLLATION AS c FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'servercmdhist'", [db.name]);
    expect(t?.c).toBe("utf8mb4_bin");
    const cols = await q<Row>(db.url, "SELECT COLUMN_NAME AS n, CHARACTER_SET_NAME AS cs, COLLATION_NAME AS co FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'servercmdhist' AND CHARACTER_SET_NAME IS NOT NULL", [db.name]);
    expect(cols.length).toBeGreaterThanOrEqual(12);
    for (const c of cols) expect([c.n, c.cs, c.co]).toEqual([c.n, "utf8mb4", "utf8mb4_bin"]);
  });

  test("new records: IPv6 client, a 20,000-character command, 4-byte emoji", async () => {
    const long = "echo " + "长".repeat(19_992) + " 🚀"; // 20,000 UTF-16 units
    expect(long.length).toBe(20_000);
    const recs = [
      hookRecord(Date.UTC(2024, 0, 2) * 1000, { hostname: "new-host-01", clientIp: "2001:0db8:85a3:0000:0000:8a2e:0370:7334", command: "uptime" }),
      hookRecord(Date.UTC(2024, 0, 2) * 1000 + 1, { hostname: "new-host-01", clientIp: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", command: long }),
      hookRecord(Date.UTC(2024, 0, 2) * 1000 + 2, { hostname: "new-host-01", command: "echo 🚀🔥 部署完成 ✅ \u{1F9D1}\u{200D}\u{1F4BB}" }),
    ];
    expect(await store.insert(recs, Date.UTC(2024, 0, 2) * 1000)).toEqual({ inserted: 3, duplicates: 0, alerts: 0, messages: 0 });
    const got = await store.query({ host: "new-host-01" }, 10);
    expect(got.map((r) => [r.clientIp, r.command])).toEqual([...recs].reverse().map((r) => [r.clientIp, r.command]));
    // stored as real 4-byte UTF-8, not mangled by a 3-byte charset
    const [hex] = await q<Row>(db.url, "SELECT HEX(command) AS h, LENGTH(command) AS l FROM servercmdhist WHERE oci = ?", [recs[2]!.oci]);
    expect(hex?.h).toBe(Buffer.from(recs[2]!.command, "utf8").toString("hex").toUpperCase());
    const [len] = await q<Row>(db.url, "SELECT CHAR_LENGTH(command) AS n FROM servercmdhist WHERE oci = ?", [recs[1]!.oci]);
    expect(Number(len?.n)).toBe([...long].length);
  });

  test("the seed's column comments survive", async () => {
    const want = new Map<string, string>([...SEED_DDL.matchAll(/^\s*`(\w+)` [^\n]*?COMMENT '([^']*)'/gm)].map((m) => [m[1]!, m[2]!]));
    expect(want.size).toBe(9);
    const got = await q<Row>(db.url, "SELECT COLUMN_NAME AS n, COLUMN_COMMENT AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'servercmdhist'", [db.name]);
    const byName = new Map(got.map((r) => [r.n as string, r.c as string]));
    for (const c of SEED_COLUMNS) expect([c, byName.get(c)]).toEqual([c, want.get(c) ?? ""]);
  });

  test("the query indexes exist (SHOW INDEX)", async () => {
    const idx = await q<Row>(db.url, "SHOW INDEX FROM servercmdhist");
    const keys = new Map<string, { unique: boolean; cols: string[] }>();
    for (const r of [...idx].sort((a, b) => Number(a.Seq_in_index) - Number(b.Seq_in_index))) {
      const k = keys.get(r.Key_name as string) ?? { unique: Number(r.Non_unique) === 0, cols: [] };
      k.cols.push(r.Column_name as string);
      keys.set(r.Key_name as string, k);
    }
    expect(Object.fromEntries([...keys].sort(([a], [b]) => (a < b ? -1 : 1)))).toEqual({
      PRIMARY: { unique: true, cols: ["id"] },
      clientip_ts: { unique: false, cols: ["clientIp", "ts_us"] },
      hostname_ts: { unique: false, cols: ["hostname", "ts_us"] },
      luser_ts: { unique: false, cols: ["luser", "ts_us"] },
      oci: { unique: true, cols: ["oci"] },
      session_seq: { unique: false, cols: ["session_id", "seq"] },
      suser_ts: { unique: false, cols: ["suser", "ts_us"] },
      ts: { unique: false, cols: ["ts_us"] },
    });
  });

  test("re-sending old records in the legacy wire form finds them by the seed's oci: duplicates, not new rows", async () => {
    const byCmd = new Map(before.typed.map((r) => [r.command as string, r]));
    const old = [byCmd.get("echo '你好，世界' > /tmp/问候.txt")!, byCmd.get(TEN_K)!, byCmd.get("reboot")!, byCmd.get("systemctl status mysqld")!, byCmd.get("ls -la   ")!,
      // the reporter always sent suser and serverIps: rows with NULLs there cannot be re-sent
      ...before.typed.slice(500).filter((r) => r.suser !== null && r.serverIps !== null).slice(0, 20)];
    const resent = old.map(legacyWire);
    resent.forEach((r, i) => expect(r.oci).toBe(old[i]!.oci as string));
    const countBefore = await q<Row>(db.url, "SELECT COUNT(*) AS n FROM servercmdhist");
    const hostsBefore = sortHosts(await store.hosts());
    expect(await store.insert(resent, Date.UTC(2024, 0, 3) * 1000)).toEqual({ inserted: 0, duplicates: resent.length, alerts: 0, messages: 0 });
    expect(await q<Row>(db.url, "SELECT COUNT(*) AS n FROM servercmdhist")).toEqual(countBefore);
    expect(sortHosts(await store.hosts()).map((h) => [h.hostname, h.records])).toEqual(hostsBefore.map((h) => [h.hostname, h.records]));
    // one new command from an old host is a new row, counted onto the old host
    const fresh = legacyWire({ ...old[0]!, ctime: "2019-01-01 00:00:00", command: "echo 新年快乐" });
    expect(await store.insert([fresh], Date.UTC(2024, 0, 3) * 1000)).toEqual({ inserted: 1, duplicates: 0, alerts: 0, messages: 0 });
    const web01 = (await store.hosts()).find((h) => h.hostname === "web01")!;
    expect(web01.records).toBe(hostsBefore.find((h) => h.hostname === "web01")!.records + 1);
  });

  test("opening the store a second time changes nothing", async () => {
    const all = () => q<Row>(db.url, "SELECT * FROM servercmdhist ORDER BY id");
    const rowsBefore = await all();
    const hostsBefore = sortHosts(await store.hosts());
    const migrationsBefore = await q<Row>(db.url, "SELECT * FROM __drizzle_migrations ORDER BY id");
    const again = await openStore(db.url, OPEN);
    try {
      expect(sortHosts(await again.hosts())).toEqual(hostsBefore);
      expect(await all()).toEqual(rowsBefore);
      expect(await q<Row>(db.url, "SELECT * FROM __drizzle_migrations ORDER BY id")).toEqual(migrationsBefore);
      expect(migrationsBefore.length).toBe(MIGRATIONS);
      expect(MIGRATIONS).toBe(14); // seed baseline, utf8mb4, upgrade from seed, duration_ms, host last_stored_us, name flags + ingest_auth, flags backfill, attestation, attested users, console, host losses + reporter, alerts, redactions, redact-history progress
    } finally {
      await again.close();
    }
    expect(sortHosts(await store.hosts())).toEqual(hostsBefore);
  }, SLOW);
});

describe("upgrade edge cases", () => {
  test("three stores opened at once on a fresh seed database all succeed and count each old row once", async () => {
    const db = await createTestDatabase("seedc");
    try {
      const rows = seedRows(7);
      await createSeedDatabase(db, rows);
      const snapshot = await q<Row>(db.url, "SELECT * FROM servercmdhist ORDER BY id");
      const hex = await q<Row>(db.url, hexSql, [Number.MAX_SAFE_INTEGER]);
      const settled = await Promise.allSettled([openStore(db.url, OPEN), openStore(db.url, OPEN), openStore(db.url, OPEN)]);
      const stores = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
      try {
        expect(settled.map((s) => (s.status === "rejected" ? String(s.reason) : "ok"))).toEqual(["ok", "ok", "ok"]);
        for (const s of stores) expect(sortHosts(await s.hosts())).toEqual(expectedHosts(snapshot));
        expect(await q<Row>(db.url, hexSql, [Number.MAX_SAFE_INTEGER])).toEqual(hex);
        const [{ n }] = await q<{ n: number }>(db.url, "SELECT COUNT(*) AS n FROM servercmdhist WHERE ts_us <= 0") as [{ n: number }];
        expect(n).toBe(0);
        const [{ m }] = await q<{ m: number }>(db.url, "SELECT COUNT(*) AS m FROM __drizzle_migrations") as [{ m: number }];
        expect(m).toBe(MIGRATIONS);
      } finally {
        for (const s of stores) await s.close();
      }
    } finally {
      await db.drop();
    }
  }, SLOW);

  test("an empty database gets the same schema as an upgraded seed database", async () => {
    const empty = await createTestDatabase("empty");
    const seeded = await createTestDatabase("seeded");
    try {
      await createSeedDatabase(seeded, SPECIAL);
      for (const db of [empty, seeded]) await (await openStore(db.url, OPEN)).close();
      const show = async (db: TestDb, table: string) => {
        const [r] = await q<Row>(db.url, `SHOW CREATE TABLE \`${table}\``);
        return (r?.["Create Table"] as string).replace(/ AUTO_INCREMENT=\d+/, "");
      };
      for (const table of ["servercmdhist", "cmdaudit_hosts"]) {
        const a = await show(empty, table);
        expect(a).toContain("utf8mb4");
        expect(await show(seeded, table)).toBe(a);
      }
    } finally {
      await empty.drop();
      await seeded.drop();
    }
  }, SLOW);
});
