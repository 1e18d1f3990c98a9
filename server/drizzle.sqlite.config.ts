import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./server/src/db/sqlite/schema.ts",
  out: "./server/drizzle/sqlite",
});
