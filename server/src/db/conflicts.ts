/**
 * A second record with an existing key (oci) and other content is a conflict, never a duplicate: a
 * user who writes a record with their own session id and next seq before the hook does must not make
 * the store drop the real one. Both are kept: the later one under a key derived from the first's and
 * its content (so its own resends are duplicates of it), and both carry the `conflict` flag.
 *
 * Only records with a session are compared: a 2018 record's key is the seed's md5 of its host, time,
 * users and command, so another record with that key is the same command; its other fields (client IP
 * as the seed stored it) may differ between the seed's row and a resend, which is no conflict.
 */
import { createHash } from "node:crypto";
import type { AuditRecord, RecordFlag } from "../../../protocol/index.ts";

/**
 * What a resend carries unchanged: every field the hook wrote, not durationMs (a record stored
 * before durationMs existed may come again with one) nor the server's flags and receipt time.
 */
function content(r: AuditRecord): string {
  const command = r.commandRaw ? Buffer.from(r.commandRaw).toString("base64") : r.command;
  return JSON.stringify([r.kind, r.tsUs, r.utcOffset, r.hostname, r.serverIps, r.suser, r.luser, r.terminal, r.clientIp,
    r.commandRaw ? "b64" : "text", command, r.sessionId, r.seq, r.cwd, r.exitStatus]);
}

export function sameContent(a: AuditRecord, b: AuditRecord): boolean {
  return content(a) === content(b);
}

/** The key a conflicting record is stored under: the same md5 form as every oci, from the first's key and its own content. */
export function conflictOci(r: AuditRecord): string {
  return createHash("md5").update(`cmdaudit-conflict\0${r.oci}\0`).update(content(r)).digest("hex");
}

export const withConflict = (flags: readonly RecordFlag[]): RecordFlag[] => (flags.includes("conflict") ? [...flags] : [...flags, "conflict"]);

export interface Conflicts {
  /** The conflicting records as they are to be stored: derived key, flagged. */
  records: AuditRecord[];
  /** Keys of stored rows another record conflicted with: they get the flag too. */
  flagStored: string[];
}

/**
 * The records of a batch whose key is stored with other content. `stored`: the stored row of each
 * key of the batch that had one when the batch was written (its own first records included).
 */
export function findConflicts(records: readonly AuditRecord[], stored: ReadonlyMap<string, AuditRecord>): Conflicts {
  const out: Conflicts = { records: [], flagStored: [] };
  const seen = new Set<string>();
  for (const r of records) {
    if (r.sessionId === null) continue;
    const first = stored.get(r.oci);
    if (!first || sameContent(first, r)) continue;
    const c = { ...r, oci: conflictOci(r), flags: withConflict(r.flags) };
    if (seen.has(c.oci)) continue;
    seen.add(c.oci);
    out.records.push(c);
    if (!out.flagStored.includes(r.oci)) out.flagStored.push(r.oci);
  }
  return out;
}
