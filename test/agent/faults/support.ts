/**
 * Parts of the fault suite shared by both drivers: a host on disk whose records are written as
 * the hook writes them, runs in process groups of their own, a fault proxy that records what it
 * saw, tmpfs mounts, and the three rules checked against what the server stored.
 */
import { expect } from "bun:test";
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeRecord, type EncodableRecord } from "../../../protocol/index.ts";
import { READ_TOKEN } from "../../support/config.ts";
import { commandBytes, exportRows } from "../../support/query.ts";
import type { RunningServer } from "../../support/server.ts";
import type { Knobs, Ran, Spawned } from "./driver.ts";

export const FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

// ---------------------------------------------------------------------------------------------
// Cleanup: every directory, mount and process group this suite made.

const dirs: string[] = [];
const mounts: string[] = [];
const groups = new Map<number, { exited: boolean }>();

export async function cleanupAll(): Promise<void> {
  for (const [pid, g] of groups) {
    if (!g.exited) {
      try { process.kill(-pid, "SIGKILL"); } catch { /* already gone */ }
    }
  }
  groups.clear();
  for (const m of mounts.splice(0).reverse()) Bun.spawnSync(["umount", "-l", m], { stdout: "ignore", stderr: "ignore" });
  for (const d of dirs.splice(0)) {
    Bun.spawnSync(["chattr", "-R", "-a", d], { stdout: "ignore", stderr: "ignore" });
    rmSync(d, { recursive: true, force: true });
  }
}

/** A tmpfs of `size` (mount(8) syntax, e.g. "512k") over `dir`, unmounted by `umount` or cleanupAll. */
export function mountTmpfs(dir: string, size: string): { umount(): void } {
  mkdirSync(dir, { recursive: true });
  const p = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir], { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`cannot mount a tmpfs on ${dir}: ${p.stderr.toString()}`);
  mounts.push(dir);
  return {
    umount() {
      const i = mounts.indexOf(dir);
      if (i >= 0) mounts.splice(i, 1);
      const u = Bun.spawnSync(["umount", dir], { stderr: "pipe" });
      if (u.exitCode !== 0) throw new Error(`umount ${dir}: ${u.stderr.toString()}`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Processes

const SIGNALS = constants.signals as Record<string, number>;

/** Run `argv` in a new session (so its process group is its pid: `kill9` reaches its children too). */
export function spawnGroup(argv: string[], env: Record<string, string>): Spawned {
  const t0 = performance.now();
  const proc = Bun.spawn(["setsid", ...argv], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const g = { exited: false };
  groups.set(proc.pid, g);
  const done = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]).then(([stdout, stderr, exit]): Ran => {
    g.exited = true;
    const ms = Math.round(performance.now() - t0);
    const sig = proc.signalCode;
    return { code: sig ? 128 + (SIGNALS[sig] ?? 0) : exit, stdout, stderr, ms };
  });
  return {
    pid: proc.pid,
    done,
    kill9() {
      try { process.kill(-proc.pid, "SIGKILL"); } catch { /* gone */ }
    },
  };
}

/** Resolve once `cond()` holds; fail after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** A promise to hold a request at the proxy, and its release. */
export function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => { open = r; });
  return { wait, open };
}

// ---------------------------------------------------------------------------------------------
// The fault proxy: support.ts's startProxy idea, recording each request's method and URL.

/** What the proxy does with one request: pass it on, answer it itself, or pass it on and change the answer. */
export type FaultAction = Response | "forward" | { after(res: Response): Promise<Response> };
export type Fault = (n: number, req: Request) => FaultAction | Promise<FaultAction>;

export interface Seen {
  method: string;
  url: string;
}

export interface FaultProxy {
  url: string;
  seen: Seen[];
  posts(): number;
  /** What to do with each later request (numbered from 1 over the proxy's life). */
  setFault(f: Fault): void;
  stop(): void;
}

export function faultProxy(target: string, fault: Fault = () => "forward"): FaultProxy {
  const seen: Seen[] = [];
  let current = fault;
  const forward = (req: Request, body: ArrayBuffer) => {
    const u = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    return fetch(new URL(u.pathname + u.search, target), { method: req.method, headers, body: req.method === "GET" ? undefined : body });
  };
  const server = Bun.serve({
    port: 0, hostname: "127.0.0.1", idleTimeout: 120,
    async fetch(req) {
      seen.push({ method: req.method, url: req.url });
      const n = seen.length;
      const body = await req.arrayBuffer();
      const f = await current(n, req);
      if (f === "forward") return forward(req, body);
      if (f instanceof Response) return f;
      return f.after(await forward(req, body));
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    seen,
    posts: () => seen.filter((s) => s.method === "POST").length,
    setFault(f) { current = f; },
    stop: () => { void server.stop(true); },
  };
}

/** What the server's rate limit answers (server/src/body.ts): 429, its message, `Retry-After` in seconds. */
export const json429 = (retryAfterSeconds: number) => new Response(
  JSON.stringify({ code: 429, msg: `this token reached limits.ingest_requests_per_minute (600); retry after ${retryAfterSeconds} s` }),
  { status: 429, headers: { "content-type": "application/json", "retry-after": String(retryAfterSeconds) } },
);
export const json500 = () => new Response('{"code":500,"msg":"injected failure"}', { status: 500, headers: { "content-type": "application/json" } });

// ---------------------------------------------------------------------------------------------
// A host: its directory, log, state dir, and what its hook wrote.

let hostCounter = 0;

export class FaultHost {
  readonly dir: string;
  readonly logDir: string;
  readonly log: string;
  readonly stateDir: string;
  readonly hostname: string;
  /** The shell session the records come from. */
  readonly session: string;
  /** Records that must be stored, each exactly once. */
  readonly written: EncodableRecord[] = [];
  /** Records that are gone and must be counted in stored loss records. */
  lost = 0;
  /** Every session id the reporter's own loss records used (read after each run). */
  readonly reporterIds = new Set<string>();
  private seq = 0;
  private otherSessions = 0;

  constructor(name: string, opts: { longSession?: boolean } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), "cmdaudit-fault-"));
    dirs.push(this.dir);
    chmodSync(this.dir, 0o755);
    this.logDir = join(this.dir, "log");
    mkdirSync(this.logDir, { mode: 0o755 });
    this.log = join(this.logDir, "commands.log");
    writeFileSync(this.log, "", { mode: 0o622 });
    chmodSync(this.log, 0o622);
    this.stateDir = join(this.dir, "state");
    const n = ++hostCounter;
    this.hostname = `${name}-${process.pid}-${n}.fault.test`;
    const base = `f${process.pid}x${n}x${Math.random().toString(36).slice(2, 8)}`;
    // A 64-byte session id: every head line of this session then has the same first 64 bytes.
    this.session = opts.longSession ? (base + ".").padEnd(64, "L") : base;
  }

  knobs(url: string, over: Partial<Knobs> = {}): Knobs {
    return { url, log: this.log, stateDir: this.stateDir, budgetSeconds: 20, timeoutSeconds: 5, batchBytes: 64 * 1024, rotateGraceSeconds: 0, ...over };
  }

  /** The next record of `session` (the host's own by default). */
  record(over: Partial<EncodableRecord> = {}, session = this.session): EncodableRecord {
    const s = session === this.session ? this.seq++ : 0;
    return {
      kind: "command",
      ctime: `2026-11-26T10:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}.${String(s).padStart(6, "0").slice(-6)}+08:00`,
      hostname: this.hostname, serverIps: "10.1.127.4,fd00::4", suser: "root", luser: "alice", terminal: "pts/1",
      clientIp: "192.0.2.7", sessionId: session, seq: s, cwd: "/root", exitStatus: 0, durationMs: s,
      command: `echo record ${s} ${"x".repeat(s % 97)}`,
      ...over,
    };
  }

  /** A session id of another shell on this host. */
  otherSession(tag: string): string {
    return `${this.session.slice(0, 40)}.${tag}${++this.otherSessions}`;
  }

  /** Append `n` records as the hook does (each record's lines in one write); they must be stored. */
  write(n: number, file = this.log): EncodableRecord[] {
    const out: EncodableRecord[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.record();
      appendFileSync(file, encodeRecord(r));
      this.written.push(r);
      out.push(r);
    }
    return out;
  }

  /** Append `n` records that will be destroyed before anyone sends them and must be counted lost. */
  writeLost(n: number, file = this.log): void {
    for (let i = 0; i < n; i++) appendFileSync(file, encodeRecord(this.record()));
    this.lost += n;
  }

  /** `n` records' bytes, expected stored, not yet appended anywhere (e.g. the content of a rewrite). */
  encodeExpected(n: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.record();
      this.written.push(r);
      out.push(encodeRecord(r));
    }
    return out;
  }

  /**
   * A multi-part record of another session cut after `keep` of its lines, as a shell killed
   * mid-record leaves it: it can never be stored, so it must be counted lost.
   */
  writeUnfinished(keep = 2): { session: string; lines: number } {
    const session = this.otherSession("killed");
    const bytes = encodeRecord(this.record({ command: `printf '%s' ${"y".repeat(10_000)}` }, session));
    const lines = Buffer.from(bytes).toString("latin1").split("\n").filter((l) => l !== "");
    if (lines.length <= keep) throw new Error(`the unfinished record has only ${lines.length} lines`);
    appendFileSync(this.log, Buffer.from(lines.slice(0, keep).map((l) => l + "\n").join(""), "latin1"));
    this.lost += 1;
    return { session, lines: lines.length };
  }

  /** A one-line record of another shell, expected stored, split into two writes: append `first` now, `rest` later. */
  splitRecord(at = 40): { first: Uint8Array; rest: Uint8Array } {
    const r = this.record({ command: "echo the last line, written in two parts" }, this.otherSession("slow"));
    this.written.push(r);
    const b = encodeRecord(r);
    return { first: b.subarray(0, at), rest: b.subarray(at) };
  }
}

// ---------------------------------------------------------------------------------------------
// The three rules.

interface Row {
  kind: string;
  sessionId: string | null;
  seq: number | null;
  command: string;
  commandB64?: string;
}

const LOSS_PREFIX = "cmdaudit reporter:";

/**
 * Every record written is stored exactly once (commands byte for byte), what was lost is counted
 * exactly in stored `loss` records (the sum of their "N record(s)"), and there is no false loss.
 */
export async function expectRules(server: RunningServer, h: FaultHost): Promise<void> {
  const rows = await exportRows<Row>(server.url, { host: h.hostname }, READ_TOKEN);
  const key = (sid: string | null, seq: number | null) => `${sid}#${seq}`;
  const seen = new Map<string, Row>();
  const duplicates: string[] = [];
  for (const r of rows) {
    const k = key(r.sessionId, r.seq);
    if (seen.has(k)) duplicates.push(k);
    seen.set(k, r);
  }
  const missing: string[] = [];
  const wrongBytes: string[] = [];
  const wanted = new Set<string>();
  for (const w of h.written) {
    const k = key(w.sessionId, w.seq);
    wanted.add(k);
    const r = seen.get(k);
    if (!r) { missing.push(k); continue; }
    const want = typeof w.command === "string" ? Buffer.from(w.command) : Buffer.from(w.command);
    if (!commandBytes(r).equals(want)) wrongBytes.push(k);
  }
  const unexpected = [...seen.keys()].filter((k) => !wanted.has(k));

  const lossTexts: string[] = [];
  for (const id of h.reporterIds) {
    const loss = await exportRows<Row>(server.url, { session: id, kind: "loss" }, READ_TOKEN);
    for (const r of loss) if (r.command.startsWith(LOSS_PREFIX)) lossTexts.push(r.command);
  }
  let lostCounted = 0;
  const unquantified: string[] = [];
  for (const t of lossTexts) {
    const m = /(\d+) record\(s\)/.exec(t);
    if (m) lostCounted += Number(m[1]);
    else unquantified.push(t);
  }
  const got = {
    written: h.written.length,
    stored: seen.size - unexpected.length,
    missing: missing.length, firstMissing: missing.slice(0, 3),
    duplicates: duplicates.length, firstDuplicates: duplicates.slice(0, 3),
    wrongBytes: wrongBytes.length,
    unexpected: unexpected.length,
    lostCounted,
    unquantifiedLossRecords: unquantified,
    lossRecords: lossTexts.length,
    lossTexts,
  };
  expect(got).toEqual({
    written: h.written.length,
    stored: h.written.length,
    missing: 0, firstMissing: [],
    duplicates: 0, firstDuplicates: [],
    wrongBytes: 0,
    unexpected: 0,
    lostCounted: h.lost,
    unquantifiedLossRecords: [],
    // No false loss: no loss record at all when nothing was lost.
    lossRecords: h.lost === 0 ? 0 : expect.any(Number),
    lossTexts: expect.any(Array),
  });
}
