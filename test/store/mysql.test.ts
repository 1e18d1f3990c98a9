import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/mysql2";
import { migrate } from "drizzle-orm/mysql2/migrator";
import mysql from "mysql2/promise";
import { openStore } from "../../server/src/db/open.ts";
import { FLAGS_BACKFILL_BATCH, toRow } from "../../server/src/db/rows.ts";
import { MYSQL_URL, createTestDatabase } from "../support/mysql.ts";
import { hookRecord, LEGACY_OFFSET, migrationsWithout, storeConformance } from "./conformance.ts";

// No skip when MariaDB is down: this fails, and so does every conformance test (their hooks throw).
test("MariaDB is reachable", async () => {
  const c = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 5000 });
  try {
    const [rows] = await c.query("SELECT VERSION() AS v");
    expect((rows as { v: string }[])[0]?.v).toContain("MariaDB");
  } finally {
    await c.end();
  }
});

storeConformance("mysql (MariaDB)", async () => {
  const db = await createTestDatabase("store");
  try {
    const store = await openStore(db.url, { dataDir: "/nonexistent-data-dir", legacyUtcOffset: LEGACY_OFFSET });
    if (store.dialect !== "mysql") throw new Error(`expected a mysql store, got ${store.dialect}`);
    return {
      store,
      async cleanup() {
        try {
          await store.close();
        } finally {
          await db.drop();
        }
      },
    };
  } catch (e) {
    await db.drop();
    throw e;
  }
});

test("a MariaDB database from before the flags column upgrades: its rows get the flags ingest gives, in batches, once", async () => {
  const db = await createTestDatabase("flags-upgrade");
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-mysql-upgrade-"));
  try {
    // The committed migrations without the flags ones: the database a server of the previous version left.
    const old = migrationsWithout("mysql", ["0005_name_flags_ingest_auth", "0006_flags_backfill", "0007_attestation", "0008_attested_users", "0009_console", "0010_host_losses_reporter", "0011_alerts", "0012_redactions", "0013_redact_progress"], dir);
    const pool = mysql.createPool({ uri: db.url, multipleStatements: true });
    try {
      await migrate(drizzle(pool, { mode: "default" }), { migrationsFolder: old });
      const n = FLAGS_BACKFILL_BATCH + 301;
      const recs = Array.from({ length: n }, (_, i) => hookRecord(Date.UTC(2024, 2, 1) * 1000 + i, { hostname: i % 5 === 0 ? "web\u200b01" : "web01", command: `old ${i}` }));
      for (let i = 0; i < n; i += 500) {
        const part = recs.slice(i, i + 500).map((r) => toRow(r, 1));
        const cols = ["oci", "hostname", "serverIps", "ctime", "luser", "suser", "terminal", "clientIp", "command", "kind", "ts_us", "utc_offset", "session_id", "seq", "cwd", "exit_status", "received_us"];
        await pool.query(`INSERT INTO servercmdhist (${cols.join(",")}) VALUES ?`, [part.map((r) => [r.oci, r.hostname, r.serverIps, r.ctime, r.luser, r.suser, r.terminal, r.clientIp, r.command, r.kind, r.tsUs, r.utcOffset, r.sessionId, r.seq, r.cwd, r.exitStatus, r.receivedUs])]);
      }
      const store = await openStore(db.url, { dataDir: dir, legacyUtcOffset: LEGACY_OFFSET });
      try {
        const rows = await store.query({}, n + 10);
        expect(rows.length).toBe(n);
        const wrong = rows.filter((r) => (r.hostname === "web01" ? r.flags.length !== 0 : r.flags.join(",") !== "hostname-nonstandard,name-invisible"));
        expect(wrong.map((r) => [r.id, JSON.stringify(r.hostname), r.flags])).toEqual([]);
        expect((await store.query({ flagged: true }, n)).length).toBe(Math.ceil(n / 5));
      } finally {
        await store.close();
      }
      const [left] = await pool.query("SELECT COUNT(*) AS n FROM cmdaudit_flags_backfill");
      expect((left as { n: number }[])[0]!.n).toBe(0);
    } finally {
      await pool.end();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await db.drop();
  }
}, 120_000);
