// The backlog cap (agent/src/tail/cap.ts, records.ts): the oldest rotated files are dropped first, and what they
// held is counted exactly (records: CA2 and CA1 head lines and seed lines; bytes). Real files, no server.
import { describe, expect, test } from "bun:test";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newState, type TrackedFile } from "../../../agent/src/state.ts";
import { backlogBytes, enforceCap } from "../../../agent/src/tail/cap.ts";
import { countRecords, recordsIn } from "../../../agent/src/tail/records.ts";
import { sealRotated } from "../../../agent/src/tail/rotate.ts";
import { newTracked } from "../../../agent/src/tail/track.ts";
import { events, record as hookRecord, tailRoot } from "./tail-support.ts";

const { logDir: freshDir } = tailRoot("tail-cap-");
const logDir = () => freshDir().dir;
/** Records of another shell (session s2), as root on pts/1 with no addresses. */
const record = (seq: number, command?: string, chunk?: number) =>
  hookRecord(seq, command, chunk, { serverIps: "", luser: "root", terminal: "pts/1", clientIp: "", sessionId: "s2", cwd: "/" });
const CA1 = Buffer.from("CA1\tR\ts0\t1\tcommand\t2018-12-11T10:00:00.000+08:00\th1\t\troot\troot\tpts/0\t\t/root\t0\t1\t2\tls\n");
const SEED = Buffer.from("[2018-12-11 10:00:01] [(root) alice pts/0 10.0.0.9] [h1@10.0.0.1] uptime\n");
const FOREIGN = Buffer.from("#1544500000\nls -la\n\n");

/** A file of ours the reporter rotated (sealed) or someone else's, tracked from `offset`. */
function rotated(path: string, content: Buffer, offset: number, own: boolean): TrackedFile {
  writeFileSync(path, content);
  if (own) sealRotated(path);
  return { ...newTracked(path, statSync(path), "rotated"), offset, ownRotation: own };
}

describe("counting records", () => {
  const bytes = Buffer.concat([record(1), record(2, "y".repeat(5000), 2000), FOREIGN, CA1, SEED, record(3)]);
  test("CA2 and CA1 head lines and seed lines are records; part lines, history lines and blank lines are not", () => {
    expect(recordsIn(bytes)).toBe(5);
    const dir = logDir();
    writeFileSync(join(dir, "f"), bytes);
    expect(countRecords(join(dir, "f"), 0, bytes.length)).toBe(5);
  });
  test("a range that starts inside a line counts from the next line start; one that ends inside a head line counts it", () => {
    const dir = logDir();
    writeFileSync(join(dir, "f"), bytes);
    const second = record(1).length;
    expect(countRecords(join(dir, "f"), second, bytes.length)).toBe(4);
    expect(countRecords(join(dir, "f"), second + 1, bytes.length)).toBe(3);
    expect(countRecords(join(dir, "f"), 0, second + 10)).toBe(2);
  });
  test("a record glued onto a line someone left unfinished counts; a part whose text looks like a 2018 date does not", () => {
    const glued = Buffer.concat([Buffer.from("xx"), record(4)]);
    const dated = record(5, "echo [2024-05-01 03:00:00] ".repeat(200), 1000); // parts hold the date text
    const all = Buffer.concat([glued, Buffer.from("junk [2024-05-01 03:00:00] [(root) root pts/0 1.2.3.4] [h@1] id\n"), dated]);
    expect(recordsIn(all)).toBe(3);
    const dir = logDir();
    writeFileSync(join(dir, "g"), all);
    expect(countRecords(join(dir, "g"), 0, all.length)).toBe(3);
    // A chunk boundary inside the glued line changes nothing (the reader keeps the whole line).
    expect(countRecords(join(dir, "g"), 1, all.length)).toBe(2);
  });
});

describe("the retained cap", () => {
  test("backlogBytes: what is unsettled over all files", () => {
    const f = (offset: number, size: number) => ({ offset, size }) as TrackedFile;
    expect(backlogBytes([f(10, 100), f(0, 5), f(50, 40)])).toBe(95);
  });

  test("drops the oldest rotated files first until under the cap, counting records and bytes exactly; ours are deleted, save runs before", () => {
    const dir = logDir();
    const live = join(dir, "commands.log");
    const oldest = Buffer.concat([record(1), record(2, "z".repeat(4000), 1000), CA1, SEED, FOREIGN, record(3)]);
    const settled = record(1).length; // the first record was sent before the server went away
    const middle = Buffer.concat([record(10), record(11), record(12)]);
    const newest = Buffer.concat([record(20), record(21)]);
    const state = newState();
    state.counters.droppedRecords = 7; // earlier drops add up
    state.counters.droppedBytes = 700;
    state.files = [
      rotated(join(dir, "commands.log.1700000000.1"), oldest, settled, true),
      rotated(join(dir, "commands.log-2023"), middle, 0, false),
      rotated(join(dir, "commands.log.1700000100.3"), newest, 0, true),
    ];
    writeFileSync(live, record(30));
    state.files.push(newTracked(live, statSync(live), "live"));
    const paths = state.files.map((f) => f.path);
    const cap = newest.length + record(30).length; // room for the newest rotated file and the live log only

    const ev = events();
    const saved: { files: string[]; counters: [number, number]; onDisk: boolean[] }[] = [];
    enforceCap({ log: { max_retained_bytes: cap } }, state, ev, () => {
      saved.push({ files: state.files.map((f) => f.path), counters: [state.counters.droppedRecords, state.counters.droppedBytes], onDisk: paths.map((p) => existsSync(p)) });
    });

    const dropped1 = { records: 4, bytes: oldest.length - settled }; // 2 CA2 heads (one with parts), CA1, seed
    const dropped2 = { records: 3, bytes: middle.length };
    expect(ev.losses).toEqual([
      `cmdaudit reporter: dropped ${dropped1.records} record(s) (${dropped1.bytes} bytes) of ${paths[0]}: the retained log passed log.max_retained_bytes (${cap}) while the server could not be reached`,
      `cmdaudit reporter: dropped ${dropped2.records} record(s) (${dropped2.bytes} bytes) of ${paths[1]}: the retained log passed log.max_retained_bytes (${cap}) while the server could not be reached`,
    ]);
    expect(state.counters).toMatchObject({ droppedRecords: 7 + 4 + 3, droppedBytes: 700 + dropped1.bytes + dropped2.bytes });
    // Each count saved while its file was still on disk.
    expect(saved).toEqual([
      { files: paths.slice(1), counters: [7 + 4, 700 + dropped1.bytes], onDisk: [true, true, true, true] },
      { files: paths.slice(2), counters: [7 + 4 + 3, 700 + dropped1.bytes + dropped2.bytes], onDisk: [false, true, true, true] },
    ]);
    // Ours deleted (append-only cleared first); someone else's only forgotten; the newest and the live log kept.
    expect(paths.map((p) => existsSync(p))).toEqual([false, true, true, true]);
    expect(ev.warns).toEqual([]);
    expect(backlogBytes(state.files)).toBe(cap);
  });

  test("under the cap nothing is dropped; over it with no rotated file left, the live log is never dropped", () => {
    const dir = logDir();
    const live = join(dir, "commands.log");
    writeFileSync(live, Buffer.concat([record(1), record(2)]));
    const state = newState();
    state.files = [newTracked(live, statSync(live), "live")];
    const ev = events();
    let saves = 0;
    enforceCap({ log: { max_retained_bytes: record(1).length } }, state, ev, () => saves++);
    enforceCap({ log: { max_retained_bytes: 1 << 20 } }, state, ev, () => saves++);
    expect({ files: state.files.length, losses: ev.losses, saves, dropped: state.counters.droppedRecords }).toEqual({ files: 1, losses: [], saves: 0, dropped: 0 });
  });
});
