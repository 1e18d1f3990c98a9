import { type SQL, sql } from "drizzle-orm";
import { type AuditRecord, type RecordFlag, recordFlags } from "../../../protocol/index.ts";
import type { Redaction } from "../../../protocol/redact/index.ts";
import type { StoredRecord } from "./store.ts";

/** The `servercmdhist` row both dialects' schemas describe (same property names and value types). */
export interface RecordRow {
  id: number;
  oci: string;
  hostname: string;
  serverIps: string | null;
  ctime: string;
  luser: string;
  suser: string | null;
  terminal: string | null;
  clientIp: string;
  command: string;
  kind: string;
  tsUs: number;
  utcOffset: number | null;
  sessionId: string | null;
  seq: number | null;
  cwd: string | null;
  exitStatus: number | null;
  durationMs: number | null;
  commandRaw: Uint8Array | null;
  receivedUs: number;
  /** RecordFlag names joined with "," ('' for none). */
  flags: string;
  attestation: string;
  attestedUser: string | null;
  attestedLoginUser: string | null;
  /** `rule@start-end`, comma-separated; null for none. */
  redactions: string | null;
}

/** Redactions as the column holds them (rule ids hold no `@`, `-` ends a number, no `,`). */
export function redactionsToColumn(rs: readonly Redaction[]): string | null {
  return rs.length ? rs.map((r) => `${r.rule}@${r.start}-${r.end}`).join(",") : null;
}

export function redactionsFromColumn(s: string | null): Redaction[] {
  if (!s) return [];
  return s.split(",").map((part) => {
    const at = part.lastIndexOf("@");
    const [start, end] = part.slice(at + 1).split("-").map(Number);
    return { rule: part.slice(0, at), start: start!, end: end! };
  });
}

export function toRow(r: AuditRecord, receivedUs: number): Omit<RecordRow, "id"> {
  return {
    oci: r.oci, hostname: r.hostname, serverIps: r.serverIps, ctime: r.ctime, luser: r.luser, suser: r.suser,
    terminal: r.terminal, clientIp: r.clientIp, command: r.command, kind: r.kind, tsUs: r.tsUs, utcOffset: r.utcOffset,
    sessionId: r.sessionId, seq: r.seq, cwd: r.cwd, exitStatus: r.exitStatus, durationMs: r.durationMs, commandRaw: r.commandRaw,
    receivedUs, flags: r.flags.join(","), attestation: r.attestation, attestedUser: r.attestedUser, attestedLoginUser: r.attestedLoginUser,
    redactions: redactionsToColumn(r.redactions),
  };
}

export function fromRow(r: RecordRow): StoredRecord {
  return {
    id: r.id, oci: r.oci, kind: r.kind as StoredRecord["kind"], ctime: r.ctime, tsUs: r.tsUs, utcOffset: r.utcOffset,
    hostname: r.hostname, serverIps: r.serverIps ?? "", suser: r.suser ?? "", luser: r.luser, terminal: r.terminal ?? "",
    clientIp: r.clientIp, command: r.command, commandRaw: r.commandRaw ?? null, sessionId: r.sessionId, seq: r.seq,
    cwd: r.cwd, exitStatus: r.exitStatus, durationMs: r.durationMs, receivedUs: r.receivedUs,
    flags: r.flags === "" ? [] : (r.flags.split(",") as RecordFlag[]),
    attestation: r.attestation === "kernel" ? "kernel" : "none",
    attestedUser: r.attestedUser, attestedLoginUser: r.attestedLoginUser,
    redactions: redactionsFromColumn(r.redactions),
  };
}

/** A stored row's names, as the flags backfills read them. */
export type NamesOfRow = Pick<RecordRow, "id" | "hostname" | "suser" | "luser" | "terminal" | "cwd">;

/** The flags ingest would give a stored row's names, joined as the column holds them. */
function flagsOfRow(r: NamesOfRow): string {
  return recordFlags({ hostname: r.hostname, suser: r.suser ?? "", luser: r.luser, terminal: r.terminal ?? "", cwd: r.cwd }).join(",");
}

/**
 * The flags ingest would give stored rows, for the ones whose names have some (the column already
 * holds '' for the rest): `UPDATE … SET flags = <flags> WHERE id IN (<ids>)`, in either dialect.
 */
export function flagsUpdate(rows: NamesOfRow[]): { ids: number[]; flags: SQL } | undefined {
  const flagged = rows.map((r) => ({ id: r.id, flags: flagsOfRow(r) })).filter((r) => r.flags !== "");
  if (flagged.length === 0) return undefined;
  return { ids: flagged.map((r) => r.id), flags: sql`CASE id ${sql.join(flagged.map((r) => sql`WHEN ${r.id} THEN ${r.flags}`), sql` `)} END` };
}

/** Rows a flags backfill reads at a time. */
export const FLAGS_BACKFILL_BATCH = 2000;
