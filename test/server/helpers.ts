/** Shared helpers for the server tests: an in-process app on a real SQLite store, a seeded PRNG, the seed reporter. */
export { Rng } from "../support/rng.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../server/src/app.ts";
import type { Config } from "../../server/src/config.ts";
import { openStore } from "../../server/src/db/open.ts";
import type { Store } from "../../server/src/db/store.ts";
import { jsonLogger } from "../../server/src/log.ts";
import { Metrics } from "../../server/src/metrics.ts";
import { INGEST_TOKEN, READ_TOKEN, testConfig } from "../support/config.ts";

export { INGEST_TOKEN, READ_TOKEN };

export interface TestApp {
  app: ReturnType<typeof createApp>;
  store: Store;
  config: Config;
  metrics: Metrics;
  /** Every log line the app wrote (debug level and up). */
  logs: string[];
  /** POST a JSON value (or raw bytes) to /api/v1/commands with the ingest token. */
  post(body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** POST raw bytes to /api/v1/ingest/raw with the ingest token. */
  postRaw(body: Uint8Array | string, query?: string, headers?: Record<string, string>): Promise<Response>;
  /** GET with the read token. */
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** Every stored row, newest first, through the query API (pages of max_page_size). */
  all(filter?: Record<string, string>): Promise<Presented[]>;
  close(): Promise<void>;
}

/** A record as GET /api/v1/commands shows it. */
export interface Presented {
  id: number;
  kind: string;
  time: string | null;
  ctime: string;
  utcOffset: string | null;
  hostname: string;
  serverIps: string;
  luser: string;
  suser: string;
  terminal: string;
  clientIp: string;
  sessionId: string | null;
  seq: number | null;
  cwd: string | null;
  exitStatus: number | null;
  durationMs: number | null;
  command: string;
  commandB64?: string;
  receivedAt: string | null;
}

export interface IngestAnswer {
  code: number;
  msg: string;
  accepted: number;
  duplicates: number;
  rejected: { index?: number; line?: number; error: string }[];
  ignored?: number;
  consumed?: number;
}

export interface Page {
  items: Presented[];
  nextCursor: string | null;
}

export const tmpDirs: string[] = [];
export function tmpDir(prefix = "cmdaudit-server-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}
export function cleanupTmpDirs(): void {
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A fresh app on a fresh SQLite file; `over` replaces whole config sections. */
export async function makeApp(over: Partial<Config> = {}, opts: { store?: (s: Store) => Store; logs?: string[] } = {}): Promise<TestApp> {
  const dir = tmpDir();
  const config = testConfig(over);
  const real = await openStore("sqlite:" + join(dir, "audit.db"), { dataDir: dir, legacyUtcOffset: 0 });
  const store = opts.store ? opts.store(real) : real;
  const logs = opts.logs ?? [];
  const metrics = new Metrics();
  const app = createApp({ store, config, logger: jsonLogger("debug", (l) => logs.push(l)), metrics });
  const t: TestApp = {
    app, store, config, metrics, logs,
    async post(body, headers = {}) {
      const data = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
      return app.request("/api/v1/commands", {
        method: "POST",
        headers: { AccessToken: INGEST_TOKEN, "Content-Type": "application/json", ...headers },
        body: data,
      });
    },
    async postRaw(body, query = "", headers = {}) {
      return app.request("/api/v1/ingest/raw" + query, {
        method: "POST",
        headers: { Authorization: `Bearer ${INGEST_TOKEN}`, "Content-Type": "text/plain", ...headers },
        body,
      });
    },
    async get(path, headers = {}) {
      return app.request(path, { headers: { Authorization: `Bearer ${READ_TOKEN}`, ...headers } });
    },
    async all(filter = {}) {
      const out: Presented[] = [];
      let cursor: string | null = null;
      for (;;) {
        const q = new URLSearchParams({ ...filter, limit: String(config.limits.max_page_size) });
        if (cursor) q.set("cursor", cursor);
        const res = await t.get(`/api/v1/commands?${q}`);
        if (res.status !== 200) throw new Error(`GET ${q} → ${res.status} ${await res.text()}`);
        const page = (await res.json()) as Page;
        out.push(...page.items);
        if (!page.nextCursor) return out;
        cursor = page.nextCursor;
      }
    },
    async close() {
      await real.close();
    },
  };
  return t;
}


/** UTC µs of a wall time at a given offset (minutes east), computed with Date.UTC only. */
export function utcUs(y: number, mo: number, d: number, h: number, mi: number, s: number, offsetMin: number, us = 0): number {
  return (Date.UTC(y, mo - 1, d, h, mi, s) - offsetMin * 60_000) * 1000 + us;
}

/**
 * Run the 2018 seed reporter's own parsing (its regex, split and dict order) and
 * `json.dumps(pool)` in python3 over log text: the exact bytes it would POST.
 */
export function seedReporterPayload(logText: string): string {
  const script = [
    "import re, sys, json",
    "pat = re.compile(r'^(\\[.*\\])\\s(\\[.*\\])\\s(\\[.*\\])\\s(.*)$')",
    "data = sys.stdin.buffer.read().decode('utf-8')",
    "pool = []",
    "for cmd in data.split('\\n'):",
    "    if pat.match(cmd):",
    "        cmd = [i for i in pat.split(cmd) if i]",
    "        if cmd and isinstance(cmd, (list, tuple)) and len(cmd) == 4:",
    "            ctime = cmd[0].lstrip('[').rstrip(']')",
    "            suser, luser, terminal, clientIp = cmd[1].lstrip('[').rstrip(']').split()",
    "            suser = suser.replace('(', '').replace(')', '')",
    "            hostname, serverIps = cmd[2].lstrip('[').rstrip(']').split('@')",
    "            command = cmd[3]",
    "            pool.append(dict(ctime=ctime, suser=suser, luser=luser, terminal=terminal, clientIp=clientIp, hostname=hostname, serverIps=serverIps, command=command))",
    "sys.stdout.write(json.dumps(pool))",
  ].join("\n");
  const p = Bun.spawnSync(["python3", "-c", script], { stdin: Buffer.from(logText, "utf8") });
  if (p.exitCode !== 0) throw new Error(`python3 failed: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

/** The seed's reporter User-Agent. */
export const SEED_UA = "Mozilla/5.0 (X11; CentOS; Linux i686; rv:7.0.1406) Gecko/20100101 OpsRequestBot/0.1";

/** Values of `cmdaudit_records_total{result="..."}` in a metrics text. */
export function recordCounters(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdaudit_records_total\{result="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}
