/**
 * `cmdaudit-server redact-history` as an operator runs it: the real CLI (server/src/main.ts) as a
 * child process, on a real MariaDB database and on an SQLite file, over history stored before
 * redaction (rows written without a redactor). Expected commands are written out here, with
 * fingerprints computed from the key (HMAC-SHA256, first 12 hex digits), never by the redactor.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AuditRecord, normalizeRecord, type WireRecord } from "../../protocol/index.ts";
import { openStore } from "../../server/src/db/open.ts";
import type { Store, StoredRecord } from "../../server/src/db/store.ts";
import { createTestDatabase } from "../support/mysql.ts";

const MAIN = join(import.meta.dir, "../../server/src/main.ts");
const KEY = "redact-history-test-key-0123456789abcdef";
const SLOW = 120_000;

const fp = (secret: string | Buffer) => createHmac("sha256", KEY).update(secret).digest("hex").slice(0, 12);
const marker = (rule: string, secret: string | Buffer) => `[REDACTED:${rule}:${fp(secret)}]`;
const latin1 = (s: string) => Buffer.from(s, "latin1");
const utf8 = (s: string) => Buffer.from(s, "utf8");

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A data directory holding the deployment's redaction key, as the server leaves it. */
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "cmdaudit-redact-history-"));
  dirs.push(d);
  writeFileSync(join(d, "redact.key"), `${KEY}\n`, { mode: 0o600 });
  return d;
}

let seq = 1;
/** A record as ingest stored it before redaction existed (normalizeRecord without a redactor). */
function rec(over: Partial<WireRecord>, legacy = false): AuditRecord {
  const n = seq++;
  const wire: WireRecord = legacy
    ? { ctime: `2024-03-01 ${String(Math.floor(n / 3600) % 24).padStart(2, "0")}:${String(Math.floor(n / 60) % 60).padStart(2, "0")}:${String(n % 60).padStart(2, "0")}`, hostname: "old1", luser: "root", suser: "root", command: "ls", ...over }
    : { ctime: new Date(Date.UTC(2024, 2, 1) + n).toISOString(), hostname: "web1", luser: "alice", suser: "root", terminal: "pts/1", clientIp: "10.0.0.9", sessionId: "s-rh", seq: n, cwd: "/root", exitStatus: 0, command: "ls", ...over };
  const r = normalizeRecord(wire, { legacyUtcOffset: 0 });
  if (typeof r === "string") throw new Error(`fixture rejected: ${r}`);
  return r;
}

interface Run { code: number; stdout: string; stderr: string }

function spawnJob(env: Record<string, string>, args: string[]) {
  return Bun.spawn(["bun", MAIN, "redact-history", ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
    stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
}

async function runJob(env: Record<string, string>, args: string[] = []): Promise<Run> {
  const proc = spawnJob(env, args);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** "this run: R rows read, C changed" and the pass's totals from a finished run's summary. */
function summary(r: Run): { seen: number; changed: number; runSeen: number; runChanged: number } {
  const m = /^redact-history: done: (\d+) rows up to id \d+ redacted with rules [0-9a-f]{12}, (\d+) changed; this run: (\d+) rows read, (\d+) changed, [\d.]+ s\n$/.exec(r.stdout);
  if (!m) throw new Error(`no summary in ${JSON.stringify(r.stdout)} (stderr ${r.stderr.slice(0, 500)})`);
  return { seen: Number(m[1]), changed: Number(m[2]), runSeen: Number(m[3]), runChanged: Number(m[4]) };
}

const byId = async (store: Store) => (await store.query({}, 1_000_000)).sort((a, b) => a.id - b.id);

/** What a rewritten row must hold. `listed`: the markers its redactions name (a typed one is not listed). */
interface Want { command: string; commandRaw: Buffer | null; listed: [rule: string, marker: string][] }

function wantOf(bytes: Buffer, listed: [string, string][]): Want {
  const valid = (() => { try { new TextDecoder("utf-8", { fatal: true }).decode(bytes); return true; } catch { return false; } })();
  return { command: new TextDecoder().decode(bytes), commandRaw: valid ? null : bytes, listed };
}

/** Each listed marker's byte range in the command's bytes, in order. */
function ranges(w: Want): { rule: string; start: number; end: number }[] {
  const bytes = w.commandRaw ?? utf8(w.command);
  return w.listed.map(([rule, m]) => {
    const start = bytes.indexOf(m);
    if (start < 0) throw new Error(`marker ${m} not in the wanted command`);
    return { rule, start, end: start + Buffer.byteLength(m) };
  }).sort((a, b) => a.start - b.start);
}

const OLD_MARK = "[REDACTED:env-secret:0123456789ab]";
const TYPED = "[REDACTED:env-secret:fedcba987654]";

/**
 * History with secrets: text, multi-byte text before a secret, bytes that are not UTF-8 around a
 * secret and inside one, a row a reporter redacted (declared marker) with a secret it missed, a
 * row it redacted whole, a typed fake marker with and without a secret, a 2018 record, rows
 * without a command, and a secret only a deployment rule (acme-token) finds.
 */
function history(): { records: AuditRecord[]; want: Map<string, Want>; secrets: string[]; acme: { oci: string; want: Want } } {
  const want = new Map<string, Want>();
  const records: AuditRecord[] = [];
  const add = (r: AuditRecord, w?: Want) => { records.push(r); if (w) want.set(r.oci, w); };
  const secrets = ["S3cretPw1", "S3cretPw2", "abc\xffdef9Q", "S3cretPw3", "S3cretPw4", "S3cretPw5", "S3cretPw6"];

  add(rec({ command: "mysql -uroot -pS3cretPw1 db" }), wantOf(utf8(`mysql -uroot -p${marker("mysql-password", "S3cretPw1")} db`), [["mysql-password", marker("mysql-password", "S3cretPw1")]]));
  add(rec({ command: "échó 中文 && PASSWORD=S3cretPw5 ./deploy.sh" }), wantOf(utf8(`échó 中文 && PASSWORD=${marker("env-secret", "S3cretPw5")} ./deploy.sh`), [["env-secret", marker("env-secret", "S3cretPw5")]]));
  // Not UTF-8 and staying so: the bytes around the secret are kept, commandRaw holds them.
  add(rec({ command: undefined, commandB64: latin1("echo \xff\xfe; mysql -pS3cretPw2 db").toString("base64") }),
    wantOf(Buffer.concat([latin1("echo \xff\xfe; mysql -p"), utf8(marker("mysql-password", "S3cretPw2")), utf8(" db")]), [["mysql-password", marker("mysql-password", "S3cretPw2")]]));
  // The byte that was not UTF-8 was in the secret: the command is UTF-8 now, commandRaw goes.
  add(rec({ command: undefined, commandB64: latin1("PASSWORD=abc\xffdef9Q ./run").toString("base64") }),
    wantOf(utf8(`PASSWORD=${marker("env-secret", latin1("abc\xffdef9Q"))} ./run`), [["env-secret", marker("env-secret", latin1("abc\xffdef9Q"))]]));
  // Redacted by a reporter (declared), with a secret before its marker that it missed: both listed, the old one moved.
  const partly = `mysql -pS3cretPw3 db; PASSWORD=${OLD_MARK} ./run`;
  add(rec({ command: partly, redactions: [{ rule: "env-secret", start: partly.indexOf(OLD_MARK), end: partly.indexOf(OLD_MARK) + OLD_MARK.length }] }),
    wantOf(utf8(`mysql -p${marker("mysql-password", "S3cretPw3")} db; PASSWORD=${OLD_MARK} ./run`), [["mysql-password", marker("mysql-password", "S3cretPw3")], ["env-secret", OLD_MARK]]));
  // Redacted whole by a reporter: untouched.
  const whole = `PASSWORD=${OLD_MARK} ./run`;
  add(rec({ command: whole, redactions: [{ rule: "env-secret", start: 9, end: 9 + OLD_MARK.length }] }));
  // A marker someone typed is text, never listed; the secret after it is.
  add(rec({ command: `echo ${TYPED} && mysql -pS3cretPw4 db` }), wantOf(utf8(`echo ${TYPED} && mysql -p${marker("mysql-password", "S3cretPw4")} db`), [["mysql-password", marker("mysql-password", "S3cretPw4")]]));
  add(rec({ command: `echo ${TYPED}` }));
  // A 2018 record: its key is the md5 of its command as it came, and stays.
  add(rec({ command: "PASSWORD=S3cretPw6 ./legacy.sh" }, true), wantOf(utf8(`PASSWORD=${marker("env-secret", "S3cretPw6")} ./legacy.sh`), [["env-secret", marker("env-secret", "S3cretPw6")]]));
  add(rec({ kind: "session_start", command: undefined }));
  add(rec({ kind: "session_end", command: undefined }));
  for (let i = 0; i < 12; i++) add(rec({ command: `ls -la /srv/${i} | grep -v password` }));
  const acmeCmd = "curl -H 'X-Acme: acme_0123456789abcdef' https://api.example";
  const acmeRec = rec({ command: acmeCmd });
  add(acmeRec);
  const acmeWant = wantOf(utf8(`curl -H 'X-Acme: acme_${marker("acme-token", "0123456789abcdef")}' https://api.example`), [["acme-token", marker("acme-token", "0123456789abcdef")]]);
  return { records, want, secrets, acme: { oci: acmeRec.oci, want: acmeWant } };
}

/** Every row of `after` is its row of `before` with only command, commandRaw and redactions from `want` (by oci). */
function expectRewritten(before: StoredRecord[], after: StoredRecord[], want: Map<string, Want>): void {
  expect(after.map((r) => [r.id, r.oci])).toEqual(before.map((r) => [r.id, r.oci]));
  for (const [i, b] of before.entries()) {
    const w = want.get(b.oci);
    const expected = w ? { ...b, command: w.command, commandRaw: w.commandRaw === null ? null : new Uint8Array(w.commandRaw), redactions: ranges(w) } : b;
    expect({ id: b.id, row: after[i] }).toEqual({ id: b.id, row: expected });
  }
}

const ACME_CONFIG = `redact:
  rules:
    - id: acme-token
      regex: "acme_(?<secret>[a-z0-9]{16})"
      keywords: ["acme_"]
`;

interface Backend { name: string; open(): Promise<{ url: string; drop(): Promise<void> }> }

const BACKENDS: Backend[] = [
  { name: "MariaDB", open: () => createTestDatabase("rhist") },
  {
    name: "SQLite file",
    async open() {
      const d = mkdtempSync(join(tmpdir(), "cmdaudit-rh-sqlite-"));
      return { url: `sqlite:${join(d, "audit.db")}`, drop: async () => rmSync(d, { recursive: true, force: true }) };
    },
  },
];

for (const backend of BACKENDS) {
  describe(`redact-history on ${backend.name}`, () => {
    describe("one pass over history with secrets, a dry run first, then a changed rule set", () => {
      let db: { url: string; drop(): Promise<void> };
      let env: Record<string, string>;
      let store: Store;
      let fixture: ReturnType<typeof history>;
      let stored: StoredRecord[];
      let afterFirst: StoredRecord[];

      beforeAll(async () => {
        db = await backend.open();
        const data = dataDir();
        env = { CMDAUDIT_DATA_DIR: data, CMDAUDIT_DATABASE_URL: db.url };
        store = await openStore(db.url, { dataDir: data, legacyUtcOffset: 0 });
        fixture = history();
        const res = await store.insert(fixture.records, Date.UTC(2024, 2, 2) * 1000);
        expect(res.inserted).toBe(fixture.records.length);
        stored = await byId(store);
      }, SLOW);
      afterAll(async () => {
        await store?.close();
        await db?.drop();
      }, SLOW);

      test("--dry-run reports what would change and writes nothing", async () => {
        const r = await runJob(env, ["--dry-run", "--batch", "4"]);
        const last = stored.at(-1)!.id;
        expect(r.stdout).toMatch(new RegExp(`^redact-history: dry run: ${fixture.want.size} of ${stored.length} rows would change \\(ids 1-${last}, rules [0-9a-f]{12}, [\\d.]+ s\\); nothing written\\n$`));
        expect(r.stderr).toContain(`redact-history: ${stored.length}/${stored.length} rows (100.0%), ${fixture.want.size} would change`);
        expect(r.code).toBe(0);
        expect(await byId(store)).toEqual(stored);
        expect(await store.redactProgress()).toBeUndefined();
      }, SLOW);

      test("replaces every secret, lists exactly the markers it placed and those the row listed, changes nothing else", async () => {
        const r = await runJob(env, ["--batch", "4"]);
        expect(summary(r)).toEqual({ seen: stored.length, changed: fixture.want.size, runSeen: stored.length, runChanged: fixture.want.size });
        expect(r.stderr).toMatch(/redact-history: \d+\/\d+ rows \([\d.]+%\), \d+ changed, \d+ rows\/s, id \d+ of \d+\n/);
        expect(r.code).toBe(0);
        afterFirst = await byId(store);
        expectRewritten(stored, afterFirst, fixture.want);
        for (const row of afterFirst) {
          const text = row.commandRaw ? Buffer.from(row.commandRaw).toString("latin1") : row.command;
          for (const s of fixture.secrets) expect({ id: row.id, leaks: text.includes(s) || row.command.includes(s) }).toEqual({ id: row.id, leaks: false });
        }
        const p = await store.redactProgress();
        expect(p).toMatchObject({ lastId: stored.at(-1)!.id, endId: stored.at(-1)!.id, seen: stored.length, changed: fixture.want.size });
        expect(p!.finishedUs).toBeGreaterThan(0);
      }, SLOW);

      test("run again: nothing to read, nothing changes", async () => {
        const r = await runJob(env);
        expect(summary(r)).toEqual({ seen: stored.length, changed: fixture.want.size, runSeen: 0, runChanged: 0 });
        expect(r.code).toBe(0);
        expect(await byId(store)).toEqual(afterFirst);
      }, SLOW);

      test("rows stored since a finished pass are read on the next run, and only they", async () => {
        const more = [rec({ command: "mysql -pS3cretPw7 db" }), rec({ command: "uptime" })];
        await store.insert(more, Date.UTC(2024, 2, 3) * 1000);
        const r = await runJob(env);
        expect(r.stderr).toContain(`every row up to id ${stored.at(-1)!.id} was done with these rules`);
        expect(summary(r)).toEqual({ seen: stored.length + 2, changed: fixture.want.size + 1, runSeen: 2, runChanged: 1 });
        const now = await byId(store);
        expect(now.slice(0, afterFirst.length)).toEqual(afterFirst);
        expect(now.slice(afterFirst.length).map((x) => x.command)).toEqual([`mysql -p${marker("mysql-password", "S3cretPw7")} db`, "uptime"]);
        afterFirst = now;
      }, SLOW);

      test("another rule set starts over from id 0 and rewrites only what its new rule finds", async () => {
        const config = join(dataDir(), "server.yml");
        writeFileSync(config, ACME_CONFIG);
        const dry = await runJob(env, ["--config", config, "--dry-run"]);
        expect(dry.stdout).toMatch(new RegExp(`^redact-history: dry run: 1 of ${afterFirst.length} rows would change `));
        expect(dry.code).toBe(0);
        const r = await runJob(env, ["--config", config, "--batch", "5"]);
        expect(r.stderr).toMatch(/the rules changed since the last pass \([0-9a-f]{12}, at id \d+ of \d+\): starting over with [0-9a-f]{12}/);
        expect(summary(r)).toEqual({ seen: afterFirst.length, changed: 1, runSeen: afterFirst.length, runChanged: 1 });
        expect(r.code).toBe(0);
        expectRewritten(afterFirst, await byId(store), new Map([[fixture.acme.oci, fixture.acme.want]]));
        // And back to the built-ins: another rule set again, a pass over everything that changes nothing.
        const back = await runJob(env);
        expect(summary(back)).toEqual({ seen: afterFirst.length, changed: 0, runSeen: afterFirst.length, runChanged: 0 });
      }, SLOW);

      test("with redaction off it refuses, exit 2, naming why", async () => {
        const r = await runJob({ ...env, CMDAUDIT_REDACT: "false" });
        expect(r.stderr).toBe("cmdaudit-server redact-history: redaction is off (redact.enabled: false): there are no rules to apply\n");
        expect(r.stdout).toBe("");
        expect(r.code).toBe(2);
      }, SLOW);
    });

    describe("many rows, small batches", () => {
      const N = 3000;
      const secretRow = (i: number) => i % 3 === 0;
      const command = (i: number) => (secretRow(i) ? `mysql -uapp -pPw${i}xQ9 shop` : `tail -n ${i} /var/log/app.log`);
      let db: { url: string; drop(): Promise<void> };
      let env: Record<string, string>;
      let store: Store;

      /** Fresh history of N rows, a third with a secret; no progress. */
      async function seed(): Promise<StoredRecord[]> {
        db = await backend.open();
        const data = dataDir();
        env = { CMDAUDIT_DATA_DIR: data, CMDAUDIT_DATABASE_URL: db.url };
        store = await openStore(db.url, { dataDir: data, legacyUtcOffset: 0 });
        const records = Array.from({ length: N }, (_, i) => rec({ command: command(i), sessionId: "s-many", seq: i }));
        expect((await store.insert(records, Date.UTC(2024, 2, 2) * 1000)).inserted).toBe(N);
        return byId(store);
      }
      async function teardown() {
        await store?.close();
        await db?.drop();
      }
      /** Every secret replaced once: one marker, one listed redaction, the text around it as it was. */
      async function expectAllDone(before: StoredRecord[]) {
        const after = await byId(store);
        const want = new Map(before.flatMap((b, i) => {
          if (!secretRow(i)) return [];
          const m = marker("mysql-password", `Pw${i}xQ9`);
          return [[b.oci, wantOf(utf8(`mysql -uapp -p${m} shop`), [["mysql-password", m]])]];
        }));
        expectRewritten(before, after, want);
        expect(await store.redactProgress()).toMatchObject({ lastId: before.at(-1)!.id, seen: N, changed: N / 3 });
      }

      test("killed mid-way (SIGKILL), run again: resumes where it stopped, every row done once", async () => {
        const before = await seed();
        try {
          const proc = spawnJob(env, ["--batch", "5"]);
          const deadline = Date.now() + 60_000;
          let p = await store.redactProgress();
          while (!(p && p.lastId > 0) && proc.exitCode === null && Date.now() < deadline) {
            await Bun.sleep(1);
            p = await store.redactProgress();
          }
          proc.kill("SIGKILL");
          await proc.exited;
          const atKill = (await store.redactProgress())!;
          // Stopped part-way: some batches committed, not all.
          expect(atKill.lastId).toBeGreaterThan(0);
          expect(atKill.lastId).toBeLessThan(atKill.endId);
          expect(atKill.finishedUs).toBe(0);
          const rows = await byId(store);
          expect(rows.filter((r) => r.id > atKill.lastId && r.redactions.length > 0)).toEqual([]);
          const r = await runJob(env, ["--batch", "50"]);
          expect(r.stderr).toContain(`redact-history: resuming at id ${atKill.lastId} of ${atKill.endId} (${atKill.seen} rows read, ${atKill.changed} changed so far)`);
          expect(summary(r)).toEqual({ seen: N, changed: N / 3, runSeen: N - atKill.seen, runChanged: N / 3 - atKill.changed });
          expect(r.code).toBe(0);
          await expectAllDone(before);
        } finally {
          await teardown();
        }
      }, SLOW);

      test("two runs at once share the work: each row read by one of them, rewritten once", async () => {
        const before = await seed();
        try {
          const [a, b] = await Promise.all([runJob(env, ["--batch", "10"]), runJob(env, ["--batch", "10"])]);
          expect([a.code, b.code, a.stderr.includes("cmdaudit-server"), b.stderr.includes("cmdaudit-server")]).toEqual([0, 0, false, false]);
          const sa = summary(a);
          const sb = summary(b);
          expect(sa.runSeen + sb.runSeen).toBe(N);
          expect(sa.runChanged + sb.runChanged).toBe(N / 3);
          await expectAllDone(before);
        } finally {
          await teardown();
        }
      }, SLOW);
    });
  });
}
