/**
 * The HTTP contract: what the server's routes take and answer, as zod schemas. The server's
 * routes declare them (and the OpenAPI document is generated from them), the compiled reporter
 * parses the raw ingest answer with them, the tests check real answers against them.
 * Plain zod 4 with `.meta()`: `id` names the OpenAPI component, so the reporter does not need
 * the OpenAPI library to import this file.
 */
import { z } from "zod";
import { RECORD_FLAGS } from "./names.ts";
import { ATTESTATIONS, RECORD_KINDS } from "./record.ts";
import { parseCommandTime, parseUtcOffset } from "./time.ts";

const count = () => z.number().int().min(0);

// --- errors -----------------------------------------------------------------------------------

/** Every error answer (4xx, 5xx) of the API routes. */
export const errorSchema = z.object({
  code: z.number().int().meta({ description: "The HTTP status again.", example: 400 }),
  msg: z.string().meta({ description: "What went wrong, for a person to read.", example: "unauthorized" }),
}).meta({ id: "Error", description: "The error envelope: every 4xx and 5xx answer of the API." });
export type ErrorAnswer = z.infer<typeof errorSchema>;

// --- ingest -----------------------------------------------------------------------------------

export const rejectedEntrySchema = z.object({
  index: count().optional().meta({ description: "POST /api/v1/commands: the record's position in the array (from 0)." }),
  line: count().optional().meta({ description: "POST /api/v1/ingest/raw: the line of the body (from 1) the record or fragment starts on." }),
  error: z.string().meta({ description: "Why it was not stored." }),
}).meta({ id: "RejectedEntry", description: "A record that was not stored, and why. The others of the batch are." });
export type Rejected = z.infer<typeof rejectedEntrySchema>;

export const ingestAnswerSchema = z.object({
  code: z.literal(0).meta({ description: "0: the valid records are committed (the seed's success code)." }),
  msg: z.string().meta({ example: "ok" }),
  accepted: count().meta({ description: "Records stored by this request." }),
  duplicates: count().meta({ description: "Records already stored (same oci): not stored again." }),
  rejected: z.array(rejectedEntrySchema),
}).meta({ id: "IngestAnswer", description: "The answer to a batch of JSON records." });
export type IngestAnswer = z.infer<typeof ingestAnswerSchema>;

export const rawIngestAnswerSchema = ingestAnswerSchema.extend({
  ignored: count().meta({ description: "Lines that are not audit lines (e.g. bash history), skipped." }),
  consumed: count().meta({ description: "Bytes of the body that are settled (stored, duplicate, rejected or ignored); the client resends the rest with its next request." }),
}).meta({ id: "RawIngestAnswer", description: "The answer to a body of log lines." });
export type RawIngestAnswer = z.infer<typeof rawIngestAnswerSchema>;

const quoted = (input: unknown) => JSON.stringify(String(input).slice(0, 20));

/** Each message names its parameter: the server answers it as it is. */
export const rawIngestQuerySchema = z.object({
  utcOffset: z.string()
    .refine((s) => parseUtcOffset(s) !== undefined, { error: (iss) => `utcOffset ${quoted(iss.input)} is not ±HH:MM` })
    .optional()
    .meta({ description: "The UTC offset (±HH:MM or Z) of zone-less seed lines; also taken from the X-Cmdaudit-Utc-Offset header; default the server's legacy_utc_offset.", example: "+08:00" }),
  final: z.string().optional().meta({ description: "1: the body is the end of a file that will not grow; unfinished records are rejected instead of held back.", example: "1" }),
  giveUp: z.string()
    .regex(/^\d{1,15}$/, { error: (iss) => `giveUp ${quoted(iss.input)} is not a byte count` })
    .optional()
    .meta({ description: "Unfinished records whose head line starts in the first N bytes of the body are rejected: the wait for their parts is over.", example: "1" }),
});
export type RawIngestQuery = z.infer<typeof rawIngestQuerySchema>;

// --- query ------------------------------------------------------------------------------------

export const time = () => z.string().transform((s, ctx) => {
  const t = parseCommandTime(s);
  if (typeof t === "string") {
    ctx.addIssue({ code: "custom", message: t.replace(/^ctime/, "time") });
    return z.NEVER;
  }
  return t.tsUs;
});

/** How a CSV export writes its cells (server/src/csv.ts). */
export const CSV_MODES = ["safe", "raw"] as const;

export const commandsQuerySchema = z.strictObject({
  host: z.string().max(255).optional().meta({ description: "Hostname, exact." }),
  luser: z.string().max(64).optional().meta({ description: "Login user, exact." }),
  suser: z.string().max(64).optional().meta({ description: "Effective user, exact." }),
  clientIp: z.string().max(45).optional().meta({ description: "SSH client address, exact." }),
  session: z.string().max(64).optional().meta({ description: "Session id, exact." }),
  kind: z.enum(RECORD_KINDS).optional(),
  exitStatus: z.coerce.number().int().min(0).max(255).optional(),
  q: z.string().min(1).max(1024).optional().meta({ description: "Substring of the command text, case-sensitive." }),
  from: time().optional().meta({ description: "Inclusive lower bound, ISO 8601 with a UTC offset.", example: "2026-11-26T00:00:00+08:00" }),
  to: time().optional().meta({ description: "Exclusive upper bound, ISO 8601 with a UTC offset.", example: "2026-11-27T00:00:00+08:00" }),
  limit: z.coerce.number().int().min(1).optional().meta({ description: "Records per page (default 100, at most the server's max_page_size); for an export, the most records it holds." }),
  cursor: z.string().max(64).optional().meta({ description: "The nextCursor of the previous page." }),
  format: z.enum(["json", "ndjson", "csv"]).optional().meta({ description: "json (a page, the default), or an export of every match: ndjson or csv (also chosen by the Accept header)." }),
  flagged: z.enum(["true", "false"]).transform((s) => s === "true").optional().meta({ description: "true: only records with flags (unusual names or cwd); false: only records without." }),
  csv: z.enum(CSV_MODES).optional().meta({ description: "CSV cells: safe (the default) prefixes formula starts (=, +, -, @, TAB, CR, full-width forms) with ' and shows control, bidi and zero-width characters (ESC as ␛, others as <U+XXXX>), so a spreadsheet shows the text and runs nothing; raw writes every character as stored. Only with a CSV export; NDJSON is always exact." }),
});
export type CommandsQuery = z.infer<typeof commandsQuerySchema>;

const nullableTime = (description: string) => z.string().nullable().meta({ description, example: "2026-11-26T10:00:00+08:00" });

export const presentedRecordSchema = z.object({
  id: count(),
  kind: z.enum(RECORD_KINDS),
  time: nullableTime("The instant, in the record's own UTC offset (Z when it was assumed); null when unknown."),
  ctime: z.string().meta({ description: "Host-local wall time as the hook or seed wrote it.", example: "2026-11-26 10:00:00" }),
  utcOffset: z.string().nullable().meta({ description: "The record's UTC offset; null when it was assumed.", example: "+08:00" }),
  hostname: z.string(),
  serverIps: z.string(),
  luser: z.string(),
  suser: z.string(),
  terminal: z.string(),
  clientIp: z.string(),
  sessionId: z.string().nullable(),
  seq: count().nullable(),
  cwd: z.string().nullable(),
  exitStatus: z.number().int().nullable(),
  durationMs: count().nullable(),
  command: z.string().meta({ description: "Command text; invalid UTF-8 bytes appear as U+FFFD (the exact bytes are in commandB64)." }),
  commandB64: z.string().optional().meta({ description: "The exact command bytes, base64, only when they are not valid UTF-8." }),
  receivedAt: nullableTime("When the server stored it (UTC); null for rows of the 2018 backend."),
  flags: z.array(z.enum(RECORD_FLAGS)).meta({
    description: "What is unusual about its names or cwd, in this order, [] for none: hostname-nonstandard (not an RFC 1123 host name), user-nonstandard (suser or luser not a POSIX portable user name, name@domain or name$), terminal-nonstandard, name-invisible (a bidi control or zero-width character in a name), name-confusable (a name imitating an ASCII one with look-alike characters), cwd-control (a control, bidi or zero-width character in cwd), conflict (another record came with this record's key, session and seq, and other content: both are kept, neither is a duplicate).",
    example: ["user-nonstandard", "name-confusable"],
  }),
  attestedUser: z.string().nullable().meta({ description: "With attestation kernel: the name of the uid the kernel gave the writer. A record whose suser is not this one (or whose luser is not attestedLoginUser) is flagged forged: a forgery attempt by this user." }),
  attestedLoginUser: z.string().nullable().meta({ description: "With attestation kernel: the name of the writer's login uid, when it has one." }),
  redactions: z.array(z.object({ rule: z.string(), start: z.number().int(), end: z.number().int() })).meta({
    description: "Secrets replaced in the command, by the reporter or the server: each marker [REDACTED:<rule>:<fingerprint>] with its rule and byte range [start, end) in the command's UTF-8 (in commandB64's bytes when given). Empty: nothing was replaced.",
  }),
  attestation: z.enum(ATTESTATIONS).meta({
    description: "kernel: the reporter read it from a transport that stamps the writer's uid and checked the record's users against it; none: read from the log file, which any local user can append to (or sent without such a check).",
  }),
}).meta({ id: "Record", description: "A stored record as the query API shows it." });
export type PresentedRecord = z.infer<typeof presentedRecordSchema>;

export const commandsPageSchema = z.object({
  items: z.array(presentedRecordSchema).meta({ description: "Newest first." }),
  nextCursor: z.string().nullable().meta({ description: "Pass as cursor for the next page; null on the last." }),
}).meta({ id: "CommandsPage", description: "One page of records." });
export type CommandsPage = z.infer<typeof commandsPageSchema>;

// --- hosts ------------------------------------------------------------------------------------

export const HOST_STATES = ["live", "stalled", "silent"] as const;
export type HostState = (typeof HOST_STATES)[number];
/** How a host's latest records came: its own token, or a shared one that may write for any host. */
export const INGEST_AUTHS = ["host", "shared"] as const;
export type IngestAuth = (typeof INGEST_AUTHS)[number];

export const hostSchema = z.object({
  hostname: z.string(),
  serverIps: z.string(),
  records: count(),
  firstSeen: nullableTime("Time of its oldest record."),
  lastSeen: nullableTime("Time of its newest record."),
  lastStored: nullableTime("When a new record of it was last stored."),
  lastReceived: nullableTime("When a batch with records of it last came, new or not."),
  silentSeconds: count().nullable().meta({ description: "Seconds since lastStored." }),
  state: z.enum(HOST_STATES).meta({ description: "live: new records lately; stalled: batches come but hold nothing new (a wedged backlog); silent: nothing lately." }),
  ingestAuth: z.enum(INGEST_AUTHS).nullable().meta({
    description: "The token of the latest batch that stored its records: host (its own per-host token) or shared (a fleet-wide token, which any host can use to write for it); null: none since the server knew.",
  }),
  losses: count().meta({ description: "Loss records stored of this host: records its hook, reporter or stamping daemon said could not be kept." }),
  rejected: count().meta({ description: "Records refused at ingest that this host's own token sent (a shared token's refusals are not attributed to a host)." }),
  reporter: z.string().nullable().meta({ description: "The User-Agent of the latest batch that stored something new of it: the reporter's kind and version; null: none since the server knew.", example: "cmdaudit-reporter/0.1.0" }),
}).meta({ id: "Host", description: "A reporting host." });
export type Host = z.infer<typeof hostSchema>;

export const hostsAnswerSchema = z.object({
  hosts: z.array(hostSchema).meta({ description: "Most silent first." }),
}).meta({ id: "Hosts" });
export type HostsAnswer = z.infer<typeof hostsAnswerSchema>;

// --- rules -------------------------------------------------------------------------------------

export const SEVERITY_NAMES = ["info", "warning", "critical"] as const;

export const RULE_SOURCES = ["builtin", "config", "api"] as const;

export const ruleSummarySchema = z.object({
  id: z.string(),
  severity: z.enum(SEVERITY_NAMES),
  description: z.string(),
  builtin: z.boolean().meta({ description: "One of the rules every server has (alerts.disabled_builtins turns one off)." }),
  source: z.enum(RULE_SOURCES).meta({ description: "Built in, from the server's config, or added through PUT /api/v1/rules/{id} (admin token)." }),
  enabled: z.boolean().meta({ description: "In force. Only a rule added through the API can be listed while turned off." }),
  definition: z.record(z.string(), z.unknown()).nullable().meta({ description: "The rule as written (config and API rules); null for a built-in." }),
}).meta({ id: "Rule" });

export const rulesAnswerSchema = z.object({
  rules: z.array(ruleSummarySchema).meta({ description: "The built-in ones not turned off, then the config's enabled ones, then those added through the API." }),
}).meta({ id: "Rules" });

// --- alerts ------------------------------------------------------------------------------------

export const alertsQuerySchema = z.strictObject({
  host: z.string().max(255).optional().meta({ description: "Hostname, exact." }),
  rule: z.string().max(64).optional().meta({ description: "Rule id, exact." }),
  severity: z.enum(SEVERITY_NAMES).optional(),
  from: time().optional().meta({ description: "Raised at or after (ISO 8601 with a UTC offset)." }),
  to: time().optional().meta({ description: "Raised before." }),
  limit: z.coerce.number().int().min(1).optional().meta({ description: "Alerts per page (default 100, at most the server's max_page_size)." }),
  cursor: z.string().regex(/^[1-9][0-9]{0,15}$/, { error: "cursor: the nextCursor of the previous page" }).optional().meta({ description: "The nextCursor of the previous page." }),
});

export const alertSchema = z.object({
  id: count(),
  rule: z.string(),
  severity: z.enum(SEVERITY_NAMES),
  hostname: z.string(),
  luser: z.string().meta({ description: "Empty for a silent host." }),
  suser: z.string(),
  sessionId: z.string().nullable(),
  seq: count().nullable(),
  command: z.string().meta({ description: "The start of the command that matched (at most 1,000 characters); empty for a silent host." }),
  recordTime: z.string().meta({ description: "When the command ran (UTC); for a silent host, when it last stored something." }),
  raised: z.string().meta({ description: "When the server raised the alert (UTC)." }),
}).meta({ id: "Alert", description: "One rule matched one record (or a host fell silent)." });
export type Alert = z.infer<typeof alertSchema>;

export const alertsPageSchema = z.object({
  items: z.array(alertSchema).meta({ description: "Newest first." }),
  nextCursor: z.string().nullable(),
}).meta({ id: "Alerts" });
export type AlertsPage = z.infer<typeof alertsPageSchema>;

export const backtestAnswerSchema = z.object({
  scanned: count().meta({ description: "Records looked at, newest first." }),
  matched: count(),
  complete: z.boolean().meta({ description: "Every record of the range was looked at." }),
  stopped: z.string().nullable().meta({ description: "Why not (maxRecords, the time budget, or a rule too slow for the text it met); null when complete." }),
  days: z.array(z.object({ day: z.string().meta({ example: "2026-11-30" }), matches: count() })).meta({ description: "Matches per UTC day, newest first." }),
  examples: z.array(presentedRecordSchema).meta({ description: "The newest matches, at most `examples`." }),
}).meta({ id: "Backtest" });
export type BacktestAnswer = z.infer<typeof backtestAnswerSchema>;

// --- health -----------------------------------------------------------------------------------

export const livenessSchema = z.object({ status: z.literal("ok") }).meta({ id: "Liveness" });
export const readinessSchema = z.object({ status: z.enum(["ready", "unavailable"]) }).meta({ id: "Readiness" });

// --- sessions ---------------------------------------------------------------------------------

export const sessionsQuerySchema = z.strictObject({
  host: z.string().min(1).max(255).meta({ description: "Hostname, exact: the sessions of one host." }),
  from: time().optional().meta({ description: "Sessions with a record at or after this instant (ISO 8601 with a UTC offset)." }),
  to: time().optional().meta({ description: "Sessions with a record before this instant." }),
  limit: z.coerce.number().int().min(1).optional().meta({ description: "Sessions per page (default 100, at most the server's max_page_size)." }),
  cursor: z.string().max(128).optional().meta({ description: "The nextCursor of the previous page." }),
});
export type SessionsQuery = z.infer<typeof sessionsQuerySchema>;

export const sessionSchema = z.object({
  sessionId: z.string(),
  hostname: z.string(),
  lusers: z.array(z.string()).meta({ description: "Login users its records name (one, unless records were forged or conflict)." }),
  susers: z.array(z.string()).meta({ description: "Effective users its records name." }),
  attestedUsers: z.array(z.string()).meta({ description: "The writers the kernel attested for its records (attestation kernel); more than one: two writers used one session." }),
  firstTime: z.string().meta({ description: "Time of its oldest record (UTC)." }),
  lastTime: z.string().meta({ description: "Time of its newest record (UTC)." }),
  records: count(),
  firstSeq: count(),
  lastSeq: count(),
  missingSeqs: count().meta({ description: "Sequence numbers between firstSeq and lastSeq with no record: records that never arrived (a write that failed, a line swallowed, a record given up)." }),
  started: z.boolean().meta({ description: "A session_start record is stored." }),
  ended: z.boolean().meta({ description: "A session_end record is stored; false for a live session and for one whose end never came (a killed shell, a lost record)." }),
  conflicts: count().meta({ description: "Records flagged conflict (another record came with the same key and other content)." }),
}).meta({ id: "Session", description: "One shell session of one host, from its stored records." });
export type Session = z.infer<typeof sessionSchema>;

export const sessionsPageSchema = z.object({
  items: z.array(sessionSchema),
  nextCursor: z.string().nullable(),
}).meta({ id: "SessionsPage", description: "Sessions, the most recently active first." });
export type SessionsPage = z.infer<typeof sessionsPageSchema>;
