/**
 * `bun run bench [ingest] [hook] [query] [console] [parse] [reporter] [bomb] [alerts] [redact]`: prints one table per benchmark.
 * Environment: MYSQL_URL (default mysql://root@127.0.0.1:3306/test),
 * BENCH_RECORDS, BENCH_BATCH, BENCH_CLIENTS, BENCH_QUERY_ROWS, BENCH_PARSE_MB, BENCH_PARSE_ROUNDS,
 * BENCH_CATCHUP_MB, BENCH_IDLE_RUNS, BENCH_BOMB_ROUNDS; the hook bench: CMDAUDIT_BASH_VERSIONS (default every build in shared/bash),
 * BENCH_HOOK_SMALL, BENCH_HOOK_LARGE, BENCH_HOOK_FORK_SMALL, BENCH_HOOK_FORK_LARGE, BENCH_HOOK_SEED_SMALL,
 * BENCH_HOOK_SEED_LARGE, BENCH_HOOK_CG_SMALL, BENCH_HOOK_CG_LARGE, BENCH_HOOK_ROUNDS, BENCH_HOOK_LANG,
 * BENCH_HOOK_DOC_LIMIT, BENCH_HOOK_FILE; the console bench: BENCH_QUERY_ROWS, BENCH_CONSOLE_SAMPLES, BENCH_CONSOLE_TRANSCRIPT;
 * the alerts bench: BENCH_ALERTS_RECORDS, BENCH_ALERTS_BATCH, BENCH_ALERTS_CLIENTS, BENCH_ALERTS_ROUNDS, BENCH_ALERTS_MATCH (share 0-1),
 * BENCH_ALERTS_LATENCY_RECORDS, BENCH_ALERTS_GAP_MS, BENCH_ALERTS_POLL_RECORDS; the redaction bench: BENCH_REDACT_COMMANDS,
 * BENCH_REDACT_ROUNDS, BENCH_REDACT_REPORTER_MB (0: no reporter rows), BENCH_REDACT_INGEST_RECORDS (0: no ingest comparison), BENCH_REDACT_INGEST_ROUNDS, _BATCH, _CLIENTS.
 */
import { benchIngest } from "./ingest.ts";
import { benchHook } from "./hook.ts";
import { benchQuery } from "./query.ts";
import { benchConsole } from "./console.ts";
import { benchParse } from "./parse.ts";
import { benchReporter } from "./reporter.ts";
import { benchBomb } from "./bomb.ts";
import { benchAlerts } from "./alerts.ts";

const which = process.argv.slice(2);
const all = which.length === 0;
const num = (k: string, d: number) => Number(process.env[k] ?? d);

if (all || which.includes("ingest")) {
  await benchIngest({ records: num("BENCH_RECORDS", 200_000), batch: num("BENCH_BATCH", 1000), clients: num("BENCH_CLIENTS", 4), rounds: num("BENCH_ROUNDS", 3) });
}
if (all || which.includes("hook")) {
  await benchHook({
    small: num("BENCH_HOOK_SMALL", 200), large: num("BENCH_HOOK_LARGE", 4200),
    forkSmall: num("BENCH_HOOK_FORK_SMALL", 20), forkLarge: num("BENCH_HOOK_FORK_LARGE", 320),
    seedSmall: num("BENCH_HOOK_SEED_SMALL", 20), seedLarge: num("BENCH_HOOK_SEED_LARGE", 220),
    cgSmall: num("BENCH_HOOK_CG_SMALL", 100), cgLarge: num("BENCH_HOOK_CG_LARGE", 350),
    rounds: num("BENCH_HOOK_ROUNDS", 3), lang: process.env.BENCH_HOOK_LANG ?? "C.UTF-8",
    docLimit: num("BENCH_HOOK_DOC_LIMIT", 30),
  });
}
if (all || which.includes("query")) {
  await benchQuery({ rows: num("BENCH_QUERY_ROWS", 10_000_000), samples: num("BENCH_QUERY_SAMPLES", 200) });
}
if (all || which.includes("console")) {
  await benchConsole({ rows: num("BENCH_QUERY_ROWS", 10_000_000), samples: num("BENCH_CONSOLE_SAMPLES", 100), transcript: num("BENCH_CONSOLE_TRANSCRIPT", 10_000) });
}
if (all || which.includes("parse")) {
  await benchParse({ mb: num("BENCH_PARSE_MB", 64), rounds: num("BENCH_PARSE_ROUNDS", 3) });
}
if (all || which.includes("reporter")) {
  await benchReporter({ mb: num("BENCH_CATCHUP_MB", 1024), idleRuns: num("BENCH_IDLE_RUNS", 5) });
}
if (all || which.includes("bomb")) {
  await benchBomb({ rounds: num("BENCH_BOMB_ROUNDS", 3) });
}
if (all || which.includes("alerts")) {
  await benchAlerts({
    records: num("BENCH_ALERTS_RECORDS", 24_000), batch: num("BENCH_ALERTS_BATCH", 1000), clients: num("BENCH_ALERTS_CLIENTS", 4),
    rounds: num("BENCH_ALERTS_ROUNDS", 11), share: num("BENCH_ALERTS_MATCH", 0.005),
    latencyRecords: num("BENCH_ALERTS_LATENCY_RECORDS", 200), gapMs: num("BENCH_ALERTS_GAP_MS", 50), pollRecords: num("BENCH_ALERTS_POLL_RECORDS", 40),
  });
}
if (all || which.includes("redact")) {
  const { benchRedact, redactBenchOptions } = await import("./redact.ts");
  await benchRedact(redactBenchOptions(process.env));
}
