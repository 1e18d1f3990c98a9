/**
 * One behavioural contract for every Store implementation (server/src/db/store.ts).
 *
 * Records are built from wire-form JSON through normalizeRecord, exactly as the
 * ingest routes build them. Every expectation is computed here from the inserted
 * data (plain JS filters, sorts and counts), never read back from the store.
 */
import { draftFor } from "../../server/src/alerts/raise.ts";
import { createHash } from "node:crypto";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { MAX_COMMAND_BYTES, normalizeRecord, type AuditRecord, type IngestAuth, type WireRecord } from "../../protocol/index.ts";
import type { CommandFilter, ConsoleUser, Cursor, HostSummary, RedactProgress, Store, StoredCommand, StoredRecord } from "../../server/src/db/store.ts";
import { Rng } from "../protocol/helpers.ts";

export interface OpenedStore {
  store: Store;
  cleanup(): Promise<void>;
}

/** Offset assumed for zone-less (legacy) ctimes in these tests. */
export const LEGACY_OFFSET = 480;
const NORMALIZE = { legacyUtcOffset: LEGACY_OFFSET };

/** 2024-03-01T04:00:00Z in µs: the base instant of the fixtures. */
const BASE_US = Date.UTC(2024, 2, 1, 4, 0, 0) * 1000;
const SEC = 1_000_000;
const RECEIVED = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
const ALL = 1_000_000; // a query limit larger than any fixture
/** Timeout for the heavier tests and hooks (bun's default is 5 s; a slow CI disk or database needs more). */
const SLOW = 30_000;

// ---------------------------------------------------------------------------------------------
// Fixture builders

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** "YYYY-MM-DD HH:MM:SS" wall time of a UTC instant at `offsetMin` (written here, not via protocol/time.ts). */
export function wallAt(tsUs: number, offsetMin: number): string {
  const d = new Date(Math.floor(tsUs / 1000) + offsetMin * 60_000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** ISO 8601 with microseconds and an explicit offset, as the hook writes ctime. */
export function isoAt(tsUs: number, offsetMin: number): string {
  const micro = tsUs % SEC;
  const a = Math.abs(offsetMin);
  return `${wallAt(tsUs, offsetMin).replace(" ", "T")}.${pad(micro, 6)}${offsetMin < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** wire JSON → AuditRecord through the real normalizer; a fixture it rejects is a broken test. */
export function record(wire: WireRecord): AuditRecord {
  const r = normalizeRecord(wire, NORMALIZE);
  if (typeof r === "string") throw new Error(`fixture rejected by normalizeRecord: ${r} (${JSON.stringify(wire).slice(0, 200)})`);
  return r;
}

/**
 * A copy in `dir` of a dialect's committed migrations without the last ones (`dropped`, checked by
 * tag): applied, it makes the database a server of an earlier version left.
 */
export function migrationsWithout(dialect: "mysql" | "sqlite", dropped: string[], dir: string): string {
  const old = join(dir, "migrations");
  cpSync(fileURLToPath(new URL(`../../server/drizzle/${dialect}`, import.meta.url)), old, { recursive: true });
  const file = join(old, "meta/_journal.json");
  const journal = JSON.parse(readFileSync(file, "utf8")) as { entries: { tag: string }[] };
  expect(journal.entries.slice(-dropped.length).map((e) => e.tag)).toEqual(dropped);
  journal.entries.splice(-dropped.length);
  writeFileSync(file, JSON.stringify(journal));
  return old;
}

let nextSeq = 1;

/** A record as the cmdaudit hook sends it (session + seq, offset in ctime), at UTC instant `tsUs`. */
export function hookRecord(tsUs: number, over: Partial<WireRecord> = {}, offsetMin = 480): AuditRecord {
  const r = record({
    kind: "command",
    ctime: isoAt(tsUs, offsetMin),
    hostname: "web01",
    serverIps: "10.0.0.1",
    suser: "root",
    luser: "alice",
    terminal: "pts/3",
    clientIp: "192.168.1.20",
    sessionId: "s-1",
    seq: nextSeq++,
    cwd: "/root",
    exitStatus: 0,
    command: "ls -la",
    ...over,
  });
  if (over.ctime === undefined && r.tsUs !== tsUs) throw new Error(`fixture time: wanted ${tsUs}, normalizeRecord gave ${r.tsUs}`);
  return r;
}

/** A record in the 2018 reporter's form: its eight keys only, zone-less local ctime (whole seconds). */
export function legacyRecord(tsUs: number, over: Partial<WireRecord> = {}): AuditRecord {
  return record({
    ctime: wallAt(tsUs, LEGACY_OFFSET),
    hostname: "web01",
    serverIps: "10.0.0.1,10.0.0.2",
    suser: "root",
    luser: "root",
    terminal: "pts/0",
    clientIp: "192.168.1.2",
    command: "ls -la",
    ...over,
  });
}

/** The seed backend's key, written out independently of protocol/oci.ts. */
export function seedOci(hostname: string, ctime: string, luser: string, suser: string, command: string): string {
  return createHash("md5").update(`${hostname}-${ctime}-${luser}-${suser}-${command}`, "utf8").digest("hex");
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers

function digest(s: string): string {
  return `<${s.length} UTF-16 units, sha256 ${createHash("sha256").update(s, "utf8").digest("hex")}>`;
}

/** A printable, byte-exact form of a record (long strings as digests so failures stay readable). */
function comparable(r: AuditRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) {
    if (v instanceof Uint8Array) out[k] = `bytes:${Buffer.from(v).toString("hex").slice(0, 200)}|len=${v.length}|sha256=${createHash("sha256").update(v).digest("hex")}`;
    else if (typeof v === "string" && v.length > 300) out[k] = digest(v);
    else out[k] = v;
  }
  return out;
}

/** The stored row is exactly the record that was inserted (every field, no extra ones). */
function expectStored(got: StoredRecord, want: AuditRecord, receivedUs?: number): void {
  const { id, receivedUs: rcv, ...rest } = got;
  expect(Number.isSafeInteger(id) && id > 0).toBe(true);
  if (receivedUs !== undefined) expect(rcv).toBe(receivedUs);
  expect(comparable(rest)).toStrictEqual(comparable(want));
  // toStrictEqual on digests already covers it; this states the byte-exact intent directly.
  expect(got.commandRaw === null ? null : Buffer.compare(Buffer.from(got.commandRaw), Buffer.from(want.commandRaw ?? new Uint8Array())) === 0)
    .toBe(want.commandRaw === null ? null : true);
}

/** Newest first by (tsUs, id), ids unique. */
function expectNewestFirst(rows: StoredRecord[]): void {
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    const ordered = a.tsUs > b.tsUs || (a.tsUs === b.tsUs && a.id > b.id);
    if (!ordered) throw new Error(`rows ${i - 1} and ${i} out of order: (${a.tsUs}, ${a.id}) then (${b.tsUs}, ${b.id})`);
  }
}

const sortedOcis = (rs: { oci: string }[]) => rs.map((r) => r.oci).sort();

async function everything(store: Store): Promise<StoredRecord[]> {
  const rows = await store.query({}, ALL);
  expectNewestFirst(rows);
  return rows;
}

/** Rows of `got` match `want` one to one by oci, field by field. */
function expectSameSet(got: StoredRecord[], want: AuditRecord[]): void {
  expect(got.length).toBe(want.length);
  expect(sortedOcis(got)).toEqual(sortedOcis(want));
  const byOci = new Map(want.map((r) => [r.oci, r]));
  for (const g of got) expectStored(g, byOci.get(g.oci)!);
}

/**
 * What was stored (oci → record), when each host last sent a batch (duplicates or not) and last had
 * something new stored, and what that latest storing batch said: the addresses of its newest record
 * of the host and the kind of token that sent it (receipt order, not claimed times).
 */
interface Model {
  stored: Map<string, AuditRecord>;
  lastReceived: Map<string, number>;
  lastStored: Map<string, number>;
  serverIps: Map<string, string>;
  auth: Map<string, IngestAuth>;
  reporter: Map<string, string>;
  /** The moving average of the gap between a host's storing batches (store.ts HostSummary.cadenceUs). */
  cadence: Map<string, number>;
}
const newModel = (): Model => ({ stored: new Map(), lastReceived: new Map(), lastStored: new Map(), serverIps: new Map(), auth: new Map(), reporter: new Map(), cadence: new Map() });

/** What hosts() must say, from the model. */
function expectedHosts(model: Model): HostSummary[] {
  const by = new Map<string, HostSummary>();
  for (const rec of model.stored.values()) {
    const h = by.get(rec.hostname);
    if (!h) {
      by.set(rec.hostname, {
        hostname: rec.hostname, serverIps: model.serverIps.get(rec.hostname)!, firstSeenUs: rec.tsUs, lastSeenUs: rec.tsUs,
        lastReceivedUs: model.lastReceived.get(rec.hostname)!, lastStoredUs: model.lastStored.get(rec.hostname)!, records: 1,
        ingestAuth: model.auth.get(rec.hostname) ?? null, losses: rec.kind === "loss" ? 1 : 0, rejected: 0, reporter: model.reporter.get(rec.hostname) ?? null,
        cadenceUs: model.cadence.get(rec.hostname) ?? 0,
      });
      continue;
    }
    h.records++;
    if (rec.kind === "loss") h.losses++;
    h.firstSeenUs = Math.min(h.firstSeenUs, rec.tsUs);
    h.lastSeenUs = Math.max(h.lastSeenUs, rec.tsUs);
  }
  return [...by.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : 1));
}

async function sortedHosts(store: Store): Promise<HostSummary[]> {
  return (await store.hosts()).map((h) => ({ ...h })).sort((a, b) => (a.hostname < b.hostname ? -1 : 1));
}

/** Insert, check the counts against the model, and update it. */
async function insertModel(store: Store, model: Model, recs: AuditRecord[], receivedUs: number, auth?: IngestAuth, reporter?: string) {
  const res = await store.insert(recs, receivedUs, auth, reporter);
  let fresh = 0;
  const newest = new Map<string, AuditRecord>();
  const storedOf = new Set<string>();
  for (const r of recs) {
    const n = newest.get(r.hostname);
    if (!n || r.tsUs > n.tsUs) newest.set(r.hostname, r);
    if (!model.stored.has(r.oci)) {
      model.stored.set(r.oci, r);
      fresh++;
      const last = model.lastStored.get(r.hostname) ?? 0;
      if (!storedOf.has(r.hostname) && last > 0 && receivedUs > last) {
        const c = model.cadence.get(r.hostname) ?? 0;
        model.cadence.set(r.hostname, c === 0 ? receivedUs - last : Math.floor((c * 7 + receivedUs - last) / 8));
      }
      storedOf.add(r.hostname);
      model.lastStored.set(r.hostname, Math.max(model.lastStored.get(r.hostname) ?? 0, receivedUs));
    }
    model.lastReceived.set(r.hostname, Math.max(model.lastReceived.get(r.hostname) ?? 0, receivedUs));
  }
  for (const host of storedOf) {
    model.serverIps.set(host, newest.get(host)!.serverIps);
    if (auth) model.auth.set(host, auth);
    if (reporter) model.reporter.set(host, reporter);
  }
  expect(res).toEqual({ inserted: fresh, duplicates: recs.length - fresh, alerts: 0, messages: 0 });
  return res;
}

/** A record the database itself must refuse (NOT NULL command): made from a real one, for the atomicity tests. */
function poison(r: AuditRecord): AuditRecord {
  // Deliberately violates the AuditRecord type: the store has to roll the whole batch back on the DB error.
  return { ...r, command: null } as unknown as AuditRecord;
}

function shuffle<T>(rng: Rng, xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// The filter data set

const HOSTS = ["web01", "web02", "WEB01", "db-主机-01"];
const LUSERS = ["alice", "bob", "root", "Alice"];
const SUSERS = ["root", "", "alice", "postgres"];
const CLIENT_IPS = ["192.168.1.20", "10.1.2.3", "2001:db8::1", "2001:db8:85a3::8a2e:370:7334"];
const SESSIONS = ["s-a", "s-b", "sess:web01@alice", "x.y_z-1"];
const EXITS = [0, 1, 127, 255, null] as const;
const COMMANDS = [
  "ls -la",
  "grep 100% report.txt",
  "echo a_b",
  "echo axb",
  "echo a%b",
  "cat C:\\temp\\x.txt",
  "printf 'a\\nb'", // a literal backslash-n
  "echo 1\necho 2", // a real newline
  "Foo --bar",
  "foo --bar",
  "FOO --BAR",
  "tail -f /var/log/日志.log",
  "echo 🚀 launch",
  "mysql -e \"SELECT * FROM t WHERE a LIKE 'x%'\"",
  "echo 100%_\\",
  "vim 'it''s'",
  "find / -name '*.conf'",
  "echo ÅÄÖ åäö",
];

interface DataSet {
  records: AuditRecord[];
}

/** ~600 records over every filter dimension, many sharing a timestamp; unique ocis by construction. */
function buildDataSet(seed: number): DataSet {
  const rng = new Rng(seed);
  const records: AuditRecord[] = [];
  for (let i = 0; i < 600; i++) {
    // 40 distinct seconds, a third of the records exactly on the second: lots of equal tsUs.
    const tsUs = BASE_US + rng.int(40) * SEC + (rng.chance(0.33) ? 0 : rng.int(3) * 250_000);
    const hostname = rng.pick(HOSTS);
    if (i % 10 === 9) {
      // legacy reporter records: no session, zone-less ctime, suser may be empty, console logins have no client IP
      records.push(legacyRecord(BASE_US + i * SEC, {
        hostname,
        luser: rng.pick(LUSERS),
        suser: rng.pick(SUSERS),
        clientIp: rng.chance(0.5) ? "11:58" : rng.pick(CLIENT_IPS),
        command: `${rng.pick(COMMANDS)} #${i}`,
      }));
      continue;
    }
    const kindRoll = rng.next();
    const kind = kindRoll < 0.8 ? "command" : kindRoll < 0.87 ? "session_start" : kindRoll < 0.94 ? "session_end" : "loss";
    const exit = rng.pick(EXITS);
    const over: Partial<WireRecord> = {
      kind,
      hostname,
      serverIps: `10.${HOSTS.indexOf(hostname)}.${i >> 8}.${i & 255}`,
      luser: rng.pick(LUSERS),
      suser: rng.pick(SUSERS),
      clientIp: rng.pick(CLIENT_IPS),
      sessionId: rng.pick(SESSIONS),
      exitStatus: exit,
    };
    if (kind === "command") over.command = rng.pick(COMMANDS);
    else delete over.exitStatus;
    records.push(hookRecord(tsUs, over, rng.pick([480, 0, -330, 345])));
  }
  if (new Set(records.map((r) => r.oci)).size !== records.length) throw new Error("data set has colliding ocis");
  return { records };
}

function matches(r: AuditRecord, f: CommandFilter): boolean {
  return (f.host === undefined || r.hostname === f.host)
    && (f.luser === undefined || r.luser === f.luser)
    && (f.suser === undefined || r.suser === f.suser)
    && (f.clientIp === undefined || r.clientIp === f.clientIp)
    && (f.sessionId === undefined || r.sessionId === f.sessionId)
    && (f.kind === undefined || r.kind === f.kind)
    && (f.exitStatus === undefined || r.exitStatus === f.exitStatus)
    && (f.q === undefined || r.command.includes(f.q))
    && (f.fromUs === undefined || r.tsUs >= f.fromUs)
    && (f.toUs === undefined || r.tsUs < f.toUs)
    && (f.flagged === undefined || (r.flags.length > 0) === f.flagged);
}

/** Walk every page of `filter` with `after` cursors. */
async function walk(store: Store, filter: CommandFilter, pageSize: number): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let after: Cursor | undefined;
  for (let pages = 0; ; pages++) {
    if (pages > 100_000) throw new Error("pagination does not terminate");
    const page = await store.query(filter, pageSize, after);
    expect(page.length).toBeLessThanOrEqual(pageSize);
    out.push(...page);
    if (page.length < pageSize) return out;
    const last = page[page.length - 1]!;
    after = { tsUs: last.tsUs, id: last.id };
  }
}

// ---------------------------------------------------------------------------------------------

export function storeConformance(name: string, open: () => Promise<OpenedStore>): void {
  describe(`Store conformance: ${name}`, () => {
    /** A fresh, empty store for every test of the enclosing describe. */
    function freshStore(): { readonly store: Store } {
      let opened: OpenedStore | undefined;
      beforeEach(async () => {
        opened = await open();
      }, { timeout: SLOW });
      afterEach(async () => {
        const o = opened;
        opened = undefined;
        await o?.cleanup();
      }, { timeout: SLOW });
      return {
        get store() {
          if (!opened) throw new Error("store not open");
          return opened.store;
        },
      };
    }

    describe("insert counts", () => {
      const s = freshStore();

      test("an empty batch stores nothing", async () => {
        expect(await s.store.insert([], RECEIVED)).toEqual({ inserted: 0, duplicates: 0, alerts: 0, messages: 0 });
        expect(await everything(s.store)).toEqual([]);
        expect(await s.store.hosts()).toEqual([]);
      });

      test("the same record twice in one batch is stored once and counted once", async () => {
        const a = hookRecord(BASE_US, { command: "echo a" });
        const b = hookRecord(BASE_US + 1, { command: "echo b" });
        expect(await s.store.insert([a, b, { ...a }], RECEIVED)).toEqual({ inserted: 2, duplicates: 1, alerts: 0, messages: 0 });
        const rows = await everything(s.store);
        expectSameSet(rows, [a, b]);
        const hosts = await s.store.hosts();
        expect(hosts.map((h) => [h.hostname, h.records])).toEqual([["web01", 2]]);
      });

      test("a resent batch is all duplicates; a partly resent one counts exactly", async () => {
        const recs = Array.from({ length: 20 }, (_, i) => hookRecord(BASE_US + i * SEC, { command: `cmd ${i}`, hostname: i % 2 ? "web01" : "web02" }));
        expect(await s.store.insert(recs.slice(0, 10), RECEIVED)).toEqual({ inserted: 10, duplicates: 0, alerts: 0, messages: 0 });
        expect(await s.store.insert(recs.slice(0, 10), RECEIVED + 1)).toEqual({ inserted: 0, duplicates: 10, alerts: 0, messages: 0 });
        expect(await s.store.insert(recs.slice(5, 20), RECEIVED + 2)).toEqual({ inserted: 10, duplicates: 5, alerts: 0, messages: 0 });
        expectSameSet(await everything(s.store), recs);
        const hosts = await sortedHosts(s.store);
        expect(hosts.map((h) => [h.hostname, h.records])).toEqual([["web01", 10], ["web02", 10]]);
      });

      test("a record with a stored key and other content is a conflict: both kept and flagged, never a duplicate; resends of either are duplicates", async () => {
        // A user writes their own session's next seq first (pre-emption), then the hook writes the real command.
        const forged = hookRecord(BASE_US + 700 * SEC, { sessionId: "pre-empt", seq: 17, command: "true # nothing to see" });
        const real = hookRecord(BASE_US + 700 * SEC, { sessionId: "pre-empt", seq: 17, command: "rm -rf /var/lib/mysql" });
        expect(real.oci).toBe(forged.oci);
        expect(await s.store.insert([forged], RECEIVED)).toEqual({ inserted: 1, duplicates: 0, alerts: 0, messages: 0 });
        expect(await s.store.insert([real], RECEIVED + 1)).toEqual({ inserted: 1, duplicates: 0, alerts: 0, messages: 0 });
        const rows = (await s.store.query({ sessionId: "pre-empt" }, ALL)).sort((a, b) => a.id - b.id);
        expect(rows.map((r) => [r.command, r.seq, r.flags])).toEqual([["true # nothing to see", 17, ["conflict"]], ["rm -rf /var/lib/mysql", 17, ["conflict"]]]);
        expect(rows[0]!.oci).toBe(forged.oci);
        // Resends (a reporter after a crash) of either: duplicates, nothing new.
        expect(await s.store.insert([real, forged, real], RECEIVED + 2)).toEqual({ inserted: 0, duplicates: 3, alerts: 0, messages: 0 });
        // A third text for the key is a third row; the flag filter finds all three.
        const third = hookRecord(BASE_US + 700 * SEC, { sessionId: "pre-empt", seq: 17, command: "echo third", cwd: "/tmp" });
        expect(await s.store.insert([third], RECEIVED + 3)).toEqual({ inserted: 1, duplicates: 0, alerts: 0, messages: 0 });
        expect((await s.store.query({ sessionId: "pre-empt", flagged: true }, ALL)).length).toBe(3);
        // Within one batch too, and a conflicting record's own names flags are kept beside it.
        const a = hookRecord(BASE_US + 800 * SEC, { sessionId: "same-batch", seq: 1, command: "echo a" });
        const b = hookRecord(BASE_US + 800 * SEC, { sessionId: "same-batch", seq: 1, command: "echo b", luser: "r\u043eot" });
        expect(await s.store.insert([a, b, a], RECEIVED + 4)).toEqual({ inserted: 2, duplicates: 1, alerts: 0, messages: 0 });
        const pair = (await s.store.query({ sessionId: "same-batch" }, ALL)).sort((x, y) => x.id - y.id);
        expect(pair.map((r) => [r.command, r.flags])).toEqual([["echo a", ["conflict"]], ["echo b", ["user-nonstandard", "name-confusable", "conflict"]]]);
        // The hosts table counts what is stored: every conflict row.
        const web01 = (await s.store.hosts()).find((h) => h.hostname === "web01")!;
        expect(web01.records).toBe((await s.store.query({ host: "web01" }, ALL)).length);
      });

      test("what is not a conflict: a 2018 record again with another client IP (its key is its content), a resend that gained durationMs", async () => {
        const l1 = legacyRecord(BASE_US + 900 * SEC, { command: "uptime-legacy", clientIp: "192.168.1.2" });
        const l2 = legacyRecord(BASE_US + 900 * SEC, { command: "uptime-legacy", clientIp: "" });
        expect(l2.oci).toBe(l1.oci);
        expect(await s.store.insert([l1], RECEIVED)).toEqual({ inserted: 1, duplicates: 0, alerts: 0, messages: 0 });
        expect(await s.store.insert([l2], RECEIVED + 1)).toEqual({ inserted: 0, duplicates: 1, alerts: 0, messages: 0 });
        const h1 = hookRecord(BASE_US + 901 * SEC, { sessionId: "gain", seq: 1, durationMs: null });
        expect(await s.store.insert([h1], RECEIVED)).toEqual({ inserted: 1, duplicates: 0, alerts: 0, messages: 0 });
        expect(await s.store.insert([{ ...h1, durationMs: 1234 }], RECEIVED + 1)).toEqual({ inserted: 0, duplicates: 1, alerts: 0, messages: 0 });
        expect((await s.store.query({ flagged: true, q: "uptime-legacy" }, ALL))).toEqual([]);
      });

      test("two genuine identical commands in the same second (different seq) are two rows", async () => {
        const ctime = "2024-03-01T12:00:00+08:00";
        const a = hookRecord(0, { ctime, sessionId: "s-9", seq: 41, command: "make" });
        const b = hookRecord(0, { ctime, sessionId: "s-9", seq: 42, command: "make" });
        expect(a.oci).not.toBe(b.oci);
        expect(await s.store.insert([a, b], RECEIVED)).toEqual({ inserted: 2, duplicates: 0, alerts: 0, messages: 0 });
        // the same (session, seq) again is a resend, whatever else it says
        const again = hookRecord(0, { ctime, sessionId: "s-9", seq: 42, command: "make" });
        expect(await s.store.insert([again], RECEIVED + 1)).toEqual({ inserted: 0, duplicates: 1, alerts: 0, messages: 0 });
        const rows = await everything(s.store);
        expectSameSet(rows, [a, b]);
        expect(rows.map((r) => r.seq).sort()).toEqual([41, 42]);
      });

      test("legacy records (no session) are keyed by the seed's md5(host-ctime-luser-suser-command)", async () => {
        const tsUs = Date.UTC(2018, 11, 11, 3, 58, 0) * 1000; // 2018-12-11 11:58:00 at +08:00
        const a = legacyRecord(tsUs, { hostname: "web01", luser: "root", suser: "root", command: "ls -la" });
        const zh = legacyRecord(tsUs, { hostname: "web01", luser: "张三", suser: "", command: "echo 中文命令" });
        expect(a.oci).toBe(seedOci("web01", "2018-12-11 11:58:00", "root", "root", "ls -la"));
        expect(zh.oci).toBe(seedOci("web01", "2018-12-11 11:58:00", "张三", "", "echo 中文命令"));
        expect(a.tsUs).toBe(tsUs);
        expect(a.utcOffset).toBeNull();
        expect(await s.store.insert([a, zh], RECEIVED)).toEqual({ inserted: 2, duplicates: 0, alerts: 0, messages: 0 });
        // the seed reporter typing the same command twice in one second cannot be told apart: one row, as in 2018
        const twin = legacyRecord(tsUs, { hostname: "web01", luser: "root", suser: "root", command: "ls -la", terminal: "pts/7" });
        expect(await s.store.insert([twin], RECEIVED + 1)).toEqual({ inserted: 0, duplicates: 1, alerts: 0, messages: 0 });
        const rows = await everything(s.store);
        expectSameSet(rows, [a, zh]);
        for (const r of rows) expect(r.oci).toMatch(/^[0-9a-f]{32}$/);
      });

      test("receivedUs and ids: every row carries the receivedUs of its insert, ids are distinct safe integers", async () => {
        const first = Array.from({ length: 5 }, (_, i) => hookRecord(BASE_US + i, { command: `a${i}` }));
        const second = Array.from({ length: 5 }, (_, i) => hookRecord(BASE_US + 10 + i, { command: `b${i}` }));
        await s.store.insert(first, RECEIVED);
        await s.store.insert(second, RECEIVED + 777);
        const rows = await everything(s.store);
        const want = new Map([...first.map((r) => [r.oci, RECEIVED] as const), ...second.map((r) => [r.oci, RECEIVED + 777] as const)]);
        for (const r of rows) expect(r.receivedUs).toBe(want.get(r.oci)!);
        const ids = rows.map((r) => r.id);
        expect(new Set(ids).size).toBe(10);
        for (const id of ids) expect(Number.isSafeInteger(id) && id > 0).toBe(true);
      });
    });

    describe("every field round-trips exactly", () => {
      const s = freshStore();

      test("text, unicode, nulls, offsets, addresses, sequence numbers", async () => {
        const t = (i: number) => BASE_US + i * SEC + 123_456;
        const recs: AuditRecord[] = [
          hookRecord(t(0), { command: "echo 🚀🎉 \u{1F9D1}\u{200D}\u{1F4BB} done", cwd: "/home/émilie/📁" }),
          hookRecord(t(1), { command: "tail -f /var/log/应用/日志.log | grep 错误", hostname: "数据库-主机", luser: "张三", suser: "李四", terminal: "终端/1", cwd: "/数据" }),
          hookRecord(t(2), { command: "for i in 1 2 3\ndo\n  echo \"$i\"\t'x'\r\ndone\n", cwd: "/tmp" }),
          hookRecord(t(3), { command: "echo 'single' \"double\" `back` \\ \\\\ \\n %_ \u001b[31mred\u001b[0m" }),
          hookRecord(t(4), { command: "\uFEFFecho bom-first", cwd: undefined, exitStatus: undefined }),
          hookRecord(t(5), { command: "trailing spaces   ", exitStatus: null }),
          hookRecord(t(6), { command: "e\u0301 vs \u00e9", exitStatus: 255 }),
          hookRecord(t(7), { commandB64: Buffer.from([0x65, 0x63, 0x68, 0x6f, 0x20, 0xff, 0xfe, 0x0a, 0xc3, 0x28, 0x80, 0xe4, 0xb8]).toString("base64"), command: undefined }),
          hookRecord(t(8), { commandB64: Buffer.from("grüße aus köln", "latin1").toString("base64"), command: undefined }),
          hookRecord(t(9), { serverIps: ["10.0.0.1", "fe80::1ff:fe23:4567:890a", "2001:db8:85a3::8a2e:370:7334"], clientIp: "2001:0db8:85a3:0000:0000:8a2e:0370:7334" }),
          hookRecord(t(10), { clientIp: "::ffff:192.168.1.1", serverIps: "" }),
          hookRecord(t(11), { clientIp: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" }),
          hookRecord(t(12), { sessionId: "a".repeat(64), seq: Number.MAX_SAFE_INTEGER }),
          hookRecord(t(13), { sessionId: "zero-seq", seq: 0, exitStatus: 0 }),
          hookRecord(t(14), { utcOffset: "-05:30" }, -330),
          hookRecord(t(15), {}, 0),
          hookRecord(t(16), {}, 14 * 60),
          hookRecord(t(17), { kind: "session_start", command: undefined, exitStatus: undefined }),
          hookRecord(t(18), { kind: "session_end", command: undefined, exitStatus: 130 }),
          hookRecord(t(19), { kind: "loss", command: "hook lost 3 records", cwd: undefined, exitStatus: undefined }),
          hookRecord(t(20), { suser: "", terminal: "", clientIp: "" }),
          legacyRecord(t(21) - 123_456, { clientIp: "11:58", suser: "", command: "ls /root" }),
          legacyRecord(t(22) - 123_456, { clientIp: ":0", command: "echo 中文" }),
        ];
        // the fixtures really exercise what they claim to
        expect(recs[7]!.commandRaw).not.toBeNull();
        expect(recs[7]!.command).toContain("\uFFFD");
        expect(recs[8]!.commandRaw).not.toBeNull();
        expect(recs[4]!.cwd).toBeNull();
        expect(recs[4]!.exitStatus).toBeNull();
        expect(recs[21]!.utcOffset).toBeNull();
        expect(recs[14]!.utcOffset).toBe(-330);
        expect(recs[15]!.utcOffset).toBe(0);
        expect(recs[21]!.clientIp).toBe("");
        expect(await s.store.insert(recs, RECEIVED)).toEqual({ inserted: recs.length, duplicates: 0, alerts: 0, messages: 0 });
        const rows = await everything(s.store);
        expectSameSet(rows, recs);
        for (const r of rows) expect(r.receivedUs).toBe(RECEIVED);
        // newest first is the reverse of the fixture order (all instants distinct)
        expect(rows.map((r) => r.oci)).toEqual([...recs].sort((a, b) => b.tsUs - a.tsUs).map((r) => r.oci));
      });

      test("every field at the longest value normalizeRecord accepts", async () => {
        const ips: string[] = [];
        while ((ips.join(",") + ",10.255.255.255").length <= 2048) ips.push(`10.${ips.length >> 8}.${ips.length & 255}.255`);
        const serverIps = ips.join(",");
        expect(serverIps.length).toBeGreaterThan(2030);
        const r = hookRecord(BASE_US, {
          hostname: "h".repeat(200) + "主".repeat(55),
          serverIps,
          luser: "ü".repeat(62) + "🙂",
          suser: "数".repeat(64),
          terminal: "t".repeat(64),
          clientIp: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
          sessionId: "S".repeat(64),
          seq: Number.MAX_SAFE_INTEGER,
          cwd: "/" + "目".repeat(4095),
          exitStatus: 255,
          command: "🙂".repeat(1000),
        });
        expect(r.hostname.length).toBe(255);
        expect(r.cwd!.length).toBe(4096);
        expect(await s.store.insert([r], RECEIVED)).toEqual({ inserted: 1, duplicates: 0, alerts: 0, messages: 0 });
        expectSameSet(await everything(s.store), [r]);
        const [h] = await s.store.hosts();
        expect(h?.hostname).toBe(r.hostname);
        expect(h?.serverIps).toBe(serverIps);
      });

      test("durationMs: null, 0 and large values come back exactly; a resend that gained one stays the first row", async () => {
        const t = (i: number) => BASE_US + i * SEC;
        const values = [null, 0, 1, 1834, 86_400_000 * 400, 2 ** 32, Number.MAX_SAFE_INTEGER];
        const recs = [
          hookRecord(t(0)), // not sent
          ...values.map((durationMs, i) => hookRecord(t(i + 1), { durationMs })),
          hookRecord(t(20), { kind: "session_end", command: undefined, durationMs: null }),
          legacyRecord(t(21), { command: "uptime" }),
        ];
        expect(recs.map((r) => r.durationMs)).toEqual([null, ...values, null, null]);
        expect(await s.store.insert(recs, RECEIVED)).toEqual({ inserted: recs.length, duplicates: 0, alerts: 0, messages: 0 });
        const rows = await everything(s.store);
        expectSameSet(rows, recs);
        const byOci = new Map(rows.map((r) => [r.oci, r.durationMs]));
        expect(recs.map((r) => byOci.get(r.oci))).toEqual([null, ...values, null, null]);
        // durationMs is not in the oci: the resend of a record is a duplicate and the stored row is kept.
        const first = recs[1]!;
        const resent = hookRecord(t(1), { sessionId: first.sessionId!, seq: first.seq!, durationMs: 5 });
        expect(resent.oci).toBe(first.oci);
        expect(await s.store.insert([resent], RECEIVED + 1)).toEqual({ inserted: 0, duplicates: 1, alerts: 0, messages: 0 });
        expect((await everything(s.store)).find((r) => r.oci === first.oci)!.durationMs).toBeNull();
      });

      test("flags round-trip exactly; a resend of a stored oci with other flags stays the one first row", async () => {
        const t = (i: number) => BASE_US + i * SEC;
        const recs = [
          hookRecord(t(0), { hostname: "rt-srv" }),
          hookRecord(t(1), { hostname: "rt-s\u0440v" }), // Cyrillic р
          hookRecord(t(2), { suser: "ro\u202eot", luser: "r\u043e\u200bot", terminal: "pts/3\u202e", cwd: "/tmp/\u001b[2J" }),
          hookRecord(t(3), { luser: "john.doe@corp.example.com", suser: "HOST$", cwd: "/tmp/\u009b" }),
          legacyRecord(t(4), { hostname: "\uff52\uff4f\uff4f\uff54", suser: "" }),
        ];
        expect(recs.map((r) => r.flags)).toEqual([
          [],
          ["hostname-nonstandard", "name-confusable"],
          ["user-nonstandard", "terminal-nonstandard", "name-invisible", "name-confusable", "cwd-control"],
          ["cwd-control"],
          ["hostname-nonstandard", "name-confusable"],
        ]);
        expect(await s.store.insert(recs, RECEIVED)).toEqual({ inserted: recs.length, duplicates: 0, alerts: 0, messages: 0 });
        const rows = await everything(s.store);
        expectSameSet(rows, recs);
        expect((await s.store.query({ host: "rt-srv" }, 10)).map((r) => [r.oci, r.flags])).toEqual([[recs[0]!.oci, []]]);
        // the session's record again, as a later server would flag it: flags are not content, so a duplicate, the first row kept
        const first = recs[0]!;
        const resent = { ...first, flags: ["cwd-control" as const] };
        expect(await s.store.insert([resent], RECEIVED + 1)).toEqual({ inserted: 0, duplicates: 1, alerts: 0, messages: 0 });
        const again = await everything(s.store);
        expect(again.length).toBe(recs.length);
        expect(again.find((r) => r.oci === first.oci)!.flags).toEqual([]);
      });

      test("attestation round-trips (kernel, none); a resend with the other one is the same record", async () => {
        const k = hookRecord(BASE_US + 950 * SEC, { sessionId: "att-s", seq: 1, attestation: "kernel", attestedUser: "root", attestedLoginUser: "alice" });
        const n = hookRecord(BASE_US + 951 * SEC, { sessionId: "att-s", seq: 2 });
        expect([k.attestation, n.attestation]).toEqual(["kernel", "none"]);
        expect(await s.store.insert([k, n], RECEIVED)).toEqual({ inserted: 2, duplicates: 0, alerts: 0, messages: 0 });
        expect((await s.store.query({ sessionId: "att-s" }, ALL)).map((r) => [r.seq, r.attestation, r.attestedUser, r.attestedLoginUser]).sort())
          .toEqual([[1, "kernel", "root", "alice"], [2, "none", null, null]]);
        expect(await s.store.insert([{ ...k, attestation: "none" }], RECEIVED + 1)).toEqual({ inserted: 0, duplicates: 1, alerts: 0, messages: 0 });
      });

      test("a link-local IPv6 client address with its zone (accepted by normalizeRecord) is stored", async () => {
        // sshd reports fe80:: peers with their zone; this is the uncompressed form with a predictable NIC name.
        const r = hookRecord(BASE_US, { clientIp: "fe80:0000:0000:0000:0a00:27ff:fe4e:66a1%enp0s31f6" });
        expect(r.clientIp.length).toBe(49);
        expect(await s.store.insert([r], RECEIVED)).toEqual({ inserted: 1, duplicates: 0, alerts: 0, messages: 0 });
        expectSameSet(await everything(s.store), [r]);
        expect((await s.store.query({ clientIp: r.clientIp }, 10)).map((x) => x.oci)).toEqual([r.oci]);
      });

      test("a 1 MiB command, and a 1 MiB multi-line command of 3- and 4-byte characters", async () => {
        const mib = 1024 * 1024;
        const ascii = "x".repeat(mib - 8) + " # tail!";
        const line = "echo 日志🚀 'quoted' \\ %_\n";
        const wide = line.repeat(Math.floor(mib / Buffer.byteLength(line)));
        const a = hookRecord(BASE_US, { command: ascii });
        const b = hookRecord(BASE_US + SEC, { command: wide });
        expect(Buffer.byteLength(a.command)).toBe(mib);
        expect(await s.store.insert([a, b], RECEIVED)).toEqual({ inserted: 2, duplicates: 0, alerts: 0, messages: 0 });
        expectSameSet(await everything(s.store), [a, b]);
        expect((await s.store.query({ q: "# tail!" }, 10)).map((r) => r.oci)).toEqual([a.oci]);
      }, SLOW);

      test("the largest command normalizeRecord accepts (MAX_COMMAND_BYTES of non-UTF-8 bytes) is stored", async () => {
        const bytes = new Uint8Array(MAX_COMMAND_BYTES).fill(0xff);
        bytes.set(Buffer.from("printf '"), 0);
        const r = hookRecord(BASE_US, { command: undefined, commandB64: Buffer.from(bytes).toString("base64") });
        expect(r.commandRaw?.length).toBe(MAX_COMMAND_BYTES);
        expect(await s.store.insert([r], RECEIVED)).toEqual({ inserted: 1, duplicates: 0, alerts: 0, messages: 0 });
        expectSameSet(await everything(s.store), [r]);
      }, SLOW);
    });

    describe("big batches", () => {
      const s = freshStore();

      function bigBatch(n: number, hosts: number): AuditRecord[] {
        return Array.from({ length: n }, (_, i) => hookRecord(BASE_US + Math.floor(i / 7) * 1000, {
          hostname: `node-${String(i % hosts).padStart(2, "0")}`,
          sessionId: `big-${i % 13}`,
          command: `echo ${i} ${"§".repeat(i % 50)}`,
          serverIps: `10.20.${i % hosts}.1`,
        }));
      }

      /** Over 4 MiB in total: large commands (some not UTF-8) between many small ones, on several hosts. */
      function hugeBatch(): AuditRecord[] {
        const recs: AuditRecord[] = [];
        for (let i = 0; i < 24; i++) recs.push(hookRecord(BASE_US + i * SEC, { hostname: `big-${i % 3}`, command: `echo ${i} ` + "日".repeat(90_000) }));
        for (let i = 0; i < 8; i++) {
          const raw = new Uint8Array(300_000).map((_, j) => (j * 7 + i) % 256);
          recs.push(hookRecord(BASE_US + (30 + i) * SEC, { hostname: `big-${i % 3}`, command: undefined, commandB64: Buffer.from(raw).toString("base64") }));
        }
        for (let i = 0; i < 1500; i++) recs.push(hookRecord(BASE_US + (40 + i) * SEC, { hostname: `big-${i % 3}`, command: `small ${i} 'q' \\ ${"é".repeat(i % 30)}` }));
        return recs;
      }

      test("5000 records in one batch: all stored, counted, and a resend is 5000 duplicates", async () => {
        const recs = bigBatch(5000, 5);
        expect(await s.store.insert(recs, RECEIVED)).toEqual({ inserted: 5000, duplicates: 0, alerts: 0, messages: 0 });
        expectSameSet(await everything(s.store), recs);
        expect(await s.store.insert(shuffle(new Rng(5), recs), RECEIVED + 1)).toEqual({ inserted: 0, duplicates: 5000, alerts: 0, messages: 0 });
        expect((await everything(s.store)).length).toBe(5000);
        const hosts = await sortedHosts(s.store);
        expect(hosts.map((h) => [h.hostname, h.records])).toEqual([0, 1, 2, 3, 4].map((i) => [`node-0${i}`, 1000]));
      }, SLOW);

      test("a batch of more than 4 MiB (split into several statements) is stored whole", async () => {
        const recs = hugeBatch();
        const total = recs.reduce((n, r) => n + Buffer.byteLength(r.command) + (r.commandRaw?.length ?? 0), 0);
        expect(total).toBeGreaterThan(10 * 1024 * 1024);
        expect(await s.store.insert(recs, RECEIVED)).toEqual({ inserted: recs.length, duplicates: 0, alerts: 0, messages: 0 });
        expectSameSet(await everything(s.store), recs);
        expect(await s.store.insert(recs, RECEIVED + 1)).toEqual({ inserted: 0, duplicates: recs.length, alerts: 0, messages: 0 });
        const hosts = await sortedHosts(s.store);
        const want = [0, 1, 2].map((i) => [`big-${i}`, recs.filter((r) => r.hostname === `big-${i}`).length]);
        expect(hosts.map((h) => [h.hostname, h.records])).toEqual(want);
      }, SLOW);

      test("a 5000-record batch that fails on its last record stores nothing", async () => {
        const recs = bigBatch(5000, 5);
        const bad = poison(hookRecord(BASE_US, { hostname: "zzz-last-host", command: "x" }));
        await expect(s.store.insert([...recs, bad], RECEIVED)).rejects.toThrow();
        expect(await everything(s.store)).toEqual([]);
        expect(await s.store.hosts()).toEqual([]);
        // nothing half-stored: the good records are all new afterwards
        expect(await s.store.insert(recs, RECEIVED + 1)).toEqual({ inserted: 5000, duplicates: 0, alerts: 0, messages: 0 });
        const hosts = await sortedHosts(s.store);
        expect(hosts.map((h) => [h.hostname, h.records, h.lastReceivedUs])).toEqual([0, 1, 2, 3, 4].map((i) => [`node-0${i}`, 1000, RECEIVED + 1]));
      }, SLOW);

      test("a failing batch of more than 4 MiB leaves earlier data and host counts untouched", async () => {
        const before = bigBatch(300, 3);
        expect(await s.store.insert(before, RECEIVED)).toEqual({ inserted: 300, duplicates: 0, alerts: 0, messages: 0 });
        const hostsBefore = await sortedHosts(s.store);
        const recs = hugeBatch();
        const bad = poison(hookRecord(BASE_US + 99 * SEC, { hostname: "big-2", command: "x" }));
        await expect(s.store.insert([...recs, bad, ...before.slice(0, 10)], RECEIVED + 1)).rejects.toThrow();
        expectSameSet(await everything(s.store), before);
        expect(await sortedHosts(s.store)).toEqual(hostsBefore);
      }, SLOW);
    });

    describe("filters", () => {
      let opened: OpenedStore | undefined;
      const data = buildDataSet(20240301);
      const store = () => opened!.store;
      beforeAll(async () => {
        opened = await open();
        // in three batches, the last overlapping the first: duplicates must not show up twice
        const rs = data.records;
        await opened.store.insert(rs.slice(0, 250), RECEIVED);
        await opened.store.insert(rs.slice(200, 450), RECEIVED + 1);
        await opened.store.insert([...rs.slice(450), ...rs.slice(0, 30)], RECEIVED + 2);
      }, { timeout: SLOW });
      afterAll(async () => {
        await opened?.cleanup();
      }, { timeout: SLOW });

      async function check(f: CommandFilter, opts: { nonEmpty?: boolean } = {}): Promise<void> {
        const want = data.records.filter((r) => matches(r, f));
        if (opts.nonEmpty !== false) {
          // the data set must make the filter matter: some rows in, some out
          expect(want.length).toBeGreaterThan(0);
          expect(want.length).toBeLessThan(data.records.length);
        }
        const got = await store().query(f, ALL);
        expectNewestFirst(got);
        try {
          expectSameSet(got, want);
        } catch (e) {
          throw new Error(`filter ${JSON.stringify(f)}: ${(e as Error).message}`);
        }
      }

      test("no filter: every record once, newest first", async () => {
        await check({}, { nonEmpty: false });
      });

      test("host (exact, case-sensitive, unicode)", async () => {
        for (const host of HOSTS) await check({ host });
        await check({ host: "web0" }, { nonEmpty: false });
        await check({ host: "Web01" }, { nonEmpty: false });
      });

      test("luser and suser (exact, case-sensitive, empty suser)", async () => {
        for (const luser of LUSERS) await check({ luser });
        for (const suser of SUSERS) await check({ suser });
        await check({ luser: "ALICE" }, { nonEmpty: false });
      });

      test("clientIp (IPv4, IPv6, empty for console logins)", async () => {
        for (const clientIp of [...CLIENT_IPS, ""]) await check({ clientIp });
        await check({ clientIp: "192.168.1.2" }, { nonEmpty: false });
      });

      test("sessionId", async () => {
        for (const sessionId of SESSIONS) await check({ sessionId });
        await check({ sessionId: "s-" }, { nonEmpty: false });
      });

      test("kind and exitStatus", async () => {
        for (const kind of ["command", "session_start", "session_end", "loss"]) await check({ kind });
        for (const exitStatus of [0, 1, 127, 255]) await check({ exitStatus });
        await check({ exitStatus: 2 }, { nonEmpty: false });
        await check({ kind: "command", exitStatus: 127 });
      });

      test("q: literal substring, %, _ and \\ are not wildcards, case-sensitive", async () => {
        const qs = ["%", "_", "\\", "a_b", "a%b", "100%", "100%_\\", "\\n", "\n", "Foo", "foo", "FOO", "日志", "🚀", "'", "\"", "''", "x%'", "*", "C:\\temp\\", "ÅÄÖ", "åäö", " #1"];
        for (const q of qs) await check({ q });
        // would match if _ or % were wildcards, or if the match ignored case
        await check({ q: "e_ho" }, { nonEmpty: false });
        await check({ q: "ec%o" }, { nonEmpty: false });
        await check({ q: "FOO --bar" }, { nonEmpty: false });
        await check({ q: "aåäö" }, { nonEmpty: false });
      });

      test("fromUs is inclusive and toUs exclusive", async () => {
        const times = [...new Set(data.records.map((r) => r.tsUs))].sort((a, b) => a - b);
        const lo = times[Math.floor(times.length / 4)]!;
        const hi = times[Math.floor((times.length * 3) / 4)]!;
        await check({ fromUs: lo });
        await check({ toUs: hi });
        await check({ fromUs: lo, toUs: hi });
        await check({ fromUs: lo, toUs: lo }, { nonEmpty: false });
        await check({ fromUs: lo, toUs: lo + 1 });
        await check({ fromUs: hi - 1, toUs: hi }, { nonEmpty: false }); // no row sits at hi - 1, and hi is excluded
        await check({ fromUs: hi, toUs: hi + 1 });
        // the bounds themselves, from the data
        const atLo = data.records.filter((r) => r.tsUs === lo);
        const got = await store().query({ fromUs: lo, toUs: lo + 1 }, ALL);
        expect(sortedOcis(got)).toEqual(sortedOcis(atLo));
        expect(await store().query({ fromUs: hi, toUs: hi }, ALL)).toEqual([]);
      });

      test("flagged: only records with flags, or only records without", async () => {
        await check({ flagged: true });
        await check({ flagged: false });
        await check({ flagged: true, host: "db-主机-01" });
        await check({ flagged: true, host: "web01" }, { nonEmpty: false });
        await check({ flagged: false, luser: "alice" });
      });

      test("filters combine with AND", async () => {
        const times = [...new Set(data.records.map((r) => r.tsUs))].sort((a, b) => a - b);
        const mid = times[Math.floor(times.length / 2)]!;
        await check({ host: "web01", luser: "alice" });
        await check({ host: "web01", fromUs: mid });
        await check({ host: "db-主机-01", q: "%" });
        await check({ luser: "root", suser: "", kind: "command" }, { nonEmpty: false });
        await check({ host: "web02", clientIp: "2001:db8::1", toUs: mid, kind: "command" }, { nonEmpty: false });
        await check({ sessionId: "s-a", exitStatus: 0, host: "WEB01" }, { nonEmpty: false });
      });

      test("limit returns the newest rows", async () => {
        const all = await store().query({}, ALL);
        for (const n of [1, 2, 17, 300]) {
          const got = await store().query({}, n);
          expect(got.map((r) => r.id)).toEqual(all.slice(0, n).map((r) => r.id));
        }
      });
    });

    describe("order and keyset pagination", () => {
      const s = freshStore();

      /** 700 records: 300 on one identical instant across hosts, the rest on 20 shared instants. */
      function tieHeavy(): AuditRecord[] {
        const rng = new Rng(77);
        const same = BASE_US + 10 * SEC + 500_000;
        return Array.from({ length: 700 }, (_, i) => hookRecord(i < 300 ? same : BASE_US + rng.int(20) * SEC, {
          hostname: `h${rng.int(4)}`,
          command: `c${i} ${rng.pick(["a", "b%", "c_"])}`,
        }));
      }

      async function seed(): Promise<AuditRecord[]> {
        const recs = tieHeavy();
        // several batches in scrambled order so id order is not the time order
        const rng = new Rng(3);
        const mixed = shuffle(rng, recs);
        for (let i = 0; i < mixed.length; i += 150) await s.store.insert(mixed.slice(i, i + 150), RECEIVED + i);
        return recs;
      }

      test("walking every page with `after` visits each row exactly once, in order, at any page size", async () => {
        const recs = await seed();
        const full = await everything(s.store);
        expectSameSet(full, recs);
        for (const size of [1, 7, 100, 299, 300, 301, 700, 1000]) {
          const walked = await walk(s.store, {}, size);
          expect(walked.map((r) => r.id)).toEqual(full.map((r) => r.id));
        }
      }, SLOW);

      test("pagination under filters", async () => {
        const recs = await seed();
        for (const f of [{ host: "h1" }, { q: "b%" }, { fromUs: BASE_US + 5 * SEC, toUs: BASE_US + 11 * SEC }, { host: "h2", q: "c_" }] as CommandFilter[]) {
          const want = recs.filter((r) => matches(r, f));
          expect(want.length).toBeGreaterThan(10);
          const walked = await walk(s.store, f, 7);
          expectNewestFirst(walked);
          expectSameSet(walked, want);
        }
      }, SLOW);

      test("`after` means strictly older than (tsUs, id), also for a position no row has", async () => {
        const recs = await seed();
        const full = await everything(s.store);
        const key = (r: { tsUs: number; id: number }) => [r.tsUs, r.id] as const;
        const older = (r: StoredRecord, c: Cursor) => r.tsUs < c.tsUs || (r.tsUs === c.tsUs && r.id < c.id);
        const pivot = full[150]!; // inside the 300-row tie
        const cursors: Cursor[] = [
          { tsUs: pivot.tsUs, id: pivot.id },
          { tsUs: pivot.tsUs, id: pivot.id + 1 },
          { tsUs: pivot.tsUs, id: Number.MAX_SAFE_INTEGER },
          { tsUs: pivot.tsUs, id: 0 },
          { tsUs: pivot.tsUs + 1, id: 0 },
          { tsUs: full[0]!.tsUs + 1, id: 1 },
          { tsUs: full[full.length - 1]!.tsUs, id: full[full.length - 1]!.id },
        ];
        for (const c of cursors) {
          const got = await s.store.query({}, ALL, c);
          expect(got.map(key)).toEqual(full.filter((r) => older(r, c)).map(key));
        }
        expect(recs.length).toBe(700);
      }, SLOW);
    });

    describe("sessions()", () => {
      const s = freshStore();

      test("one host's sessions, newest activity first: users, times, seq range and gaps, start, end, conflicts; paged by a cursor", async () => {
        const R = (sid: string, seq: number, sec: number, over: Partial<WireRecord> = {}) =>
          hookRecord(BASE_US + sec * SEC, { hostname: "sess-host", sessionId: sid, seq, command: `${sid} ${seq}`, ...over });
        const recs = [
          // complete: start, two commands, end
          R("a", 1, 10, { kind: "session_start", command: undefined }), R("a", 2, 11), R("a", 3, 12), R("a", 4, 13, { kind: "session_end", command: undefined }),
          // seq 3 and 4 never arrived; no end; sudo -i changed suser within it (forged or not, both names show)
          R("b", 1, 20, { kind: "session_start", command: undefined }), R("b", 2, 21), R("b", 5, 22, { suser: "mallory" }),
          // a pre-empted record: seq 2 twice
          R("c", 1, 30), R("c", 2, 31), R("c", 2, 31, { command: "forged c 2" }),
          // two attested writers in one session
          R("d", 1, 32, { attestation: "kernel", attestedUser: "root" }), R("d", 2, 33, { attestation: "kernel", attestedUser: "bob", suser: "bob" }),
          // another host's session with the same id is not this host's
          hookRecord(BASE_US + 40 * SEC, { hostname: "other-host", sessionId: "a", seq: 9 }),
          // a legacy record has no session
          legacyRecord(BASE_US + 50 * SEC, { hostname: "sess-host" }),
        ];
        await s.store.insert(recs, RECEIVED);
        const all = await s.store.sessions({ host: "sess-host" }, 100);
        expect(all.map((x) => [x.sessionId, x.records, x.firstSeq, x.lastSeq, x.seqs, x.started, x.ended, x.conflicts])).toEqual([
          ["d", 2, 1, 2, 2, false, false, 0],
          ["c", 3, 1, 2, 2, false, false, 2],
          ["b", 3, 1, 5, 3, true, false, 0],
          ["a", 4, 1, 4, 4, true, true, 0],
        ]);
        expect(all[0]!.attestedUsers).toEqual(["bob", "root"]);
        const b = all[2]!;
        expect([b.hostname, b.lusers, b.susers, b.attestedUsers, b.firstTsUs, b.lastTsUs]).toEqual(["sess-host", ["alice"], ["mallory", "root"], [], BASE_US + 20 * SEC, BASE_US + 22 * SEC]);
        // Pages of one, by the cursor of the last session of the page before.
        const pages: string[] = [];
        let after: { lastTsUs: number; sessionId: string } | undefined;
        for (;;) {
          const page = await s.store.sessions({ host: "sess-host" }, 1, after);
          if (page.length === 0) break;
          pages.push(page[0]!.sessionId);
          after = { lastTsUs: page[0]!.lastTsUs, sessionId: page[0]!.sessionId };
        }
        expect(pages).toEqual(["d", "c", "b", "a"]);
        // Time range: records in it only.
        const ranged = await s.store.sessions({ host: "sess-host", fromUs: BASE_US + 11 * SEC, toUs: BASE_US + 21 * SEC }, 100);
        expect(ranged.map((x) => [x.sessionId, x.records])).toEqual([["b", 1], ["a", 3]]);
        expect(await s.store.sessions({ host: "SESS-HOST" }, 100)).toEqual([]);
      });

      test("sessions with the same newest time page by session id, none lost or repeated", async () => {
        const recs = Array.from({ length: 7 }, (_, i) => hookRecord(BASE_US + 60 * SEC, { hostname: "tie-host", sessionId: `t${i}`, seq: 1 }));
        await s.store.insert(recs, RECEIVED);
        const seen: string[] = [];
        let after: { lastTsUs: number; sessionId: string } | undefined;
        for (let guard = 0; guard < 10; guard++) {
          const page = await s.store.sessions({ host: "tie-host" }, 3, after);
          seen.push(...page.map((x) => x.sessionId));
          if (page.length < 3) break;
          after = { lastTsUs: page.at(-1)!.lastTsUs, sessionId: page.at(-1)!.sessionId };
        }
        expect(seen).toEqual(["t6", "t5", "t4", "t3", "t2", "t1", "t0"]);
      });
    });

    describe("hosts()", () => {
      const s = freshStore();

      test("records (no duplicates), first/last seen, lastReceivedUs; serverIps of the newest record of the latest batch that stored something", async () => {
        const model = newModel();
        const A = (sec: number, ips: string, cmd: string) => hookRecord(BASE_US + sec * SEC, { hostname: "alpha", serverIps: ips, command: cmd });
        const B = (sec: number, ips: string, cmd: string) => hookRecord(BASE_US + sec * SEC, { hostname: "beta", serverIps: ips, command: cmd });
        const a1 = A(1000, "10.0.0.1", "a1");
        const a2 = A(1005, "10.0.0.2,fe80::1", "a2");
        const a3 = A(1003, "10.0.0.3", "a3");
        const b1 = B(500, "192.168.0.1", "b1");
        // newest of the batch not first, not last
        await insertModel(s.store, model, [a1, a2, b1, a3], RECEIVED);
        expect(await sortedHosts(s.store)).toEqual(expectedHosts(model));

        // a late batch with an older record: first seen moves back; the addresses are the batch's newest record's
        // (receipt order: a claimed time, up to records.max_future_seconds ahead, must not pin them)
        const a0 = A(900, "10.9.9.9", "a0");
        await insertModel(s.store, model, [a1, a0, a1], RECEIVED + 10 * SEC);
        expect(await sortedHosts(s.store)).toEqual(expectedHosts(model));
        expect((await sortedHosts(s.store))[0]).toMatchObject({ hostname: "alpha", records: 4, serverIps: "10.0.0.1", firstSeenUs: BASE_US + 900 * SEC, lastSeenUs: BASE_US + 1005 * SEC });

        // a newer record brings new addresses
        const a4 = A(2000, "2001:db8::5,10.0.0.4", "a4");
        const b2 = B(400, "192.168.0.2", "b2");
        await insertModel(s.store, model, [b2, a4], RECEIVED + 20 * SEC);
        const hosts = await sortedHosts(s.store);
        expect(hosts).toEqual(expectedHosts(model));
        expect(hosts.map((h) => [h.hostname, h.records, h.serverIps, h.lastReceivedUs, h.lastStoredUs])).toEqual([
          ["alpha", 5, "2001:db8::5,10.0.0.4", RECEIVED + 20 * SEC, RECEIVED + 20 * SEC],
          ["beta", 2, "192.168.0.2", RECEIVED + 20 * SEC, RECEIVED + 20 * SEC],
        ]);

        // Duplicates only (a reporter resending a stuck backlog): received moves, stored, addresses and token kind do not.
        await insertModel(s.store, model, [a4, b2, a1], RECEIVED + 30 * SEC, "shared");
        const later = await sortedHosts(s.store);
        expect(later).toEqual(expectedHosts(model));
        expect(later.map((h) => [h.hostname, h.records, h.lastReceivedUs, h.lastStoredUs])).toEqual([
          ["alpha", 5, RECEIVED + 30 * SEC, RECEIVED + 20 * SEC],
          ["beta", 2, RECEIVED + 30 * SEC, RECEIVED + 20 * SEC],
        ]);
      });

      test("many hosts over many batches match a model of what was stored", async () => {
        const rng = new Rng(99);
        const model = newModel();
        const pool = Array.from({ length: 400 }, (_, i) => hookRecord(BASE_US + i * 1_000 + rng.int(1000), {
          hostname: `host-${rng.int(9)}`,
          serverIps: `10.0.${i >> 8}.${i & 255}`,
          command: `cmd-${i}`,
          // Every 9th a loss record: each host's losses count the new ones only, once.
          ...(i % 9 === 0 ? { kind: "loss" as const } : {}),
        }));
        for (let b = 0; b < 12; b++) {
          const batch = Array.from({ length: 60 }, () => rng.pick(pool));
          await insertModel(s.store, model, batch, RECEIVED + b * SEC, rng.pick([undefined, "host", "shared"] as const),
            rng.pick([undefined, "cmdaudit-reporter/0.1.0", "cmdaudit-reporter-sh"] as const));
        }
        // Both paths of the MySQL store: one host per batch too.
        for (let b = 0; b < 6; b++) {
          const host = `host-${rng.int(9)}`;
          const batch = Array.from({ length: 30 }, () => rng.pick(pool)).filter((r) => r.hostname === host);
          if (batch.length) await insertModel(s.store, model, batch, RECEIVED + (20 + b) * SEC, undefined, rng.pick([undefined, `reporter-${b}`] as const));
        }
        expect([...model.stored.values()].filter((r) => r.kind === "loss").length).toBeGreaterThan(10);
        const want = expectedHosts(model);
        expect(want.length).toBe(9);
        expect(await sortedHosts(s.store)).toEqual(want);
        expectSameSet(await everything(s.store), [...model.stored.values()]);
      }, SLOW);

      test("ingestAuth: the token kind of the latest batch that stored something new of the host; null before any was given", async () => {
        const model = newModel();
        const G = (host: string, sec: number, cmd: string) => hookRecord(BASE_US + sec * SEC, { hostname: host, serverIps: "10.1.1.1", command: cmd });
        const g1 = G("gamma", 1, "g1");
        await insertModel(s.store, model, [g1, G("delta", 1, "d1")], RECEIVED);
        await insertModel(s.store, model, [G("gamma", 2, "g2")], RECEIVED + SEC, "shared");
        const kinds = async () => Object.fromEntries((await sortedHosts(s.store)).filter((h) => ["gamma", "delta"].includes(h.hostname)).map((h) => [h.hostname, h.ingestAuth]));
        expect(await kinds()).toEqual({ delta: null, gamma: "shared" });
        await insertModel(s.store, model, [G("gamma", 3, "g3")], RECEIVED + 2 * SEC, "host");
        expect(await kinds()).toEqual({ delta: null, gamma: "host" });
        // A resend through a shared token stores nothing new: the host still counts as on its own token.
        await insertModel(s.store, model, [g1], RECEIVED + 3 * SEC, "shared");
        expect(await kinds()).toEqual({ delta: null, gamma: "host" });
        await insertModel(s.store, model, [G("gamma", 4, "g4")], RECEIVED + 4 * SEC, "shared");
        expect(await kinds()).toEqual({ delta: null, gamma: "shared" });
        expect((await sortedHosts(s.store)).filter((h) => ["gamma", "delta"].includes(h.hostname))).toEqual(expectedHosts(model).filter((h) => ["gamma", "delta"].includes(h.hostname)));
      });

      test("a record dated ahead does not pin the addresses: the next batch's are shown", async () => {
        const model = newModel();
        const E = (sec: number, ips: string, cmd: string) => hookRecord(BASE_US + sec * SEC, { hostname: "epsilon", serverIps: ips, command: cmd });
        await insertModel(s.store, model, [E(3000, "6.6.6.6", "ahead")], RECEIVED);
        await insertModel(s.store, model, [E(1000, "10.5.5.5", "now")], RECEIVED + SEC);
        const h = (await sortedHosts(s.store)).find((x) => x.hostname === "epsilon")!;
        expect([h.serverIps, h.lastSeenUs]).toEqual(["10.5.5.5", BASE_US + 3000 * SEC]);
      });

      // Whitespace in names is refused by the contract (test/protocol/record.test.ts), which keeps MySQL's
      // PAD SPACE collation from merging "web01" and "web01 "; case must still tell hosts apart.
      test("host names differing only by case are different hosts", async () => {
        const model = newModel();
        const recs = [
          hookRecord(BASE_US, { hostname: "web01", serverIps: "10.0.0.1" }),
          hookRecord(BASE_US + SEC, { hostname: "Web01", serverIps: "10.0.0.2" }),
          hookRecord(BASE_US + 2 * SEC, { hostname: "WEB01", serverIps: "10.0.0.3" }),
        ];
        await insertModel(s.store, model, recs, RECEIVED);
        expect(await sortedHosts(s.store)).toEqual(expectedHosts(model));
        expect((await s.store.query({ host: "web01" }, ALL)).map((r) => r.oci)).toEqual([recs[0]!.oci]);
        expect((await s.store.query({ host: "WEB01" }, ALL)).map((r) => r.oci)).toEqual([recs[2]!.oci]);
      });
    });

    describe("transcript() and hostIn", () => {
      const s = freshStore();

      test("one host's session in (seq, id) order, paged; a pre-empted seq keeps both rows; another host's session of the same id is not in it", async () => {
        const R = (sid: string, seq: number, sec: number, over: Partial<WireRecord> = {}) =>
          hookRecord(BASE_US + sec * SEC, { hostname: "tr-host", sessionId: sid, seq, command: `${sid} ${seq}`, ...over });
        // Inserted out of order; seq 4 arrives with an earlier time than seq 3 (a clock step): order is by seq.
        const recs = [R("t", 3, 12), R("t", 1, 10), R("t", 4, 11), R("t", 2, 11), R("t", 2, 11, { command: "forged t 2" }), R("t", 7, 20)];
        await s.store.insert([...recs, hookRecord(BASE_US, { hostname: "tr-other", sessionId: "t", seq: 5 })], RECEIVED);
        const want = ["t 1", "t 2", "forged t 2", "t 3", "t 4", "t 7"];
        const all = await s.store.transcript("tr-host", "t", 100);
        expect(all.map((r) => r.command)).toEqual(want);
        expect(all.map((r) => r.seq)).toEqual([1, 2, 2, 3, 4, 7]);
        const paged: string[] = [];
        for (let after: { seq: number; id: number } | undefined, i = 0; i < 10; i++) {
          const page = await s.store.transcript("tr-host", "t", 2, after);
          paged.push(...page.map((r) => r.command));
          const last = page.at(-1);
          if (page.length < 2 || !last) break;
          after = { seq: last.seq!, id: last.id };
        }
        expect(paged).toEqual(want);
        expect(await s.store.transcript("tr-host", "nope", 10)).toEqual([]);
      });

      test("countRejected adds to a known host's count; a host with no row gets none", async () => {
        await s.store.insert([hookRecord(BASE_US, { hostname: "rej-a" })], RECEIVED);
        await s.store.countRejected("rej-a", 3);
        await s.store.countRejected("rej-a", 4);
        await s.store.countRejected("rej-a", 0);
        await s.store.countRejected("rej-nobody", 5);
        const hs = await s.store.hosts();
        expect(hs.map((h) => [h.hostname, h.rejected])).toEqual([["rej-a", 7]]);
      });

      test("hostIn keeps only the listed hosts; an empty list matches nothing", async () => {
        await s.store.insert([hookRecord(BASE_US, { hostname: "in-a" }), hookRecord(BASE_US + SEC, { hostname: "in-b" }), hookRecord(BASE_US + 2 * SEC, { hostname: "in-c" })], RECEIVED);
        expect((await s.store.query({ hostIn: ["in-a", "in-c", "in-z"] }, ALL)).map((r) => r.hostname)).toEqual(["in-c", "in-a"]);
        expect(await s.store.query({ hostIn: [] }, ALL)).toEqual([]);
        expect((await s.store.query({ hostIn: ["in-a", "in-b"], host: "in-b" }, ALL)).map((r) => r.hostname)).toEqual(["in-b"]);
      });
    });

    describe("console users, sessions and access log", () => {
      const s = freshStore();
      const user = (name: string, over: Partial<ConsoleUser> = {}): ConsoleUser => ({
        name, passwordHash: `$argon2id$v=19$m=65536,t=2,p=1$${name}`, role: "reader", hostGroups: ["web", "db"], createdUs: RECEIVED, ...over,
      });

      test("users round-trip, are replaced by name, listed by name, removed with their sessions", async () => {
        await s.store.putConsoleUser(user("zoë", { role: "admin", hostGroups: ["*"] }));
        await s.store.putConsoleUser(user("anna"));
        await s.store.putConsoleUser(user("anna", { hostGroups: [], passwordHash: "h2" }));
        expect(await s.store.consoleUser("anna")).toEqual(user("anna", { hostGroups: [], passwordHash: "h2" }));
        expect(await s.store.consoleUser("zoë")).toEqual(user("zoë", { role: "admin", hostGroups: ["*"] }));
        expect(await s.store.consoleUser("ANNA")).toBeUndefined();
        expect((await s.store.consoleUsers()).map((u) => u.name)).toEqual(["anna", "zoë"]);
        await s.store.createConsoleSession({ idHash: "a".repeat(64), userName: "anna", createdUs: 1, expiresUs: RECEIVED + 1 });
        expect(await s.store.removeConsoleUser("anna")).toBe(true);
        expect(await s.store.removeConsoleUser("anna")).toBe(false);
        expect(await s.store.consoleSession("a".repeat(64), RECEIVED)).toBeUndefined();
        // A new user of the old name does not inherit the old sessions.
        await s.store.putConsoleUser(user("anna"));
        expect(await s.store.consoleSession("a".repeat(64), RECEIVED)).toBeUndefined();
      });

      test("a session is found with its user until it expires, then it is gone; removed sessions are gone", async () => {
        await s.store.putConsoleUser(user("bo"));
        const sess = { idHash: "b".repeat(64), userName: "bo", createdUs: 100, expiresUs: 200 };
        await s.store.createConsoleSession(sess);
        await s.store.createConsoleSession({ ...sess, idHash: "c".repeat(64) });
        expect(await s.store.consoleSession("b".repeat(64), 199)).toEqual({ session: sess, user: user("bo") });
        expect(await s.store.consoleSession("b".repeat(64), 200)).toBeUndefined();
        expect(await s.store.consoleSession("b".repeat(64), 150)).toBeUndefined(); // deleted when found expired
        await s.store.removeConsoleSession("c".repeat(64));
        expect(await s.store.consoleSession("c".repeat(64), 150)).toBeUndefined();
      });

      test("the access log keeps every entry exactly (any script, long details), newest first, paged by id", async () => {
        const entries = Array.from({ length: 7 }, (_, i) => ({
          tsUs: RECEIVED + i, userName: i % 2 ? "bo" : "zoë", action: i % 3 ? "search" : "session", detail: `q=rm -rf ${"€".repeat(i * 300)} 日本 #${i}`, clientIp: i % 2 ? "::1" : "127.0.0.1",
        }));
        for (const e of entries) await s.store.logAccess(e);
        const all = await s.store.accessLog(100);
        expect(all.map(({ id: _, ...e }) => e)).toEqual([...entries].reverse());
        const page1 = await s.store.accessLog(3);
        const page2 = await s.store.accessLog(3, page1.at(-1)!.id);
        expect([...page1, ...page2].map((e) => e.tsUs)).toEqual(entries.slice(1).map((e) => e.tsUs).reverse());
      });
    });

    describe("redact-history: commands by id, progress compare-and-set, rewrites", () => {
      const s = freshStore();
      const te = new TextEncoder();
      const MARK = "[REDACTED:env-secret:0123456789ab]";
      /** A few of every kind of command: text, bytes that are not UTF-8, one with a declared marker, none (session start). */
      const fixtures = () => {
        const at = te.encode("echo é ").length;
        return [
          hookRecord(BASE_US, { command: "mysql -pS3cret db" }),
          hookRecord(BASE_US + 1, { commandB64: Buffer.from("echo \xff\xfe TOKEN=abc123", "latin1").toString("base64"), command: undefined }),
          hookRecord(BASE_US + 2, { command: `echo é ${MARK} done`, redactions: [{ rule: "env-secret", start: at, end: at + MARK.length }] }),
          hookRecord(BASE_US + 3, { kind: "session_start" }),
          legacyRecord(BASE_US + 4 * SEC, { command: "ls 日本" }),
          hookRecord(BASE_US + 5, { command: "ls" }),
        ];
      };
      const progress = (over: Partial<RedactProgress> = {}): RedactProgress => ({
        rules: "a".repeat(64), lastId: 0, endId: 0, seen: 0, changed: 0, startedUs: RECEIVED, updatedUs: RECEIVED, finishedUs: 0, ...over,
      });
      const asCommand = (r: StoredRecord): StoredCommand => ({ id: r.id, oci: r.oci, command: r.command, commandRaw: r.commandRaw, redactions: r.redactions });
      /** The stored rows by id; the fixtures' order is their ids' (one batch of one host is inserted in order). */
      const byId = async () => (await everything(s.store)).sort((a, b) => a.id - b.id);

      test("an empty store: no last id, nothing to count or read, no progress", async () => {
        expect(await s.store.lastRecordId()).toBe(0);
        expect(await s.store.countRecords(0, Number.MAX_SAFE_INTEGER)).toBe(0);
        expect(await s.store.commandsAfter(0, Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
        expect(await s.store.redactProgress()).toBeUndefined();
      });

      test("commands in (after, through], id ascending, at most limit, exactly as stored", async () => {
        const recs = fixtures();
        await s.store.insert(recs, RECEIVED);
        const rows = await byId();
        expect(rows.map((r) => r.oci)).toEqual(recs.map((r) => r.oci));
        const ids = rows.map((r) => r.id) as [number, number, number, number, number, number];
        expect(await s.store.lastRecordId()).toBe(Math.max(...ids));
        expect(await s.store.countRecords(0, Number.MAX_SAFE_INTEGER)).toBe(rows.length);
        expect(await s.store.countRecords(ids[1]!, ids[4]!)).toBe(3);
        expect(await s.store.countRecords(ids[4]!, ids[1]!)).toBe(0);
        const all = await s.store.commandsAfter(0, Number.MAX_SAFE_INTEGER, 100);
        expect(all).toEqual(rows.map(asCommand));
        expect(all[1]!.commandRaw).toBeInstanceOf(Uint8Array);
        expect(all[2]!.redactions).toEqual([{ rule: "env-secret", start: te.encode("echo é ").length, end: te.encode("echo é ").length + MARK.length }]);
        expect((await s.store.commandsAfter(ids[0]!, ids[4]!, 2)).map((r) => r.id)).toEqual([ids[1], ids[2]]);
        expect((await s.store.commandsAfter(ids[2]!, ids[4]!, 100)).map((r) => r.id)).toEqual([ids[3], ids[4]]);
        // Walking by pages of 1 gives every row once.
        const walked: number[] = [];
        for (let after = 0; ;) {
          const page = await s.store.commandsAfter(after, ids.at(-1)!, 1);
          if (!page.length) break;
          walked.push(page[0]!.id);
          after = page[0]!.id;
        }
        expect(walked).toEqual(ids);
      });

      test("the progress is created once, moved only from what it is (every field), and round-trips exactly", async () => {
        const first = progress({ endId: 9_007_199_254_740, startedUs: 1_767_225_600_123_456, updatedUs: 1_767_225_600_123_456 });
        expect(await s.store.advanceRedactProgress(undefined, first, [])).toBe(true);
        expect(await s.store.redactProgress()).toEqual(first);
        // A second creation loses: the row is there.
        expect(await s.store.advanceRedactProgress(undefined, progress({ rules: "b".repeat(64) }), [])).toBe(false);
        expect(await s.store.redactProgress()).toEqual(first);
        const next = { ...first, lastId: 500, seen: 480, changed: 3, updatedUs: first.updatedUs + 1 };
        for (const stale of [{ ...first, lastId: 1 }, { ...first, rules: "c".repeat(64) }, { ...first, updatedUs: 5 }, { ...first, seen: 1 }, { ...first, finishedUs: 1 }]) {
          expect(await s.store.advanceRedactProgress(stale, next, [])).toBe(false);
        }
        expect(await s.store.redactProgress()).toEqual(first);
        expect(await s.store.advanceRedactProgress(first, next, [])).toBe(true);
        expect(await s.store.redactProgress()).toEqual(next);
        // The one it was moved from is stale now.
        expect(await s.store.advanceRedactProgress(first, { ...next, updatedUs: next.updatedUs + 1 }, [])).toBe(false);
        const done = { ...next, lastId: next.endId, finishedUs: next.updatedUs + 1, updatedUs: next.updatedUs + 1 };
        expect(await s.store.advanceRedactProgress(next, done, [])).toBe(true);
        expect(await s.store.redactProgress()).toEqual(done);
      });

      test("rewrites change only command, commandRaw and redactions, and only with the progress they came with", async () => {
        const recs = fixtures();
        await s.store.insert(recs, RECEIVED);
        const before = await byId();
        expect(before.map((r) => r.oci)).toEqual(recs.map((r) => r.oci));
        const p0 = progress({ endId: before.at(-1)!.id });
        expect(await s.store.advanceRedactProgress(undefined, p0, [])).toBe(true);
        const bytes = Buffer.from("echo \xff\xfe [REDACTED:env-secret:abcdefabcdef]", "latin1");
        const rewrites: StoredCommand[] = [
          { id: before[0]!.id, oci: before[0]!.oci, command: "mysql -p[REDACTED:mysql-password:0123456789ab] db", commandRaw: null, redactions: [{ rule: "mysql-password", start: 8, end: 8 + 38 }] },
          // Bytes that are not UTF-8 stay bytes; the text is their display form.
          { id: before[1]!.id, oci: before[1]!.oci, command: new TextDecoder().decode(bytes), commandRaw: new Uint8Array(bytes), redactions: [{ rule: "env-secret", start: 8, end: bytes.length }] },
          // Bytes that became UTF-8: commandRaw goes.
          { id: before[2]!.id, oci: before[2]!.oci, command: "echo ok", commandRaw: null, redactions: [] },
          // A row that is gone is skipped.
          { id: before.at(-1)!.id + 1000, oci: "0".repeat(32), command: "x", commandRaw: null, redactions: [] },
        ];
        // Alerts of a rewritten record and of another one: only the first's command follows.
        const rule = { id: "destroy.rm-root", severity: "critical" as const };
        await s.store.raiseAlerts([draftFor(rule, before[0]!, []), draftFor(rule, before[3]!, [])], RECEIVED, 600e6);
        // A stale progress writes nothing: neither the progress nor a row.
        expect(await s.store.advanceRedactProgress({ ...p0, lastId: 7 }, { ...p0, lastId: 3, updatedUs: p0.updatedUs + 1 }, rewrites)).toBe(false);
        expect(await byId()).toEqual(before);
        const p1 = { ...p0, lastId: before[2]!.id, seen: 3, changed: 3, updatedUs: p0.updatedUs + 1 };
        expect(await s.store.advanceRedactProgress(p0, p1, rewrites)).toBe(true);
        expect(await s.store.redactProgress()).toEqual(p1);
        const after = await byId();
        expect(after.length).toBe(before.length);
        for (const [i, row] of after.entries()) {
          const w = rewrites.find((r) => r.id === row.id);
          const want = w ? { ...before[i]!, command: w.command, commandRaw: w.commandRaw, redactions: w.redactions } : before[i]!;
          // Every other field (the key, flags, times, receipt) as it was.
          expect(comparable(row)).toStrictEqual(comparable(want));
        }
        expect((await s.store.commandsAfter(0, p1.endId, 2))).toEqual(rewrites.slice(0, 2));
        const alertOf = async (oci: string) => (await s.store.alerts({}, 10)).find((a) => a.recordKey === oci)!.command;
        expect(await alertOf(before[0]!.oci)).toBe(rewrites[0]!.command);
        expect(await alertOf(before[3]!.oci)).toBe(before[3]!.command);
      });

      test("of 8 jobs moving the progress from the same value at once, exactly one does", async () => {
        await s.store.insert(fixtures(), RECEIVED);
        const rows = await byId();
        const p0 = progress({ endId: rows.at(-1)!.id });
        expect(await s.store.advanceRedactProgress(undefined, p0, [])).toBe(true);
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.store.advanceRedactProgress(p0, { ...p0, lastId: rows[0]!.id, seen: 1, changed: 1, updatedUs: p0.updatedUs + 1 + i }, [
          { id: rows[0]!.id, oci: rows[0]!.oci, command: `job ${i}`, commandRaw: null, redactions: [] },
        ])));
        expect(results.filter(Boolean).length).toBe(1);
        const winner = results.indexOf(true);
        expect((await s.store.redactProgress())?.updatedUs).toBe(p0.updatedUs + 1 + winner);
        expect((await s.store.commandsAfter(0, rows[0]!.id, 1))[0]!.command).toBe(`job ${winner}`);
      }, SLOW);
    });

    describe("ping and concurrency", () => {
      const s = freshStore();

      test("ping() resolves on an open store", async () => {
        await s.store.ping();
        await s.store.insert([hookRecord(BASE_US)], RECEIVED);
        await s.store.ping();
      });

      /**
       * Rounds of `batches` parallel inserts, each a shuffled overlapping share of a fresh pool plus records
       * only it has (and a few in-batch repeats). Every batch must succeed; everything is checked against
       * the union of what was sent, cumulatively.
       */
      async function concurrentRounds(opts: { rounds: number; batches: number; hosts: number; pool: number; share: number; seed: number }) {
        const rng = new Rng(opts.seed);
        const unique = new Map<string, AuditRecord>();
        for (let round = 0; round < opts.rounds; round++) {
          const base = BASE_US + round * 3600 * SEC;
          const pool = Array.from({ length: opts.pool }, (_, i) => hookRecord(base + i * 10_000 + rng.int(9_000), {
            hostname: `c${i % opts.hosts}`,
            serverIps: `10.${i % opts.hosts}.${i >> 8}.${i & 255}`,
            sessionId: `conc-${round}-${i % 6}`,
            command: `concurrent ${round}/${i}`,
          }));
          const batches = Array.from({ length: opts.batches }, (_, b) => {
            const shared = shuffle(rng, pool).slice(0, opts.share);
            const own = Array.from({ length: 20 }, (_, j) => hookRecord(base + 1800 * SEC + b * 1000 + j, { hostname: `c${j % opts.hosts}`, sessionId: `own-${round}-${b}`, command: `own ${b}/${j}` }));
            return shuffle(rng, [...shared, ...own, ...shared.slice(0, 5)]);
          });
          const settled = await Promise.allSettled(batches.map((batch, i) => s.store.insert(batch, RECEIVED + round * 100 + i)));
          const failures = settled.flatMap((x, i) => (x.status === "rejected" ? [`round ${round} batch ${i}: ${String((x.reason as Error)?.message).slice(0, 300)}`] : []));
          expect(failures).toEqual([]);
          const results = settled.map((x) => (x as PromiseFulfilledResult<{ inserted: number; duplicates: number }>).value);
          results.forEach((r, i) => expect(r.inserted + r.duplicates).toBe(batches[i]!.length));
          const before = unique.size;
          for (const b of batches) for (const r of b) unique.set(r.oci, r);
          // every acknowledged record is stored, and counted as inserted by exactly one batch
          expect({ round, inserted: results.reduce((n, r) => n + r.inserted, 0) }).toEqual({ round, inserted: unique.size - before });
          const stored = new Set((await everything(s.store)).map((r) => r.oci));
          const missing = [...unique.keys()].filter((o) => !stored.has(o));
          expect({ round, missing: missing.length }).toEqual({ round, missing: 0 });
        }
        expectSameSet(await everything(s.store), [...unique.values()]);
        const hosts = await sortedHosts(s.store);
        const all = [...unique.values()];
        const want = [...new Set(all.map((r) => r.hostname))].sort().map((hostname) => {
          const rs = all.filter((r) => r.hostname === hostname);
          const newest = rs.reduce((a, b) => (b.tsUs > a.tsUs ? b : a));
          return { hostname, records: rs.length, firstSeenUs: Math.min(...rs.map((r) => r.tsUs)), lastSeenUs: newest.tsUs };
        });
        expect(hosts.map(({ hostname, records, firstSeenUs, lastSeenUs }) => ({ hostname, records, firstSeenUs, lastSeenUs }))).toEqual(want);
        // Addresses follow commit order, which concurrency leaves open: each host's are those of one of its records.
        for (const h of hosts) expect({ host: h.hostname, known: all.some((r) => r.hostname === h.hostname && r.serverIps === h.serverIps) }).toEqual({ host: h.hostname, known: true });
      }

      test("8 concurrent overlapping batches (4 hosts) store each record once and count exactly, 4 rounds", async () => {
        await concurrentRounds({ rounds: 4, batches: 8, hosts: 4, pool: 480, share: 200, seed: 8 });
      }, SLOW);

      test("10 concurrent overlapping batches over 120 hosts, 2 rounds", async () => {
        await concurrentRounds({ rounds: 2, batches: 10, hosts: 120, pool: 600, share: 250, seed: 12 });
      }, SLOW);
    });
  });
}
