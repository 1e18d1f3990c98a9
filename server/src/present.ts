import { type CommandsQuery, formatCommandTime, formatUtcOffset, type PresentedRecord } from "../../protocol/index.ts";
import type { CommandFilter, Cursor, Store, StoredRecord } from "./db/store.ts";
import { csvField, type CsvMode } from "./csv.ts";

/** The query API's parameters as a store filter (GET /api/v1/commands and the console's search). */
export function commandFilter(q: CommandsQuery): CommandFilter {
  return {
    host: q.host, luser: q.luser, suser: q.suser, clientIp: q.clientIp, sessionId: q.session,
    kind: q.kind, exitStatus: q.exitStatus, q: q.q, fromUs: q.from, toUs: q.to, flagged: q.flagged,
  };
}

/** A stored record as the query API shows it. */
export function presentRecord(r: StoredRecord): PresentedRecord {
  return {
    id: r.id,
    kind: r.kind,
    time: r.tsUs > 0 ? formatCommandTime(r.tsUs, r.utcOffset) : null,
    ctime: r.ctime,
    utcOffset: r.utcOffset === null ? null : formatUtcOffset(r.utcOffset),
    hostname: r.hostname,
    serverIps: r.serverIps,
    luser: r.luser,
    suser: r.suser,
    terminal: r.terminal,
    clientIp: r.clientIp,
    sessionId: r.sessionId,
    seq: r.seq,
    cwd: r.cwd,
    exitStatus: r.exitStatus,
    durationMs: r.durationMs,
    command: r.command,
    ...(r.commandRaw ? { commandB64: Buffer.from(r.commandRaw).toString("base64") } : {}),
    receivedAt: r.receivedUs > 0 ? formatCommandTime(r.receivedUs, null) : null,
    flags: r.flags,
    attestation: r.attestation,
    attestedUser: r.attestedUser,
    attestedLoginUser: r.attestedLoginUser,
    redactions: r.redactions,
  };
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.tsUs}.${c.id}`).toString("base64url");
}

export function decodeCursor(s: string): Cursor | undefined {
  const m = /^(-?\d{1,17})\.(\d{1,20})$/.exec(Buffer.from(s, "base64url").toString("latin1"));
  return m ? { tsUs: Number(m[1]), id: Number(m[2]) } : undefined;
}

/** durationMs, flags, the attestation columns, then redactions came later: they are last, so readers that take the columns by position still find the others. */
export const CSV_COLUMNS = ["id", "time", "hostname", "serverIps", "luser", "suser", "terminal", "clientIp",
  "sessionId", "seq", "kind", "cwd", "exitStatus", "command", "commandB64", "durationMs", "flags", "attestation", "attestedUser", "attestedLoginUser", "redactions"] as const;

/** A CSV cell's value: the flags as one comma-separated cell, as the database keeps them. */
function csvValue(p: PresentedRecord, k: (typeof CSV_COLUMNS)[number]): unknown {
  if (k === "flags") return p.flags.join(",");
  // As the database keeps them: rule@start-end, comma-separated.
  if (k === "redactions") return p.redactions.map((r) => `${r.rule}@${r.start}-${r.end}`).join(",");
  return p[k];
}


const PAGE = 1000;

/**
 * Stream every matching row, page by page with the keyset cursor; the stream
 * pulls the next page only when the client has read the last, so memory stays
 * at about one page whatever the export size.
 */
export function exportStream(store: Store, filter: CommandFilter, format: "ndjson" | "csv", after?: Cursor, max = Infinity, csv: CsvMode = "safe"): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let cursor = after;
  let sent = 0;
  let header = format === "csv";
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      const want = Math.min(PAGE, max - sent);
      const rows = want > 0 ? await store.query(filter, want, cursor) : [];
      let out = "";
      if (header) {
        out += CSV_COLUMNS.join(",") + "\r\n";
        header = false;
      }
      for (const r of rows) {
        const p = presentRecord(r);
        out += format === "ndjson" ? JSON.stringify(p) + "\n" : CSV_COLUMNS.map((k) => csvField(csvValue(p, k), csv)).join(",") + "\r\n";
      }
      if (out) ctrl.enqueue(enc.encode(out));
      sent += rows.length;
      const last = rows[rows.length - 1];
      if (!last || rows.length < want) ctrl.close();
      else cursor = { tsUs: last.tsUs, id: last.id };
    },
  }, { highWaterMark: 0 });
}
