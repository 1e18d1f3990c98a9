import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openStore } from "../../server/src/db/open.ts";
import { getTableColumns } from "drizzle-orm";
import { toRow } from "../../server/src/db/rows.ts";
import { servercmdhist } from "../../server/src/db/sqlite/schema.ts";
import { openSqliteStore } from "../../server/src/db/sqlite/store.ts";
import { hookRecord, LEGACY_OFFSET, storeConformance } from "./conformance.ts";

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

test("a SQLite database from before the flags column upgrades: its rows read with flags [], new rows get theirs", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-store-upgrade-"));
  try {
    // The committed migrations without the last one: the database a server of the previous version left.
    const real = fileURLToPath(new URL("../../server/drizzle/sqlite", import.meta.url));
    const old = join(dir, "migrations");
    cpSync(real, old, { recursive: true });
    const journal = JSON.parse(readFileSync(join(old, "meta/_journal.json"), "utf8")) as { entries: { tag: string }[] };
    expect(journal.entries.at(-1)!.tag).toBe("0003_name_flags_ingest_auth");
    journal.entries.pop();
    writeFileSync(join(old, "meta/_journal.json"), JSON.stringify(journal));
    const path = join(dir, "audit.db");
    await openSqliteStore(path, { migrationsFolder: old }).close();
    // The previous version's row: every column but flags, written as that version wrote it.
    const rec = hookRecord(Date.UTC(2024, 2, 1) * 1000, { hostname: "rt-s\u0440v" });
    const { flags: _, ...row } = toRow(rec, 1);
    const columns = getTableColumns(servercmdhist);
    const names = Object.keys(row).map((k) => columns[k as keyof typeof columns].name);
    const prev = new Database(path);
    prev.query(`INSERT INTO servercmdhist (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`).run(...Object.values(row));
    prev.close();

    const after = await openStore(`sqlite:${path}`, { dataDir: dir, legacyUtcOffset: LEGACY_OFFSET });
    try {
      const [row] = await after.query({}, 10);
      expect([row!.oci, row!.hostname, row!.flags]).toEqual([rec.oci, "rt-s\u0440v", []]);
      const fresh = hookRecord(Date.UTC(2024, 2, 1, 0, 0, 1) * 1000, { luser: "r\u043eot" });
      expect(await after.insert([fresh], 2)).toEqual({ inserted: 1, duplicates: 0 });
      expect((await after.query({ flagged: true }, 10)).map((r) => r.flags)).toEqual([["user-nonstandard", "name-confusable"]]);
      expect((await after.hosts()).map((h) => h.hostname)).toEqual(["web01"]);
    } finally {
      await after.close();
    }
    const db = new Database(path, { readonly: true });
    const cols = (t: string) => (db.query(`PRAGMA table_info(${t})`).all() as { name: string; notnull: number; dflt_value: string | null }[]);
    expect(cols("servercmdhist").find((c) => c.name === "flags")).toMatchObject({ notnull: 1, dflt_value: "''" });
    expect(cols("cmdaudit_hosts").find((c) => c.name === "ingest_auth")).toMatchObject({ notnull: 0, dflt_value: null });
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
