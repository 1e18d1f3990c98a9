import { defineConfig } from "drizzle-kit";

// Generate only (`bun run db:generate`); never `drizzle-kit push`: it misreads MariaDB and exits 0 on failure.
export default defineConfig({
  dialect: "mysql",
  schema: "./server/src/db/mysql/schema.ts",
  out: "./server/drizzle/mysql",
});
