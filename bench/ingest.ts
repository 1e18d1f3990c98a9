/**
 * Ingest throughput, side by side in one run, in alternating rounds (the medians are compared):
 *  - end to end: JSON batches over HTTP on loopback → the real server process → MariaDB;
 *  - raw limit: the same normalised rows inserted with mysql2 multi-row INSERT ... ON DUPLICATE KEY
 *    (same table, same indexes, same batch size and concurrency), no HTTP, no validation.
 * Each round sends fresh records, so both tables grow alike.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { normalizeRecord } from "../protocol/index.ts";
import { openStore } from "../server/src/db/open.ts";
import { createTestDatabase } from "../test/support/mysql.ts";
import { startServer } from "../test/support/server.ts";
import { benchRecord } from "./fixtures.ts";
import { unlimitedIngestConfig } from "./server-config.ts";
import { fmt, percentile, printTable } from "./table.ts";

const TOKEN = "bench-ingest-token-0123456789";
const READ = "bench-read-token-0123456789ab";
const RAW_COLUMNS = "oci,hostname,serverIps,ctime,luser,suser,terminal,clientIp,command,kind,ts_us,utc_offset,session_id,seq,cwd,exit_status,command_raw,received_us";

async function runClients<T>(batches: T[], clients: number, send: (b: T) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < batches.length) await send(batches[next++]!);
  }));
  return (performance.now() - t0) / 1000;
}

export async function benchIngest(opts: { records: number; batch: number; clients: number; rounds: number }) {
  const db1 = await createTestDatabase("bench_http");
  const db2 = await createTestDatabase("bench_raw");
  try {
    return await measure(db1.url, db2.url, opts);
  } finally {
    await db1.drop();
    await db2.drop();
  }
}

async function measure(httpUrl: string, rawUrl: string, opts: { records: number; batch: number; clients: number; rounds: number }) {
  const { records, batch, clients, rounds } = opts;
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-bench-ingest-"));
  const server = await startServer({ CMDAUDIT_DATABASE_URL: httpUrl, CMDAUDIT_INGEST_TOKENS: TOKEN, CMDAUDIT_READ_TOKENS: READ, CMDAUDIT_CONFIG: unlimitedIngestConfig(dir) });
  await (await openStore(rawUrl, { dataDir: "/tmp", legacyUtcOffset: 0 })).close(); // same migrations → same table
  const pool = mysql.createPool({ uri: rawUrl, connectionLimit: clients, charset: "utf8mb4", flags: ["-FOUND_ROWS"] });

  const post = async (body: string) => {
    const res = await fetch(`${server.url}/api/v1/commands`, { method: "POST", headers: { AccessToken: TOKEN, "Content-Type": "application/json" }, body });
    const j = (await res.json()) as { code: number; accepted: number };
    if (j.code !== 0 || j.accepted !== batch) throw new Error(`ingest failed: ${JSON.stringify(j).slice(0, 200)}`);
  };
  const insert = async (rows: unknown[][]) => {
    const [res] = await pool.query(`INSERT INTO servercmdhist (${RAW_COLUMNS}) VALUES ? ON DUPLICATE KEY UPDATE id = id`, [rows]);
    if ((res as { affectedRows: number }).affectedRows !== batch) throw new Error("raw insert count mismatch");
  };

  const table: (string | number)[][] = [];
  const httpRates: number[] = [];
  const rawRates: number[] = [];
  try {
    // Warm-up (JIT, pool connections) on both paths with records not counted.
    const warm = Array.from({ length: batch }, (_, i) => benchRecord(rounds * records + i));
    await post(JSON.stringify(warm));
    await insert(warm.map((w) => rawRow(w)));
    for (let round = 0; round < rounds; round++) {
      const first = round * records;
      const bodies: string[] = [];
      const rowBatches: unknown[][][] = [];
      for (let i = 0; i < records; i += batch) {
        const wire = Array.from({ length: batch }, (_, k) => benchRecord(first + i + k));
        bodies.push(JSON.stringify(wire));
        rowBatches.push(wire.map((w) => rawRow(w)));
      }
      // Alternate which path goes first so neither always meets a warmer or fuller database.
      const runHttp = async () => { const s = await runClients(bodies, clients, post); httpRates.push(records / s); table.push([`${round + 1}`, "HTTP → server → MariaDB", fmt(s, 2), fmt(records / s)]); };
      const runRaw = async () => { const s = await runClients(rowBatches, clients, insert); rawRates.push(records / s); table.push([`${round + 1}`, "raw mysql2 multi-row INSERT", fmt(s, 2), fmt(records / s)]); };
      if (round % 2 === 0) { await runHttp(); await runRaw(); } else { await runRaw(); await runHttp(); }
    }
  } finally {
    await pool.end();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const [stored1, stored2] = [await countRows(httpUrl), await countRows(rawUrl)];
  const expected = rounds * records + batch;
  if (stored1 !== expected || stored2 !== expected) throw new Error(`rows stored: http ${stored1}, raw ${stored2}, expected ${expected}`);
  const http = percentile([...httpRates].sort((a, b) => a - b), 50);
  const raw = percentile([...rawRates].sort((a, b) => a - b), 50);
  table.push(["median", "HTTP → server → MariaDB", "", fmt(http)], ["median", "raw mysql2 multi-row INSERT", "", fmt(raw)],
    ["ratio", "HTTP / raw (medians)", "", `${fmt((http / raw) * 100, 1)}%`]);
  printTable(`Ingest: ${rounds} rounds × ${fmt(records)} records, batches of ${batch}, ${clients} concurrent clients (MariaDB on 127.0.0.1); every row stored once on both paths`,
    ["round", "path", "seconds", "records/s"], table);
  return { http, raw };
}

function rawRow(w: Parameters<typeof normalizeRecord>[0]): unknown[] {
  const r = normalizeRecord(w, { legacyUtcOffset: 0 });
  if (typeof r === "string") throw new Error(r);
  return [r.oci, r.hostname, r.serverIps, r.ctime, r.luser, r.suser, r.terminal, r.clientIp, r.command, r.kind, r.tsUs, r.utcOffset, r.sessionId, r.seq, r.cwd, r.exitStatus, null, 1];
}

async function countRows(url: string): Promise<number> {
  const c = await mysql.createConnection({ uri: url });
  try {
    const [rows] = await c.query("SELECT COUNT(*) AS n FROM servercmdhist");
    return Number((rows as { n: number }[])[0]!.n);
  } finally {
    await c.end();
  }
}
