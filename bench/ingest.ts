/**
 * Ingest throughput, side by side in one run:
 *  - end to end: JSON batches over HTTP on loopback → the real server process → MariaDB;
 *  - raw limit: the same normalised rows inserted with mysql2 multi-row INSERT ... ON DUPLICATE KEY
 *    (same table, same indexes, same batch size and concurrency), no HTTP, no validation.
 */
import mysql from "mysql2/promise";
import { normalizeRecord, type WireRecord } from "../protocol/index.ts";
import { createTestDatabase } from "../test/support/mysql.ts";
import { startServer } from "../test/support/server.ts";
import { benchRecord } from "./fixtures.ts";
import { fmt, printTable } from "./table.ts";

const TOKEN = "bench-ingest-token-0123456789";
const READ = "bench-read-token-0123456789ab";

async function runClients(batches: unknown[], clients: number, send: (b: unknown) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < batches.length) await send(batches[next++]!);
  }));
  return (performance.now() - t0) / 1000;
}

export async function benchIngest(opts: { records: number; batch: number; clients: number }) {
  const { records, batch, clients } = opts;
  const wire = Array.from({ length: records }, (_, i) => benchRecord(i));
  const bodies: string[] = [];
  for (let i = 0; i < records; i += batch) bodies.push(JSON.stringify(wire.slice(i, i + batch)));

  const db1 = await createTestDatabase("bench_http");
  const db2 = await createTestDatabase("bench_raw");
  try {
    return await measure(db1.url, db2.url, wire, bodies, opts);
  } finally {
    await db1.drop();
    await db2.drop();
  }
}

async function measure(url1: string, url2: string, wire: WireRecord[], bodies: string[], opts: { records: number; batch: number; clients: number }) {
  const { records, batch, clients } = opts;
  // End to end through the server.
  const server = await startServer({ CMDAUDIT_DATABASE_URL: url1, CMDAUDIT_INGEST_TOKENS: TOKEN, CMDAUDIT_READ_TOKENS: READ });
  let httpSecs: number;
  try {
    // Warm-up batch (JIT, pool connections) with different records, not counted.
    await fetch(`${server.url}/api/v1/commands`, { method: "POST", headers: { AccessToken: TOKEN, "Content-Type": "application/json" },
      body: JSON.stringify(Array.from({ length: batch }, (_, i) => benchRecord(records + i))) });
    httpSecs = await runClients(bodies, clients, async (body) => {
      const res = await fetch(`${server.url}/api/v1/commands`, { method: "POST", headers: { AccessToken: TOKEN, "Content-Type": "application/json" }, body: body as string });
      const j = (await res.json()) as { code: number; accepted: number };
      if (j.code !== 0 || j.accepted !== batch) throw new Error(`ingest failed: ${JSON.stringify(j).slice(0, 200)}`);
    });
  } finally {
    await server.stop();
  }

  // Raw limit: mysql2 multi-row INSERT of the same rows into the same schema.
  const { openStore } = await import("../server/src/db/open.ts");
  await (await openStore(url2, { dataDir: "/tmp", legacyUtcOffset: 0 })).close(); // same migrations → same table
  const pool = mysql.createPool({ uri: url2, connectionLimit: clients, charset: "utf8mb4", flags: ["-FOUND_ROWS"] });
  const cols = "oci,hostname,serverIps,ctime,luser,suser,terminal,clientIp,command,kind,ts_us,utc_offset,session_id,seq,cwd,exit_status,command_raw,received_us";
  const rowBatches: unknown[][][] = [];
  for (let i = 0; i < records; i += batch) {
    rowBatches.push(wire.slice(i, i + batch).map((w) => {
      const r = normalizeRecord(w, { legacyUtcOffset: 0 });
      if (typeof r === "string") throw new Error(r);
      return [r.oci, r.hostname, r.serverIps, r.ctime, r.luser, r.suser, r.terminal, r.clientIp, r.command, r.kind, r.tsUs, r.utcOffset, r.sessionId, r.seq, r.cwd, r.exitStatus, null, 1];
    }));
  }
  let rawSecs: number;
  try {
    rawSecs = await runClients(rowBatches, clients, async (rows) => {
      const [res] = await pool.query(`INSERT INTO servercmdhist (${cols}) VALUES ? ON DUPLICATE KEY UPDATE id = id`, [rows]);
      if ((res as { affectedRows: number }).affectedRows !== batch) throw new Error("raw insert count mismatch");
    });
  } finally {
    await pool.end();
  }
  const [c1] = await countRows(url1);
  const [c2] = await countRows(url2);

  const http = records / httpSecs;
  const raw = records / rawSecs;
  printTable(`Ingest: ${fmt(records)} records, batches of ${batch}, ${clients} concurrent clients (MariaDB on 127.0.0.1)`,
    ["path", "seconds", "records/s", "rows stored", "vs raw"],
    [
      ["HTTP → server → MariaDB", fmt(httpSecs, 2), fmt(http), fmt(c1!), `${fmt((http / raw) * 100, 1)}%`],
      ["raw mysql2 multi-row INSERT", fmt(rawSecs, 2), fmt(raw), fmt(c2!), "100.0%"],
    ]);
  return { http, raw };
}

async function countRows(url: string): Promise<number[]> {
  const c = await mysql.createConnection({ uri: url });
  try {
    const [rows] = await c.query("SELECT COUNT(*) AS n FROM servercmdhist");
    return [(rows as { n: number }[])[0]!.n];
  } finally {
    await c.end();
  }
}
