/**
 * The compiled reporter shipping a backlog to the real server process on MariaDB
 * over loopback, in one run:
 *  - catch-up: a BENCH_CATCHUP_MB (default 1024) log of realistic hook records,
 *    shipped by one `cmdaudit-reporter run`: wall time, throughput, the reporter's
 *    peak RSS, and CPU seconds of reporter, server and MariaDB over the same
 *    interval (which process is the bottleneck);
 *  - idle: `run` with nothing new (the cron case every minute): wall time and RSS.
 * Every record is checked to be stored exactly once.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { stringify } from "yaml";
import { buildReporter } from "../agent/build.ts";
import { createTestDatabase } from "../test/support/mysql.ts";
import { startServer } from "../test/support/server.ts";
import { benchRecord, encodeBenchRecord } from "./fixtures.ts";
import { unlimitedIngestConfig } from "./server-config.ts";
import { fmt, printTable } from "./table.ts";

const TOKEN = "bench-ingest-token-0123456789";
const READ = "bench-read-token-0123456789ab";
const TICK = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const after = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(after[11]) + Number(after[12])) / TICK; // utime, stime
}

function mariadbPid(): number | null {
  const r = Bun.spawnSync(["pidof", "mariadbd"], { stdout: "pipe" });
  const pid = Number(r.stdout.toString().trim().split(/\s+/)[0]);
  return pid > 0 ? pid : null;
}

/** Write about `mb` MiB of hook records; returns the record count. */
function writeBacklog(path: string, mb: number): number {
  const fd = openSync(path, "w", 0o622);
  const target = mb * 1024 * 1024;
  let bytes = 0;
  let n = 0;
  try {
    while (bytes < target) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 10_000; i++) {
        parts.push(encodeBenchRecord(benchRecord(n++)));
      }
      const buf = Buffer.concat(parts);
      writeSync(fd, buf);
      bytes += buf.length;
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

/** Peak RSS (VmHWM, kB) and CPU seconds of a running process, read from /proc; null once it is gone. */
function sample(pid: number): { hwmKb: number; cpu: number } | null {
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return { hwmKb: Number(hwm?.[1] ?? 0), cpu: cpuSeconds(pid) };
  } catch {
    return null;
  }
}

async function runReporter(bin: string, config: string) {
  const t0 = performance.now();
  const proc = Bun.spawn([bin, "-c", config, "run"], { stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin" } });
  // VmHWM is the peak so far, so the last sample before exit holds the run's peak.
  let last = { hwmKb: 0, cpu: 0 };
  let done = false;
  const exited = proc.exited.then((c) => { done = true; return c; });
  while (!done) {
    // A zombie still has its CPU times but no memory lines: keep the largest peak seen.
    const s = sample(proc.pid);
    if (s) last = { hwmKb: Math.max(last.hwmKb, s.hwmKb), cpu: Math.max(last.cpu, s.cpu) };
    await Bun.sleep(2);
  }
  const [code, stderr] = await Promise.all([exited, new Response(proc.stderr).text()]);
  const wall = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`reporter exited ${code}: ${stderr}`);
  return { wall, maxRssMb: last.hwmKb / 1024, cpu: last.cpu };
}

export async function benchReporter(opts: { mb: number; idleRuns: number }) {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-bench-rep-"));
  const db = await createTestDatabase("bench_rep");
  const bin = await buildReporter(join(dir, "cmdaudit-reporter"));
  const server = await startServer({ CMDAUDIT_DATABASE_URL: db.url, CMDAUDIT_INGEST_TOKENS: TOKEN, CMDAUDIT_READ_TOKENS: READ, CMDAUDIT_LOG_LEVEL: "info", CMDAUDIT_DATA_DIR: dir, CMDAUDIT_CONFIG: unlimitedIngestConfig(dir) });
  try {
    const log = join(dir, "commands.log");
    const records = writeBacklog(log, opts.mb);
    const size = statSync(log).size;
    const config = join(dir, "reporter.yml");
    Bun.write(config, stringify({
      server: { url: server.url, token: TOKEN, timeout_seconds: 120 },
      log: { path: log, max_retained_bytes: size * 2, rotate_bytes: size + 1 },
      state_dir: join(dir, "state"),
      run: { budget_seconds: 3600 },
    }));

    const db0 = mariadbPid();
    const cpu0 = { server: cpuSeconds(server.proc.pid), db: db0 ? cpuSeconds(db0) : 0 };
    const catchUp = await runReporter(bin, config);
    const cpu1 = { server: cpuSeconds(server.proc.pid), db: db0 ? cpuSeconds(db0) : 0 };

    const conn = await mysql.createConnection({ uri: db.url });
    const [rows] = await conn.query("SELECT COUNT(*) AS n, COUNT(DISTINCT oci) AS d FROM servercmdhist");
    await conn.end();
    const { n, d } = (rows as { n: number; d: number }[])[0]!;
    if (Number(n) !== records || Number(d) !== records) throw new Error(`stored ${n} rows (${d} distinct) of ${records} written`);

    const idle = [];
    for (let i = 0; i < opts.idleRuns; i++) idle.push(await runReporter(bin, config));
    idle.sort((a, b) => a.wall - b.wall);
    const mid = idle[Math.floor(idle.length / 2)]!;

    printTable(`Reporter: catch-up of a ${fmt(size / 1048576)} MiB backlog (${fmt(records)} records) → server → MariaDB, one cron run`, ["measure", "value"], [
      ["wall time", `${fmt(catchUp.wall, 1)} s`],
      ["throughput", `${fmt(records / catchUp.wall)} records/s, ${fmt(size / 1048576 / catchUp.wall, 1)} MiB/s`],
      ["reporter peak RSS", `${fmt(catchUp.maxRssMb, 1)} MB`],
      ["CPU: reporter", `${fmt(catchUp.cpu, 1)} s (${fmt((100 * catchUp.cpu) / catchUp.wall)} % of one core)`],
      ["CPU: server", `${fmt(cpu1.server - cpu0.server, 1)} s (${fmt((100 * (cpu1.server - cpu0.server)) / catchUp.wall)} %)`],
      ["CPU: MariaDB", db0 ? `${fmt(cpu1.db - cpu0.db, 1)} s (${fmt((100 * (cpu1.db - cpu0.db)) / catchUp.wall)} %)` : "n/a"],
      ["stored", `${fmt(Number(n))} rows, each once`],
    ]);
    printTable(`Reporter: idle cron run (nothing new), median of ${opts.idleRuns}`, ["measure", "value"], [
      ["wall time", `${fmt(mid.wall * 1000)} ms`],
      ["peak RSS", `${fmt(mid.maxRssMb, 1)} MB`],
      ["CPU", `${fmt(mid.cpu * 1000)} ms`],
    ]);
  } finally {
    await server.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}
