// The reporter's own rotation (agent/src/tail/rotate.ts): names that sort in the order rotations happened,
// sealing (0600 + append-only) that never touches the live log's inode, retiring drained files. Real files, no server.
import { describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, linkSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newState, type State } from "../../../agent/src/state.ts";
import { reconcile } from "../../../agent/src/tail/reconcile.ts";
import { createLiveLog, ownRotatedFiles, ownRotationName, retireDrained, rotateIfDue, sealRotated } from "../../../agent/src/tail/rotate.ts";
import { events, tailRoot } from "./tail-support.ts";

const { logDir } = tailRoot("tail-rotate-");

/** Mode bits and the append-only flag as `lsattr` (not the code under test) reads them. */
function sealOf(path: string): { mode: string; appendOnly: boolean } {
  const out = Bun.spawnSync(["lsattr", "-d", path]).stdout.toString();
  return { mode: (statSync(path).mode & 0o7777).toString(8), appendOnly: out.split(" ")[0]!.includes("a") };
}

function chattr(flag: "-a" | "+a", path: string): void {
  expect(Bun.spawnSync(["chattr", flag, path]).exitCode).toBe(0);
}

const cfg = (live: string) => ({ log: { path: live, extra_paths: [] as string[], rotate_bytes: 1, rotate_grace_seconds: 0 } });

describe("rotation names", () => {
  const live = "/var/log/cmdaudit/commands.log";
  test("<log>.<epoch seconds>.<inode>, the epoch from the clock when it is past every earlier rotation", () => {
    expect(ownRotationName(live, 42, 1_700_000_000_999, [])).toBe(`${live}.1700000000.42`);
    expect(ownRotationName(live, 42, 1_700_000_001_000, [`${live}.1700000000.7`])).toBe(`${live}.1700000001.42`);
  });
  test("a second rotation in the same second, or after the clock was set back, still gets a later epoch", () => {
    expect(ownRotationName(live, 5, 1_700_000_000_500, [`${live}.1700000000.9`])).toBe(`${live}.1700000001.5`);
    expect(ownRotationName(live, 5, 1_600_000_000_000, [`${live}.1700000000.9`, `${live}.1700000003.2`])).toBe(`${live}.1700000004.5`);
  });

  test("rotations on disk (same second twice, then the clock set back an hour) are listed in the order they happened", () => {
    const { live } = logDir();
    const state = newState();
    const ev = events();
    reconcile(cfg(live), state, ev); // creates the live log
    expect(ev.warns).toEqual([`created the missing log ${live}`]);
    const t = 1_750_000_000_000;
    for (const [i, now] of [[1, t], [2, t + 300], [3, t - 3_600_000], [4, t - 3_600_000]] as const) {
      appendFileSync(live, `rotation ${i}\n`);
      reconcile(cfg(live), state, ev);
      expect(rotateIfDue(cfg(live), state, now, ev)).toBe(true);
    }
    expect(ev.warns.length).toBe(1);
    const rotated = ownRotatedFiles(live);
    expect(rotated.map((p) => readFileSync(p, "utf8"))).toEqual(["rotation 1\n", "rotation 2\n", "rotation 3\n", "rotation 4\n"]);
    // The state lists them in the same order, oldest first, then the fresh live log.
    expect(state.files.map((f) => [f.path, f.role])).toEqual([...rotated.map((p) => [p, "rotated"]), [live, "live"]]);
  });
});

describe("rotating and sealing", () => {
  test("rotateIfDue: the old inode under its rotated name, sealed 0600 + append-only; a fresh empty 0622 append-only live log", () => {
    const { live } = logDir();
    createLiveLog(live);
    expect(sealOf(live)).toEqual({ mode: "622", appendOnly: true });
    appendFileSync(live, "a line\n");
    const before = statSync(live);
    const state = newState();
    reconcile(cfg(live), state, events());
    expect(rotateIfDue({ log: { rotate_bytes: 8 } }, state, Date.now(), events())).toBe(false); // not due yet
    const ev = events();
    expect(rotateIfDue(cfg(live), state, 1_750_000_000_000, ev)).toBe(true);
    const to = `${live}.1750000000.${before.ino}`;
    expect(statSync(to).ino).toBe(before.ino);
    expect(sealOf(to)).toEqual({ mode: "600", appendOnly: true });
    expect(statSync(live).ino).not.toBe(before.ino);
    expect({ size: statSync(live).size, ...sealOf(live) }).toEqual({ size: 0, mode: "622", appendOnly: true });
    expect(state.files.map((f) => [f.path, f.role, f.ownRotation, f.ino])).toEqual([[to, "rotated", true, before.ino], [live, "live", false, statSync(live).ino]]);
    expect(ev.warns).toEqual([]);
  });

  test("sealRotated: 0600 and append-only (no truncating open, appends still work), idempotent", () => {
    const { dir } = logDir();
    const p = join(dir, "commands.log.1.2");
    writeFileSync(p, "x\n");
    chmodSync(p, 0o644);
    sealRotated(p);
    expect(sealOf(p)).toEqual({ mode: "600", appendOnly: true });
    expect(() => openSync(p, "w")).toThrow(/EPERM|operation not permitted/i);
    sealRotated(p);
    expect(sealOf(p)).toEqual({ mode: "600", appendOnly: true });
    appendFileSync(p, "y\n");
    expect(readFileSync(p, "utf8")).toBe("x\ny\n");
  });

  test("reconcile seals our unsealed rotated files, but never the live log's inode under a rotated name (a run killed between link and rename)", () => {
    const { dir, live } = logDir();
    createLiveLog(live);
    appendFileSync(live, "live line\n");
    const liveIno = statSync(live).ino;
    // The killed run had cleared the live log's append-only flag (an append-only file cannot be linked), then linked it.
    chattr("-a", live);
    const stray = join(dir, `commands.log.1750000000.${liveIno}`);
    linkSync(live, stray);
    const older = join(dir, "commands.log.1740000000.1");
    writeFileSync(older, "old line\n");
    chmodSync(older, 0o644);

    // Once with a state that has the stray name as our rotated file, once with no state at all.
    const known = newState();
    known.files.push({ path: stray, dev: statSync(live).dev, ino: liveIno, offset: 0, size: 10, head: "", role: "rotated", ownRotation: true, tail: "", unread: null });
    for (const state of [known, newState()]) {
      const ev = events();
      reconcile(cfg(live), state, ev);
      expect(sealOf(live)).toEqual({ mode: "622", appendOnly: false }); // as the killed run left it
      expect(sealOf(older)).toEqual({ mode: "600", appendOnly: true });
      expect(ev.warns).toEqual([]);
      expect(state.files.find((f) => f.role === "live")).toMatchObject({ path: live, ino: liveIno });
    }
    // Unknown to the state, the stray name is not read a second time as a rotated file.
    const fresh = newState();
    reconcile(cfg(live), fresh, events());
    expect(fresh.files.map((f) => [f.path, f.role])).toEqual([[older, "rotated"], [live, "live"]]);
  });
});

describe("retiring drained files", () => {
  test("a drained, quiet file we rotated is deleted with any other rotated name of its inode; a drained file of someone else's is only forgotten", () => {
    const { dir, live } = logDir();
    createLiveLog(live);
    appendFileSync(live, "one\n");
    const state: State = newState();
    reconcile(cfg(live), state, events());
    rotateIfDue(cfg(live), state, 1_750_000_000_000, events());
    const ours = state.files[0]!;
    const stray = join(dir, `commands.log.1740000000.${ours.ino}`); // the same inode, left by a killed run
    chattr("-a", ours.path);
    linkSync(ours.path, stray);
    sealRotated(ours.path);
    const theirs = join(dir, "commands.log-20250101");
    writeFileSync(theirs, "two\n");
    state.files.unshift({ path: theirs, dev: statSync(theirs).dev, ino: statSync(theirs).ino, offset: 4, size: 4, head: "", role: "rotated", ownRotation: false, tail: "", unread: null });
    ours.offset = ours.size; // drained

    retireDrained(cfg(live), state, Date.now() + 1000, events());
    expect(state.files.map((f) => f.path)).toEqual([live]);
    expect(readdirSync(dir).sort()).toEqual(["commands.log", "commands.log-20250101"]);
  });

  test("within the grace period, or not read to the end, a rotated file stays", () => {
    const { live } = logDir();
    createLiveLog(live);
    appendFileSync(live, "one\n");
    const state = newState();
    reconcile(cfg(live), state, events());
    rotateIfDue(cfg(live), state, Date.now(), events());
    const rotated = state.files[0]!.path;
    retireDrained(cfg(live), state, Date.now(), events()); // not drained
    state.files[0]!.offset = state.files[0]!.size;
    retireDrained({ log: { path: live, rotate_grace_seconds: 3600 } }, state, Date.now(), events()); // written to just now
    expect(state.files.map((f) => f.path)).toEqual([rotated, live]);
    expect(statSync(rotated).size).toBe(4);
  });
});
