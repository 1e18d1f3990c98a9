// Tracking (agent/src/tail/track.ts, reconcile.ts): which file is which, what changed since the checkpoint,
// and what the range unread at the end of a run held. Real files in a temp dir; no server.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { appendFileSync, closeSync, copyFileSync, linkSync, openSync, readFileSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { newState, type State, type TrackedFile } from "../../../agent/src/state.ts";
import { reconcile } from "../../../agent/src/tail/reconcile.ts";
import { describeUnread, newTracked, rewrittenInPlace, tailFromFile } from "../../../agent/src/tail/track.ts";
import { events, record, tailRoot } from "./tail-support.ts";

const { logDir } = tailRoot("tail-track-");

function records(from: number, n: number): Buffer {
  return Buffer.concat(Array.from({ length: n }, (_, i) => record(from + i)));
}

/** The state after a run that settled `offset` bytes of the live log and described the rest (as `run` leaves it). */
function checkpointed(live: string, offset: number): State {
  const state = newState();
  const f: TrackedFile = { ...newTracked(live, statSync(live), "live"), offset };
  state.files.push(f);
  f.tail = tailFromFile(f);
  describeUnread(state);
  return state;
}

/** Overwrite bytes at `pos` without changing the inode or the length. */
function overwrite(path: string, pos: number, bytes: Buffer): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, pos);
  } finally {
    closeSync(fd);
  }
}

const cfg = (live: string) => ({ log: { path: live, extra_paths: [] as string[] } });

describe("what changed since the checkpoint", () => {
  test("same inode, same first 64 bytes and length, but bytes before the checkpoint rewritten: a rewrite, read again from 0", () => {
    const { live } = logDir();
    writeFileSync(live, records(1, 20));
    const size = statSync(live).size;
    const state = checkpointed(live, size);
    const ino = statSync(live).ino;
    // An editor writing in place: the head and the length stay, a command 100 bytes before the checkpoint changes.
    const at = size - 100;
    expect(readFileSync(live).subarray(at, at + 4).includes("#")).toBe(false);
    overwrite(live, at, Buffer.from("####"));
    expect(statSync(live).ino).toBe(ino);
    expect(statSync(live).size).toBe(size);
    expect(rewrittenInPlace(state.files[0]!, statSync(live))).toBe(true);

    const ev = events();
    reconcile(cfg(live), state, ev);
    expect(state.files.map((f) => ({ path: f.path, ino: f.ino, offset: f.offset, role: f.role }))).toEqual([{ path: live, ino, offset: 0, role: "live" }]);
    expect(ev.losses).toEqual([]); // nothing was unread
  });

  test("the same file, only grown since the checkpoint: not a rewrite, the checkpoint stays", () => {
    const { live } = logDir();
    writeFileSync(live, records(1, 5));
    const offset = statSync(live).size;
    const state = checkpointed(live, offset);
    appendFileSync(live, records(6, 3));
    expect(rewrittenInPlace(state.files[0]!, statSync(live))).toBe(false);
    reconcile(cfg(live), state, events());
    expect(state.files.map((f) => [f.offset, f.size])).toEqual([[offset, statSync(live).size]]);
  });

  test("shorter than the checkpoint (`: > log`): a rewrite; its unread range, found nowhere, is counted as lost exactly", () => {
    const { live } = logDir();
    writeFileSync(live, records(1, 10));
    const offset = statSync(live).size;
    appendFileSync(live, records(11, 4));
    const size = statSync(live).size;
    const state = checkpointed(live, offset);
    truncateSync(live, 0);
    const ev = events();
    reconcile(cfg(live), state, ev);
    expect(state.files.map((f) => [f.path, f.offset])).toEqual([[live, 0]]);
    expect(ev.losses).toEqual([`cmdaudit reporter: 4 record(s) (${size - offset} bytes) of ${live} at offset ${offset} were not sent before the file was rewritten in place and are not in it any more`]);
  });

  test("bash trimming the file keeps its end: the unread range is found at its new place and nothing is counted lost", () => {
    const { live } = logDir();
    writeFileSync(live, records(1, 30));
    const offset = statSync(live).size;
    appendFileSync(live, records(31, 5));
    const state = checkpointed(live, offset);
    const all = readFileSync(live);
    writeFileSync(live, all.subarray(record(1).length * 20)); // in place: the first 20 records gone
    const ev = events();
    reconcile(cfg(live), state, ev);
    expect(state.files.map((f) => f.offset)).toEqual([0]);
    expect(ev.losses).toEqual([]);
  });
});

describe("copytruncate", () => {
  test("the copy is the untracked sibling with the same head and the same bytes before the checkpoint; it is read from the checkpoint", () => {
    const { dir, live } = logDir();
    writeFileSync(live, records(1, 12));
    const offset = statSync(live).size;
    appendFileSync(live, records(13, 3)); // unread when the copy is taken
    const state = checkpointed(live, offset);
    const ino = statSync(live).ino;
    // A decoy: starts the same, same length, but differs just before the checkpoint.
    const decoy = join(dir, "commands.log.0");
    copyFileSync(live, decoy);
    overwrite(decoy, offset - 10, Buffer.from("##########"));
    const copy = join(dir, "commands.log.1");
    copyFileSync(live, copy);
    truncateSync(live, 0);
    appendFileSync(live, records(16, 1));

    const ev = events();
    reconcile(cfg(live), state, ev);
    expect(state.files.map((f) => ({ path: f.path, role: f.role, offset: f.offset, own: f.ownRotation }))).toEqual([
      { path: copy, role: "rotated", offset, own: false },
      { path: live, role: "live", offset: 0, own: false },
    ]);
    expect(state.files[0]!.ino).toBe(statSync(copy).ino);
    expect(state.files[1]!.ino).toBe(ino);
    expect(ev.losses).toEqual([]); // the copy holds the unread range
    expect(ev.warns).toEqual([`${live} was truncated by another program; reading the rest from its copy ${copy}`]);
  });

  test("a sibling with the same head but other bytes before the checkpoint is no copy: the unread records are counted lost", () => {
    const { dir, live } = logDir();
    writeFileSync(live, records(1, 12));
    const offset = statSync(live).size;
    appendFileSync(live, records(13, 2));
    const size = statSync(live).size;
    const state = checkpointed(live, offset);
    const decoy = join(dir, "commands.log.1");
    copyFileSync(live, decoy);
    overwrite(decoy, offset - 10, Buffer.from("##########"));
    truncateSync(live, 0);

    const ev = events();
    reconcile(cfg(live), state, ev);
    expect(state.files.map((f) => [f.path, f.offset])).toEqual([[live, 0]]);
    expect(ev.losses).toEqual([`cmdaudit reporter: 2 record(s) (${size - offset} bytes) of ${live} at offset ${offset} were not sent before the file was rewritten in place and are not in it any more`]);
  });
});

describe("the unread range", () => {
  test("described at the end of a run: offset, size, sha256, last 64 bytes, and its records (CA2 and CA1 heads, seed lines; part lines and foreign lines are not records)", () => {
    const { live } = logDir();
    const settled = records(1, 3);
    const ca1 = Buffer.from("CA1\tR\ts1\t90\tcommand\t2018-12-11T10:00:00.000+08:00\th1\t\troot\troot\tpts/0\t\t/root\t0\t1\t2\tls\n");
    const unread = Buffer.concat([
      record(4, "x".repeat(7000), 3000), // one record in three lines (a head and two parts)
      Buffer.from("#1544500000\nls -la\n"), // raw bash history: foreign
      ca1,
      Buffer.from("[2018-12-11 10:00:01] [(alice) 10.0.0.9 pts/0] root@h1:/root# uptime\n"), // a seed line
      record(5),
    ]);
    writeFileSync(live, Buffer.concat([settled, unread]));
    const state = checkpointed(live, settled.length);
    expect(state.files[0]!.unread).toEqual({
      offset: settled.length,
      size: settled.length + unread.length,
      sha256: createHash("sha256").update(unread).digest("hex"),
      records: 4,
      anchor: unread.subarray(unread.length - 64).toString("hex"),
    });
  });

  test("a file removed unread: its described range is counted exactly (records, bytes, offset)", () => {
    const { live } = logDir();
    writeFileSync(live, records(1, 7));
    const offset = record(1).length * 2;
    const state = checkpointed(live, offset);
    // Another name outside the log directory keeps the inode from being reused by the new live log.
    linkSync(live, join(logDir().dir, "kept"));
    unlinkSync(live);
    const ev = events();
    reconcile(cfg(live), state, ev);
    const size = records(1, 7).length;
    expect(ev.losses).toEqual([`cmdaudit reporter: 5 record(s) (${size - offset} bytes) of ${live} at offset ${offset} were not sent before the file was removed`]);
    // A new live log took its place, read from 0.
    expect(state.files.map((f) => [f.path, f.role, f.offset, f.size])).toEqual([[live, "live", 0, 0]]);
    expect(statSync(live).ino).toBe(state.files[0]!.ino);
  });

  test("renamed away by someone else (`mv`): followed by inode, not lost, and a new live log read from 0", () => {
    const { dir, live } = logDir();
    writeFileSync(live, records(1, 4));
    const state = checkpointed(live, record(1).length);
    const moved = join(dir, "old.log");
    renameSync(live, moved);
    writeFileSync(live, "");
    const ev = events();
    reconcile(cfg(live), state, ev);
    expect(state.files.map((f) => [f.path, f.role, f.offset, f.ownRotation])).toEqual([[moved, "rotated", record(1).length, false], [live, "live", 0, false]]);
    expect(ev.losses).toEqual([]);
  });
});
