/**
 * Seeded fuzzing of the two ingest endpoints, in-process on a real SQLite store.
 * Set FUZZ_SEED to replay another run; every failure message names the seed.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { encodeRecord, recordFlags, type EncodableRecord } from "../../protocol/index.ts";
import { cleanupTmpDirs, type IngestAnswer, makeApp, type Presented, Rng, type TestApp, utcUs } from "./helpers.ts";
import { testConfig } from "../support/config.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20181212);
const apps: TestApp[] = [];
afterAll(async () => {
  for (const a of apps) await a.close();
  cleanupTmpDirs();
});

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const isUtf8 = (b: Uint8Array) => {
  try { strictUtf8.decode(b); return true; } catch { return false; }
};

/** µs since the epoch of a presented `time` ("…[.ffffff](Z|±HH:MM)"), parsed here by hand. */
function instantUs(s: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{6}))?(Z|([+-])(\d\d):(\d\d))$/.exec(s);
  if (!m) throw new Error(`unexpected time ${s}`);
  const off = m[8] === "Z" ? 0 : (m[9] === "-" ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  return utcUs(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, off, m[7] ? Number(m[7]) : 0);
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");
const offStr = (min: number) => `${min < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(min) / 60))}:${pad(Math.abs(min) % 60)}`;

/** Text a field may hold: printable ASCII, Latin/CJK/astral characters, no controls. */
function safeText(rng: Rng, min: number, max: number): string {
  const n = rng.range(min, max);
  let s = "";
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.7) s += String.fromCharCode(rng.range(0x20, 0x7e));
    else if (r < 0.85) s += String.fromCodePoint(rng.range(0xa0, 0x24f));
    else if (r < 0.95) s += String.fromCodePoint(rng.range(0x4e00, 0x9fff));
    else s += String.fromCodePoint(rng.range(0x1f600, 0x1f64f));
  }
  return s;
}
/** Bidi overrides, zero-width characters and look-alikes (Cyrillic р, full-width ｒ, U+2010 hyphen): names that imitate others. */
const SNEAKY = ["\u202e", "\u200b", "\u2066", "\u00ad", "\u0440", "\u043e", "\uff52", "\u2010"];
/** Identity fields (host, users, terminal, addresses) never hold whitespace: the contract rejects it. */
function wordText(rng: Rng, min: number, max: number): string {
  const chars = Array.from(safeText(rng, min * 2, max * 2).replace(/\s/g, "")).slice(0, max);
  if (chars.length > 0 && rng.chance(0.1)) chars[rng.int(chars.length)] = rng.pick(SNEAKY);
  return chars.join("");
}
/** A command: anything well-formed, newlines, tabs, quotes, backslashes and NUL included. */
function commandText(rng: Rng, max = 3000): string {
  let s = "";
  const n = rng.range(1, rng.chance(0.05) ? max : Math.min(60, max));
  for (let i = 0; i < n; i++) s += rng.chance(0.2) ? rng.pick(["\n", "\t", "\r", "\\", "\"", "'", "\0", "\\n", "%", "_", "€", "😀"]) : safeText(rng, 1, 1);
  return s;
}
const IPS = ["10.0.0.1", "192.168.1.20", "2001:db8::1", "fe80::1%eth0", "::1", "127.0.0.1"];

interface Expect {
  kind: Presented["kind"]; instantUs: number; wall: string; utcOffset: string | null; hostname: string; serverIps: string; luser: string; suser: string;
  terminal: string; clientIp: string; sessionId: string | null; seq: number | null; cwd: string | null; exitStatus: number | null;
  durationMs: number | null; command: string; commandB64?: string;
}

/** A valid record (by the documented contract) and what the query API must show for it. */
function validRecord(rng: Rng, n: number): { json: Record<string, unknown>; want: Expect } {
  const hook = rng.chance(0.7);
  // Valid times are never ahead of the server's clock (records.max_future_seconds): the year is before this one.
  const Y = rng.range(2000, new Date().getUTCFullYear() - 1), Mo = rng.range(1, 12), D = rng.range(1, 28), H = rng.range(0, 23), Mi = rng.range(0, 59), S = rng.range(0, 59);
  const wall = `${Y}-${pad(Mo)}-${pad(D)} ${pad(H)}:${pad(Mi)}:${pad(S)}`;
  const offset = hook ? rng.pick([0, 480, -300, 330, 345, -570, 840, -720]) : 480; // legacy: the config's +08:00
  const fracDigits = hook && rng.chance(0.5) ? rng.range(1, 9) : 0;
  let frac = "";
  for (let i = 0; i < fracDigits; i++) frac += String(rng.int(10));
  const us = fracDigits ? Number(frac.slice(0, 6).padEnd(6, "0")) : 0;
  const sep = rng.chance(0.8) ? "T" : " ";
  const ctime = hook ? `${wall.replace(" ", sep)}${frac ? "." + frac : ""}${offset === 0 && rng.chance(0.5) ? "Z" : offStr(offset)}` : wall;
  const kind: Presented["kind"] = hook && rng.chance(0.15) ? rng.pick(["session_start", "session_end", "loss"] as const) : "command";
  const json: Record<string, unknown> = {
    ctime,
    hostname: rng.chance(0.5) ? `host-${rng.int(20)}.example.com` : wordText(rng, 1, 40),
    luser: wordText(rng, 0, 20),
  };
  if (kind !== "command" || rng.chance(0.5)) json.kind = kind;
  let serverIps = "";
  if (rng.chance(0.8)) {
    if (rng.chance(0.5)) { const a = [rng.pick(IPS), rng.pick(IPS)]; json.serverIps = a; serverIps = a.join(","); }
    else { serverIps = wordText(rng, 0, 30); json.serverIps = serverIps; }
  }
  let suser = "", terminal = "", clientIp = "";
  if (rng.chance(0.8)) json.suser = suser = wordText(rng, 0, 20);
  if (rng.chance(0.8)) json.terminal = terminal = rng.pick(["pts/0", "tty1", "", wordText(rng, 1, 10)]);
  if (rng.chance(0.8)) json.clientIp = clientIp = rng.pick([...IPS.filter((i) => !i.includes("%")), ""]);
  let cwd: string | null = null, exitStatus: number | null = null, sessionId: string | null = null, seq: number | null = null;
  if (hook) {
    json.sessionId = sessionId = `v-${n}`;
    json.seq = seq = rng.chance(0.5) ? rng.int(1000) : rng.int(2 ** 40);
    if (rng.chance(0.8)) json.cwd = cwd = rng.chance(0.2) ? commandText(rng, 1000) : "/" + safeText(rng, 0, 30);
    if (rng.chance(0.8)) json.exitStatus = exitStatus = rng.chance(0.2) ? null : rng.int(256);
  }
  let durationMs: number | null = null;
  if (hook ? rng.chance(0.7) : rng.chance(0.05)) {
    json.durationMs = durationMs = rng.chance(0.2) ? null : rng.pick([0, rng.int(1000), rng.int(2 ** 40), Number.MAX_SAFE_INTEGER]);
  }
  let command = "";
  let commandB64: string | undefined;
  if (kind === "command" || rng.chance(0.5)) {
    if (rng.chance(0.25)) {
      let bytes: Uint8Array = rng.bytes(rng.range(1, 80));
      if (!hook) bytes = Buffer.concat([Buffer.from(`#v${n} `), bytes]); // legacy records are told apart by their text
      json.commandB64 = Buffer.from(bytes).toString("base64");
      if (isUtf8(bytes)) command = strictUtf8.decode(bytes);
      else { commandB64 = json.commandB64 as string; command = new TextDecoder().decode(bytes); }
    } else {
      json.command = command = hook ? commandText(rng) : `#v${n} ${commandText(rng)}`;
    }
  }
  const want: Expect = {
    kind, instantUs: utcUs(Y, Mo, D, H, Mi, S, offset, us), wall, utcOffset: hook ? offStr(offset) : null,
    hostname: json.hostname as string, serverIps, luser: json.luser as string, suser, terminal, clientIp, sessionId, seq, cwd, exitStatus, durationMs,
    command, ...(commandB64 ? { commandB64 } : {}),
  };
  return { json, want };
}

/** Any JSON value, weighted towards what a confused or hostile client sends. */
function randomJson(rng: Rng, depth = 0): unknown {
  const r = rng.next();
  if (r < 0.1) return null;
  if (r < 0.15) return rng.chance(0.5);
  if (r < 0.3) return rng.pick([0, -1, 1.5, 255, 256, -0, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, 4.9e-324, rng.int(1e9), -rng.int(1e9)]);
  if (r < 0.55) return rng.chance(0.1) ? "\ud800" + safeText(rng, 0, 5) : rng.chance(0.1) ? "x".repeat(rng.range(60, 70_000)) : commandText(rng);
  if (r < 0.7 && depth < 3) return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth + 1));
  if (depth < 3) {
    const o: Record<string, unknown> = {};
    for (let i = rng.int(8); i > 0; i--) {
      const k = rng.pick([...FIELDS, "__proto__", "constructor", "toString", "", "oci", "id", safeText(rng, 1, 8)]);
      Object.defineProperty(o, k, { value: randomJson(rng, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return o;
  }
  return "leaf";
}
const FIELDS = ["kind", "ctime", "utcOffset", "hostname", "serverIps", "suser", "luser", "terminal", "clientIp", "command", "commandB64", "sessionId", "seq", "cwd", "exitStatus", "durationMs", "attestation", "attestedUser", "attestedLoginUser"];

/** A valid-looking record (own session, "MUT" marker) with 1-3 random mutations: may or may not still be valid. */
function mutatedRecord(rng: Rng, n: number): unknown {
  const base = validRecord(rng, 1_000_000 + n).json;
  if (typeof base.sessionId === "string") base.sessionId = `m-${n}`;
  if (typeof base.command === "string") base.command = `MUT ${base.command}`;
  for (let k = rng.range(1, 3); k > 0; k--) {
    const f = rng.pick(FIELDS);
    switch (rng.int(10)) {
      case 0: delete base[f]; break;
      case 1: base[f] = randomJson(rng, 2); break;
      case 2: base[f] = typeof base[f] === "number" ? String(base[f]) : typeof base[f] === "string" ? Number(base[f]) || 7 : {}; break;
      case 3: base[safeText(rng, 1, 6)] = 1; break;
      case 4: base.ctime = rng.pick(["2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00+24:00", "1969-12-31T23:59:59Z", "2024-1-1 0:0:0", "", "2024-01-01T00:00:00.1234567890+08:00", "2024-01-01T00:00:60Z", "０２４-01-01 00:00:00"]); break;
      case 5: delete base.command; base.commandB64 = rng.pick(["", "====", "a", "YQ", "YQ=", "!!!!", "YWJj\n", Buffer.from(rng.bytes(10)).toString("base64")]); break;
      case 6: base[f] = "y".repeat(rng.pick([64, 65, 255, 256, 2048, 2049, 4097])); break;
      case 7: base[f] = `${typeof base[f] === "string" ? base[f] : ""}${rng.pick(["\u0000", "\u001b[2J", "\u0085", "\u009b", "\u007f", "\n"])}`; break;
      case 8: base.serverIps = Array.from({ length: rng.range(0, 300) }, () => rng.chance(0.9) ? rng.pick(IPS) : randomJson(rng, 3)); break;
      default: base[f] = rng.pick([null, [], {}, true, -1, 256, 1.5, 2 ** 53, ""]);
    }
  }
  return base;
}

function checkStored(rows: Presented[], want: Expect, where: string): void {
  const got = rows[0]!;
  const shown = {
    kind: got.kind, instantUs: instantUs(got.time!), wall: got.ctime, utcOffset: got.utcOffset, hostname: got.hostname, serverIps: got.serverIps,
    luser: got.luser, suser: got.suser, terminal: got.terminal, clientIp: got.clientIp, sessionId: got.sessionId, seq: got.seq, cwd: got.cwd,
    exitStatus: got.exitStatus, durationMs: got.durationMs, command: got.command, ...(got.commandB64 !== undefined ? { commandB64: got.commandB64 } : {}),
  };
  expect({ where, rows: rows.length, ...shown }).toEqual({ where, rows: 1, ...want });
  // Unusual names are stored as sent and flagged; a name with a hidden character always is.
  expect({ where, flags: got.flags }).toEqual({ where, flags: recordFlags(want) });
  const hidden = [want.hostname, want.suser, want.luser, want.terminal].some((n) => /[\u202e\u200b\u2066\u00ad]/.test(n));
  if (hidden) expect({ where, invisible: got.flags.includes("name-invisible") }).toEqual({ where, invisible: true });
}

describe(`fuzz (seed ${SEED})`, () => {
  test("POST /api/v1/commands: random and mutated records among valid ones", async () => {
    const rng = new Rng(SEED);
    const t = await makeApp({ legacy_utc_offset: "+08:00", limits: { ...testConfig().limits, max_records_per_batch: 400 } });
    apps.push(t);
    const originals: Expect[] = [];
    const sent: unknown[][] = [];
    let acceptedTotal = 0;
    let posted = 0;
    for (let b = 0; b < 150; b++) {
      let batch: unknown[];
      const origIdx = new Set<number>();
      const aheadIdx = new Set<number>();
      if (b > 5 && rng.chance(0.15)) {
        batch = rng.pick(sent); // a resend
      } else {
        batch = [];
        for (let i = rng.range(1, 150); i > 0; i--) {
          const r = rng.next();
          if (r < 0.4) {
            const v = validRecord(rng, originals.length);
            originals.push(v.want);
            origIdx.add(batch.length);
            batch.push(v.json);
          } else if (r < 0.45) {
            // A valid record but for a time more than an hour ahead (up to ~2245, inside the contract's range): rejected for it, never stored.
            const v = validRecord(rng, -1).json;
            const ahead = new Date(Date.now() + 3_660_000 + rng.int(220 * 365 * 86_400) * 1000).toISOString();
            aheadIdx.add(batch.length);
            batch.push({ ...v, ctime: ahead, command: `#ahead ${ahead}`, commandB64: undefined });
          } else if (r < 0.75) batch.push(mutatedRecord(rng, posted + batch.length));
          else batch.push(randomJson(rng));
        }
        sent.push(batch);
      }
      posted += batch.length;
      const res = await t.post(JSON.stringify(batch));
      const where = `seed ${SEED}, batch ${b}`;
      expect({ where, status: res.status }).toEqual({ where, status: 200 });
      const ans = (await res.json()) as IngestAnswer;
      expect({ where, total: ans.accepted + ans.duplicates + ans.rejected.length }).toEqual({ where, total: batch.length });
      const rejectedOriginals = ans.rejected.filter((r) => origIdx.has(r.index!));
      expect({ where, rejectedOriginals }).toEqual({ where, rejectedOriginals: [] });
      const refusedAhead = ans.rejected.filter((r) => aheadIdx.has(r.index!) && /ahead of the server.s clock/.test(r.error)).length;
      expect({ where, refusedAhead }).toEqual({ where, refusedAhead: aheadIdx.size });
      for (const r of ans.rejected) expect(typeof r.error === "string" && r.error.length > 0).toBe(true);
      acceptedTotal += ans.accepted;
    }
    expect(posted).toBeGreaterThan(8000);
    expect(originals.length).toBeGreaterThan(3000);

    // Whole bodies that are not a batch: never a 500.
    for (let i = 0; i < 300; i++) {
      const body = rng.chance(0.5) ? Buffer.from(rng.bytes(rng.int(200))) : JSON.stringify(randomJson(rng)).slice(0, rng.chance(0.5) ? undefined : rng.int(50));
      const res = await t.post(body);
      expect({ seed: SEED, i, ok: res.status === 200 || res.status === 400 }).toEqual({ seed: SEED, i, ok: true });
      if (res.status === 200) acceptedTotal += ((await res.json()) as IngestAnswer).accepted;
    }

    // Every valid record stored exactly once, as sent; no row that no answer counted, none dated ahead.
    const rows = await t.all();
    expect(rows.length).toBe(acceptedTotal);
    expect(rows.filter((r) => r.command.startsWith("#ahead "))).toEqual([]);
    const bySession = new Map<string, Presented[]>();
    const byMarker = new Map<string, Presented[]>();
    for (const r of rows) {
      if (r.sessionId) bySession.set(`${r.sessionId}/${r.seq}`, [...(bySession.get(`${r.sessionId}/${r.seq}`) ?? []), r]);
      const m = /^#v(\d+) /.exec(r.command);
      if (m && !r.sessionId) byMarker.set(m[1]!, [...(byMarker.get(m[1]!) ?? []), r]);
    }
    originals.forEach((w, n) => {
      const found = w.sessionId ? bySession.get(`${w.sessionId}/${w.seq}`) ?? [] : byMarker.get(String(n)) ?? [];
      checkStored(found, w, `seed ${SEED}, original ${n}`);
    });
  }, 60_000);

  test("GET /api/v1/commands: random query strings answer 200 or 400, never 500", async () => {
    const rng = new Rng(SEED + 1);
    const t = await makeApp();
    apps.push(t);
    await t.post([{ ctime: "2024-01-01 00:00:00", hostname: "h", luser: "u", command: "c" }]);
    const names = ["host", "luser", "suser", "clientIp", "session", "kind", "exitStatus", "q", "from", "to", "limit", "cursor", "format", "flagged", "x", "", "host[]"];
    for (let i = 0; i < 400; i++) {
      const parts: string[] = [];
      for (let k = rng.int(4); k >= 0; k--) {
        const v = rng.chance(0.3) ? String(rng.pick([-1, 0, 1, 1e21, 2 ** 64, 1.5, "NaN", "1e3", "0x10"])) : rng.chance(0.5) ? safeText(rng, 0, 30) : Buffer.from(rng.bytes(rng.int(40))).toString("base64url");
        parts.push(`${encodeURIComponent(rng.pick(names))}=${rng.chance(0.1) ? "%E0%A4%A" : encodeURIComponent(v)}`);
      }
      const res = await t.get(`/api/v1/commands?${parts.join("&")}`, rng.chance(0.3) ? { Accept: rng.pick(["text/csv", "application/x-ndjson"]) } : {});
      expect({ seed: SEED, q: parts.join("&"), ok: res.status === 200 || res.status === 400 }).toEqual({ seed: SEED, q: parts.join("&"), ok: true });
      await res.arrayBuffer();
    }
  }, 30_000);

  test("POST /api/v1/ingest/raw: random bytes and mutated lines never store a record that was not sent", async () => {
    const rng = new Rng(SEED + 2);
    // Far more requests a minute than any host sends: the per-token rate limit is not what this tests.
    const t = await makeApp({ legacy_utc_offset: "+08:00", limits: { ...testConfig().limits, ingest_requests_per_minute: 1_000_000 } });
    apps.push(t);
    let serial = 0;
    const originals = new Map<string, Expect>();
    const legacyOriginals = new Map<string, Expect>();

    /** The physical lines of one original record, and whether each may be cut (only CA1 lines: seed lines have no length). */
    function originalLines(): { lines: Buffer[]; key: string; legacy: boolean } {
      const n = serial++;
      if (rng.chance(0.15)) {
        const H = rng.range(0, 23), Mi = rng.range(0, 59), S = rng.range(0, 59);
        const cmd = `#r${n} ${safeText(rng, 1, 40)}`;
        const line = `[2018-12-11 ${pad(H)}:${pad(Mi)}:${pad(S)}] [(root) alice pts/1 10.0.0.9] [legacy-host@10.0.0.1] ${cmd}`;
        legacyOriginals.set(cmd, {
          kind: "command", instantUs: utcUs(2018, 12, 11, H, Mi, S, 480), wall: `2018-12-11 ${pad(H)}:${pad(Mi)}:${pad(S)}`, utcOffset: null,
          hostname: "legacy-host", serverIps: "10.0.0.1", luser: "alice", suser: "root", terminal: "pts/1", clientIp: "10.0.0.9",
          sessionId: null, seq: null, cwd: null, exitStatus: null, durationMs: null, command: cmd,
        });
        return { lines: [Buffer.from(line + "\n")], key: `legacy:${cmd}`, legacy: true };
      }
      const { want } = validRecord(rng, n);
      const bytes = rng.chance(0.2) ? rng.bytes(rng.range(1, 300)) : Buffer.from(want.kind === "command" ? want.command : rng.chance(0.5) ? "" : want.command);
      const offset = want.utcOffset ?? "+08:00";
      const r: EncodableRecord = {
        kind: want.kind as EncodableRecord["kind"],
        ctime: `${want.wall.replace(" ", "T")}${offset}`,
        hostname: want.hostname, serverIps: want.serverIps, suser: want.suser, luser: want.luser, terminal: want.terminal,
        clientIp: want.clientIp, sessionId: `r-${n}`, seq: want.seq ?? n, cwd: want.cwd ?? "", exitStatus: want.exitStatus, durationMs: want.durationMs, command: bytes,
      };
      if (r.kind === "command" && bytes.length === 0) r.command = "x";
      const cmdBytes = typeof r.command === "string" ? Buffer.from(r.command) : Buffer.from(r.command);
      const exp: Expect = {
        ...want, sessionId: r.sessionId, seq: r.seq, cwd: r.cwd, utcOffset: offset,
        instantUs: instantUs(`${want.wall.replace(" ", "T")}${offset === "+00:00" ? "Z" : offset}`),
        command: isUtf8(cmdBytes) ? strictUtf8.decode(cmdBytes) : new TextDecoder().decode(cmdBytes),
      };
      delete exp.commandB64;
      if (!isUtf8(cmdBytes)) exp.commandB64 = cmdBytes.toString("base64");
      const key = `${r.sessionId}/${r.seq}`;
      originals.set(key, exp);
      // Small chunks: many multi-part records without megabytes of data.
      const enc = Buffer.from(encodeRecord(r, rng.pick([16, 64, 3072])));
      const lines: Buffer[] = [];
      let s = 0;
      for (let i = 0; i < enc.length; i++) if (enc[i] === 0x0a) { lines.push(enc.subarray(s, i + 1)); s = i + 1; }
      return { lines, key, legacy: false };
    }

    const touched = new Set<string>();
    let storedTotal = 0;
    for (let round = 0; round < 120; round++) {
      // A stream of whole records, each record's lines in order, records interleaved.
      const recs = Array.from({ length: rng.range(5, 40) }, () => originalLines());
      const queue = recs.map((r) => r.lines.map((l) => ({ line: l, key: r.key, legacy: r.legacy })));
      let stream: { line: Buffer; key: string | null; legacy: boolean }[] = [];
      for (;;) {
        const live = queue.filter((q) => q.length);
        if (!live.length) break;
        stream.push(rng.pick(live).shift()!);
      }
      // Mutations the format can detect: a substituted byte inside a field would be another valid record, so none of those.
      for (let m = rng.range(0, 8); m > 0 && stream.length > 1; m--) {
        const i = rng.int(stream.length);
        const e = stream[i]!;
        const mark = (x: { key: string | null }) => x.key && touched.add(x.key);
        switch (rng.int(8)) {
          case 0: mark(e); stream.splice(i, 1); break; // drop a line
          case 1: mark(e); stream.splice(i, 0, { ...e }); break; // duplicate a line
          case 2: if (i + 1 < stream.length) { mark(e); mark(stream[i + 1]!); stream[i] = stream[i + 1]!; stream[i + 1] = e; } break; // swap
          case 3: if (!e.legacy) { mark(e); e.line = Buffer.concat([e.line.subarray(0, rng.int(e.line.length - 1)), Buffer.from("\n")]); } break; // cut short
          case 4: if (!e.legacy) { mark(e); const p = rng.int(e.line.length); e.line = Buffer.concat([e.line.subarray(0, p), Buffer.from(rng.pick(["\t", "\n", "\t\t"])), e.line.subarray(p)]); } break;
          case 5: if (!e.legacy) { // delete or add a byte in the chunk (after the last TAB)
            mark(e);
            const lastTab = e.line.lastIndexOf(0x09);
            const p = rng.range(lastTab + 1, e.line.length - 1);
            e.line = rng.chance(0.5) && p < e.line.length - 1
              ? Buffer.concat([e.line.subarray(0, p), e.line.subarray(p + 1)])
              : Buffer.concat([e.line.subarray(0, p), Buffer.from([rng.range(0x20, 0x7e)]), e.line.subarray(p)]);
          } break;
          case 6: if (!e.legacy && i + 1 < stream.length) { mark(e); mark(stream[i + 1]!); e.line = Buffer.concat([e.line.subarray(0, -1), stream[i + 1]!.line]); stream.splice(i + 1, 1); } break; // join two lines
          default: { // a line of random bytes (it may hold newlines: then several)
            const junk = rng.bytes(rng.int(120));
            stream.splice(i, 0, { line: Buffer.concat([junk, Buffer.from("\n")]), key: null, legacy: false });
          }
        }
      }
      const body = Buffer.concat(stream.map((s) => s.line));
      stream = [];
      // Sent as a tailing reporter would: pieces cut anywhere, each request resending from `consumed`, then final.
      let pos = 0;
      let pending = Buffer.alloc(0);
      for (let piece = 0; pos < body.length || piece === 0; piece++) {
        const next = Math.min(body.length, pos + rng.range(1, Math.max(2, body.length >> 1)));
        pending = Buffer.concat([pending, body.subarray(pos, next)]);
        pos = next;
        const final = pos >= body.length;
        const res = await t.postRaw(pending, final ? "?final=1" : "");
        const where = `seed ${SEED}, round ${round}, piece ${piece}`;
        expect({ where, status: res.status }).toEqual({ where, status: 200 });
        const ans = (await res.json()) as IngestAnswer;
        expect({ where, ok: ans.consumed! >= 0 && ans.consumed! <= pending.length }).toEqual({ where, ok: true });
        if (final) expect({ where, consumed: ans.consumed }).toEqual({ where, consumed: pending.lastIndexOf(0x0a) + 1 });
        storedTotal += ans.accepted;
        pending = pending.subarray(ans.consumed!);
      }
    }
    // Pure random bodies.
    for (let i = 0; i < 200; i++) {
      const res = await t.postRaw(Buffer.from(rng.bytes(rng.int(2000))), rng.chance(0.5) ? "?final=1" : "");
      expect({ seed: SEED, i, status: res.status }).toEqual({ seed: SEED, i, status: 200 });
      storedTotal += ((await res.json()) as IngestAnswer).accepted;
    }

    const rows = await t.all();
    expect(rows.length).toBe(storedTotal);
    const seen = new Map<string, number>();
    for (const r of rows) {
      const key = r.sessionId ? `${r.sessionId}/${r.seq}` : `legacy:${r.command}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      const want = r.sessionId ? originals.get(key) : legacyOriginals.get(r.command);
      // Never a record that was not one of the originals, and each exactly as sent.
      expect({ seed: SEED, key, known: want !== undefined }).toEqual({ seed: SEED, key, known: true });
      checkStored([r], want!, `seed ${SEED}, ${key}`);
    }
    // Each original whose lines no mutation touched is stored exactly once.
    let untouched = 0;
    for (const key of [...originals.keys(), ...[...legacyOriginals.keys()].map((c) => `legacy:${c}`)]) {
      if (touched.has(key)) continue;
      untouched++;
      expect({ seed: SEED, key, stored: seen.get(key) ?? 0 }).toEqual({ seed: SEED, key, stored: 1 });
    }
    expect(untouched).toBeGreaterThan(200);
    expect(touched.size).toBeGreaterThan(50);
  }, 60_000);
});
