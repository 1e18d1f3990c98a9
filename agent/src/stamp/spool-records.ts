/**
 * A spool file of the stamping daemon (server.ts) as records to ship: every record the writer's lines
 * hold, vouched for by the stamp the daemon wrote at its head (attestation kernel, the attested user
 * and login user by name), and a loss text for everything the daemon had to leave out. The server
 * flags a record whose users are not the attested ones `forged`. What `run` will send for spool files.
 */
import { LogDecoder, lines, type WireRecord, toWireRecord } from "../../../protocol/index.ts";

export interface SpoolStamp {
  /** null: a connection no uid could be found for (its lines are vouched for by no one). */
  uid: number | null;
  loginUid: number | null;
  session: number | null;
  pid: number | null;
}

export interface SpoolContent {
  stamp: SpoolStamp;
  records: WireRecord[];
  /** Lines of the writer that are not records, with the reason (a damaged or glued line). */
  damaged: string[];
  /** What the daemon left out, said once each: to be sent as the reporter's loss records. */
  losses: string[];
  /** The daemon closed the connection: nothing more will come. */
  closed: boolean;
  /** Where the next read of the file starts: after the last line taken (never inside a record whose parts are still to come). */
  next: number;
}

/** Where an earlier read of the same file stopped, and the stamp it read at the file's head. */
export interface SpoolResume {
  from: number;
  stamp: SpoolStamp;
}

const HEADER = /^#stamp v1 uid=(\d+|-) loginuid=(\d+|-) session=(\d+|-) pid=(\d+|-) opened=\S+$/;
const num = (s: string) => (s === "-" ? null : Number(s));

/** The name of a uid as the host resolves it (NSS: files, sssd, LDAP), `getent passwd`; cached. */
export function uidNames(lookup = (uid: number) => Bun.spawnSync(["getent", "passwd", String(uid)]).stdout.toString()): (uid: number) => string {
  const cache = new Map<number, string>();
  return (uid) => {
    let name = cache.get(uid);
    if (name === undefined) {
      // A uid with no name is named by its number: the record's users then do not match, and it shows.
      name = lookup(uid).split(":")[0] || String(uid);
      cache.set(uid, name);
    }
    return name;
  };
}

/**
 * A spool file, or its rest from `resume.from` (the bytes from there on). What the lines hold is taken
 * up to the last line after which no multi-part record is waiting for its parts; the lines after it,
 * and a last line without its LF, are left for the next read (`next`), which gives them whole. Each
 * read counts its own unkeyed lines, so nothing is said twice.
 */
export function readSpool(bytes: Uint8Array, nameOf: (uid: number) => string, legacyUtcOffset: number, resume?: SpoolResume): SpoolContent {
  const out: SpoolContent = {
    stamp: resume?.stamp ?? { uid: null, loginUid: null, session: null, pid: null }, records: [], damaged: [], losses: [], closed: false, next: resume?.from ?? 0,
  };
  const decoder = new LogDecoder({ legacyUtcOffset });
  let unkeyed = 0;
  let first = resume === undefined;
  // What the lines since the decoder was last idle hold; taken when it is idle again.
  let held = { records: [] as WireRecord[], damaged: [] as string[], losses: [] as string[], unkeyed: 0 };
  const commit = (end: number) => {
    out.records.push(...held.records);
    out.damaged.push(...held.damaged);
    out.losses.push(...held.losses);
    unkeyed += held.unkeyed;
    held = { records: [], damaged: [], losses: [], unkeyed: 0 };
    out.next = end;
  };
  const who = () => (out.stamp.uid === null ? "a connection no uid could be found for" : `a connection of ${nameOf(out.stamp.uid)} (uid ${out.stamp.uid})`);
  const take = (ev: ReturnType<LogDecoder["push"]>[number]) => {
    if (ev.type === "damaged") held.damaged.push(ev.reason);
    if (ev.type !== "record") return;
    const w: WireRecord = toWireRecord(ev.record);
    if (out.stamp.uid !== null) {
      w.attestation = "kernel";
      w.attestedUser = nameOf(out.stamp.uid);
      w.attestedLoginUser = out.stamp.loginUid === null ? null : nameOf(out.stamp.loginUid);
    }
    held.records.push(w);
  };
  let end = out.next;
  for (const { line, offset } of lines(bytes, resume?.from ?? 0)) {
    end = offset + line.length + 1;
    const text = Buffer.from(line).toString("latin1");
    if (first) {
      first = false;
      const m = HEADER.exec(text);
      if (m) {
        out.stamp = { uid: num(m[1]!), loginUid: num(m[2]!), session: num(m[3]!), pid: num(m[4]!) };
        commit(end);
        continue;
      }
      held.losses.push("a spool file without its stamp: its lines are vouched for by no one");
    }
    let m: RegExpExecArray | null;
    if (text.startsWith("#unkeyed ")) held.unkeyed++;
    else if ((m = /^#dropped (\d+) lines \((quota|too long|no space)\)$/.exec(text))) held.losses.push(`${m[1]} line(s) of ${who()} were dropped by the stamping daemon (${m[2]})`);
    else if ((m = /^#unfinished (\d+) bytes$/.exec(text))) held.losses.push(`${who()} ended inside a line (${m[1]} bytes never finished)`);
    // The daemon writes a refused connection's file whole and closes it at once: nothing more will come.
    else if (text.startsWith("#refused")) { held.losses.push(`${who()} was refused: ${text.slice("#refused ".length)}`); out.closed = true; }
    else if (text.startsWith("#closed ")) out.closed = true;
    else for (const ev of decoder.push(line, offset)) take(ev);
    if (decoder.idle) commit(end);
  }
  if (out.closed) {
    for (const ev of decoder.finish()) take(ev);
    commit(end);
  }
  if (unkeyed) out.losses.push(`${unkeyed} line(s) on ${who()} were written without its key, by a process that inherited the connection: not records of its owner`);
  return out;
}
