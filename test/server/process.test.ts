/**
 * Black box: the real server process (server/src/main.ts) over real HTTP on
 * loopback, configured the way an operator does it (environment, YAML file),
 * backed by the real MariaDB.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase } from "../support/mysql.ts";
import { type RunningServer, spawnServer, startServer } from "../support/server.ts";
import { cleanupTmpDirs, type IngestAnswer, type Page, type Presented, SEED_UA, seedReporterPayload, tmpDir } from "./helpers.ts";

const INGEST = "proc-ingest-token-0123456789";
const INGEST2 = "proc-ingest-token-second-0123";
const READ = "proc-read-token-0123456789ab";

afterAll(() => cleanupTmpDirs());

/** Run the server to its exit (for configurations that must not start); kill it after `ms`. */
async function runToExit(env: Record<string, string>, args: string[] = [], ms = 20_000): Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean }> {
  const proc = spawnServer(env, args);
  let killed = false;
  const timer = setTimeout(() => { killed = true; proc.kill("SIGKILL"); }, ms);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr, killed };
}

const auth = (tok: string) => ({ AccessToken: tok });

describe("server process on MariaDB, configured by environment", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let srv: RunningServer;
  let env: Record<string, string>;
  const commands: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase("proc");
    env = {
      CMDAUDIT_DATABASE_URL: db.url,
      CMDAUDIT_INGEST_TOKENS: ` ${INGEST} , ${INGEST2} `,
      CMDAUDIT_READ_TOKENS: READ,
      CMDAUDIT_DATA_DIR: tmpDir(),
      CMDAUDIT_LEGACY_UTC_OFFSET: "+08:00",
      CMDAUDIT_LOG_LEVEL: "debug",
    };
    srv = await startServer(env);
  }, 60_000);
  afterAll(async () => {
    if (srv && srv.proc.exitCode === null) await srv.stop();
    await db?.drop();
  }, 30_000);

  const get = async (path: string, headers: Record<string, string> = {}) => fetch(srv.url + path, { headers: { ...auth(READ), ...headers } });
  const all = async (query = ""): Promise<Presented[]> => {
    const out: Presented[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams(query);
      q.set("limit", "1000");
      if (cursor) q.set("cursor", cursor);
      const res = await get(`/api/v1/commands?${q}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as Page;
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  };

  test("listens on loopback, health and readiness answer", async () => {
    expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(srv.url + "/healthz")).status).toBe(200);
    const r = await fetch(srv.url + "/readyz");
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ready" });
  });

  test("the seed reporter's payload, sent as it sends it, reads back exactly", async () => {
    const log = [
      "[2018-12-11 11:58:00] [(root) root pts/0 192.168.1.2] [web01@10.0.0.1,10.0.0.2] cat /etc/passwd | grep -v nologin",
      "[2018-12-11 11:59:30] [(root) alice pts/1 10.8.0.3] [web01@10.0.0.1,10.0.0.2] echo '审计' >> /root/notes",
      "",
    ].join("\n");
    commands.push("cat /etc/passwd | grep -v nologin", "echo '审计' >> /root/notes");
    const res = await fetch(srv.url + "/api/v1/commands", {
      method: "POST",
      headers: { AccessToken: INGEST, "User-Agent": SEED_UA, "Content-Type": "application/json" },
      body: seedReporterPayload(log),
    });
    expect(res.status).toBe(200);
    const ans = (await res.json()) as IngestAnswer;
    expect(ans.code).toBe(0);
    expect(ans.accepted).toBe(2);
    const rows = await all("host=web01");
    expect(rows.map(({ id: _i, receivedAt: _r, ...rest }) => rest)).toEqual([
      { kind: "command", time: "2018-12-11T03:59:30Z", ctime: "2018-12-11 11:59:30", utcOffset: null, hostname: "web01", serverIps: "10.0.0.1,10.0.0.2",
        luser: "alice", suser: "root", terminal: "pts/1", clientIp: "10.8.0.3", sessionId: null, seq: null, cwd: null, exitStatus: null, durationMs: null, flags: [], attestation: "none", attestedUser: null, attestedLoginUser: null, redactions: [], command: "echo '审计' >> /root/notes" },
      { kind: "command", time: "2018-12-11T03:58:00Z", ctime: "2018-12-11 11:58:00", utcOffset: null, hostname: "web01", serverIps: "10.0.0.1,10.0.0.2",
        luser: "root", suser: "root", terminal: "pts/0", clientIp: "192.168.1.2", sessionId: null, seq: null, cwd: null, exitStatus: null, durationMs: null, flags: [], attestation: "none", attestedUser: null, attestedLoginUser: null, redactions: [], command: "cat /etc/passwd | grep -v nologin" },
    ]);
  });

  test("gzip bodies, both ingest tokens, a 1 MiB command (JSON and raw) read back byte for byte", async () => {
    const big = Array.from({ length: 1024 * 1024 / 16 }, (_, i) => `${String(i).padStart(7, "0")}\t"x",\n\\y `).join("");
    expect(Buffer.byteLength(big)).toBe(1024 * 1024);
    commands.push("gzip-over-http");
    const recs = [
      { ctime: "2024-06-01T10:00:00+02:00", hostname: "proc-host", luser: "bob", sessionId: "proc-1", seq: 1, command: "gzip-over-http", exitStatus: 0, cwd: "/" },
      { ctime: "2024-06-01T10:00:01+02:00", hostname: "proc-host", luser: "bob", sessionId: "proc-1", seq: 2, command: big },
    ];
    const res = await fetch(srv.url + "/api/v1/commands", {
      method: "POST", headers: { Authorization: `Bearer ${INGEST2}`, "Content-Type": "application/json", "Content-Encoding": "gzip" },
      body: Bun.gzipSync(Buffer.from(JSON.stringify(recs))),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ code: 0, accepted: 2, duplicates: 0, rejected: [] });
    const rows = await all("session=proc-1");
    expect(rows.map((r) => r.seq)).toEqual([2, 1]);
    expect(rows[0]!.command.length).toBe(big.length);
    expect(rows[0]!.command === big).toBe(true);
    expect(rows[1]).toMatchObject({ command: "gzip-over-http", time: "2024-06-01T10:00:00+02:00", exitStatus: 0, cwd: "/" });

    // The same size through /ingest/raw, as CA1 lines made by the reference encoder, not UTF-8 at the end.
    const { encodeRecord } = await import("../../protocol/index.ts");
    const rawCmd = Buffer.concat([Buffer.from(big.slice(0, 1024 * 1024 - 2)), Buffer.from([0xff, 0xfe])]);
    const body = Buffer.from(encodeRecord({ kind: "command", ctime: "2024-06-01T10:00:02+02:00", hostname: "proc-host", serverIps: "", suser: "", luser: "bob",
      terminal: "", clientIp: "", sessionId: "proc-1", seq: 3, cwd: "", exitStatus: null, command: rawCmd }));
    const rr = await fetch(srv.url + "/api/v1/ingest/raw", { method: "POST", headers: auth(INGEST), body });
    expect(rr.status).toBe(200);
    expect(await rr.json()).toMatchObject({ accepted: 1, consumed: body.length });
    const [raw] = (await all("session=proc-1")).filter((r) => r.seq === 3);
    expect(raw!.commandB64).toBe(rawCmd.toString("base64"));
  }, 30_000);

  test("the largest command the contract allows (MAX_COMMAND_BYTES), as non-UTF-8 bytes, is stored or refused — never a retry loop", async () => {
    const { MAX_COMMAND_BYTES } = await import("../../protocol/index.ts");
    const bytes = Buffer.alloc(MAX_COMMAND_BYTES, 0xff);
    const rec = { ctime: "2024-06-01T11:00:00Z", hostname: "proc-max-host", luser: "bob", sessionId: "proc-max", seq: 1, commandB64: bytes.toString("base64") };
    const res = await fetch(srv.url + "/api/v1/commands", { method: "POST", headers: { ...auth(INGEST), "Content-Encoding": "gzip" }, body: Bun.gzipSync(Buffer.from(JSON.stringify([rec]))) });
    // 200 with the record accepted, or 200 with it rejected; a 503 asks the reporter to retry a batch that can never succeed.
    expect(res.status).toBe(200);
    const ans = (await res.json()) as IngestAnswer;
    if (ans.accepted === 1) {
      const [row] = await all("session=proc-max");
      expect(row!.commandB64).toBe(bytes.toString("base64"));
    } else {
      expect(ans.rejected.length).toBe(1);
    }
  }, 60_000);

  test("over real HTTP: 401 for the wrong scope, 400/415 for bad bodies, 404 elsewhere", async () => {
    const post = (headers: Record<string, string>, body: string | Uint8Array) => fetch(srv.url + "/api/v1/commands", { method: "POST", headers, body });
    expect((await post(auth(READ), "[]")).status).toBe(401);
    expect((await get("/api/v1/commands", auth(INGEST))).status).toBe(401);
    expect((await fetch(srv.url + "/api/v1/hosts")).status).toBe(401);
    expect((await post(auth(INGEST), "{")).status).toBe(400);
    expect((await post({ ...auth(INGEST), "Content-Encoding": "br" }, "[]")).status).toBe(415);
    expect((await fetch(srv.url + "/nope")).status).toBe(404);
  });

  test("exports and hosts over HTTP", async () => {
    const recs = [
      ...[1, 2, 3].map((seq) => ({ ctime: `2024-06-03T10:00:0${seq}+02:00`, hostname: "export-host", luser: "bob", sessionId: "export-1", seq, command: `export-${seq}` })),
      ...[1, 2].map((seq) => ({ ctime: `2024-06-03T11:00:0${seq}Z`, hostname: "export-web", luser: "eve", sessionId: "export-2", seq, command: `export-web-${seq}` })),
    ];
    commands.push(...recs.map((r) => r.command));
    const posted = await fetch(srv.url + "/api/v1/commands", { method: "POST", headers: auth(INGEST), body: JSON.stringify(recs) });
    expect(posted.status).toBe(200);
    const nd = await get("/api/v1/commands?host=export-host", { Accept: "application/x-ndjson" });
    expect(nd.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = (await nd.text()).trimEnd().split("\n").map((l) => JSON.parse(l) as Presented);
    expect(lines.map((l) => l.seq).sort()).toEqual([1, 2, 3]);
    const hosts = (await (await get("/api/v1/hosts")).json()) as { hosts: { hostname: string; records: number; silentSeconds: number }[] };
    const byName = new Map(hosts.hosts.map((h) => [h.hostname, h]));
    expect(byName.get("export-web")!.records).toBe(2);
    expect(byName.get("export-host")!.records).toBe(3);
    expect(byName.get("export-web")!.silentSeconds).toBeLessThan(60);
    const metrics = await (await get("/metrics")).text();
    expect(metrics).toMatch(/^cmdaudit_records_total\{result="accepted"\} \d+$/m);
  });

  test("the logs hold no token, no command text and no query value", async () => {
    const rec = { ctime: "2024-06-04T10:00:00Z", hostname: "proc-log-host", luser: "bob", sessionId: "proc-log", seq: 1, command: "proc-log-secret-command" };
    commands.push(rec.command, "proc-log-query-value");
    const requestLines = () => srv.logs.filter((l) => l.includes("\"msg\":\"request\"")).length;
    const linesBefore = requestLines();
    expect((await fetch(srv.url + "/api/v1/commands", { method: "POST", headers: auth(INGEST), body: JSON.stringify([rec]) })).status).toBe(200);
    expect((await fetch(srv.url + "/api/v1/commands", { method: "POST", headers: auth(READ), body: JSON.stringify([rec]) })).status).toBe(401);
    expect((await get("/api/v1/commands?q=proc-log-query-value&host=proc-log-host")).status).toBe(200);
    expect((await get("/api/v1/commands?q=proc-log-secret-command&format=csv")).status).toBe(200);
    expect((await get("/api/v1/hosts", auth(INGEST2))).status).toBe(401);
    // The request lines are written after the answers: wait for them instead of sleeping a fixed time.
    for (let i = 0; i < 500 && requestLines() < linesBefore + 5; i++) await Bun.sleep(20); // up to 10 s: a loaded machine (test:fast runs files in parallel)
    expect(requestLines()).toBe(linesBefore + 5);
    expect(srv.logs.length).toBeGreaterThan(5);
    for (const l of srv.logs) {
      for (const s of [INGEST, INGEST2, READ, ...commands, "proc-1", "web01", "proc-host", "proc-log-host"]) {
        expect({ s, leaked: l.includes(s) || l.includes(JSON.stringify(s).slice(1, -1)) }).toEqual({ s, leaked: false });
      }
    }
  });

  test("a database password never reaches the logs (the listening line shows it redacted)", async () => {
    const { default: mysql } = await import("mysql2/promise");
    const { MYSQL_URL } = await import("../support/mysql.ts");
    const user = `ca_${process.pid}`;
    const password = "Pw-7c1f0e9a4b";
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    try {
      await admin.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'`);
      await admin.query(`GRANT ALL ON \`${db.name}\`.* TO '${user}'@'127.0.0.1'`);
      const u = new URL(db.url);
      u.username = user;
      u.password = password;
      const s = await startServer({ ...env, CMDAUDIT_DATABASE_URL: u.toString() });
      try {
        expect((await fetch(s.url + "/readyz")).status).toBe(200);
        const listening = s.logs.find((l) => l.includes("\"listening\""))!;
        expect(listening).toContain(`${user}:***@`);
      } finally {
        expect(await s.stop()).toBe(0);
      }
      for (const l of s.logs) expect(l).not.toContain(password);
    } finally {
      await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
      await admin.end();
    }
  }, 60_000);

  test("records survive a restart unchanged, whatever their (accepted) time", async () => {
    // The edge: an instant exactly at the epoch, accepted by the contract (local 1970-01-01 at +08:00).
    const recs = [
      { ctime: "2024-06-02T00:00:00+08:00", hostname: "restart-host", luser: "u", sessionId: "rs", seq: 1, command: "before-restart" },
      { ctime: "1970-01-01T08:00:00+08:00", hostname: "restart-host", luser: "u", sessionId: "rs", seq: 2, command: "epoch-record" },
    ];
    commands.push("before-restart", "epoch-record");
    const res = await fetch(srv.url + "/api/v1/commands", { method: "POST", headers: auth(INGEST), body: JSON.stringify(recs) });
    const accepted = ((await res.json()) as IngestAnswer).accepted;
    const before = await all("host=restart-host");
    expect(before.length).toBe(accepted);
    const hostsBefore = (await (await get("/api/v1/hosts")).json()) as { hosts: { hostname: string; records: number }[] };
    expect(await srv.stop()).toBe(0); // SIGTERM: a clean exit
    srv = await startServer(env, [], 20_000);
    const after = await all("host=restart-host");
    expect(after).toEqual(before);
    const hostsAfter = (await (await get("/api/v1/hosts")).json()) as { hosts: { hostname: string; records: number }[] };
    const count = (h: typeof hostsAfter) => h.hosts.find((x) => x.hostname === "restart-host")?.records;
    expect(count(hostsAfter)).toBe(count(hostsBefore));
  }, 60_000);
});

describe("configuration errors", () => {
  test("a YAML config with an unknown key and a CMDAUDIT_ typo: exit code 2, stderr names both", async () => {
    const dir = tmpDir();
    const file = join(dir, "cmdaudit.yml");
    writeFileSync(file, ["listen:", "  host: 127.0.0.1", "  prot: 9000", "database_url: sqlite:" + join(dir, "x.db"), "limits:", "  max_body_bytes: 2048", "tokens:", `  ingest: [${INGEST}]`, `  read: [${READ}]`, ""].join("\n"));
    const r = await runToExit({ CMDAUDIT_PROT: "9000" }, ["--config", file]);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("listen.prot");
    expect(r.stderr).toContain("CMDAUDIT_PROT");
    expect(r.stderr).not.toContain(INGEST);
    expect(r.stdout).not.toContain("listening");
    // Each alone is enough, and CMDAUDIT_CONFIG names the file as --config does.
    const alone = await runToExit({ CMDAUDIT_CONFIG: file });
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain("listen.prot");
    const typo = await runToExit({ CMDAUDIT_PROT: "9000", CMDAUDIT_DATABASE_URL: "sqlite:" + join(dir, "y.db"), CMDAUDIT_INGEST_TOKENS: INGEST, CMDAUDIT_READ_TOKENS: READ });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("CMDAUDIT_PROT");
  }, 60_000);

  test("a token too short: exit code 2, the key named, the value not printed", async () => {
    const dir = tmpDir();
    const file = join(dir, "c.yml");
    writeFileSync(file, `tokens:\n  ingest: [sh0rt-secret]\n  read: [${READ}]\n`);
    const r = await runToExit({ CMDAUDIT_DATA_DIR: dir }, ["--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("tokens.ingest");
    expect(r.stderr + r.stdout).not.toContain("sh0rt-secret");
  }, 30_000);

  test("a truncated sha256: token digest: exit code 2 at start, not a 500 on every request", async () => {
    const truncated = `sha256:${"0123456789abcdef".repeat(4).slice(0, 63)}`;
    const r = await runToExit({ CMDAUDIT_INGEST_TOKENS: truncated, CMDAUDIT_READ_TOKENS: READ, CMDAUDIT_DATA_DIR: tmpDir() }, [], 10_000);
    expect({ killed: r.killed, code: r.code }).toEqual({ killed: false, code: 2 });
    expect(r.stderr).toContain("tokens.ingest");
    expect(r.stderr + r.stdout).not.toContain(truncated.slice(7));
  }, 30_000);

  test("a database that cannot be reached: non-zero exit, a message, and never the password", async () => {
    for (const url of ["mysql://root:secretpw@127.0.0.1:1/x", "mysql://root:secretpw@127.0.0.1:3306/x"]) {
      const r = await runToExit({ CMDAUDIT_DATABASE_URL: url, CMDAUDIT_INGEST_TOKENS: INGEST, CMDAUDIT_READ_TOKENS: READ, CMDAUDIT_DATA_DIR: tmpDir() }, [], 30_000);
      expect({ url, killed: r.killed }).toEqual({ url, killed: false });
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.stderr).toMatch(/cannot start/);
      expect(r.stderr + r.stdout).not.toContain("secretpw");
      expect(r.stdout).not.toContain("listening");
    }
  }, 70_000);
});

describe("first start without tokens", () => {
  test("writes <data_dir>/tokens.yml (0600) with a host token key and a read token, uses it, keeps it across restarts, never logs them", async () => {
    const dataDir = join(tmpDir(), "data");
    const env = { CMDAUDIT_DATA_DIR: dataDir };
    const s1 = await startServer(env);
    let tokens: { host_key: string; read: string; ingest?: string };
    let hostTok = "";
    try {
      const file = join(dataDir, "tokens.yml");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(dataDir).mode & 0o077).toBe(0); // the directory it created is the owner's alone
      const { parse } = await import("yaml");
      tokens = parse(readFileSync(file, "utf8")) as typeof tokens;
      expect(tokens.host_key.length).toBeGreaterThanOrEqual(32);
      expect(tokens.read.length).toBeGreaterThanOrEqual(16);
      expect(tokens.ingest).toBeUndefined(); // no shared ingest token on a new install
      expect(s1.logs.some((l) => l.includes("tokens.yml"))).toBe(true);
      // `host-token` prints h's token from the same data dir; it writes for h only, and reads nothing.
      const cli = Bun.spawnSync([process.execPath, join(import.meta.dir, "../../server/src/main.ts"), "host-token", "h"], { env: { ...process.env, ...env } });
      expect(cli.exitCode).toBe(0);
      hostTok = cli.stdout.toString().trim();
      expect(hostTok).toMatch(/^cah1\.0\.h\.[0-9a-f]{32}$/);
      const rec = (host: string, command: string) => ({ ctime: "2024-01-01T00:00:00Z", hostname: host, luser: "u", sessionId: "t", seq: 1, command });
      const post = await fetch(s1.url + "/api/v1/commands", { method: "POST", headers: auth(hostTok), body: JSON.stringify([rec("h", "first-start"), rec("other", "first-start-forged")]) });
      expect(post.status).toBe(200);
      expect(((await post.json()) as { accepted: number; rejected: unknown[] })).toMatchObject({ accepted: 1, rejected: [{ index: 1 }] });
      expect((await fetch(s1.url + "/api/v1/commands", { headers: auth(tokens.read) })).status).toBe(200);
      expect((await fetch(s1.url + "/api/v1/commands", { headers: auth(hostTok) })).status).toBe(401);
      expect((await fetch(s1.url + "/api/v1/commands", { method: "POST", headers: auth(tokens.read), body: "[]" })).status).toBe(401);
      expect((await fetch(s1.url + "/api/v1/commands", { method: "POST", headers: auth(tokens.host_key), body: "[]" })).status).toBe(401);
    } finally {
      expect(await s1.stop()).toBe(0);
    }
    const s2 = await startServer(env);
    try {
      const again = (await import("yaml")).parse(readFileSync(join(dataDir, "tokens.yml"), "utf8")) as typeof tokens;
      expect(again).toEqual(tokens!);
      const rows = (await (await fetch(s2.url + "/api/v1/commands", { headers: auth(tokens!.read) })).json()) as Page;
      expect(rows.items.map((r) => r.command)).toEqual(["first-start"]);
      expect((await fetch(s2.url + "/api/v1/commands", { method: "POST", headers: auth(hostTok), body: "[]" })).status).toBe(200);
    } finally {
      await s2.stop();
    }
    for (const l of [...s1.logs, ...s2.logs]) {
      for (const secret of [tokens!.host_key, tokens!.read, hostTok, "first-start"]) expect(l).not.toContain(secret);
    }
  }, 60_000);

  test("a tokens.yml from before per-host tokens (a shared ingest token) is still taken, with a warning", async () => {
    const dataDir = join(tmpDir(), "data");
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const shared = "shared-ingest-token-from-2025-abcdef";
    const read = "read-token-from-2025-abcdefghijkl";
    writeFileSync(join(dataDir, "tokens.yml"), `ingest: ${shared}\nread: ${read}\n`, { mode: 0o600 });
    const s = await startServer({ CMDAUDIT_DATA_DIR: dataDir });
    try {
      const post = await fetch(s.url + "/api/v1/commands", { method: "POST", headers: auth(shared), body: JSON.stringify([{ ctime: "2024-01-01T00:00:00Z", hostname: "any", luser: "u", command: "old-install" }]) });
      expect(post.status).toBe(200);
      expect(s.logs.some((l) => l.includes("shared ingest tokens are taken"))).toBe(true);
      for (const l of s.logs) expect(l).not.toContain(shared);
    } finally {
      await s.stop();
    }
  }, 60_000);
});

describe("TLS", () => {
  test("serves https with the configured certificate", async () => {
    const dir = tmpDir();
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const gen = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stdout: "pipe", stderr: "pipe" });
    expect(gen.exitCode).toBe(0);
    const ca = readFileSync(cert, "utf8");
    const s = await startServer({
      CMDAUDIT_DATA_DIR: join(dir, "data"), CMDAUDIT_INGEST_TOKENS: INGEST, CMDAUDIT_READ_TOKENS: READ,
      CMDAUDIT_TLS_CERT_FILE: cert, CMDAUDIT_TLS_KEY_FILE: key,
    });
    try {
      expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const post = await fetch(s.url + "/api/v1/commands", {
        method: "POST", headers: auth(INGEST), tls: { ca },
        body: JSON.stringify([{ ctime: "2024-01-01T00:00:00Z", hostname: "tls-host", luser: "u", sessionId: "tls", seq: 1, command: "over-tls" }]),
      });
      expect(post.status).toBe(200);
      const page = (await (await fetch(s.url + "/api/v1/commands", { headers: auth(READ), tls: { ca } })).json()) as Page;
      expect(page.items.map((r) => r.command)).toEqual(["over-tls"]);
      expect((await fetch(s.url + "/healthz", { tls: { rejectUnauthorized: false } })).status).toBe(200);
      // Without the CA the self-signed certificate is refused: this really is TLS, checked.
      let refused = false;
      try { await fetch(s.url + "/healthz"); } catch { refused = true; }
      expect(refused).toBe(true);
      // Plain HTTP on the same port gets no API answer.
      let plain: number | string;
      try { plain = (await fetch(s.url.replace("https:", "http:") + "/healthz")).status; } catch { plain = "refused"; }
      expect(plain).not.toBe(200);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  }, 60_000);
});
