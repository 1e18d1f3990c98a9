import { writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A server config file (CMDAUDIT_CONFIG) under `dir` for the throughput benches: their one token
 * carries a whole fleet's load, so its rate limit (limits.ingest_*_per_minute) is lifted.
 */
export function unlimitedIngestConfig(dir: string): string {
  const path = join(dir, "server.yml");
  writeFileSync(path, "limits:\n  ingest_bytes_per_minute: 1000000000000000\n  ingest_requests_per_minute: 1000000000\n");
  return path;
}
