/**
 * Redaction in the compiled reporter (issue [redact]: "before anything leaves the host"): the binary
 * against the real server on MariaDB over loopback, every request captured by a proxy in between.
 * No byte of a secret is in any body, header or URL the server receives (a secret cut over two lines
 * of a multi-part record included: its halves are looked for too); the stored rows are what the
 * reporter's redactor makes of each command, with the markers it placed listed in `redactions` and a
 * marker someone typed not listed; checkpoints move exactly (a second run sends nothing, a run killed
 * mid-way and run again stores everything once). Both ways out: the log's raw lines and the spool's
 * JSON records. Then the body rewrite itself, fuzzed line for line, and random logs end to end.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { redactBody, WireBuffer } from "../../agent/src/tail/redact-body.ts";
import { type DecodeEvent, encodeRecord, type EncodableRecord, LogDecoder, lines, type LogRecord } from "../../protocol/index.ts";
import { createRedactor, type Redaction } from "../../protocol/redact/index.ts";
import { parseRawRedactions, RAW_REDACTIONS_HEADER } from "../../protocol/redact/raw-header.ts";
import { hostToken } from "../../server/src/host-token.ts";
import { asCa1 } from "../protocol/helpers.ts";
import { commandBytes } from "../support/query.ts";
import { Rng } from "../support/rng.ts";
import { type Backend, type FaultAction, type Host, makeHost, removeTempDirs, reporterBinary, runReporter, startBackend, startProxy, type Stored, storedFor } from "./support.ts";
import { AWS, GITHUB } from "../redact/samples.ts";

const KEY = "agent-redact-test-key-0123456789abcdefghijk";
const HOST_KEY = "agent-redact-host-key-0123456789abcdefghijk";
const redactor = createRedactor({ key: KEY });
const PASSWORD = "S3cretPassw0rd";
/** A password that is not UTF-8. */
const LATIN = Buffer.from("P\xe9ssw0rd\xff9Xk", "latin1");
const SECRETS: Uint8Array[] = [Buffer.from(PASSWORD), Buffer.from(AWS), Buffer.from(GITHUB), LATIN];
const TYPED = "[REDACTED:aws-secret-key:0123456789ab]";

let be: Backend;
let keyFile: string;
let dir: string;
beforeAll(async () => {
  await reporterBinary();
  dir = mkdtempSync(join(tmpdir(), "cmdaudit-redact-"));
  keyFile = join(dir, "redact.key");
  writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  const hostKeyFile = join(dir, "host.key");
  writeFileSync(hostKeyFile, `${HOST_KEY}\n`, { mode: 0o600 });
  // The server and the reporters of one deployment share the key: one secret, one fingerprint.
  be = await startBackend({ CMDAUDIT_REDACT_KEY_FILE: keyFile, CMDAUDIT_HOST_KEY_FILE: hostKeyFile });
}, 120_000);
afterAll(async () => {
  await be?.stop();
  removeTempDirs();
});

/** One request as the server got it: URL, headers, the body as sent and decompressed. */
interface Seen {
  url: string;
  headers: [string, string][];
  sent: Buffer;
  body: Buffer;
}

/** A proxy in front of the server that keeps every request; `fault` as startProxy's. */
function capturing(fault: (n: number) => FaultAction | Promise<FaultAction> = () => "forward") {
  const seen: Seen[] = [];
  const proxy = startProxy(be.server.url, (n, req, body) => {
    const sent = Buffer.from(body);
    seen.push({ url: req.url, headers: [...req.headers.entries()], sent, body: req.headers.get("content-encoding") === "gzip" ? gunzipSync(sent) : sent });
    return fault(n);
  });
  return { ...proxy, seen };
}

/** A secret and its halves: a secret cut over two lines of a multi-part record shows as them. */
function pieces(secret: Uint8Array): Buffer[] {
  const s = Buffer.from(secret);
  const half = Math.ceil(s.length / 2);
  return [s, s.subarray(0, half), s.subarray(s.length - half)];
}

/** No piece of any secret in any request: URL, headers, the body as sent and decompressed, JSON commands decoded. */
function expectNoSecret(seen: Seen[], secrets: readonly Uint8Array[]): void {
  expect(seen.length).toBeGreaterThan(0);
  const found: string[] = [];
  for (const s of seen) {
    const texts = [Buffer.from(s.url), Buffer.from(s.headers.map(([k, v]) => `${k}: ${v}`).join("\n"), "latin1"), s.sent, s.body];
    if (s.url.includes("/api/v1/commands")) {
      for (const r of JSON.parse(s.body.toString("utf8")) as { command?: string; commandB64?: string }[]) {
        texts.push(r.commandB64 !== undefined ? Buffer.from(r.commandB64, "base64") : Buffer.from(r.command ?? "", "utf8"));
      }
    }
    for (const secret of secrets) for (const p of pieces(secret)) for (const t of texts) if (t.includes(p)) found.push(`${p.toString("latin1")} in a request to ${new URL(s.url).pathname}`);
  }
  expect(found).toEqual([]);
}

type Row = Stored & { redactions: Redaction[] };
const rowsOf = async (host: Host) => (await storedFor(be.server, host.hostname)) as Row[];
const bytesOf = (c: string | Uint8Array) => (typeof c === "string" ? Buffer.from(c, "utf8") : Buffer.from(c));

/** Stored rows are exactly `want` (by key), each once: the command as the reporter's redactor makes it, and its redactions. */
function expectStoredRedacted(rows: Row[], want: Map<string, Uint8Array>): void {
  const commands = rows.filter((r) => r.kind !== "loss");
  const byKey = new Map<string, Row[]>();
  for (const r of commands) {
    const k = r.sessionId === null ? `legacy:${commandBytes(r).toString("latin1")}` : `${r.sessionId}#${r.seq}`;
    byKey.set(k, [...(byKey.get(k) ?? []), r]);
  }
  const problems: string[] = [];
  for (const [k, original] of want) {
    const r = redactor.redactBytes(original);
    const key = k.startsWith("legacy:") ? `legacy:${Buffer.from(r.bytes).toString("latin1")}` : k;
    const got = byKey.get(key) ?? [];
    byKey.delete(key);
    if (got.length !== 1) { problems.push(`${k}: stored ${got.length} times`); continue; }
    if (!commandBytes(got[0]!).equals(Buffer.from(r.bytes))) problems.push(`${k}: command differs`);
    if (JSON.stringify(got[0]!.redactions) !== JSON.stringify(r.redactions)) problems.push(`${k}: redactions ${JSON.stringify(got[0]!.redactions)} != ${JSON.stringify(r.redactions)}`);
  }
  for (const k of byKey.keys()) problems.push(`${k}: not written`);
  expect(problems).toEqual([]);
}

/** A hook record of `host` in a session of its own. */
function record(host: Host, sessionId: string, seq: number, command: string | Uint8Array): EncodableRecord {
  return {
    kind: "command", ctime: `2026-11-26T11:00:${String(seq % 60).padStart(2, "0")}.000001+08:00`, hostname: host.hostname, serverIps: "10.1.127.4",
    suser: "root", luser: "root", terminal: "pts/4", clientIp: "192.0.2.7", sessionId, seq, cwd: "/root", exitStatus: 0, command,
  };
}
/** A record's lines, each with its LF. */
const linesOf = (r: EncodableRecord) => [...lines(encodeRecord(r))].map(({ line }) => Buffer.concat([line, Buffer.from("\n")]));
const writtenMap = (host: Host) => new Map(host.written.map((w) => [`${w.sessionId}#${w.seq}`, bytesOf(w.command)]));
const stateOf = (host: Host) => JSON.parse(readFileSync(join(host.stateDir, "state.json"), "utf8")) as { files: { path: string; offset: number }[] };
const offsetOf = (host: Host) => stateOf(host).files.find((f) => f.path === host.log)!.offset;
const redactConfig = () => ({ redact: { enabled: true, key_file: keyFile } });

describe("the compiled reporter redacts before anything leaves the host", () => {
  test("log lines and spool records: no secret in any request; stored with the reporter's markers listed, a typed marker not; a second run sends nothing", async () => {
    const h = makeHost("red");
    const cut = `echo ${"x".repeat(3050)} mysql -p${PASSWORD} && ${"y".repeat(4000)} export AWS_SECRET_ACCESS_KEY=${AWS}`;
    const commands: (string | Uint8Array)[] = [
      `mysql -uroot -p${PASSWORD} -e 'show databases'`,
      `export AWS_SECRET_ACCESS_KEY=${AWS}`,
      `git clone https://${GITHUB}@github.com/acme/app.git`,
      Buffer.concat([Buffer.from("echo \xe9\xe9; mysql -p", "latin1"), LATIN, Buffer.from(" done \xff", "latin1")]),
      cut, // three parts; the password is cut by the end of the first chunk
      `echo ${TYPED} is what a marker looks like`,
      `mysql -p${PASSWORD} <<EOF\nselect 1;\nEOF`,
      "uptime",
    ];
    expect(Buffer.from(encodeRecord(record(h, "s", 0, cut))).toString("latin1")).not.toContain(PASSWORD);
    h.write(commands.length, (i) => ({ command: commands[i]! }));
    const want = writtenMap(h);
    // Two shells' multi-part records, their lines interleaved.
    const a = record(h, "ia", 0, `${"a".repeat(3500)} curl -u admin:${PASSWORD} https://x ${"b".repeat(3500)} mysql -p${PASSWORD}`);
    const b = record(h, "ib", 0, Buffer.concat([Buffer.from(`${"c".repeat(3068)}GITHUB_TOKEN=${GITHUB} \xfe `, "latin1"), Buffer.from("d".repeat(3500)), Buffer.from(" mysql -p"), LATIN]));
    const [al, bl] = [linesOf(a), linesOf(b)];
    expect(al.length).toBe(3);
    expect(bl.length).toBe(3);
    for (let i = 0; i < 3; i++) h.append(Buffer.concat([Buffer.from("\n"), al[i]!, Buffer.from("\n"), bl[i]!]));
    want.set("ia#0", bytesOf(a.command)).set("ib#0", bytesOf(b.command));
    // A 2018 line, and bash history in the log (the seed's HISTFILE mix-up): never records, never sent as typed.
    const seed = `mysql -uroot -p${PASSWORD} -h db1`;
    h.append(`[2026-11-26 10:00:00] [(root) root pts/0 192.0.2.7] [${h.hostname}@10.1.127.4] ${seed}\n`);
    want.set(`legacy:${seed}`, Buffer.from(seed));
    h.append(`#1764000000\nmysql -uroot -p${PASSWORD}\nexport GITHUB_TOKEN=${GITHUB}\n`);
    // The stamping daemon's spool: a closed connection of root's.
    const spoolDir = join(h.stateDir, "spool");
    mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
    const spooled = [`mysql -uroot -p${PASSWORD}`, `${"s".repeat(4000)} export AWS_SECRET_ACCESS_KEY=${AWS}`, Buffer.concat([Buffer.from("mysql -p"), LATIN]), `echo ${TYPED}`];
    const spoolRecords = spooled.map((c, i) => record(h, "sp", i, c));
    writeFileSync(join(spoolDir, "1.spool"), Buffer.concat([
      Buffer.from(`#stamp v1 uid=0 loginuid=- session=- pid=1 opened=${new Date().toISOString()}\n`),
      ...spoolRecords.map((r) => Buffer.from(encodeRecord(r))),
      Buffer.from(`#closed ${new Date().toISOString()}\n`),
    ]), { mode: 0o600 });
    for (const r of spoolRecords) want.set(`sp#${r.seq}`, bytesOf(r.command));

    const proxy = capturing();
    // The host's own token: the spool's records are kernel-attested.
    h.configure(proxy.url, { server: { token: hostToken(HOST_KEY, h.hostname) }, ...redactConfig() });
    const r = await runReporter(h);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expectNoSecret(proxy.seen, SECRETS);
    // Both ways out said which markers are redactions.
    const raw = proxy.seen.filter((s) => s.url.includes("/ingest/raw"));
    const declared = raw.flatMap((s) => s.headers.filter(([k]) => k === RAW_REDACTIONS_HEADER.toLowerCase()).map(([, v]) => v));
    expect(declared.length).toBeGreaterThan(0);
    for (const v of declared) expect(typeof parseRawRedactions(v)).toBe("object");
    const json = proxy.seen.filter((s) => s.url.includes("/api/v1/commands")).flatMap((s) => JSON.parse(s.body.toString("utf8")) as { redactions?: Redaction[] }[]);
    expect(json.filter((x) => x.redactions?.length).length).toBe(3);
    proxy.stop();

    const rows = await rowsOf(h);
    expectStoredRedacted(rows, want);
    const typed = rows.filter((x) => commandBytes(x).includes(TYPED));
    expect(typed).toHaveLength(2);
    for (const x of typed) expect(x.redactions).toEqual([]);
    expect(rows.find((x) => x.seq === 4 && x.sessionId !== "sp")!.redactions.map((x) => x.rule)).toEqual(["mysql-password", "env-secret"]);
    expect(rows.filter((x) => x.sessionId === "sp").every((x) => (x as Row & { attestation?: string }).attestation === "kernel")).toBe(true);

    // Every byte settled: the checkpoint is the end of the log, the spool file is gone; a second run sends nothing.
    expect(offsetOf(h)).toBe(statSync(h.log).size);
    expect(existsSync(join(spoolDir, "1.spool"))).toBe(false);
    const again = capturing();
    h.configure(again.url, { server: { token: hostToken(HOST_KEY, h.hostname) }, ...redactConfig() });
    expect((await runReporter(h)).code).toBe(0);
    expect(again.requests()).toBe(0);
    again.stop();
    expect((await rowsOf(h)).length).toBe(rows.length);
  }, 120_000);

  test("killed after the server committed a body, then run again: every record stored once, redacted; no secret in either run's requests", async () => {
    const h = makeHost("kill");
    const commands = (i: number) => [
      `mysql -uroot -p${PASSWORD} -e 'select ${i}'`,
      `echo ${i} ${"z".repeat(i % 300)}`,
      `export GITHUB_TOKEN=${GITHUB}; gh run list --limit ${i}`,
      i % 50 === 0 ? `${"m".repeat(3060)} mysql -p${PASSWORD} ${"n".repeat(i % 5000)}` : `ls /tmp/${i}`,
    ][i % 4]!;
    h.write(1200, (i) => ({ command: commands(i) }));
    let proc: Bun.Subprocess | undefined;
    const first = capturing((n) => (n === 2 ? { after: async (res) => { proc!.kill("SIGKILL"); await proc!.exited; return res; } } : "forward"));
    h.configure(first.url, redactConfig());
    const r = await runReporter(h, ["run"], { onSpawn: (p) => (proc = p) });
    expect(proc!.signalCode).toBe("SIGKILL");
    expect(r.code).not.toBe(0);
    expect(offsetOf(h)).toBeLessThan(statSync(h.log).size);
    first.stop();
    const second = capturing();
    h.configure(second.url, redactConfig());
    expect((await runReporter(h)).code).toBe(0);
    expect(offsetOf(h)).toBe(statSync(h.log).size);
    second.stop();
    expectNoSecret([...first.seen, ...second.seen], SECRETS);
    expectStoredRedacted(await rowsOf(h), writtenMap(h));
    const third = capturing();
    h.configure(third.url, redactConfig());
    expect((await runReporter(h)).code).toBe(0);
    expect(third.requests()).toBe(0);
    third.stop();
  }, 120_000);

  test("a record still waiting for its parts: none of it is sent, the checkpoint stops at its first line; whole once they come; one never finished is given up redacted", async () => {
    const h = makeHost("wait");
    h.write(3, (i) => ({ command: `mysql -p${PASSWORD} -e 'select ${i}'` }));
    // The secret is in the first chunk: the head line alone would carry it.
    const x = record(h, "xw", 0, `mysql -p${PASSWORD} ${"q".repeat(5000)}`);
    const [xHead, xPart] = linesOf(x);
    const headAt = statSync(h.log).size + 1;
    h.append(Buffer.concat([Buffer.from("\n"), xHead!]));
    h.write(2, (i) => ({ command: `export AWS_SECRET_ACCESS_KEY=${AWS} # ${i}` }));
    const proxy = capturing();
    h.configure(proxy.url, redactConfig());
    expect((await runReporter(h)).code).toBe(0);
    expect(offsetOf(h)).toBe(headAt);
    const rows = await rowsOf(h);
    expect(rows.some((r) => r.sessionId === "xw")).toBe(false);
    expect(rows.filter((r) => r.kind === "command")).toHaveLength(5);

    h.append(Buffer.concat([Buffer.from("\n"), xPart!]));
    expect((await runReporter(h)).code).toBe(0);
    expect(offsetOf(h)).toBe(statSync(h.log).size);
    expectStoredRedacted(await rowsOf(h), writtenMap(h).set("xw#0", bytesOf(x.command)));

    // A shell killed after the first line of a record: given up (run.unfinished_seconds 0), its lines sent redacted.
    const y = record(h, "yk", 0, `export AWS_SECRET_ACCESS_KEY=${AWS}; mysql -p${PASSWORD} ${"k".repeat(5000)}`);
    h.append(Buffer.concat([Buffer.from("\n"), linesOf(y)[0]!]));
    h.configure(proxy.url, { ...redactConfig(), run: { unfinished_seconds: 0 } });
    const r = await runReporter(h);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("unfinished multi-part record(s) given up");
    expect(offsetOf(h)).toBe(statSync(h.log).size);
    proxy.stop();
    expectNoSecret(proxy.seen, SECRETS);
    // The dead letter keeps the lines as the log has them, on this host only (root's, 0600).
    const letters = readFileSync(join(h.stateDir, "deadletter.ndjson"), "utf8");
    expect(letters).toContain(PASSWORD);
    expect(statSync(join(h.stateDir, "deadletter.ndjson")).mode & 0o777).toBe(0o600);
    expectStoredRedacted(await rowsOf(h), writtenMap(h).set("xw#0", bytesOf(x.command)));
  }, 120_000);

  test("a front proxy's 413 halves the bodies; a log moved away ending in an unfinished record is drained final: redacted all the same, every record once", async () => {
    const h = makeHost("halve");
    h.write(1500, (i) => ({ command: i % 10 === 0 ? `mysql -uroot -p${PASSWORD} -e 'select ${i}' ${"w".repeat(i % 150)}` : i % 10 === 5 ? `export GITHUB_TOKEN=${GITHUB} # ${i}` : `ls ${"v".repeat(i % 200)}` }));
    const killed = record(h, "mv", 0, `export AWS_SECRET_ACCESS_KEY=${AWS} ${"k".repeat(6000)}`);
    h.append(Buffer.concat([Buffer.from("\n"), linesOf(killed)[0]!]));
    const proxy = capturing((n) => (proxy.seen[n - 1]!.sent.length > 100 * 1024 ? new Response('{"code":1,"msg":"too large"}', { status: 413 }) : "forward"));
    h.configure(proxy.url, { ...redactConfig(), batch: { bytes: 256 * 1024, gzip: false } });
    expect((await runReporter(h)).code).toBe(0);
    // Everything but the unfinished record, which waits for its parts.
    expect(offsetOf(h)).toBe(statSync(h.log).size - linesOf(killed)[0]!.length);
    renameSync(h.log, `${h.log}.1`);
    writeFileSync(h.log, "", { mode: 0o622 });
    h.write(20, (i) => ({ command: `mysql -p${PASSWORD} -e 'select ${i}'` }));
    const r = await runReporter(h);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("unfinished multi-part record(s) given up");
    // Halved until one fits, and never grown back to a size refused (a 413 per halving at most).
    const refused = proxy.seen.filter((x) => x.sent.length > 100 * 1024).length;
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(refused).toBeLessThanOrEqual(2);
    proxy.stop();
    expectNoSecret(proxy.seen, SECRETS);
    expectStoredRedacted(await rowsOf(h), writtenMap(h));
  }, 120_000);
});

describe("the key", () => {
  test("on and not readable, or too short: run stops before it sends anything, exit 2, the file named; check fails with it", async () => {
    const h = makeHost("nokey");
    h.write(5, () => ({ command: `mysql -p${PASSWORD}` }));
    const proxy = capturing();
    const missing = join(dir, "missing.key");
    const short = join(dir, "short.key");
    writeFileSync(short, "too-short\n", { mode: 0o600 });
    const cases = [
      [{ enabled: true, key_file: missing }, `redact.key_file: cannot read ${missing}: ENOENT`],
      [{ key_file: missing }, `redact.key_file: cannot read ${missing}: ENOENT`],
      [{ key_file: short }, `redact.key_file: the key in ${short} must be at least 32 characters`],
      [{ enabled: true, key_file: dir }, `redact.key_file: cannot read ${dir}: EISDIR`],
    ] as const;
    for (const [redact, want] of cases) {
      h.configure(proxy.url, { redact });
      const r = await runReporter(h);
      expect(r.stderr).toContain(want);
      expect(r.stderr).toContain("redact.enabled: false");
      expect(r.code).toBe(2);
    }
    expect(proxy.requests()).toBe(0);
    expect(existsSync(join(h.stateDir, "state.json"))).toBe(false);
    for (const [redact, want] of cases) {
      h.configure(proxy.url, { redact });
      const c = await runReporter(h, ["check"]);
      expect(c.stdout).toContain(`FAIL  ${want}`);
      expect(c.code).toBe(2);
    }
    proxy.stop();
  });

  test("the redact section is checked like the server's: each bad key named, exit 2", async () => {
    const h = makeHost("cfg");
    for (const [redact, want] of [
      [{ enable: true }, "unknown key(s) redact.enable"],
      [{ disabled: ["no-such-rule"] }, "redact.disabled: not the id of a built-in redaction rule"],
      [{ rules: [{ id: "acme", regex: "acme_[a-z]+" }] }, "the regex needs a named group secret"],
      [{ rules: [{ id: "mysql-password", regex: "x(?<secret>y)" }] }, "redact.rules: a rule's id is a built-in redaction rule's"],
      [{ exceptions: ["(a+)+"] }, "redact.exceptions.0: a quantified group"],
    ] as const) {
      h.configure(be.server.url, { redact });
      const r = await runReporter(h);
      expect(r.stderr).toContain(want);
      expect(r.code).toBe(2);
    }
  });

  test("status and check say whether commands leave redacted; a key others can read fails check; enabled false sends them as typed (the server still redacts before it stores)", async () => {
    const h = makeHost("status");
    h.configure(be.server.url, redactConfig());
    const st = JSON.parse((await runReporter(h, ["status", "--json"])).stdout) as { redaction: { on: boolean; keyFile: string | null; problem: string | null } };
    expect(st.redaction).toEqual({ on: true, keyFile, problem: null });
    expect((await runReporter(h, ["status"])).stdout).toContain(`redaction:     on: key ${keyFile}, `);
    expect((await runReporter(h, ["check"])).stdout).toContain(`ok    redaction on: key ${keyFile}`);
    const loose = join(dir, "loose.key");
    writeFileSync(loose, `${KEY}\n`);
    chmodSync(loose, 0o644);
    h.configure(be.server.url, { redact: { key_file: loose } });
    expect((await runReporter(h, ["check"])).stdout).toContain(`FAIL  ${loose} is mode 644`);
    if (!existsSync("/etc/cmdaudit/redact.key")) {
      h.configure(be.server.url, {});
      const off = JSON.parse((await runReporter(h, ["status", "--json"])).stdout) as typeof st;
      expect(off.redaction).toEqual({ on: false, keyFile: null, problem: null });
      expect((await runReporter(h, ["check"])).stdout).toContain("note  redaction off: no key file /etc/cmdaudit/redact.key (redact.enabled is not set)");
    }

    h.write(1, () => ({ command: `mysql -p${PASSWORD}` }));
    const proxy = capturing();
    h.configure(proxy.url, { redact: { enabled: false } });
    expect((await runReporter(h)).code).toBe(0);
    expect(proxy.seen.some((s) => s.body.includes(PASSWORD))).toBe(true);
    proxy.stop();
    expectStoredRedacted(await rowsOf(h), writtenMap(h));
  });
});

// --- fuzz -------------------------------------------------------------------------------------

const WORDS = ["ls", "-la", "cd", "/var/log", "grep", "-r", "error", "echo", "tail", "-f", "sudo", "systemctl", "restart", "nginx", "|", "&&", ";", "vim", "cat", "ps", "aux", "df", "-h", "\t", "\\", "é", "中文", "'quoted'", "\"dq\"", "$HOME"];

interface Fuzzed {
  log: Buffer;
  /** Record key → command. */
  records: Map<string, Uint8Array>;
  secrets: Uint8Array[];
}

/** Random log content: records with and without secrets, long ones in parts, shells interleaved, non-UTF-8 bytes, typed markers, bash history. */
function fuzzLog(rng: Rng, host: Host, n: number, prefix: string): Fuzzed {
  const secrets: Uint8Array[] = [];
  const alnum = (k: number) => Array.from({ length: k }, () => "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"[rng.int(56)]).join("");
  /** A command holding a secret of one of five kinds, the value random; the value is kept in `secrets`. */
  const secret = (): string => {
    const [value, text] = [
      (v = alnum(14)) => [v, `mysql -uroot -p${v}`],
      (v = alnum(40)) => [v, `export AWS_SECRET_ACCESS_KEY=${v}`],
      (v = `ghp_${alnum(36)}`) => [v, `git push https://${v}@github.com/a/b`],
      (v = alnum(16)) => [v, `curl -u admin:${v} https://x`],
      (v = alnum(12)) => [v, `sshpass -p '${v}' ssh db`],
    ][rng.int(5)]!();
    secrets.push(Buffer.from(value!));
    return text!;
  };
  const words = (k: number) => Array.from({ length: k }, () => rng.pick(WORDS)).join(" ");
  const command = (): Uint8Array => {
    const parts: Uint8Array[] = [Buffer.from(words(rng.range(1, 6)))];
    if (rng.chance(0.4)) parts.push(Buffer.from(` ${secret()} `));
    if (rng.chance(0.15)) parts.push(Buffer.from("x".repeat(rng.range(2000, 9000))), Buffer.from(` ${secret()} `));
    if (rng.chance(0.1)) parts.push(rng.bytes(rng.range(1, 40)));
    if (rng.chance(0.05)) parts.push(Buffer.from(` ${TYPED} `));
    if (rng.chance(0.1)) parts.push(Buffer.from(`\n${words(3)}\n`));
    return Buffer.concat(parts);
  };
  const records = new Map<string, Uint8Array>();
  // Each shell writes its records in order, a line at a time; shells take turns at random.
  const shells = Array.from({ length: 3 }, (_, s) => ({ sid: `${prefix}${s}`, seq: 0, lines: [] as Buffer[] }));
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    if (rng.chance(0.05)) {
      // A 2018 line: one line, its command to the end of it (no LF, no TAB).
      const c = Buffer.from(`${secret()} #${prefix}${i}`.replace(/\t/g, " "));
      records.set(`legacy:${c.toString("latin1")}`, c);
      out.push(Buffer.from(`[2026-11-26 10:00:00] [(root) root pts/0 192.0.2.7] [${host.hostname}@10.1.127.4] `), c, Buffer.from("\n"));
      continue;
    }
    const sh = rng.pick(shells);
    const c = command();
    records.set(`${sh.sid}#${sh.seq}`, c);
    // Some shells run a hook from before durationMs (CA1 heads).
    const encoded = encodeRecord(record(host, sh.sid, sh.seq++, c));
    sh.lines.push(...[...lines(rng.chance(0.2) ? asCa1(encoded) : encoded)].map(({ line }) => Buffer.concat([line, Buffer.from("\n")])));
    while (shells.some((s) => s.lines.length) && rng.chance(0.7)) {
      const s = rng.pick(shells.filter((x) => x.lines.length));
      out.push(Buffer.from("\n"), s.lines.shift()!);
      if (rng.chance(0.05)) out.push(Buffer.from(rng.chance(0.5) ? `${secret()}\n` : `${words(4)}\n`));
      // Damaged lines holding a secret: a head short of fields, a part whose head is not there.
      if (rng.chance(0.02)) out.push(Buffer.from(`\nCA2\tR\t${s.sid}\t${secret()}\n`));
      if (rng.chance(0.02)) {
        const chunk = `${words(2)} ${secret()}`;
        out.push(Buffer.from(`\nCA2\tP\tgone${s.sid}\t7\t2\t${Buffer.byteLength(chunk)}\t${chunk}\n`));
      }
    }
  }
  for (const s of shells) for (const l of s.lines) out.push(Buffer.from("\n"), l);
  return { log: Buffer.concat(out), records, secrets };
}

describe("fuzz", () => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 100000);

  test(`the body rewrite, line for line: every record the same but its secrets, declared where its first line is; held back whole or not at all; consumed maps to the file (FUZZ_SEED=${seed})`, () => {
    const rng = new Rng(seed);
    const host = makeHost("fz");
    // Half the bodies are written over the one before, as `run` writes them.
    const reused = new WireBuffer();
    for (let round = 0; round < 60; round++) {
      const { log, secrets } = fuzzLog(rng, host, rng.range(1, 40), `f${round}x`);
      // A body ends at a line end somewhere: records cut by it are waiting for their parts (or given up).
      let end = log.length;
      if (rng.chance(0.7)) end = log.lastIndexOf(0x0a, rng.int(log.length)) + 1;
      const body = log.subarray(0, end);
      const opts = { final: rng.chance(0.2), giveUp: rng.chance(0.2), legacyUtcOffset: 0, maxHeaderBytes: rng.chance(0.3) ? rng.range(60, 400) : 8000, into: rng.chance(0.5) ? reused : undefined };
      const wire = redactBody(body, redactor, opts);
      const file = [...lines(body)];
      const sent = [...lines(wire.bytes)];
      expect(sent.length).toBe(file.length);
      expect(wire.bytes.length === 0 || wire.bytes[wire.bytes.length - 1] === 0x0a).toBe(true);
      const entries = wire.header === undefined ? [] : parseRawRedactions(wire.header);
      if (typeof entries === "string") throw new Error(entries);
      expect((wire.header ?? "").length).toBeLessThanOrEqual(opts.maxHeaderBytes);
      const declared = new Map(entries.map((e) => [e.offset, e.redactions]));
      const cap = wire.settled(wire.bytes.length);
      const decode = (b: Uint8Array) => {
        const d = new LogDecoder({ legacyUtcOffset: 0 });
        const evs: DecodeEvent[] = [];
        for (const { line, offset } of lines(b)) evs.push(...d.push(line, offset));
        if (opts.giveUp) evs.push(...d.giveUp(1));
        if (opts.final) evs.push(...d.finish());
        return evs;
      };
      const lineAt = (ls: { offset: number }[]) => new Map(ls.map((l, i) => [l.offset, i]));
      const [fileLine, sentLine] = [lineAt(file), lineAt(sent)];
      const sentRecords = new Map<number, LogRecord>();
      for (const ev of decode(wire.bytes)) if (ev.type === "record") sentRecords.set(sentLine.get(ev.offset)!, ev.record);
      let matched = 0;
      for (const ev of decode(body)) {
        if (ev.type !== "record") continue;
        const i = fileLine.get(ev.offset)!;
        if (sent[i]!.line.length === 0) {
          // Held back (the header was full): at or after where the checkpoint stops.
          expect(ev.offset).toBeGreaterThanOrEqual(cap);
          continue;
        }
        const got = sentRecords.get(i);
        expect(got).toBeDefined();
        matched++;
        const want = redactor.redactBytes(ev.record.command);
        expect(Buffer.from(got!.command).equals(Buffer.from(want.bytes))).toBe(true);
        const { command: _a, ...fields } = got!;
        const { command: _b, ...wantFields } = ev.record;
        expect(fields).toEqual(wantFields);
        const d = declared.get(sent[i]!.offset);
        if (want.redactions.length === 0) expect(d).toBeUndefined();
        // A record alone too large for the header declares the first of its redactions.
        else expect(want.redactions.slice(0, d!.length)).toEqual(d!);
      }
      expect(sentRecords.size).toBe(matched);
      expect(declared.size).toBeLessThanOrEqual(matched);
      // Held lines are whole records' lines; consumed at any line start maps to that line in the file, capped.
      sent.forEach((l, i) => expect(wire.settled(l.offset)).toBe(Math.min(file[i]!.offset, cap)));
      expect(cap).toBeLessThanOrEqual(body.length);
      // No secret the file body holds in one piece is in what is sent.
      for (const s of secrets) if (body.includes(s)) expect(Buffer.from(wire.bytes).includes(s)).toBe(false);
    }
  });

  test(`lines skipped unread (no keyword, no record waiting for parts) give exactly what reading every line gives (FUZZ_SEED=${seed})`, () => {
    const rng = new Rng(seed + 2);
    // The same redactor, but every line may hold a secret: nothing is skipped.
    const readsAll = { ...redactor, nextMaybeSecret: (_: Uint8Array, from: number, to: number) => (from < to ? from : -1) };
    const quiet = ["ls -la", "df -h", "cat /etc/hosts", "vim app.conf", "ps aux", "tail -f /var/log/messages"];
    const host = makeHost("fd");
    const keyHost = { ...host, hostname: "key-vault-1" };
    let compared = 0;
    for (let round = 0; round < 80; round++) {
      const { log } = fuzzLog(rng, host, rng.range(1, 30), `d${round}x`);
      const extra: Buffer[] = [];
      for (const { line } of lines(log)) {
        extra.push(Buffer.concat([line, Buffer.from("\n")]));
        if (!rng.chance(0.3)) continue;
        const sid = rng.chance(0.5) ? `d${round}x${rng.int(3)}` : `q${round}`;
        const head = Buffer.from(encodeRecord(record(rng.chance(0.2) ? keyHost : host, sid, rng.int(50), rng.pick(quiet))));
        extra.push([
          // A quiet record, often of a session whose long record is still waiting for parts (the decoder gives that one up).
          () => head,
          // Quiet heads the decoder calls damaged: parts field 1 but a bad kind; one field short.
          () => Buffer.from(head.toString("latin1").replace("\tcommand\t", "\tcmd\t"), "latin1"),
          () => Buffer.from(head.toString("latin1").replace("\t0\t\t1\t", "\t\t1\t"), "latin1"),
          // A quiet head of two parts whose second never comes; a quiet part without its head.
          () => Buffer.from(head.toString("latin1").replace(/\t1\t(\d+)\t/, "\t2\t$1\t"), "latin1"),
          () => Buffer.from(`CA2\tP\t${sid}\t3\t2\t5\tls -l\n`),
          // Foreign and 2018 lines without a keyword; heads whose parts field is not 1 but ends like it.
          () => Buffer.from(`${rng.pick(quiet)}\n`),
          () => Buffer.from(`[2026-11-26 10:00:00] [(root) root pts/0 192.0.2.7] [web@10.1.127.4] ${rng.pick(quiet)}\n`),
          () => Buffer.from(head.toString("latin1").replace(/\t1\t(\d+)\t/, `\t${rng.pick(["01", "11", "21"])}\t$1\t`), "latin1"),
        ][rng.int(8)]!());
      }
      const all = Buffer.concat(extra);
      const body = all.subarray(0, rng.chance(0.6) ? all.lastIndexOf(0x0a, rng.int(all.length)) + 1 : all.length);
      const opts = { final: rng.chance(0.3), giveUp: rng.chance(0.3), legacyUtcOffset: 0, maxHeaderBytes: rng.chance(0.3) ? rng.range(60, 400) : 8000 };
      const outcome = (r: typeof redactor) => {
        try {
          const w = redactBody(body, r, opts);
          const starts = [...lines(w.bytes)].map((l) => l.offset);
          return { bytes: Buffer.from(w.bytes).toString("latin1"), header: w.header, settled: [...starts, w.bytes.length].map((o) => w.settled(o)) };
        } catch (e) {
          return { error: String(e) };
        }
      };
      expect(outcome(redactor)).toEqual(outcome(readsAll));
      compared++;
    }
    expect(compared).toBe(80);
  });

  test(`random logs through the compiled reporter, killed once on the way: every record stored once, byte-exact but its secrets, no secret sent (FUZZ_SEED=${seed})`, async () => {
    const rng = new Rng(seed + 1);
    const h = makeHost("fzr");
    const { log, records, secrets } = fuzzLog(rng, h, 600, "r");
    for (const [, c] of records) for (const s of secrets) if (Buffer.from(c).includes(s)) expect(Buffer.from(redactor.redactBytes(c).bytes).includes(s)).toBe(false);
    h.append(log);
    let proc: Bun.Subprocess | undefined;
    const killAt = rng.range(1, 4);
    const first = capturing((n) => (n === killAt ? { after: async (res) => { proc!.kill("SIGKILL"); await proc!.exited; return res; } } : "forward"));
    h.configure(first.url, redactConfig());
    await runReporter(h, ["run"], { onSpawn: (p) => (proc = p) });
    first.stop();
    const second = capturing();
    h.configure(second.url, redactConfig());
    const r = await runReporter(h);
    // Only the damaged lines are said (dead letters); the run ends well.
    expect(r.stderr.split("\n").filter((l) => l && !l.includes("were not stored: "))).toEqual([]);
    expect(r.code).toBe(0);
    second.stop();
    expect(offsetOf(h)).toBe(statSync(h.log).size);
    expectNoSecret([...first.seen, ...second.seen], secrets);
    expectStoredRedacted(await rowsOf(h), records);
  }, 120_000);
});
