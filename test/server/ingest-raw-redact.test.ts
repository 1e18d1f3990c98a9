/**
 * POST /api/v1/ingest/raw with X-Cmdaudit-Redactions (issue [redact]): the compiled reporter's own
 * body rewrite (agent/src/tail/redact-body.ts) makes the body and the header; the route checks each
 * entry against the command it decodes there, lists the true ones in the record's `redactions`,
 * and refuses the whole body (400, nothing stored) when the header is malformed or lies.
 * In-process: createApp() on a real SQLite store through app.request().
 */
import { describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { redactBody } from "../../agent/src/tail/redact-body.ts";
import type { EncodableRecord } from "../../protocol/index.ts";
import { createRedactor, type Redaction } from "../../protocol/redact/index.ts";
import { encodeRawRedactions, MAX_RAW_REDACTIONS_HEADER_BYTES, parseRawRedactions, RAW_REDACTIONS_HEADER } from "../../protocol/redact/raw-header.ts";
import { cat, enc, type IngestAnswer, json, RouteSuite } from "./helpers.ts";
import { AWS, GITHUB } from "../redact/samples.ts";

const suite = new RouteSuite();
const KEY = "raw-header-test-key-0123456789abcdef0123";
const redactor = createRedactor({ key: KEY });
const PASSWORD = "S3cretPassw0rd";
suite.secret(PASSWORD, AWS, GITHUB, KEY);

const hook = (over: Partial<EncodableRecord>): EncodableRecord => suite.hook({ sessionId: "rr", ...over });
const lines = (...recs: EncodableRecord[]) => cat(...recs.map(enc));
/** The body and header as the compiled reporter sends them. */
const asSent = (body: Uint8Array, opts: { final?: boolean } = {}) => redactBody(body, redactor, { final: opts.final ?? false, giveUp: false, legacyUtcOffset: 0 });
const headerOf = (value: string) => ({ [RAW_REDACTIONS_HEADER]: value });
const marked = (command: string, r: Redaction) => Buffer.from(command, "utf8").subarray(r.start, r.end).toString("latin1");

describe("the header codec", () => {
  test("encode and parse are inverse; every malformed value says what is wrong", () => {
    const entries = [{ offset: 0, redactions: [{ rule: "mysql-password", start: 9, end: 44 }] }, { offset: 812, redactions: [{ rule: "env-secret", start: 7, end: 36 }, { rule: "github-token", start: 50, end: 97 }] }];
    const text = encodeRawRedactions(entries);
    expect(text).toBe("0:mysql-password@9-44;812:env-secret@7-36,github-token@50-97");
    expect(parseRawRedactions(text)).toEqual(entries);
    const bad: [string, string][] = [
      ["", "empty"],
      ["12", "entry 1 (\"12\") is not <body offset>:<rule>@<start>-<end>"],
      ["01:a@1-30", "entry 1"],
      ["5:a@1-30;5:a@1-30", "entry 2 (\"5:a@1-30\"): body offsets must increase"],
      ["0:Bad_Rule@1-30", "\"Bad_Rule\" is not a rule id"],
      ["0:a@30-1", "start 30 is not before end 1"],
      ["0:a@1-30,b@20-50", "redaction 2 is not after the one before it"],
      ["0:a@1-30,", "redaction 2 (\"\") is not <rule>@<start>-<end>"],
      ["0:a@1-99999999", "ends past 2097152 bytes"],
      [`0:${"a@1-30,".repeat(1200)}a@1-30`, `longer than ${MAX_RAW_REDACTIONS_HEADER_BYTES} bytes`],
    ];
    for (const [value, want] of bad) {
      const got = parseRawRedactions(value);
      expect(typeof got).toBe("string");
      expect(got as string).toContain(want);
    }
  });
});

describe("POST /api/v1/ingest/raw with X-Cmdaudit-Redactions", () => {
  test("a body the reporter redacted: stored as sent, each record listing its redactions; a typed marker is not one; a multi-part and a non-UTF-8 command too", async () => {
    const t = await suite.newApp({}, undefined, undefined, redactor);
    const nonUtf8 = Buffer.concat([Buffer.from("echo \xe9\xe9; mysql -p", "latin1"), Buffer.from(PASSWORD), Buffer.from(" \xff", "latin1")]);
    const long = `echo ${"x".repeat(3060)} mysql -p${PASSWORD} && ${"y".repeat(4000)} export AWS_SECRET_ACCESS_KEY=${AWS}`;
    const recs = [
      hook({ seq: 1, command: `mysql -uroot -p${PASSWORD} -e 'show databases'` }),
      hook({ seq: 2, command: `git clone https://${GITHUB}@github.com/acme/app.git; echo [REDACTED:aws-secret-key:0123456789ab]` }),
      hook({ seq: 3, command: nonUtf8 }),
      hook({ seq: 4, command: long }),
      hook({ seq: 5, command: "echo [REDACTED:aws-secret-key:0123456789ab]" }),
      hook({ seq: 6, command: "uptime" }),
    ];
    const body = lines(...recs);
    const wire = asSent(body);
    expect(wire.header).toBeDefined();
    for (const s of [PASSWORD, AWS, GITHUB]) expect(Buffer.from(wire.bytes).includes(s)).toBe(false);
    const ans = await json<IngestAnswer>(await t.postRaw(gzipSync(wire.bytes), "", { ...headerOf(wire.header!), "Content-Encoding": "gzip" }));
    expect(ans).toMatchObject({ code: 0, accepted: 6, rejected: [], consumed: wire.bytes.length });
    expect(wire.settled(ans.consumed!)).toBe(body.length);
    const rows = (await t.all()).sort((a, b) => a.seq! - b.seq!);
    const want = recs.map((r) => redactor.redactBytes(typeof r.command === "string" ? Buffer.from(r.command) : r.command));
    rows.forEach((row, i) => {
      const bytes = row.commandB64 !== undefined ? Buffer.from(row.commandB64, "base64") : Buffer.from(row.command, "utf8");
      expect(bytes.equals(Buffer.from(want[i]!.bytes))).toBe(true);
      expect(row.redactions).toEqual(want[i]!.redactions);
    });
    expect(rows.map((r) => r.redactions.map((x) => x.rule))).toEqual([["mysql-password"], ["github-token"], ["mysql-password"], ["mysql-password", "env-secret"], [], []]);
    for (const x of rows[0]!.redactions) expect(marked(rows[0]!.command, x)).toMatch(/^\[REDACTED:mysql-password:[0-9a-f]{12}\]$/);
    // The typed marker stays text: in the command, not in redactions.
    expect(rows[1]!.command).toContain("[REDACTED:aws-secret-key:0123456789ab]");
    expect(rows[4]!.command).toBe("echo [REDACTED:aws-secret-key:0123456789ab]");
  });

  test("a server that replaces more than the reporter did carries the declared ones to where their markers moved", async () => {
    const more = createRedactor({ key: KEY, rules: [{ id: "acme-token", regex: "acme_(?<secret>[A-Za-z0-9]{16})", keywords: ["acme_"] }] });
    const t = await suite.newApp({}, undefined, undefined, more);
    const wire = asSent(lines(hook({ seq: 1, command: `curl -H 'X: acme_ABCDEFGHIJKLMNOP' -u admin:${PASSWORD} https://x` })));
    expect((await json<IngestAnswer>(await t.postRaw(wire.bytes, "", headerOf(wire.header!)))).accepted).toBe(1);
    const [r] = await t.all();
    expect(r!.redactions.map((x) => x.rule)).toEqual(["acme-token", "curl-user"]);
    for (const x of r!.redactions) expect(marked(r!.command, x)).toMatch(new RegExp(`^\\[REDACTED:${x.rule}:[0-9a-f]{12}\\]$`));
  });

  test("declarations are kept by a server that does not redact itself", async () => {
    const t = await suite.newApp();
    const wire = asSent(lines(hook({ seq: 1, command: `mysql -p${PASSWORD}` })));
    expect((await json<IngestAnswer>(await t.postRaw(wire.bytes, "", headerOf(wire.header!)))).accepted).toBe(1);
    const [r] = await t.all();
    expect(r!.redactions.map((x) => x.rule)).toEqual(["mysql-password"]);
  });

  test("a header that lies is refused with 400 naming the entry, and nothing of the body is stored", async () => {
    const t = await suite.newApp({}, undefined, undefined, redactor);
    const typed = hook({ seq: 1, command: "echo [REDACTED:aws-secret-key:0123456789ab] done" });
    const secret = hook({ seq: 2, command: `mysql -p${PASSWORD}` });
    const body = lines(typed, secret);
    const wire = asSent(body);
    const second = Buffer.from(wire.bytes).indexOf("\nCA2\tR") + 1;
    expect(wire.header).toMatch(new RegExp(`^${second}:mysql-password@\\d+-\\d+$`));
    const lies: [string, string][] = [
      // Next to the typed marker, not on it.
      [`0:aws-secret-key@4-42;${wire.header}`, "entry for body offset 0: redactions[0] (aws-secret-key at bytes 4-42) is not a marker of that rule in the command"],
      // A range that is not a marker at all.
      ["0:mysql-password@0-10", "redactions[0] (mysql-password at bytes 0-10) is not a marker of that rule"],
      // The right place, another rule.
      [wire.header!.replace("mysql-password", "github-token"), `entry for body offset ${second}: redactions[0] (github-token at`],
      // No record starts there: inside a line, past the body, at an empty line.
      [`5:mysql-password@0-10;${wire.header}`, "entry for body offset 5: not the start of a line"],
      [`${wire.header};${wire.bytes.length + 10}:mysql-password@0-10`, `entry for body offset ${wire.bytes.length + 10}: past the body's ${wire.bytes.length} bytes`],
      // Malformed.
      ["0:mysql-password@10-5", "start 10 is not before end 5"],
      ["nonsense", "is not <body offset>:<rule>@<start>-<end>"],
    ];
    for (const [value, want] of lies) {
      const res = await t.postRaw(wire.bytes, "", headerOf(value));
      const text = await res.text();
      expect(res.status).toBe(400);
      expect(text).toContain(RAW_REDACTIONS_HEADER);
      expect(text).toContain(want);
    }
    const tooLong = await t.postRaw(wire.bytes, "", headerOf(`${wire.header};${Array.from({ length: 1000 }, (_, i) => `${wire.bytes.length + i}:a@1-30`).join(";")}`));
    expect(tooLong.status).toBe(400);
    expect(await tooLong.text()).toContain(`longer than ${MAX_RAW_REDACTIONS_HEADER_BYTES} bytes`);
    expect(await t.all()).toEqual([]);
    // The honest header is taken.
    expect((await json<IngestAnswer>(await t.postRaw(wire.bytes, "", headerOf(wire.header!)))).accepted).toBe(2);
  });

  test("an entry at a foreign line or a part line is refused; at a record still waiting for its parts or a damaged one it is let be", async () => {
    const t = await suite.newApp({}, undefined, undefined, redactor);
    const done = hook({ seq: 1, command: `mysql -p${PASSWORD}` });
    const multi = enc(hook({ seq: 2, command: `${"z".repeat(5000)} -p${PASSWORD}` }));
    const head = multi.subarray(0, multi.indexOf(0x0a) + 1);
    // The reporter's first record, a line of bash history, and the head of a record whose parts are to come (no secret in it).
    const first = asSent(lines(done));
    const ok = first.header!;
    const body = Buffer.concat([first.bytes, Buffer.from("ls -la\n"), head]);
    const foreignAt = first.bytes.length;
    const headAt = foreignAt + "ls -la\n".length;
    const wire = { bytes: body };
    // At a foreign line, before what the server settles: no record there.
    const atForeign = await t.postRaw(wire.bytes, "", headerOf(`${ok};${foreignAt}:mysql-password@0-40`));
    expect(atForeign.status).toBe(400);
    expect(await atForeign.text()).toContain(`entry for body offset ${foreignAt}: no record starts there`);
    // At the head of a record whose parts are still to come (past `consumed`): let be; it comes again.
    const pending = await json<IngestAnswer>(await t.postRaw(wire.bytes, "", headerOf(`${ok};${headAt}:mysql-password@0-40`)));
    expect(pending).toMatchObject({ accepted: 1, consumed: headAt });
    // The same record given up (final): nothing is stored for it, the entry describes nothing.
    const final = await json<IngestAnswer>(await t.postRaw(wire.bytes, "?final=1", headerOf(`${ok};${headAt}:mysql-password@0-40`)));
    expect(final).toMatchObject({ accepted: 0, duplicates: 1, consumed: body.length });
    expect(final.rejected).toHaveLength(1);
    // A part line.
    const parts = enc(hook({ seq: 3, command: "q".repeat(5000) }));
    const partAt = parts.indexOf(0x0a) + 1;
    const atPart = await t.postRaw(parts, "", headerOf(`${partAt}:mysql-password@0-40`));
    expect(atPart.status).toBe(400);
    expect(await atPart.text()).toContain(`entry for body offset ${partAt}: no record starts there`);
  });
});
