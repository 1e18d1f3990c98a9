/** Spool files as records (agent/src/stamp/spool-records.ts): the stamp, the markers, multi-part records, unattributed files. */
import { expect, test } from "bun:test";
import { readSpool, uidNames } from "../../../agent/src/stamp/spool-records.ts";
import { encodeRecord } from "../../../protocol/index.ts";

const names = (uid: number) => ({ 0: "root", 1000: "alice" } as Record<number, string>)[uid] ?? String(uid);
const rec = (seq: number, command: string) => Buffer.from(encodeRecord({
  kind: "command", ctime: "2026-12-01T10:00:00.000000+0000", hostname: "h", serverIps: "", suser: "alice", luser: "alice", terminal: "pts/0",
  clientIp: "", sessionId: "s", seq, cwd: "/", exitStatus: 0, command,
}, 64)).toString("utf8");

test("the stamp vouches for every record; each marker becomes one loss text; a multi-part record is whole", () => {
  const body = [
    "#stamp v1 uid=1000 loginuid=0 session=7 pid=4242 opened=2026-12-01T10:00:00.000Z\n",
    rec(1, "id"), rec(2, "x".repeat(300)), // parts of 64 bytes
    "#unkeyed forged\tline\n", "#unkeyed another\n",
    "#dropped 12 lines (quota)\n", "#unfinished 5 bytes\n", "#closed 2026-12-01T10:01:00.000Z\n",
  ].join("");
  const c = readSpool(Buffer.from(body), names, 0);
  expect(c.stamp).toEqual({ uid: 1000, loginUid: 0, session: 7, pid: 4242 });
  expect(c.closed).toBe(true);
  expect(c.records.map((r) => [r.seq, r.command?.length, r.attestation, r.attestedUser, r.attestedLoginUser])).toEqual([[1, 2, "kernel", "alice", "root"], [2, 300, "kernel", "alice", "root"]]);
  expect(c.losses).toEqual([
    "12 line(s) of a connection of alice (uid 1000) were dropped by the stamping daemon (quota)",
    "a connection of alice (uid 1000) ended inside a line (5 bytes never finished)",
    "2 line(s) on a connection of alice (uid 1000) were written without its key, by a process that inherited the connection: not records of its owner",
  ]);
});

test("an unattributed connection's records carry no attestation; a file without its stamp says so; an open file keeps its unfinished record", () => {
  const none = readSpool(Buffer.from(`#stamp v1 uid=- loginuid=- session=- pid=- opened=2026-12-01T10:00:00.000Z\n${rec(1, "ls")}`), names, 0);
  expect(none.records.map((r) => [r.attestation, r.attestedUser])).toEqual([[undefined, undefined]]);
  expect(none.closed).toBe(false);
  const bare = readSpool(Buffer.from(rec(1, "ls")), names, 0);
  expect(bare.losses).toEqual(["a spool file without its stamp: its lines are vouched for by no one"]);
  // The head and first part of a long record, the connection still open: nothing yet, no loss.
  const open = readSpool(Buffer.from(`#stamp v1 uid=0 loginuid=- session=- pid=1 opened=2026-12-01T10:00:00.000Z\n${rec(3, "y".repeat(300)).split("\n").slice(0, 2).join("\n")}\n`), names, 0);
  expect([open.records.length, open.damaged, open.losses]).toEqual([0, [], []]);
});

test("uid names come from the host's lookup, once each; a uid without a name is its number", () => {
  let calls = 0;
  const nameOf = uidNames((uid) => { calls++; return uid === 0 ? "root:x:0:0:root:/root:/bin/bash\n" : ""; });
  expect([nameOf(0), nameOf(0), nameOf(4321), nameOf(4321)]).toEqual(["root", "root", "4321", "4321"]);
  expect(calls).toBe(2);
  expect(uidNames()(0)).toBe("root"); // the real getent
});

test("read in steps as the file grows: each record, loss and unkeyed line once; a read never stops inside a record whose parts are still coming", () => {
  const head = "#stamp v1 uid=1000 loginuid=- session=- pid=1 opened=2026-12-01T10:00:00.000Z\n";
  const long = rec(2, "z".repeat(300)); // head and parts of 64 bytes
  const cut = long.indexOf("\n", long.indexOf("\n") + 1) + 1; // after its second line
  const steps = [head + rec(1, "a") + "#unkeyed x\n", long.slice(0, cut), long.slice(cut) + "#unkeyed y\n" + rec(3, "c"), "#dropped 2 lines (quota)\n#closed 2026-12-01T10:01:00.000Z\n"];
  const whole = Buffer.from(steps.join(""));
  const got = { records: [] as (number | undefined)[], losses: [] as string[] };
  let file = "";
  let resume: { from: number; stamp: ReturnType<typeof readSpool>["stamp"] } | undefined;
  const nexts: number[] = [];
  for (const s of steps) {
    file += s;
    const c = readSpool(Buffer.from(file).subarray(resume?.from ?? 0), names, 0, resume);
    got.records.push(...c.records.map((r) => r.seq));
    got.losses.push(...c.losses);
    nexts.push(c.next);
    resume = { from: c.next, stamp: c.stamp };
  }
  expect(got.records).toEqual([1, 2, 3]);
  expect(got.losses).toEqual([
    "1 line(s) on a connection of alice (uid 1000) were written without its key, by a process that inherited the connection: not records of its owner",
    "1 line(s) on a connection of alice (uid 1000) were written without its key, by a process that inherited the connection: not records of its owner",
    "2 line(s) of a connection of alice (uid 1000) were dropped by the stamping daemon (quota)",
  ]);
  // The second read stopped before the long record's head, where the first one had; then at the end.
  const afterFirst = Buffer.byteLength(steps[0]!);
  expect(nexts).toEqual([afterFirst, afterFirst, whole.length - Buffer.byteLength(steps[3]!), whole.length]);
  // The same file read at once says the same.
  const once = readSpool(whole, names, 0);
  expect(once.records.map((r) => r.seq)).toEqual([1, 2, 3]);
  expect(once.losses.length).toBe(2);
});
