import { expect, test } from "bun:test";
import mysql from "mysql2/promise";
import { openStore } from "../../server/src/db/open.ts";
import { MYSQL_URL, createTestDatabase } from "../support/mysql.ts";
import { LEGACY_OFFSET, storeConformance } from "./conformance.ts";

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
