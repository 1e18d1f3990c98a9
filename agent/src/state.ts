import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

/** A log file being read: identified by device + inode, never by name alone. */
const trackedFileSchema = z.strictObject({
  path: z.string(),
  dev: z.number(),
  ino: z.number(),
  /** Bytes from the start that the server has settled (stored, duplicate, rejected or ignored). */
  offset: z.number().int().min(0),
  /** Size when last seen: what is lost if the file vanishes unread. */
  size: z.number().int().min(0),
  /** Hex of the file's first bytes: tells a file truncated and rewritten (copytruncate) from the one we read. */
  head: z.string(),
  /** live: the configured log; extra: a read-only older log; rotated: renamed away, drained then forgotten. */
  role: z.enum(["live", "extra", "rotated"]),
  /** Set when the reporter itself renamed it: only then does it delete the file once drained. */
  ownRotation: z.boolean().default(false),
  /**
   * sha256 (hex) of the up to 256 bytes just before `offset` ("" at offset 0): an in-place rewrite
   * that keeps the head and the length still changes these. Absent in a state file from before it:
   * taken from the file at the next run.
   */
  tail: z.string().optional(),
  /** Since when (epoch ms, this host's clock) the checkpoint has waited at `offset` for an unfinished record's parts. */
  waiting: z.strictObject({ offset: z.number().int().min(0), since: z.number() }).optional(),
  /**
   * The range not yet settled at the end of the last run ([offset, size)): what a rewrite or a
   * removal loses unless the range is found again. null: nothing was unread. Absent: a state
   * file from before it.
   */
  unread: z.strictObject({
    offset: z.number().int().min(0),
    size: z.number().int().min(0),
    sha256: z.string(),
    records: z.number().int().min(0),
    /** Hex of the range's last (up to 64) bytes: where to look for it in a rewritten file. */
    anchor: z.string(),
  }).nullable().optional(),
});
export type TrackedFile = z.infer<typeof trackedFileSchema>;

/** A `loss` record waiting to be acknowledged; its seq is fixed when created, so a resend is stored once. */
const pendingLossSchema = z.strictObject({ seq: z.number().int(), ctime: z.string(), text: z.string() });
export type PendingLoss = z.infer<typeof pendingLossSchema>;

const stateSchema = z.strictObject({
  version: z.literal(1),
  /** Session id of the reporter's own `loss` records (random: a reinstalled reporter never reuses keys). */
  reporterId: z.string(),
  nextLossSeq: z.number().int().min(0),
  files: z.array(trackedFileSchema),
  pendingLoss: z.array(pendingLossSchema),
  counters: z.strictObject({
    droppedRecords: z.number().int().default(0),
    droppedBytes: z.number().int().default(0),
    deadLetters: z.number().int().default(0),
    sentBytes: z.number().int().default(0),
    accepted: z.number().int().default(0),
    duplicates: z.number().int().default(0),
  }),
  lastSuccess: z.string().nullable(),
  lastError: z.string().nullable(),
  lastRun: z.string().nullable(),
  /** Why the last run could not move a file on while the server answered (exit 6); `check` fails with it. */
  stuck: z.string().nullable().optional(),
  /**
   * Per spool file of the stamping daemon: the byte where the next read starts (never inside a record
   * whose parts are still to come), the stamp read at its head, and how many of the records, losses and
   * damaged lines read from there on are sent. A state written before `offset` (no offset: 0) reads on.
   */
  spool: z.record(z.string(), z.strictObject({
    offset: z.number().int().min(0).default(0),
    stamp: z.strictObject({ uid: z.number().int().nullable(), loginUid: z.number().int().nullable(), session: z.number().int().nullable(), pid: z.number().int().nullable() }).optional(),
    records: z.number().int(),
    losses: z.number().int(),
    damaged: z.number().int(),
  })).default({}),
});
export type State = z.infer<typeof stateSchema>;

export function stateFile(stateDir: string): string {
  return join(stateDir, "state.json");
}

export function newState(): State {
  return {
    version: 1,
    reporterId: `reporter.${randomBytes(8).toString("hex")}`,
    nextLossSeq: 0,
    files: [],
    pendingLoss: [],
    counters: { droppedRecords: 0, droppedBytes: 0, deadLetters: 0, sentBytes: 0, accepted: 0, duplicates: 0 },
    lastSuccess: null,
    lastError: null,
    lastRun: null,
    spool: {},
  };
}

export class StateError extends Error {}

/** The state directory cannot be written (disk full, read-only): the run stops, the checkpoint before stays. */
export class StateWriteError extends Error {}

/** The saved state; a new one when there is none. A damaged file is an error, not a silent restart from 0. */
export function loadState(stateDir: string): State {
  let text: string;
  try {
    text = readFileSync(stateFile(stateDir), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return newState();
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new StateError(`${stateFile(stateDir)} is not valid JSON; move it away to start over (that resends the whole log; the server stores each record once)`);
  }
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) throw new StateError(`${stateFile(stateDir)}: ${parsed.error.issues[0]!.path.join(".")}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** Write, fsync, rename, fsync the directory: after a crash the file is the old state or the new one. */
export function saveState(stateDir: string, state: State): void {
  try {
    writeState(stateDir, state);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!err.code) throw e;
    throw new StateWriteError(`cannot write ${stateFile(stateDir)}: ${err.code}${err.code === "ENOSPC" ? " (no space left on device)" : ""}; the checkpoint before it is kept, so what this run sent is sent again and stored once`);
  }
}

function writeState(stateDir: string, state: State): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const final = stateFile(stateDir);
  const tmp = `${final}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, JSON.stringify(state, null, 1) + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, final);
  const dir = openSync(stateDir, "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
