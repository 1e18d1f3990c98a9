import { createHash } from "node:crypto";

/**
 * The `oci` de-duplication key (char(32) md5 hex, as in the seed's table).
 *
 * Records from the hook carry a session id and a per-session sequence number:
 * that pair identifies one typed command, so two genuine identical commands in
 * the same second stay two rows and a resend stays one.
 */
export function sessionOci(hostname: string, sessionId: string, seq: number): string {
  return createHash("md5").update(`cmdaudit2\0${hostname}\0${sessionId}\0${seq}`).digest("hex");
}

/** The seed's formula, kept so resends of pre-upgrade records match stored rows: md5("host-ctime-luser-suser-command"). */
export function legacyOci(hostname: string, ctime: string, luser: string, suser: string, command: Uint8Array | string): string {
  return createHash("md5").update(`${hostname}-${ctime}-${luser}-${suser}-`).update(command).digest("hex");
}
