import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../server/src/db/open.ts";
import { getTableColumns } from "drizzle-orm";
import { FLAGS_BACKFILL_BATCH, toRow } from "../../server/src/db/rows.ts";
import { servercmdhist } from "../../server/src/db/sqlite/schema.ts";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { hookRecord, LEGACY_OFFSET, migrationsWithout, storeConformance } from "./conformance.ts";

storeConformance("sqlite file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-store-"));
  const store = await openStore(`sqlite:${join(dir, "audit.db")}`, { dataDir: dir, legacyUtcOffset: LEGACY_OFFSET });
  if (store.dialect !== "sqlite") throw new Error(`expected a sqlite store, got ${store.dialect}`);
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

storeConformance("sqlite :memory:", async () => {
  const store = await openStore("sqlite::memory:", { dataDir: tmpdir(), legacyUtcOffset: LEGACY_OFFSET });
  return { store, cleanup: () => store.close() };
});

test("a SQLite database from before the flags column upgrades: its rows get the flags ingest gives, in batches, once; new rows get theirs", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-store-upgrade-"));
  try {
    // The committed migrations without the flags ones: the database a server of the previous version left.
    const old = migrationsWithout("sqlite", ["0003_name_flags_ingest_auth", "0004_flags_backfill", "0005_attestation", "0006_attested_users", "0007_console", "0008_host_losses_reporter", "0009_alerts", "0010_redactions", "0011_redact_progress"], dir);
    const path = join(dir, "audit.db");
    const prev = new Database(path, { create: true });
    migrate(drizzle({ client: prev }), { migrationsFolder: old });
    // The previous version's rows: every column but flags, written as that version wrote it. More than one
    // backfill batch; every 7th has a look-alike host name.
    const n = FLAGS_BACKFILL_BATCH + 501;
    const recs = Array.from({ length: n }, (_, i) => hookRecord(Date.UTC(2024, 2, 1) * 1000 + i, { hostname: i % 7 === 0 ? "rt-s\u0440v" : "rt-srv", command: `old ${i}` }));
    const columns = getTableColumns(servercmdhist);
    for (const rec of recs) {
      const { flags: _, attestation: _a, attestedUser: _u, attestedLoginUser: _l, redactions: _r, ...row } = toRow(rec, 1);
      const names = Object.keys(row).map((k) => columns[k as keyof typeof columns].name);
      prev.query(`INSERT INTO servercmdhist (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`).run(...Object.values(row));
    }
    prev.close();

    const after = await openStore(`sqlite:${path}`, { dataDir: dir, legacyUtcOffset: LEGACY_OFFSET });
    try {
      const rows = await after.query({}, n + 10);
      expect(rows.length).toBe(n);
      const wrong = rows.filter((r) => (r.hostname === "rt-srv" ? r.flags.length !== 0 : r.flags.join(",") !== "hostname-nonstandard,name-confusable"));
      expect(wrong.map((r) => [r.id, r.hostname, r.flags])).toEqual([]);
      expect((await after.query({ flagged: true }, n)).length).toBe(Math.ceil(n / 7));
      const fresh = hookRecord(Date.UTC(2024, 2, 1, 0, 0, 1) * 1000, { luser: "r\u043eot" });
      expect(await after.insert([fresh], 2)).toEqual({ inserted: 1, duplicates: 0, alerts: 0, messages: 0 });
      expect((await after.query({ flagged: true, luser: "r\u043eot" }, 10)).map((r) => r.flags)).toEqual([["user-nonstandard", "name-confusable"]]);
    } finally {
      await after.close();
    }
    const db = new Database(path, { readonly: true });
    const cols = (t: string) => (db.query(`PRAGMA table_info(${t})`).all() as { name: string; notnull: number; dflt_value: string | null }[]);
    expect(cols("servercmdhist").find((c) => c.name === "flags")).toMatchObject({ notnull: 1, dflt_value: "''" });
    expect(cols("cmdaudit_hosts").find((c) => c.name === "ingest_auth")).toMatchObject({ notnull: 0, dflt_value: null });
    // Done once: the marker is gone, so later starts read one empty table.
    expect(db.query("SELECT COUNT(*) AS n FROM cmdaudit_flags_backfill").get()).toEqual({ n: 0 });
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a new SQLite database has nothing to backfill", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-store-new-"));
  try {
    const path = join(dir, "audit.db");
    await (await openStore(`sqlite:${path}`, { dataDir: dir, legacyUtcOffset: LEGACY_OFFSET })).close();
    const db = new Database(path, { readonly: true });
    expect(db.query("SELECT COUNT(*) AS n FROM cmdaudit_flags_backfill").get()).toEqual({ n: 0 });
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
