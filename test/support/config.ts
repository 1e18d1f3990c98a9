import { type Config, configSchema } from "../../server/src/config.ts";

export const INGEST_TOKEN = "ingest-token-0123456789abcdef";
export const READ_TOKEN = "read-token-0123456789abcdef";

/** A valid server config with one token of each scope; override any key. */
export function testConfig(over: Partial<Config> = {}): Config {
  return { ...configSchema.parse({ tokens: { ingest: [INGEST_TOKEN], read: [READ_TOKEN] } }), ...over };
}
