/** Size limits shared by the hook, the reporter and the server. */

/**
 * Longest command text accepted, in bytes (the hook must cope with at least 1 MiB).
 * 2 MiB keeps the worst case (invalid UTF-8: 6 MiB of U+FFFD text plus the raw
 * bytes) inside one 16 MiB MySQL packet.
 */
export const MAX_COMMAND_BYTES = 2 * 1024 * 1024;
/** Escaped command bytes carried by one log line; keeps each line one atomic write() below PIPE_BUF. */
export const LOG_CHUNK_BYTES = 3072;
/** Longest physical log line the parser accepts (a head line carries cwd and all server IPs). */
export const MAX_LOG_LINE_BYTES = 64 * 1024;
/**
 * Longest 2018 line accepted: the 2018 hook wrote each command on one line, however long, so a
 * line holds a whole command (MAX_COMMAND_BYTES) after its [time] [(user) who] [host@ips] fields.
 */
export const MAX_LEGACY_LINE_BYTES = MAX_COMMAND_BYTES + 8192;
/** Most parts one record may be split into. */
export const MAX_LOG_PARTS = 4096;
/**
 * A multi-part record whose next part has not come after this many lines, or this many bytes,
 * is given up as unfinished (a shell writes a record's parts back to back: only one killed
 * mid-record leaves one). Far below what one body may carry (MAX_RECORDS_PER_BODY, 16 MiB), so
 * a reporter resending from the record's head always sends a body in which it is given up.
 */
export const MAX_PENDING_LINES = 1000;
export const MAX_PENDING_GAP = 1024 * 1024;
/** Records one ingest request may carry (the server's default `limits.max_records_per_batch`). */
export const MAX_RECORDS_PER_BODY = 10_000;
export const MAX_HOSTNAME = 255;
export const MAX_SERVER_IPS = 2048;
export const MAX_USER = 64;
export const MAX_TERMINAL = 64;
export const MAX_CWD = 4096;
export const MAX_SESSION_ID = 64;
/** Textual IPv6 with a zone ("fe80::…%enp0s31f6") can pass 45 characters. */
export const MAX_CLIENT_IP = 64;
