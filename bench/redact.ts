/**
 * Secret redaction ([redact] issue):
 *  - MB/s of redact() and redactBytes(), one call per command as the reporter and the server make
 *    them, with every built-in rule on: realistic (the alert bench's everyday commands,
 *    alert-corpus.ts, 1 % of them carrying a secret) and secret-dense (every command carries one:
 *    mysql -p, tokens, URLs, headers, env assignments…); and the realistic one with every command made
 *    unique, since the redactor remembers commands it found clean. MB are the commands' UTF-8 bytes
 *    (1 MB = 10^6). Every row is the median of `rounds` passes, after one untimed pass for the JIT.
 *  - its cost at ingest: two real servers on MariaDB side by side (ab-ingest.ts), redaction off
 *    (redact.enabled false) and on (the defaults), the realistic corpus; target ≥ 90 % of the
 *    unredacted rate. The "on" server must count every redaction an in-process redactor with its
 *    key finds in the corpus.
 * Run alone with `bun bench/redact.ts`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRedactor } from "../protocol/redact/index.ts";
import { createTestDatabase } from "../test/support/mysql.ts";
import { AB_HEADER, abIngest } from "./ab-ingest.ts";
import { benchRedactReporter } from "./redact-reporter.ts";
import { benchRecord } from "./fixtures.ts";
import { unlimitedIngestConfig } from "./server-config.ts";
import { Rng } from "../test/support/rng.ts";
import { commandCorpus } from "./alert-corpus.ts";
import { fmt, median, printTable } from "./table.ts";

export interface RedactBenchOptions {
  commands: number;
  rounds: number;
  /** Backlog in MB for the reporter's redaction (0: skip it). */
  reporterMb: number;
  /** The ingest comparison: records per round and server (0: skip it), rounds, batch size, clients. */
  ingest: { records: number; rounds: number; batch: number; clients: number };
}

const TOKEN = "bench-redact-ingest-token-0123456789";
const READ = "bench-redact-read-token-0123456789ab";
const KEY = "bench-redact-fingerprint-key-0123456789";
const TARGET_RATIO = 0.9;
const WARM_BATCHES = 5;

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const random = (r: Rng, n: number, chars = ALNUM) => Array.from({ length: n }, () => chars[r.int(chars.length)]).join("");
const password = (r: Rng) => random(r, r.range(8, 20), `${ALNUM}!@#%^*_-`);

/** Commands that carry a secret, the way people type them. */
const WITH_SECRET: ((r: Rng) => string)[] = [
  (r) => `mysql -uroot -p${password(r)} -h db-${r.range(1, 9)} orders`,
  (r) => `mysqldump -u backup -p'${password(r)}' --single-transaction billing | gzip > /data/backups/billing.sql.gz`,
  (r) => `export GITHUB_TOKEN=ghp_${random(r, 36)}`,
  (r) => `git clone https://deploy:${password(r)}@git.example.com/platform/api.git`,
  (r) => `curl -u admin:${password(r)} https://jenkins.example.com/job/deploy/build -X POST`,
  (r) => `curl -H "Authorization: Bearer ${random(r, 40)}" https://api.example.com/v1/orders?limit=${r.range(10, 100)}`,
  (r) => `PGPASSWORD=${password(r)} psql -h db -U app -c 'select count(*) from users'`,
  (r) => `docker login -u ci -p ${password(r)} registry.example.com`,
  (r) => `echo '${password(r)}' | sudo -S systemctl restart nginx`,
  (r) => `sshpass -p '${password(r)}' ssh ops@web-${r.range(1, 40)} uptime`,
  (r) => `kubectl -n prod create secret generic db --from-literal=password=${password(r)}`,
  (r) => `export AWS_ACCESS_KEY_ID=AKIA${random(r, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")} AWS_SECRET_ACCESS_KEY=${random(r, 40, `${ALNUM}/+`)}`,
  (r) => `redis-cli -h cache-${r.range(1, 9)} -a ${password(r)} info replication`,
  (r) => `curl -s "https://api.example.com/v2/report?access_token=${random(r, 32)}&format=csv" -o report.csv`,
];

/** `commands` with a share of them replaced by commands that carry a secret. */
export function withSecrets(commands: readonly string[], share: number, seed: number): string[] {
  const r = new Rng(seed);
  return commands.map((c) => (r.chance(share) ? r.pick(WITH_SECRET)(r) : c));
}

const corpus = (n: number, share: number, seed: number) => withSecrets(commandCorpus(n, 0, seed).commands, share, seed);

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * Median wall and CPU seconds of `rounds` passes of `fn` over every item, and how many items it
 * redacted. CPU time (this process, GC threads included) is the steadier figure on a shared machine.
 */
function time<T>(rounds: number, items: T[], fn: (item: T) => number): { seconds: number; cpu: number; redacted: number } {
  for (const it of items) fn(it);
  const seconds: number[] = [];
  const cpu: number[] = [];
  let redacted = 0;
  for (let k = 0; k < rounds; k++) {
    redacted = 0;
    const t0 = performance.now();
    const c0 = cpuSeconds();
    for (const it of items) redacted += fn(it) > 0 ? 1 : 0;
    cpu.push(cpuSeconds() - c0);
    seconds.push((performance.now() - t0) / 1000);
  }
  return { seconds: median(seconds), cpu: median(cpu), redacted };
}

export async function benchRedact(o: RedactBenchOptions): Promise<void> {
  const redactor = createRedactor({ key: "bench-redact-fingerprint-key-0123456789" });
  const rows: (string | number)[][] = [];
  // The redactor keeps the commands it found clean (fleets repeat them): the unique row shows the rate without that.
  const unique = (cs: string[]) => cs.map((c, i) => `${c} #${i}`);
  for (const [name, share, once] of [["realistic (1 % with a secret)", 0.01, false], ["realistic, every command unique", 0.01, true], ["secret-dense (every command)", 1, false]] as const) {
    const commands = once ? unique(corpus(o.commands, share, 20261203)) : corpus(o.commands, share, 20261203);
    const encoded = commands.map((c) => new TextEncoder().encode(c));
    const mb = encoded.reduce((n, b) => n + b.length, 0) / 1e6;
    const text = time(o.rounds, commands, (c) => redactor.redact(c).redactions.length);
    const bytes = time(o.rounds, encoded, (b) => redactor.redactBytes(b).redactions.length);
    for (const [call, t] of [["redact()", text], ["redactBytes()", bytes]] as const) {
      rows.push([name, call, fmt(o.commands), fmt(mb, 1), fmt(t.redacted), fmt(mb / t.seconds, 0), fmt(mb / t.cpu, 0), fmt((t.seconds / o.commands) * 1e9, 0)]);
    }
  }
  printTable(`Redaction throughput (${redactor.rules.length} built-in rules, median of ${o.rounds})`, ["corpus", "call", "commands", "MB", "redacted", "MB/s", "MB/CPU-s", "ns/command"], rows);
  if (o.reporterMb > 0) await benchRedactReporter({ mb: o.reporterMb, rounds: o.rounds, commands: corpus(100_000, 0.01, 20261205) });
  if (o.ingest.records > 0) await benchRedactIngest(o.ingest);
}

async function benchRedactIngest(o: RedactBenchOptions["ingest"]): Promise<void> {
  const total = o.rounds * o.records + WARM_BATCHES * o.batch;
  const commands = corpus(total, 0.01, 20261204);
  const redactor = createRedactor({ key: KEY });
  const expected = commands.reduce((n, c) => n + redactor.redact(c).redactions.length, 0);
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-bench-redact-"));
  const dbs = [await createTestDatabase("bench_redact_off"), await createTestDatabase("bench_redact_on")];
  try {
    const keyFile = join(dir, "redact.key");
    writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
    const env = (i: number, redact: boolean) => {
      mkdirSync(join(dir, String(i)));
      return {
        CMDAUDIT_DATABASE_URL: dbs[i]!.url, CMDAUDIT_INGEST_TOKENS: TOKEN, CMDAUDIT_READ_TOKENS: READ, CMDAUDIT_DATA_DIR: join(dir, String(i)),
        CMDAUDIT_CONFIG: unlimitedIngestConfig(join(dir, String(i))), CMDAUDIT_REDACT: String(redact), CMDAUDIT_REDACT_KEY_FILE: keyFile,
      };
    };
    let counted = 0;
    const r = await abIngest({
      base: { label: "redaction off", env: env(0, false) }, feature: { label: "redaction on (defaults)", env: env(1, true) },
      records: o.records, batch: o.batch, clients: o.clients, rounds: o.rounds, warmBatches: WARM_BATCHES,
      wire: (i) => ({ ...benchRecord(i), command: commands[i]! }), ingestToken: TOKEN, readToken: READ,
    }, async ({ feature }) => {
      const text = await (await fetch(`${feature.url}/metrics`, { headers: { Authorization: `Bearer ${READ}` } })).text();
      counted = [...text.matchAll(/^cmdaudit_redactions_total\{rule="[^"]+"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    });
    printTable(`Redaction, ingest throughput: ${o.rounds} rounds × ${fmt(o.records)} records per server (each round in halves, A B B A), batches of ${o.batch}, ${o.clients} concurrent clients`
      + " (MariaDB on 127.0.0.1); 1 % of commands carry a secret; CPU in ms per 1000 records", AB_HEADER.map((h) => (h === "feature/base" ? "on/off" : h)), r.rows);
    if (counted !== expected) throw new Error(`the redacting server counted ${counted} redactions; the corpus holds ${expected}`);
    console.log(`redactions counted by the server (cmdaudit_redactions_total): ${fmt(counted)}, as the corpus holds`);
    console.log(`verdict: ingest with redaction on runs at ${fmt(r.ratio * 100, 1)}% of the unredacted rate (target ≥ ${TARGET_RATIO * 100}%): ${r.ratio >= TARGET_RATIO ? "PASS" : "FAIL"}`);
  } finally {
    for (const d of dbs) await d.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The options from BENCH_REDACT_* (run.ts and a run of this file alone). */
export function redactBenchOptions(env: Record<string, string | undefined>): RedactBenchOptions {
  const n = (k: string, d: number) => Number(env[k] ?? d);
  return {
    commands: n("BENCH_REDACT_COMMANDS", 200_000), rounds: n("BENCH_REDACT_ROUNDS", 5), reporterMb: n("BENCH_REDACT_REPORTER_MB", 64),
    ingest: { records: n("BENCH_REDACT_INGEST_RECORDS", 24_000), rounds: n("BENCH_REDACT_INGEST_ROUNDS", 11), batch: n("BENCH_REDACT_INGEST_BATCH", 1000), clients: n("BENCH_REDACT_INGEST_CLIENTS", 4) },
  };
}

if (import.meta.main) {
  await benchRedact(redactBenchOptions(process.env));
}
