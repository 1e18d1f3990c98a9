/**
 * Server CPU per ingest request (issue 12): a small gzip body that inflates to the whole body
 * limit (a "bomb") next to a gzip body of the same size holding real records, on both ingest
 * routes. CPU is the server process's own user+system time (/proc/<pid>/stat) around each
 * request, so loopback and client time are not counted. Every row is the median of `rounds`.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { startServer } from "../test/support/server.ts";
import { benchRecord, encodeBenchRecord } from "./fixtures.ts";
import { fmt, printTable } from "./table.ts";

const TOKEN = "bench-bomb-ingest-token-0123456789";
const LIMIT = 32 * 1024 * 1024;
const TARGET_GZ = 52 * 1024;
const CLK_TCK = 100; // Linux USER_HZ

/** The process's user+system CPU seconds so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

const gz = (b: Uint8Array | string) => gzipSync(b, { level: 9 });

/** Fresh real records (numbered from `first`) until their gzip body reaches TARGET_GZ. */
function realBody(route: "json" | "raw", first: number): Buffer {
  const parts: (string | Uint8Array)[] = [];
  for (let n = 500; ; n += 250) {
    while (parts.length < n) {
      const r = benchRecord(first + parts.length);
      parts.push(route === "json" ? JSON.stringify(r) : encodeBenchRecord(r));
    }
    const plain = route === "json" ? `[${parts.join(",")}]` : Buffer.concat(parts as Uint8Array[]);
    const z = gz(plain);
    if (z.length >= TARGET_GZ) return z;
  }
}

/** `unit` repeated to just under the body limit, between `head` and `tail`. */
function repeated(unit: string | Uint8Array, head = "", tail = ""): Buffer {
  const u = Buffer.from(unit);
  const n = Math.floor((LIMIT - head.length - tail.length) / u.length);
  return Buffer.concat([Buffer.from(head), Buffer.alloc(n * u.length).fill(u), Buffer.from(tail)]);
}

export async function benchBomb(opts: { rounds: number }) {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-bench-bomb-"));
  const server = await startServer({ CMDAUDIT_DATA_DIR: dir, CMDAUDIT_INGEST_TOKENS: TOKEN});
  const record = benchRecord(0);
  const bodies: { route: "json" | "raw"; name: string; body: (round: number) => Buffer }[] = [
    { route: "json", name: "real records", body: (r) => realBody("json", 1_000_000 + r * 100_000) },
    { route: "json", name: "bomb: one char", body: () => gz(repeated("a")) },
    { route: "json", name: "bomb: one record repeated", body: () => gz(repeated(JSON.stringify(record) + ",", "[", "1]")) },
    // The most a gzip body may always inflate to (GZIP_FLOOR_BYTES, 8 MiB), of the costliest JSON to parse.
    { route: "json", name: "8 MiB of [ (the gzip floor)", body: () => gz(Buffer.alloc(8 * 1024 * 1024, "[")) },
    { route: "raw", name: "real records", body: (r) => realBody("raw", 5_000_000 + r * 100_000) },
    { route: "raw", name: "bomb: one char", body: () => gz(repeated("a")) },
    { route: "raw", name: "bomb: one line repeated", body: () => gz(repeated(encodeBenchRecord(record))) },
    { route: "raw", name: "bomb: newlines", body: () => gz(repeated("\n")) },
  ];
  const rows: (string | number)[][] = [];
  try {
    for (const b of bodies) {
      const cpu: number[] = [];
      let status = 0;
      let size = 0;
      let inflated = 0;
      for (let round = 0; round < opts.rounds + 1; round++) {
        const body = b.body(round);
        size = body.length;
        inflated = Bun.gunzipSync(new Uint8Array(body)).length;
        const path = b.route === "json" ? "/api/v1/commands" : "/api/v1/ingest/raw?final=1";
        const before = cpuSeconds(server.proc.pid);
        const res = await fetch(server.url + path, {
          method: "POST", body,
          headers: { Authorization: `Bearer ${TOKEN}`, "Content-Encoding": "gzip", "Content-Type": b.route === "json" ? "application/json" : "text/plain" },
        });
        await res.arrayBuffer();
        status = res.status;
        Bun.sleepSync(50); // let the server finish its own after-response work (GC) inside the window
        if (round > 0) cpu.push(cpuSeconds(server.proc.pid) - before); // round 0 warms the JIT
      }
      cpu.sort((x, y) => x - y);
      rows.push([b.route, b.name, fmt(size / 1024, 1), fmt(inflated / size), status, fmt(cpu[cpu.length >> 1]! * 1000)]);
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(`Ingest CPU per request: server process user+system time, median of ${opts.rounds} (10 ms resolution)`,
    ["route", "body", "gzip KiB", "ratio", "status", "server CPU ms"], rows);
  return rows;
}
