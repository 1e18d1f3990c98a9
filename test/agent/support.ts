/**
 * Real parts for the reporter tests: the compiled binary, the real server on
 * MariaDB over loopback, a fault-injecting HTTP proxy in front of it, and the
 * query API to compare what was stored with what was written.
 */
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { buildReporter } from "../../agent/build.ts";
import { encodeRecord, type EncodableRecord } from "../../protocol/index.ts";
import { asCa1 } from "../protocol/helpers.ts";
import { INGEST_TOKEN, READ_TOKEN } from "../support/config.ts";
import { createTestDatabase } from "../support/mysql.ts";
import { commandBytes, exportRows } from "../support/query.ts";
import { type RunningServer, startServer } from "../support/server.ts";

let binary: Promise<string> | undefined;
/** Temp dirs made here (hosts, the binary's), removed by `removeTempDirs`. */
const tempDirs: string[] = [];
/** The reporter as shipped: `bun build --compile` for bun-linux-x64-baseline, built once per test process. */
export function reporterBinary(): Promise<string> {
  return (binary ??= (() => {
    const dir = mkdtempSync(join(tmpdir(), "cmdaudit-bin-"));
    tempDirs.push(dir);
    return buildReporter(join(dir, "cmdaudit-reporter"));
  })());
}

/** Remove the temp dirs of `makeHost` and `reporterBinary` (their append-only flags first: the reporter sets them). */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) {
    Bun.spawnSync(["chattr", "-R", "-a", dir], { stdout: "ignore", stderr: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  }
  binary = undefined;
}

export interface Backend {
  server: RunningServer;
  stop(): Promise<void>;
}

export async function startBackend(env: Record<string, string> = {}): Promise<Backend> {
  const db = await createTestDatabase("rep");
  const server = await startServer({
    CMDAUDIT_DATABASE_URL: db.url, CMDAUDIT_INGEST_TOKENS: INGEST_TOKEN, CMDAUDIT_READ_TOKENS: READ_TOKEN,
    CMDAUDIT_DATA_DIR: mkdtempSync(join(tmpdir(), "cmdaudit-srv-")), CMDAUDIT_LOG_LEVEL: "info", ...env,
  });
  return {
    server,
    async stop() {
      await server.stop();
      await db.drop();
    },
  };
}

/** What a fault does with one request: pass it on, answer it itself, or hold it. */
export type FaultAction = Response | "forward" | { after(res: Response): Promise<Response> };
export type Fault = (n: number, req: Request, body: ArrayBuffer) => FaultAction | Promise<FaultAction>;

/** An HTTP proxy on loopback in front of the server; `fault` decides per request (numbered from 1). */
export function startProxy(target: string, fault: Fault = () => "forward") {
  let n = 0;
  /** Each request: its number, body bytes (as sent: gzip or not) and URL (path and query). */
  const seen: { n: number; bytes: number; url: string }[] = [];
  const forward = async (req: Request, body: ArrayBuffer) => {
    const u = new URL(req.url);
    const to = new URL(u.pathname + u.search, target);
    const headers = new Headers(req.headers);
    headers.delete("host");
    return fetch(to, { method: req.method, headers, body: req.method === "GET" ? undefined : body });
  };
  const server = Bun.serve({
    port: 0, hostname: "127.0.0.1", idleTimeout: 60,
    async fetch(req) {
      const i = ++n;
      const body = await req.arrayBuffer();
      const u = new URL(req.url);
      seen.push({ n: i, bytes: body.byteLength, url: u.pathname + u.search });
      const f = await fault(i, req, body);
      if (f === "forward") return forward(req, body);
      if (f instanceof Response) return f;
      return f.after(await forward(req, body));
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, requests: () => n, stop: () => server.stop(true) };
}

/** A TCP server on loopback that accepts connections and never answers (nor closes them). */
export function startSilentServer() {
  const open = new Set<{ end(): void }>();
  let n = 0;
  /** performance.now() of each connection's open and of each close by the client. */
  const opened: number[] = [];
  const closed: number[] = [];
  const listener = Bun.listen({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open(s) { n++; opened.push(performance.now()); open.add(s); },
      data() {},
      close(s) { closed.push(performance.now()); open.delete(s); },
    },
  });
  return {
    url: `http://127.0.0.1:${listener.port}`,
    connections: () => n,
    opened,
    closed,
    /** Connections still open (a client that went away closed its end). */
    openNow: () => open.size,
    /**
     * Once every connection since `from` is seen opened and closed (a loaded host can deliver the
     * events after the client already exited): the last close's time after the first open, in ms.
     */
    async span(from: number, waitMs = 5000): Promise<number> {
      const end = performance.now() + waitMs;
      while ((opened.length <= from || closed.length < opened.length) && performance.now() < end) await Bun.sleep(20);
      if (opened.length <= from) throw new Error("no connection reached the silent server");
      return Math.max(...closed.slice(from)) - opened[from]!;
    },
    stop() {
      for (const s of open) s.end();
      listener.stop(true);
    },
  };
}

/** Can `user` open `path` for appending (O_WRONLY|O_APPEND)? Run through runuser, as that user. */
export function canOpenForAppend(user: string, path: string): boolean {
  return Bun.spawnSync(["runuser", "-u", user, "--", "sh", "-c", 'exec 3>>"$1"', "sh", path], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

export interface Host {
  dir: string;
  log: string;
  stateDir: string;
  configPath: string;
  hostname: string;
  written: EncodableRecord[];
  /** Write the reporter config (YAML) for this host, pointed at `url`. */
  configure(url: string, over?: Record<string, unknown>): void;
  /** Append records as the hook would (each record's lines in one write); `ca1`: as a hook before durationMs wrote them. */
  write(n: number, make?: (i: number) => Partial<EncodableRecord>, path?: string, ca1?: boolean): EncodableRecord[];
  append(bytes: Uint8Array | string, path?: string): void;
}

let hostCounter = 0;
export function makeHost(name = "h"): Host {
  const dir = mkdtempSync(join(tmpdir(), "cmdaudit-rep-"));
  tempDirs.push(dir);
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, "log"), { mode: 0o755 });
  const log = join(dir, "log/commands.log");
  writeFileSync(log, "", { mode: 0o622 });
  chmodSync(log, 0o622);
  const hostname = `${name}-${process.pid}-${++hostCounter}.test`;
  const sessionId = `s${process.pid}x${hostCounter}`;
  let seq = 0;
  const host: Host = {
    dir, log, hostname, written: [],
    stateDir: join(dir, "state"),
    configPath: join(dir, "reporter.yml"),
    configure(url, over = {}) {
      const base = {
        server: { url, token: INGEST_TOKEN, timeout_seconds: 5 },
        log: { path: log, rotate_grace_seconds: 0 },
        state_dir: host.stateDir,
        batch: { bytes: 64 * 1024 },
        run: { budget_seconds: 40, attempts: 3, backoff_ms: 50 },
      };
      writeFileSync(host.configPath, stringify(merge(base, over)), { mode: 0o600 });
    },
    write(n, make = () => ({}), path = log, ca1 = false) {
      const out: EncodableRecord[] = [];
      for (let i = 0; i < n; i++) {
        const s = seq++;
        const r: EncodableRecord = {
          kind: "command", ctime: `2026-11-26T10:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}.${String(s).padStart(6, "0").slice(-6)}+08:00`,
          hostname, serverIps: "10.1.127.4,fd00::4", suser: "root", luser: "alice", terminal: "pts/1",
          clientIp: "192.0.2.7", sessionId, seq: s, cwd: "/root", exitStatus: 0, command: `echo record ${s} ${"x".repeat(s % 97)}`,
          ...make(s),
        };
        host.append(ca1 ? asCa1(encodeRecord(r)) : encodeRecord(r), path);
        out.push(r);
        host.written.push(r);
      }
      return out;
    },
    append(bytes, path = log) {
      appendFileSync(path, bytes);
    },
  };
  return host;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const av = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && av && typeof av === "object" ? merge(av as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runReporter(host: Host, args: string[] = ["run"], opts: { onSpawn?: (p: Bun.Subprocess) => void } = {}): Promise<Ran> {
  const proc = Bun.spawn([await reporterBinary(), "-c", host.configPath, ...args], {
    env: { PATH: "/usr/bin:/bin", HOME: host.dir, TZ: "Asia/Shanghai" }, stdout: "pipe", stderr: "pipe",
  });
  opts.onSpawn?.(proc);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/**
 * Append the first `keep` lines of a multi-part record (as a shell killed mid-record leaves it),
 * under a session id of its own so it never collides with `host.write`'s. Not in `host.written`:
 * it can never be stored. Returns the bytes appended.
 */
let killedCounter = 0;
export function appendUnfinishedRecord(host: Host, keep = 2, path = host.log, seq = 0): Buffer {
  const r: EncodableRecord = {
    kind: "command", ctime: "2026-11-26T11:00:00.000001+08:00", hostname: host.hostname, serverIps: "10.1.127.4", suser: "root",
    luser: "alice", terminal: "pts/9", clientIp: "192.0.2.7", sessionId: `killed${process.pid}x${++killedCounter}`, seq,
    cwd: "/root", exitStatus: null, command: `echo ${"k".repeat(10_000)}`,
  };
  const all = Buffer.from(encodeRecord(r));
  let end = 0;
  for (let i = 0; i < keep; i++) end = all.indexOf(0x0a, end) + 1;
  if (end <= 0 || end >= all.length) throw new Error("appendUnfinishedRecord: the record has too few parts");
  const part = all.subarray(0, end);
  host.append(part, path);
  return part;
}

/** The reporter's own `loss` records as stored (the session id is in its state file). */
export async function lossRecords(server: RunningServer, stateDir: string): Promise<string[]> {
  const s = JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8")) as { reporterId: string };
  return (await storedFor(server, { session: s.reporterId })).map((r) => r.command);
}

export interface Stored {
  kind: string;
  hostname: string;
  sessionId: string | null;
  seq: number | null;
  command: string;
  commandB64?: string;
  luser: string;
  time: string | null;
}

/** Every stored record of a host (or matching a filter), through the query API. */
export function storedFor(server: RunningServer, filter: string | Record<string, string>): Promise<Stored[]> {
  return exportRows<Stored>(server.url, typeof filter === "string" ? { host: filter } : filter, READ_TOKEN);
}

/** Stored rows equal the written records: same keys, each once, commands byte for byte. */
export async function expectExactlyStored(server: RunningServer, host: Host, extraKinds: string[] = []): Promise<Stored[]> {
  const rows = await storedFor(server, host.hostname);
  const commands = rows.filter((r) => !extraKinds.includes(r.kind) && r.kind !== "loss");
  const key = (sid: string | null, seq: number | null) => `${sid}#${seq}`;
  const seen = new Map<string, Stored>();
  const dupes: string[] = [];
  for (const r of commands) {
    const k = key(r.sessionId, r.seq);
    if (seen.has(k)) dupes.push(k);
    seen.set(k, r);
  }
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const w of host.written) {
    const r = seen.get(key(w.sessionId, w.seq));
    if (!r) { missing.push(key(w.sessionId, w.seq)); continue; }
    const want = typeof w.command === "string" ? Buffer.from(w.command) : Buffer.from(w.command);
    if (!commandBytes(r).equals(want)) wrong.push(key(w.sessionId, w.seq));
  }
  const problems = { missing: missing.length, duplicates: dupes.length, wrong: wrong.length, extra: commands.length - dupes.length - (host.written.length - missing.length) };
  if (problems.missing || problems.duplicates || problems.wrong || problems.extra) {
    throw new Error(`stored rows differ from the log: ${JSON.stringify(problems)} first missing ${missing.slice(0, 3).join(",")} dupes ${dupes.slice(0, 3).join(",")}`);
  }
  return rows;
}
