import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { openMysqlStore } from "./mysql/store.ts";
import { openSqliteStore } from "./sqlite/store.ts";
import type { Store } from "./store.ts";

/**
 * The committed migrations. The compiled server (server/build.ts, which defines the version) carries
 * them as embedded files next to its entry point, and never looks for a source tree.
 */
function migrations(dialect: string): string {
  if (process.env.CMDAUDIT_SERVER_VERSION !== undefined) return join(import.meta.dir, "drizzle", dialect);
  return fileURLToPath(new URL(`../../drizzle/${dialect}`, import.meta.url));
}

/** `mysql://user:pass@host:port/db` or `sqlite:path`; none → `<dataDir>/cmdaudit.db`. */
export async function openStore(url: string | undefined, opts: { dataDir: string; legacyUtcOffset: number }): Promise<Store> {
  if (!url) return openSqliteStore(join(opts.dataDir, "cmdaudit.db"), { migrationsFolder: migrations("sqlite") });
  if (url.startsWith("mysql://") || url.startsWith("mariadb://")) {
    return openMysqlStore(url.replace(/^mariadb:/, "mysql:"), { migrationsFolder: migrations("mysql"), legacyUtcOffset: opts.legacyUtcOffset });
  }
  if (url.startsWith("sqlite:")) {
    return openSqliteStore(url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, ""), { migrationsFolder: migrations("sqlite") });
  }
  throw new Error(`database URL must start with mysql:// or sqlite: (got ${redactUrl(url)})`);
}

/** A URL safe to print: the password replaced. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");
}
