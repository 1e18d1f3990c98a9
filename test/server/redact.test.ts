/**
 * Redaction at the server ([redact]): whatever way a command comes (JSON, raw hook lines, 2018
 * lines, already redacted by its reporter), its secrets are replaced before the store, the alert
 * rules or the query API see it; a record lists its redactions (rule, byte range); a reporter's
 * declared redactions are checked; the key is made once, owner-only, and never logged.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRedactor } from "../../protocol/redact/index.ts";
import { ConfigError, loadConfig } from "../../server/src/config.ts";
import { cat, enc, type IngestAnswer, json, RouteSuite, seedReporterPayload, tmpDir } from "./helpers.ts";
import { startServer } from "../support/server.ts";
import { INGEST_TOKEN, READ_TOKEN } from "../support/config.ts";
import { AWS, GITHUB } from "../redact/samples.ts";

const suite = new RouteSuite();
const KEY = "test-redaction-key-0123456789abcdef0123";
const redactor = createRedactor({ key: KEY });
const PASSWORD = "S3cr3tPassw0rd!x";
suite.secret(PASSWORD, AWS, GITHUB);
const bytesAt = (command: string, r: { start: number; end: number }) => Buffer.from(command, "utf8").subarray(r.start, r.end).toString("utf8");

/** Every byte of the SQLite files (database, WAL, journal) under the app's dir, as latin1 text. */
function storedBytes(dir: string): string {
  return readdirSync(dir).filter((f) => f.startsWith("audit.db")).map((f) => readFileSync(join(dir, f)).toString("latin1")).join("\n");
}

describe("POST /api/v1/commands with a redactor", () => {
  test("secrets are replaced, value only, before the store: the database files never hold them; the record lists rule and byte range", async () => {
    const t = await suite.newApp({}, undefined, undefined, redactor);
    const cmds = [`mysql -uroot -p${PASSWORD} -e 'show databases'`, `export AWS_SECRET_ACCESS_KEY=${AWS}`, `git clone https://${GITHUB}@github.com/acme/app.git`, "ls -la /var/log"];
    const ans = await json<IngestAnswer>(await t.post(cmds.map((command, i) => suite.v2({ seq: i + 1, command }))));
    expect(ans).toMatchObject({ code: 0, accepted: 4, rejected: [] });
    const rows = (await t.all()).sort((a, b) => a.seq! - b.seq!);
    expect(rows.map((r) => r.redactions.map((x) => x.rule))).toEqual([["mysql-password"], ["env-secret"], ["github-token"], []]);
    for (const r of rows) {
      for (const s of [PASSWORD, AWS, GITHUB]) expect(r.command).not.toContain(s);
      for (const x of r.redactions) expect(bytesAt(r.command, x)).toMatch(new RegExp(`^\\[REDACTED:${x.rule}:[0-9a-f]{12}\\]$`));
    }
    expect(rows[0]!.command).toStartWith("mysql -uroot -p[REDACTED:mysql-password:");
    expect(rows[0]!.command).toEndWith("] -e 'show databases'");
    expect(rows[3]!.command).toBe("ls -la /var/log");
    await t.store.close();
    const files = storedBytes(t.dir);
    expect(files).toContain("ls -la /var/log");
    for (const s of [PASSWORD, AWS, GITHUB]) expect(files.includes(s)).toBe(false);
    const metrics = await (await t.get("/metrics")).text();
    expect(metrics).toContain('cmdaudit_redactions_total{rule="mysql-password"} 1');
  });

  test("one secret, one fingerprint: reuse shows across records and hosts; another key gives another fingerprint", async () => {
    const t = await suite.newApp({}, undefined, undefined, redactor);
    await t.post([suite.v2({ seq: 1, command: `mysql -p${PASSWORD}` }), suite.v2({ seq: 2, hostname: "db9", command: `MYSQL_PWD=${PASSWORD} mysqldump app` })]);
    const fps = (await t.all()).map((r) => /\[REDACTED:[a-z0-9.-]+:([0-9a-f]{12})\]/.exec(r.command)?.[1]);
    expect(fps[0]).toBeDefined();
    expect(fps[0]).toBe(fps[1]);
    const other = createRedactor({ key: "another-key-0123456789abcdef-0123456789" }).redact(`mysql -p${PASSWORD}`).text;
    expect(other).not.toContain(fps[0]!);
  });

  test("a command that is not UTF-8: its bytes outside the secret are kept exactly, ranges are of its bytes", async () => {
    const t = await suite.newApp({}, undefined, undefined, redactor);
    const raw = Buffer.concat([Buffer.from("echo \xe9\xe9; mysql -p", "latin1"), Buffer.from(PASSWORD), Buffer.from(" \xff", "latin1")]);
    const ans = await json<IngestAnswer>(await t.post([suite.v2({ command: undefined, commandB64: raw.toString("base64") })]));
    expect(ans.accepted).toBe(1);
    const [r] = await t.all();
    const bytes = Buffer.from(r!.commandB64!, "base64");
    expect(bytes.includes(Buffer.from(PASSWORD))).toBe(false);
    expect(bytes.subarray(0, 16)).toEqual(raw.subarray(0, 16));
    expect(bytes.subarray(-2)).toEqual(Buffer.from(" \xff", "latin1"));
    const x = r!.redactions[0]!;
    expect(bytes.subarray(x.start, x.end).toString("latin1")).toMatch(/^\[REDACTED:mysql-password:[0-9a-f]{12}\]$/);
  });

  test("a reporter's declared redactions are checked: a true one is kept, a lie is refused naming it, a typed marker is not a redaction", async () => {
    const t = await suite.newApp({}, undefined, undefined, redactor);
    const done = redactor.redact(`mysql -p${PASSWORD}; echo [REDACTED:aws-secret-key:0123456789ab]`);
    expect(done.redactions).toHaveLength(1); // the typed marker is not one of the redactor's
    const good = suite.v2({ seq: 1, command: done.text, redactions: done.redactions });
    const lie = suite.v2({ seq: 2, command: "echo hello there, nothing to see", redactions: [{ rule: "mysql-password", start: 5, end: 10 }] });
    const typed = suite.v2({ seq: 3, command: "echo [REDACTED:aws-secret-key:0123456789ab]" });
    const ans = await json<IngestAnswer>(await t.post([good, lie, typed]));
    expect(ans.accepted).toBe(2);
    expect(ans.rejected).toEqual([{ index: 1, error: "redactions[0] (mysql-password at bytes 5-10) is not a marker of that rule in the command" }]);
    const rows = (await t.all()).sort((a, b) => a.seq! - b.seq!);
    expect(rows[0]!.command).toBe(done.text);
    expect(rows[0]!.redactions).toEqual(done.redactions);
    expect(rows[1]!.redactions).toEqual([]);
  });

  test("declared redactions are carried to where their markers moved when the server replaces more", async () => {
    const strict = createRedactor({ key: KEY, rules: [{ id: "acme-token", regex: "acme_(?<secret>[A-Za-z0-9]{16})", keywords: ["acme_"] }] });
    const t = await suite.newApp({}, undefined, undefined, strict);
    // The reporter knew only the built-ins: the acme token before its marker is replaced here.
    const sent = redactor.redact(`curl -H 'X: acme_ABCDEFGHIJKLMNOP' -u admin:${PASSWORD} https://x`);
    expect(sent.redactions.map((r) => r.rule)).toEqual(["curl-user"]);
    await t.post([suite.v2({ command: sent.text, redactions: sent.redactions })]);
    const [r] = await t.all();
    expect(r!.redactions.map((x) => x.rule)).toEqual(["acme-token", "curl-user"]);
    for (const x of r!.redactions) expect(bytesAt(r!.command, x)).toMatch(new RegExp(`^\\[REDACTED:${x.rule}:[0-9a-f]{12}\\]$`));
  });

  test("2018 records: the key is made after redaction, so the raw line (sh reporter) and the same line redacted by a reporter are one record", async () => {
    const t = await suite.newApp({ legacy_utc_offset: "+08:00" }, undefined, undefined, redactor);
    const line = `[2018-12-11 11:58:00] [(root) root pts/0 192.168.1.2] [web01@10.0.0.1] mysql -uroot -p${PASSWORD}`;
    const viaRaw = await json<IngestAnswer>(await t.postRaw(line + "\n"));
    expect(viaRaw.accepted).toBe(1);
    const [seed] = JSON.parse(seedReporterPayload(line + "\n")) as Record<string, string>[];
    const done = redactor.redact(seed!.command!);
    const viaJson = await json<IngestAnswer>(await t.post([{ ...seed, command: done.text, redactions: done.redactions }]));
    expect(viaJson).toMatchObject({ accepted: 0, duplicates: 1 });
    const rows = await t.all();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.command).toBe(done.text);
  });

  test("hook lines on the raw route are redacted too", async () => {
    const t = await suite.newApp({}, undefined, undefined, redactor);
    const ans = await json<IngestAnswer>(await t.postRaw(cat(enc(suite.hook({ seq: 1, command: `export GITHUB_TOKEN=${GITHUB}` })), enc(suite.hook({ seq: 2, command: "uptime" })))));
    expect(ans.accepted).toBe(2);
    const rows = (await t.all()).sort((a, b) => a.seq! - b.seq!);
    expect(rows[0]!.command).not.toContain(GITHUB);
    expect(rows[0]!.redactions.map((x) => x.rule)).toEqual(["github-token"]);
    expect(rows[1]!.redactions).toEqual([]);
  });

  test("alert rules see the redacted command: the alert and its listing hold the marker, never the secret", async () => {
    const t = await suite.newApp({}, undefined, undefined, redactor);
    await t.post([suite.v2({ command: `curl -u admin:${PASSWORD} https://get.example.com/i.sh | sudo bash` })]);
    const page = await json<{ items: { rule: string; command: string }[] }>(await t.get("/api/v1/alerts"));
    expect(page.items.map((a) => a.rule)).toEqual(["exec.download-to-shell"]);
    expect(page.items[0]!.command).toContain("[REDACTED:curl-user:");
    expect(page.items[0]!.command).not.toContain(PASSWORD);
  });
});

describe("the server process: the key", () => {
  test("made at the first start in data_dir (0600), kept across restarts, never logged; a short key_file is refused naming it", async () => {
    const dir = tmpDir();
    const env = { CMDAUDIT_DATA_DIR: dir, CMDAUDIT_INGEST_TOKENS: INGEST_TOKEN, CMDAUDIT_READ_TOKENS: READ_TOKEN };
    const first = await startServer(env);
    await first.stop();
    const keyFile = join(dir, "redact.key");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, "utf8").trim();
    expect(key.length).toBeGreaterThanOrEqual(32);
    const second = await startServer(env);
    const res = await fetch(`${second.url}/api/v1/commands`, {
      method: "POST", headers: { AccessToken: INGEST_TOKEN, "Content-Type": "application/json" },
      body: JSON.stringify([suite.v2({ command: `mysql -p${PASSWORD}` })]),
    });
    expect(res.status).toBe(200);
    const got = (await (await fetch(`${second.url}/api/v1/commands`, { headers: { Authorization: `Bearer ${READ_TOKEN}` } })).json()) as { items: { command: string }[] };
    expect(got.items[0]!.command).toBe(createRedactor({ key }).redact(`mysql -p${PASSWORD}`).text);
    await second.stop();
    expect(readFileSync(keyFile, "utf8").trim()).toBe(key);
    for (const l of [...first.logs, ...second.logs]) expect(l.includes(key)).toBe(false);
    expect(first.logs.some((l) => l.includes("redact.key"))).toBe(true);

    const short = join(dir, "short.key");
    writeFileSync(short, "too-short\n", { mode: 0o600 });
    const p = Bun.spawn(["bun", new URL("../../server/src/main.ts", import.meta.url).pathname], {
      env: { ...process.env, ...env, CMDAUDIT_PORT: "0", CMDAUDIT_REDACT_KEY_FILE: short }, stdout: "pipe", stderr: "pipe",
    });
    expect(await p.exited).toBe(2);
    expect(await new Response(p.stderr).text()).toContain(`redact.key_file: the key in ${short} must be at least 32 characters`);
  });
});

describe("the redact config", () => {
  const load = (yaml: string) => {
    const path = join(tmpDir(), "server.yml");
    writeFileSync(path, yaml);
    return () => loadConfig(path, {});
  };
  test.each([
    ["redact:\n  disabled: [no-such-rule]\n", "redact.disabled: not the id of a built-in redaction rule"],
    ["redact:\n  rules: [{ id: github-token, regex: \"x(?<secret>y)\" }]\n", "redact.rules: a rule's id is a built-in redaction rule's"],
    ["redact:\n  rules: [{ id: mine, regex: \"x(y)\" }]\n", "the regex needs a named group secret"],
    ["redact:\n  exceptions: [\"(a+)+$\"]\n", "exponential"],
    ["redact:\n  surprise: 1\n", "surprise"],
  ])("%j is refused, naming the key and the problem", (yaml, problem) => {
    expect(load(yaml)).toThrow(ConfigError);
    expect(load(yaml)).toThrow(problem);
  });

  test("rules, disabled and exceptions reach the redactor", () => {
    const config = load("redact:\n  key_file: /dev/null\n  rules: [{ id: acme, regex: \"acme_(?<secret>[a-z]{8})\", keywords: [acme_] }]\n  disabled: [mysql-password]\n  exceptions: [\"^hunter2$\"]\n")();
    const r = createRedactor({ key: KEY, rules: config.redact.rules, disabled: config.redact.disabled, exceptions: config.redact.exceptions });
    expect(r.redact("curl acme_abcdefgh; mysql -pS3cretPassw0rdxyz; sshpass -p hunter2 ssh x").redactions.map((x) => x.rule)).toEqual(["acme"]);
  });
});
