/** Helpers for test/agent/sh-reporter.test.ts: cases on disk, the script run by a real shell, a fault-injecting proxy, stored rows. */
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeRecord, type RecordKind } from "../../protocol/index.ts";
import { asCa1 } from "../protocol/helpers.ts";
import { commandBytes, exportRows } from "../support/query.ts";

export const SCRIPT = fileURLToPath(new URL("../../agent/sh/cmdaudit-reporter.sh", import.meta.url));
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
  private server: ReturnType<typeof Bun.serve>;
  constructor(upstream: string, public plan: (n: number) => Action = () => "pass") {
    this.server = Bun.serve({
      hostname: "127.0.0.1", port: 0, idleTimeout: 60,
      fetch: async (req) => {
        const n = ++this.requests;
        const action = this.plan(n);
        if (action === "fail") return new Response('{"code":500,"msg":"injected failure"}', { status: 500, headers: { "content-type": "application/json" } });
        const u = new URL(req.url);
        const headers = new Headers();
        for (const h of ["accesstoken", "content-encoding", "content-type"]) {
          const v = req.headers.get(h);
          if (v !== null) headers.set(h, v);
        }
        let res: Response;
        let text: string;
        try {
          res = await fetch(upstream + u.pathname + u.search, { method: req.method, headers, body: await req.arrayBuffer() });
          text = await res.text();
        } catch (e) {
          // A reused upstream connection the server had closed: a 502, which the reporter retries.
          this.upstreamErrors++;
          return new Response(JSON.stringify({ code: 502, msg: String(e) }), { status: 502, headers: { "content-type": "application/json" } });
        }
        if (typeof action === "number") await Bun.sleep(action);
        return new Response(text, { status: res.status, headers: { "content-type": "application/json" } });
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
