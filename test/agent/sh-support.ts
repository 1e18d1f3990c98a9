/** Helpers for test/agent/sh-reporter.test.ts: cases on disk, the script run by a real shell, a fault-injecting proxy, stored rows. */
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeRecord, type RecordKind } from "../../protocol/index.ts";
import { asCa1 } from "../protocol/helpers.ts";
import { commandBytes, exportRows } from "../support/query.ts";

/** The script under test; SH_REPORTER_UNDER_TEST names another copy (e.g. an older version, to see a new test fail against it). */
export const SCRIPT = process.env.SH_REPORTER_UNDER_TEST ?? fileURLToPath(new URL("../../agent/sh/cmdaudit-reporter.sh", import.meta.url));
export const INGEST = "sh-ingest-token-0123456789abcdef";
export const READ = "sh-read-token-0123456789abcdef";

const dirs: string[] = [];

/** Remove every case directory (append-only attributes first, or rm fails). */
export function cleanupCases(): void {
  for (const d of dirs.splice(0)) {
    Bun.spawnSync(["chattr", "-R", "-a", d], { stdout: "ignore", stderr: "ignore" });
    rmSync(d, { recursive: true, force: true });
  }
}

/** Does this file system take `chattr +a`? (ext4 does; tmpfs and overlayfs may not.) */
export function appendOnlySupported(dir: string): boolean {
  const f = join(dir, ".probe");
  writeFileSync(f, "");
  const ok = Bun.spawnSync(["chattr", "+a", f], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
  Bun.spawnSync(["chattr", "-a", f], { stdout: "ignore", stderr: "ignore" });
  rmSync(f, { force: true });
  return ok;
}

export function isAppendOnly(file: string): boolean {
  const p = Bun.spawnSync(["lsattr", "-d", file]);
  const flags = p.stdout.toString().split(" ")[0] ?? "";
  return flags.includes("a");
}

export interface Written {
  /** `sessionId:seq` for CA2/CA1 records, `seed:<command>` for seed lines. */
  key: string;
  kind: RecordKind;
  command: Uint8Array;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One test case: its own directory, log, state dir, token file and config. */
export class Case {
  readonly dir: string;
  readonly logDir: string;
  readonly log: string;
  readonly stateDir: string;
  readonly tokenFile: string;
  readonly confFile: string;
  readonly written: Written[] = [];
  private seq = 0;
  readonly session: string;

  constructor(readonly shell: string[], readonly host: string, readonly url: string, conf: Record<string, string> = {}) {
    this.dir = mkdtempSync(join(tmpdir(), "cmdaudit-sh-"));
    dirs.push(this.dir);
    this.logDir = join(this.dir, "log");
    mkdirSync(this.logDir);
    this.log = join(this.logDir, "commands.log");
    writeFileSync(this.log, "");
    chmodSync(this.log, 0o622);
    this.stateDir = join(this.dir, "state");
    this.tokenFile = join(this.dir, "token");
    writeFileSync(this.tokenFile, INGEST + "\n", { mode: 0o600 });
    this.confFile = join(this.dir, "reporter.conf");
    this.session = `${host}:4242:${Math.floor(Math.random() * 1e9)}`;
    this.conf(conf);
  }

  /** (Re)write the config: defaults for tests, then `over` (a key set to "" is left out). */
  conf(over: Record<string, string> = {}): void {
    const c: Record<string, string> = {
      URL: this.url, TOKEN_FILE: this.tokenFile, LOG: this.log, STATE_DIR: this.stateDir,
      BATCH_BYTES: "4096", TIMEOUT: "5", BUDGET: "20", ROTATE_GRACE: "0", ...over,
    };
    const text = "# cmdaudit reporter, test config\n" + Object.entries(c).filter(([, v]) => v !== "").map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
    writeFileSync(this.confFile, text);
  }

  /** A record of this case's session (CA2 lines, or CA1 as a hook before durationMs wrote them), appended to `file` (the live log by default). */
  record(command: string | Uint8Array, opts: { kind?: RecordKind; ctime?: string; file?: string; expect?: boolean; ca1?: boolean } = {}): Uint8Array {
    const seq = this.seq++;
    const sec = String(seq % 60).padStart(2, "0");
    const encoded = encodeRecord({
      kind: opts.kind ?? "command", ctime: opts.ctime ?? `2026-11-26T10:${String(Math.floor(seq / 60) % 60).padStart(2, "0")}:${sec}.${String(seq).padStart(6, "0")}+08:00`,
      hostname: this.host, serverIps: "10.0.0.5,fd00::5", suser: "root", luser: "alice", terminal: "pts/3",
      clientIp: "192.168.1.20", sessionId: this.session, seq, cwd: "/root", exitStatus: 0, durationMs: seq * 10, command,
    });
    const bytes = opts.ca1 ? asCa1(encoded) : encoded;
    appendFileSync(opts.file ?? this.log, bytes);
    if (opts.expect !== false) {
      this.written.push({ key: `${this.session}:${seq}`, kind: opts.kind ?? "command", command: typeof command === "string" ? new TextEncoder().encode(command) : command });
    }
    return bytes;
  }

  /** A 2018 seed line (zone-less time, no session). */
  seed(command: string, opts: { file?: string; expect?: boolean } = {}): Uint8Array {
    const bytes = Buffer.from(`[2024-01-02 03:04:05] [(root) alice pts/0 10.0.0.9] [${this.host}@10.0.0.4] ${command}\n`);
    appendFileSync(opts.file ?? this.log, bytes);
    if (opts.expect !== false) this.written.push({ key: `seed:${command}`, kind: "command", command: new TextEncoder().encode(command) });
    return bytes;
  }

  /** A 2018 seed line's bytes, not written anywhere (for files built whole); counted as written unless `expect` is false. */
  seedBytes(command: string, opts: { expect?: boolean } = {}): Buffer {
    if (opts.expect !== false) this.written.push({ key: `seed:${command}`, kind: "command", command: new TextEncoder().encode(command) });
    return Buffer.from(`[2024-01-02 03:04:05] [(root) alice pts/0 10.0.0.9] [${this.host}@10.0.0.4] ${command}\n`);
  }

  /**
   * The head line (and `parts` - 1 more parts) of a multi-part record whose other parts never come
   * (its shell was killed mid-record), appended to `file`; not counted as written. Returns the bytes.
   */
  unfinished(command = "echo killed mid-record " + "k".repeat(9000), opts: { file?: string; parts?: number } = {}): Buffer {
    // The killed shell's own session: a newer record of the same session would end the wait at once.
    const encoded = encodeRecord({
      kind: "command", ctime: "2026-11-26T09:59:59.000001+08:00", hostname: this.host, serverIps: "10.0.0.5", suser: "root", luser: "mallory",
      terminal: "pts/9", clientIp: "192.168.1.66", sessionId: `${this.host}:6666:${Math.floor(Math.random() * 1e9)}`, seq: 1, cwd: "/root",
      exitStatus: 0, durationMs: 1, command,
    });
    const lines = Buffer.from(encoded).toString("latin1").split("\n");
    const keep = opts.parts ?? 1;
    if (lines.length - 1 <= keep) throw new Error("the record has no part to leave out");
    const bytes = Buffer.from(lines.slice(0, keep).join("\n") + "\n", "latin1");
    appendFileSync(opts.file ?? this.log, bytes);
    return bytes;
  }

  /** `n` small records and seed lines, alternating; returns the bytes written. */
  some(n: number, tag: string, file?: string): number {
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      bytes += (i % 3 === 2 ? this.seed(`echo ${tag} ${i} seed`, { file }) : this.record(`echo ${tag} ${i}\tx\\y`, { file })).length;
    }
    return bytes;
  }

  async run(cmd = "run", env: Record<string, string> = {}): Promise<RunResult> {
    const p = this.spawn(cmd, env);
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  }

  spawn(cmd = "run", env: Record<string, string> = {}): Bun.Subprocess<"ignore", "pipe", "pipe"> {
    return Bun.spawn([...this.shell, SCRIPT, "-c", this.confFile, cmd], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin:/usr/sbin:/sbin", HOME: this.dir, ...env },
      stdin: "ignore", stdout: "pipe", stderr: "pipe",
    });
  }

  state(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const l of readFileSync(join(this.stateDir, "state"), "utf8").split("\n")) {
      const i = l.indexOf("=");
      if (i > 0) out[l.slice(0, i)] = l.slice(i + 1);
    }
    return out;
  }
}

/** A stored row as the NDJSON export shows it (the fields the tests look at). */
export interface Row {
  kind: string;
  hostname: string;
  sessionId: string | null;
  seq: number | null;
  command: string;
  commandB64?: string;
  ctime: string;
}

export function stored(serverUrl: string, filter: Record<string, string>): Promise<Row[]> {
  return exportRows<Row>(serverUrl, filter, READ);
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

/** Rows as comparable strings: key, kind, command bytes (sorted). */
export function rowKeys(rows: Row[]): string[] {
  return rows.map((r) => {
    const bytes = commandBytes(r);
    const key = r.sessionId === null ? `seed:${r.command}` : `${r.sessionId}:${r.seq}`;
    return `${key} ${r.kind} ${b64(bytes)}`;
  }).sort();
}

export function writtenKeys(w: Written[]): string[] {
  return w.map((x) => `${x.key} ${x.kind} ${b64(x.command)}`).sort();
}

export type Action = "pass" | "fail" | number;

/** A tiny HTTP proxy in front of the real server: `plan(n)` says what to do with the n-th request (1-based). */
export class FaultProxy {
  requests = 0;
  upstreamErrors = 0;
  /** Each request's query string and body size (as sent, before any decompression). */
  log: { search: string; bytes: number }[] = [];
  /** Like a front proxy's body limit (nginx's client_max_body_size): a larger body gets 413 and never reaches the server. */
  maxBody = Infinity;
  /** Change the server's answer (status and text) before it is passed on. */
  rewrite: ((n: number, status: number, text: string) => { status: number; text: string }) | undefined;
  private server: ReturnType<typeof Bun.serve>;
  constructor(upstream: string, public plan: (n: number) => Action = () => "pass") {
    this.server = Bun.serve({
      hostname: "127.0.0.1", port: 0, idleTimeout: 60, maxRequestBodySize: 256 * 1024 * 1024,
      fetch: async (req) => {
        const n = ++this.requests;
        const action = this.plan(n);
        const body = await req.arrayBuffer();
        const u = new URL(req.url);
        this.log.push({ search: u.search, bytes: body.byteLength });
        if (action === "fail") return new Response('{"code":500,"msg":"injected failure"}', { status: 500, headers: { "content-type": "application/json" } });
        if (body.byteLength > this.maxBody) return new Response("<html><body>413 Request Entity Too Large</body></html>", { status: 413, headers: { "content-type": "text/html" } });
        const headers = new Headers();
        for (const h of ["accesstoken", "content-encoding", "content-type"]) {
          const v = req.headers.get(h);
          if (v !== null) headers.set(h, v);
        }
        let res: Response;
        let text: string;
        try {
          res = await fetch(upstream + u.pathname + u.search, { method: req.method, headers, body });
          text = await res.text();
        } catch (e) {
          // A reused upstream connection the server had closed: a 502, which the reporter retries.
          this.upstreamErrors++;
          return new Response(JSON.stringify({ code: 502, msg: String(e) }), { status: 502, headers: { "content-type": "application/json" } });
        }
        if (typeof action === "number") await Bun.sleep(action);
        let status = res.status;
        if (this.rewrite) ({ status, text } = this.rewrite(n, status, text));
        return new Response(text, { status, headers: { "content-type": "application/json" } });
      },
    });
  }
  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }
  stop(): void {
    this.server.stop(true);
  }
}

/** A loopback port nothing listens on. */
export function closedPort(): string {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = s.port;
  s.stop(true);
  return `http://127.0.0.1:${port}`;
}
