/** Shared helpers for the server tests: an in-process app on a real SQLite store, a seeded PRNG, the seed reporter. */
export { Rng } from "../support/rng.ts";
import { afterAll, afterEach, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeRecord, type EncodableRecord } from "../../protocol/index.ts";
import type { Redactor } from "../../protocol/redact/index.ts";
import type { CommandsPage, IngestAnswer as JsonIngestAnswer, PresentedRecord, RawIngestAnswer } from "../../protocol/http.ts";
import { createApp } from "../../server/src/app.ts";
import type { Config } from "../../server/src/config.ts";
import { openStore } from "../../server/src/db/open.ts";
import type { Store } from "../../server/src/db/store.ts";
import { jsonLogger } from "../../server/src/log.ts";
import { Metrics } from "../../server/src/metrics.ts";
import { ADMIN_TOKEN, INGEST_TOKEN, READ_TOKEN, testConfig } from "../support/config.ts";

export { ADMIN_TOKEN, INGEST_TOKEN, READ_TOKEN };

export interface TestApp {
  app: ReturnType<typeof createApp>;
  store: Store;
  /** The directory of the app's SQLite store (not config.data_dir). */
  dir: string;
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

/** A record as GET /api/v1/commands shows it, an ingest answer (JSON or raw), a page: the contract's own types. */
export type Presented = PresentedRecord;
export type IngestAnswer = JsonIngestAnswer & Partial<Pick<RawIngestAnswer, "ignored" | "consumed">>;
export type Page = CommandsPage;

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
export async function makeApp(over: Partial<Config> = {}, opts: { store?: (s: Store) => Store; logs?: string[]; clock?: () => number; backtestLimits?: { budgetMs: number; batchMs: number }; redactor?: Redactor } = {}): Promise<TestApp> {
  const dir = tmpDir();
  const config = testConfig(over);
  const real = await openStore("sqlite:" + join(dir, "audit.db"), { dataDir: dir, legacyUtcOffset: 0 });
  const store = opts.store ? opts.store(real) : real;
  const logs = opts.logs ?? [];
  const metrics = new Metrics();
  const app = createApp({ store, config, logger: jsonLogger("debug", (l) => logs.push(l)), metrics, ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.backtestLimits ? { backtestLimits: opts.backtestLimits } : {}), ...(opts.redactor ? { redactor: opts.redactor } : {}) });
  const t: TestApp = {
    app, store, dir, config, metrics, logs,
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

// ---------------------------------------------------------------------------------------------
// Per-file fixtures for the route tests: apps whose logs are checked for secrets after every test.

export const json = async <T>(res: Response): Promise<T> => (await res.json()) as T;

/** Limits of the test config with some replaced. */
export function limits(over: Partial<Config["limits"]>): Config["limits"] {
  return { ...testConfig().limits, ...over };
}

/** ISO 8601 of a UTC instant (ms) at a given offset (minutes east): the oracle for `time`. */
export function isoAt(utcMs: number, offsetMin: number, us = 0): string {
  const d = new Date(utcMs + offsetMin * 60_000);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const frac = us ? "." + p(us, 6) : "";
  const a = Math.abs(offsetMin);
  return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${frac}${offsetMin < 0 ? "-" : "+"}${p(Math.floor(a / 60))}:${p(a % 60)}`;
}

/** RFC 4180: fields separated by commas, records by CRLF, quoted fields may hold anything with "" for a quote. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  let atStart = true;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\"" && field === "" && atStart) {
      // Quoted field.
      i++;
      for (;;) {
        if (i >= text.length) throw new Error("unterminated quoted field");
        if (text[i] === "\"") {
          if (text[i + 1] === "\"") { field += "\""; i += 2; continue; }
          i++;
          break;
        }
        field += text[i++];
      }
      const n = text[i];
      if (n !== undefined && n !== "," && !(n === "\r" && text[i + 1] === "\n")) throw new Error(`junk after closing quote at ${i}`);
      atStart = false;
      continue;
    }
    if (c === ",") { row.push(field); field = ""; atStart = true; i++; continue; }
    if (c === "\r" && text[i + 1] === "\n") { row.push(field); rows.push(row); row = []; field = ""; atStart = true; i += 2; continue; }
    if (c === "\r" || c === "\n" || c === "\"") throw new Error(`bare ${JSON.stringify(c)} in an unquoted field at ${i}`);
    field += c;
    atStart = false;
    i++;
  }
  if (!atStart || field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;
}

/** Log lines holding a secret: as is, JSON-escaped (how a string lands in a JSON line) or URL-encoded. */
export function secretLeaks(lines: readonly string[], secrets: Iterable<string>): string[] {
  const list = [...secrets].filter((s) => s.length >= 3);
  const leaks: string[] = [];
  for (const l of lines) {
    for (const s of list) if (l.includes(s) || l.includes(JSON.stringify(s).slice(1, -1)) || (s.isWellFormed() && l.includes(encodeURIComponent(s)))) leaks.push(`${s.slice(0, 40)} in ${l.slice(0, 200)}`);
  }
  return leaks;
}

/**
 * The apps, secrets and logs of one test file. Call once at the top of a file: it registers
 * an afterEach that fails a test whose requests logged a token, a command or a query value
 * (or a line that is not JSON), and an afterAll that closes the apps and removes their dirs.
 */
export class RouteSuite {
  /** Every log line of every app of this file. */
  readonly logs: string[] = [];
  /** Strings that must never reach a log line: tokens, command texts, query values. */
  readonly secrets = new Set<string>([INGEST_TOKEN, READ_TOKEN, ADMIN_TOKEN]);
  private readonly apps: TestApp[] = [];
  private checked = 0;

  constructor() {
    afterEach(() => {
      const fresh = this.logs.slice(this.checked);
      this.checked = this.logs.length;
      for (const l of fresh) expect(() => JSON.parse(l)).not.toThrow();
      expect(secretLeaks(fresh, this.secrets)).toEqual([]);
    });
    afterAll(async () => {
      for (const a of this.apps.splice(0)) await a.close();
      cleanupTmpDirs();
    });
  }

  async newApp(over: Partial<Config> = {}, store?: (s: Store) => Store, clock?: () => number, redactor?: Redactor): Promise<TestApp> {
    const t = await makeApp(over, { logs: this.logs, ...(store ? { store } : {}), ...(clock ? { clock } : {}), ...(redactor ? { redactor } : {}) });
    this.apps.push(t);
    return t;
  }

  secret(...s: string[]): this {
    for (const x of s) this.secrets.add(x);
    return this;
  }

  /** Commands are secrets for the log check; returns the record unchanged. */
  cmd<T extends { command?: string }>(r: T): T {
    if (r.command) this.secrets.add(r.command);
    return r;
  }

  /** A query string; every value except the enumerations is a secret. */
  qs(params: Record<string, string>): string {
    for (const [k, v] of Object.entries(params)) if (!["kind", "format", "limit", "exitStatus"].includes(k)) this.secrets.add(v);
    return new URLSearchParams(params).toString();
  }

  /** A hook-style JSON record (all the cmdaudit fields); its command is a secret. */
  v2(over: Record<string, unknown> = {}): Record<string, unknown> {
    return this.cmd({
      kind: "command",
      ctime: "2024-03-01T12:34:56.123456+08:00",
      hostname: "web02.example.com",
      serverIps: "10.0.0.7",
      suser: "root",
      luser: "alice",
      terminal: "pts/3",
      clientIp: "192.168.7.7",
      sessionId: "s-default",
      seq: 1,
      cwd: "/home/alice",
      exitStatus: 0,
      command: "make -j8",
      ...over,
    } as Record<string, unknown> & { command?: string });
  }

  /** A hook record for the raw route; commands longer than 3 chars are secrets. */
  hook(over: Partial<EncodableRecord> = {}): EncodableRecord {
    const r: EncodableRecord = {
      kind: "command", ctime: "2024-03-01T12:34:56+08:00", hostname: "rawhost", serverIps: "10.1.1.1,10.1.1.2", suser: "root",
      luser: "alice", terminal: "pts/0", clientIp: "192.168.0.5", sessionId: "raw-s", seq: 1, cwd: "/srv", exitStatus: 0, command: "ls", ...over,
    };
    if (typeof r.command === "string" && r.command.length > 3) this.secrets.add(r.command);
    return r;
  }
}

/** A record's log-line bytes. */
export const enc = (r: EncodableRecord) => Buffer.from(encodeRecord(r));
/** Concatenate byte and string parts. */
export const cat = (...parts: (Buffer | string)[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));
