import { type Config, configSchema } from "../../server/src/config.ts";

export const INGEST_TOKEN = "ingest-token-0123456789abcdef";
export const READ_TOKEN = "read-token-0123456789abcdef";
export const ADMIN_TOKEN = "admin-token-0123456789abcdef";

/**
 * A valid server config with one token of each scope; override any key. Record times have no age
 * bound here (fixtures are dated 2018-2024); the tests of records.max_age_days set it.
 */
export function testConfig(over: Partial<Config> = {}): Config {
  return { ...configSchema.parse({ tokens: { ingest: [INGEST_TOKEN], read: [READ_TOKEN], admin: [ADMIN_TOKEN] }, records: { max_age_days: 0 } }), ...over };
}
