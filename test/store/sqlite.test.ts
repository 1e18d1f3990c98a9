import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../server/src/db/open.ts";
import { LEGACY_OFFSET, storeConformance } from "./conformance.ts";

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
