import { isIP } from "node:net";
import { z } from "zod";
import { MAX_COMMAND_BYTES, MAX_CWD, MAX_HOSTNAME, MAX_SERVER_IPS, MAX_SESSION_ID, MAX_TERMINAL, MAX_USER, MAX_CLIENT_IP } from "./limits.ts";
import { recordFlags, type RecordFlag } from "./names.ts";
import { legacyOci, sessionOci } from "./oci.ts";
import { carryDeclared, checkDeclared, MAX_REDACTIONS } from "./redact/declared.ts";
import { RULE_ID } from "./redact/marker.ts";
import type { Redaction, Redactor } from "./redact/redact.ts";
import { parseCommandTime, parseUtcOffset } from "./time.ts";

export const RECORD_KINDS = ["command", "session_start", "session_end", "loss"] as const;
/**
 * Who vouches for the record's user and session: `kernel` when the reporter read it from a transport
 * that stamps the writer's uid where the user cannot set it, and checked the record's claims against
 * that; `none` for lines from the log file (any local user can append one) and everything else.
 */
export const ATTESTATIONS = ["kernel", "none"] as const;
export type Attestation = (typeof ATTESTATIONS)[number];
export type RecordKind = (typeof RECORD_KINDS)[number];

/** One audit record as stored: what the hook saw, normalised. */
export interface AuditRecord {
  oci: string;
  kind: RecordKind;
  /** Host-local wall time "YYYY-MM-DD HH:MM:SS" (the seed's `ctime`). */
  ctime: string;
  tsUs: number;
  /** Minutes east of UTC; null for legacy records whose offset was assumed. */
  utcOffset: number | null;
  hostname: string;
  serverIps: string;
  suser: string;
  luser: string;
  terminal: string;
  clientIp: string;
  /** Command text; invalid UTF-8 bytes appear as U+FFFD here and exactly in `commandRaw`. */
  command: string;
  /** The exact bytes, only when they are not valid UTF-8. */
  commandRaw: Uint8Array | null;
  sessionId: string | null;
  seq: number | null;
  cwd: string | null;
  exitStatus: number | null;
  /** Milliseconds from the command's start (`ctime`) to the prompt after it; null when not measured. */
  durationMs: number | null;
  attestation: Attestation;
  /** With attestation kernel: the name of the uid the kernel gave the writer, and of its login uid (null: none). */
  attestedUser: string | null;
  attestedLoginUser: string | null;
  /** What is unusual about its names and cwd (protocol/names.ts); not part of the oci. */
  flags: RecordFlag[];
  /** Secrets replaced in the command: each marker's rule and UTF-8 byte range (of commandRaw when set). */
  redactions: Redaction[];
}

// eslint-style guard: control characters never belong in identity fields (they would forge log layout or terminals).
// C1 (U+0080-U+009F) included: U+009B is CSI to terminals that take 8-bit controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const field = (name: string, max: number) =>
  z.string({ error: `${name} must be a string` })
    .max(max, { error: `${name} is longer than ${max} characters` })
    .refine((s) => !CONTROL.test(s), { error: `${name} contains a control character` });
/** Names and addresses never hold whitespace; refusing it also keeps MySQL's PAD SPACE collation from merging "web01" and "web01 ". */
const word = (name: string, max: number) => field(name, max).refine((s) => !/\s/.test(s), { error: `${name} contains whitespace` });

/**
 * The JSON record accepted by POST /api/v1/commands. The eight seed fields
 * (ctime, hostname, serverIps, suser, luser, terminal, clientIp, command) are
 * enough; the rest is what the cmdaudit hook adds.
 */
export const wireRecordSchema = z.strictObject({
  kind: z.enum(RECORD_KINDS, { error: `kind must be one of ${RECORD_KINDS.join(", ")}` }).default("command"),
  ctime: z.string({ error: "ctime must be a string" }).max(64, { error: "ctime is too long" }),
  utcOffset: z.string().max(8).optional(),
  hostname: word("hostname", MAX_HOSTNAME).refine((s) => s.length > 0, { error: "hostname is empty" }),
  serverIps: z.union([word("serverIps", MAX_SERVER_IPS), z.array(word("serverIps[]", 64)).max(256)]).default(""),
  suser: word("suser", MAX_USER).default(""),
  luser: word("luser", MAX_USER),
  terminal: word("terminal", MAX_TERMINAL).default(""),
  clientIp: word("clientIp", MAX_CLIENT_IP).default(""),
  command: z.string({ error: "command must be a string" }).optional(),
  commandB64: z.string({ error: "commandB64 must be a base64 string" }).optional(),
  sessionId: z.string().regex(/^[A-Za-z0-9._:@-]{1,64}$/, { error: `sessionId must be 1-${MAX_SESSION_ID} characters of A-Z a-z 0-9 . _ : @ -` }).optional(),
  seq: z.number({ error: "seq must be a number" }).int({ error: "seq must be an integer" })
    .min(0, { error: "seq must not be negative" }).max(Number.MAX_SAFE_INTEGER, { error: "seq is larger than 2^53-1" }).optional(),
  cwd: z.string().max(MAX_CWD, { error: `cwd is longer than ${MAX_CWD} characters` }).optional(),
  exitStatus: z.number({ error: "exitStatus must be a number" }).int({ error: "exitStatus must be an integer" })
    .min(0, { error: "exitStatus must be 0-255" }).max(255, { error: "exitStatus must be 0-255" }).nullable().optional(),
  // Bounds before int(): zod's int() also fails above 2^53-1, and the first issue is the one reported.
  durationMs: z.number({ error: "durationMs must be a number" })
    .min(0, { error: "durationMs must not be negative" }).max(Number.MAX_SAFE_INTEGER, { error: "durationMs is larger than 2^53-1" })
    .int({ error: "durationMs must be an integer" }).nullable().optional(),
  attestation: z.enum(ATTESTATIONS, { error: `attestation must be one of ${ATTESTATIONS.join(", ")}` }).default("none"),
  attestedUser: word("attestedUser", MAX_USER).min(1, { error: "attestedUser is empty" }).optional(),
  attestedLoginUser: word("attestedLoginUser", MAX_USER).min(1, { error: "attestedLoginUser is empty" }).nullable().optional(),
  /** Where a reporter that redacted the command put its markers (byte ranges of the command), checked on receipt. */
  redactions: z.array(z.strictObject({
    rule: z.string().regex(RULE_ID, { error: "redactions[].rule is not a rule id" }),
    start: z.number().int().min(0, { error: "redactions[].start must not be negative" }).max(MAX_COMMAND_BYTES),
    end: z.number().int().min(0).max(MAX_COMMAND_BYTES, { error: `redactions[].end is past ${MAX_COMMAND_BYTES} bytes` }),
  })).max(MAX_REDACTIONS, { error: `redactions holds more than ${MAX_REDACTIONS} entries` }).optional(),
});
export type WireRecord = z.input<typeof wireRecordSchema>;

// ignoreBOM: a leading U+FEFF is part of the command, not a byte-order mark to drop.
const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Exact bytes → display text plus the raw bytes when they are not valid UTF-8. */
export function commandFromBytes(bytes: Uint8Array): { command: string; commandRaw: Uint8Array | null } {
  try {
    return { command: utf8Strict.decode(bytes), commandRaw: null };
  } catch {
    return { command: utf8.decode(bytes), commandRaw: bytes };
  }
}

export interface NormalizeOptions {
  /** Offset (minutes) assumed for zone-less legacy `ctime` values. */
  legacyUtcOffset: number;
  /** Replaces the secrets in commands before anything else sees them (the oci too); none: kept as they came. */
  redactor?: Redactor;
}

export type KeptCommand = { command: string; commandRaw: Uint8Array | null; redactions: Redaction[] };

/**
 * The command as it is kept: the secrets the redactor finds replaced, and the redactions it came
 * with checked and carried along; or why those redactions are wrong. Ingest and the history job
 * (server/src/redact-history.ts) both keep commands this way.
 */
export function keepCommand(command: string, commandRaw: Uint8Array | null, declared: Redaction[] | undefined, redactor: Redactor | undefined): KeptCommand | string {
  const came = declared ?? [];
  const before = came.length ? (commandRaw ?? Buffer.from(command, "utf8")) : undefined;
  if (before) {
    const wrong = checkDeclared(came, before);
    if (wrong) return wrong;
  }
  if (!redactor || command === "") return { command, commandRaw, redactions: came };
  if (commandRaw) {
    const r = redactor.redactBytes(commandRaw);
    if (!r.redactions.length) return { command, commandRaw, redactions: came };
    return { ...commandFromBytes(r.bytes), redactions: before ? carryDeclared(came, before, r.bytes, r.redactions) : r.redactions };
  }
  const r = redactor.redact(command);
  if (!r.redactions.length) return { command, commandRaw, redactions: came };
  return { command: r.text, commandRaw: null, redactions: before ? carryDeclared(came, before, Buffer.from(r.text, "utf8"), r.redactions) : r.redactions };
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Validate one untrusted JSON value and turn it into an AuditRecord, or return
 * a message that names what is wrong.
 */
/**
 * A kernel-attested record whose users are not the ones the kernel named (suser not the writer's uid,
 * luser not its login uid where there is one) is a forgery attempt by the attested user: kept as
 * evidence, flagged `forged`.
 */
function forgedFlag(flags: RecordFlag[], r: { suser: string; luser: string; attestedUser?: string; attestedLoginUser?: string | null }): RecordFlag[] {
  if (r.attestedUser === undefined) return flags;
  const forged = r.suser !== r.attestedUser || (r.attestedLoginUser != null && r.luser !== r.attestedLoginUser);
  return forged ? [...flags, "forged"] : flags;
}

export function normalizeRecord(input: unknown, opts: NormalizeOptions): AuditRecord | string {
  const parsed = wireRecordSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? issue.path.join(".") : "record";
    if (issue.code === "unrecognized_keys") return `unknown field(s): ${issue.keys.join(", ")}`;
    if (input === null || typeof input !== "object" || Array.isArray(input)) return "record must be a JSON object";
    return issue.message.startsWith(String(issue.path[0] ?? "")) && issue.path.length ? issue.message : `${where}: ${issue.message}`;
  }
  const r = parsed.data;

  let command: string;
  let commandRaw: Uint8Array | null = null;
  if (r.command !== undefined && r.commandB64 !== undefined) return "give command or commandB64, not both";
  if (r.commandB64 !== undefined) {
    if (r.commandB64.length % 4 !== 0 || !B64.test(r.commandB64)) return "commandB64 is not valid base64";
    const bytes = Buffer.from(r.commandB64, "base64");
    if (bytes.length > MAX_COMMAND_BYTES) return `command is longer than ${MAX_COMMAND_BYTES} bytes`;
    ({ command, commandRaw } = commandFromBytes(bytes));
  } else if (r.command !== undefined) {
    if (!r.command.isWellFormed()) return "command contains an unpaired UTF-16 surrogate (send the bytes as commandB64)";
    if (Buffer.byteLength(r.command) > MAX_COMMAND_BYTES) return `command is longer than ${MAX_COMMAND_BYTES} bytes`;
    command = r.command;
  } else if (r.kind === "command") {
    return "command is missing";
  } else {
    command = "";
  }
  if (r.kind === "command" && command.length === 0) return "command is empty";
  const kept = keepCommand(command, commandRaw, r.redactions, opts.redactor);
  if (typeof kept === "string") return kept;
  ({ command, commandRaw } = kept);
  if (r.cwd !== undefined && !r.cwd.isWellFormed()) return "cwd contains an unpaired UTF-16 surrogate";

  if (r.attestation === "kernel" && r.attestedUser === undefined) return "attestation kernel needs attestedUser (the name of the uid the kernel gave the writer)";
  if (r.attestation !== "kernel" && (r.attestedUser !== undefined || r.attestedLoginUser != null)) return "attestedUser and attestedLoginUser go with attestation kernel only";

  const hasSession = r.sessionId !== undefined;
  if (hasSession !== (r.seq !== undefined)) return "sessionId and seq must be given together";

  let assumed = opts.legacyUtcOffset;
  if (r.utcOffset !== undefined) {
    const o = parseUtcOffset(r.utcOffset);
    if (o === undefined) return `utcOffset ${JSON.stringify(r.utcOffset)} is not ±HH:MM`;
    assumed = o;
  }
  // Session records come from the cmdaudit hook, which always writes the offset: only legacy
  // records (or an explicit utcOffset) may have a zone-less ctime.
  const t = parseCommandTime(r.ctime, hasSession && r.utcOffset === undefined ? undefined : assumed);
  if (typeof t === "string") return t;
  const utcOffset = t.utcOffset ?? (r.utcOffset !== undefined ? assumed : null);

  let clientIp = r.clientIp;
  if (clientIp !== "" && isIP(clientIp) === 0) {
    // The seed's `who am i | awk '{print $NF}'` put the login time ("11:58") or an X display here
    // for console logins; for legacy records that means "no client IP". New records must be exact.
    if (hasSession) return `clientIp ${JSON.stringify(clientIp)} is not an IPv4 or IPv6 address`;
    clientIp = "";
  }
  const serverIps = Array.isArray(r.serverIps) ? r.serverIps.join(",") : r.serverIps;
  if (serverIps.length > MAX_SERVER_IPS) return `serverIps is longer than ${MAX_SERVER_IPS} characters`;

  // After redaction: a record redacted before it was sent and the same record redacted here get one key.
  const oci = hasSession
    ? sessionOci(r.hostname, r.sessionId!, r.seq!)
    : legacyOci(r.hostname, r.ctime, r.luser, r.suser, commandRaw ?? command);

  return {
    oci,
    kind: r.kind,
    ctime: t.wall,
    tsUs: t.tsUs,
    utcOffset,
    hostname: r.hostname,
    serverIps,
    suser: r.suser,
    luser: r.luser,
    terminal: r.terminal,
    clientIp,
    command,
    commandRaw,
    sessionId: r.sessionId ?? null,
    seq: r.seq ?? null,
    cwd: r.cwd ?? null,
    exitStatus: r.exitStatus ?? null,
    durationMs: r.durationMs ?? null,
    attestation: r.attestation,
    attestedUser: r.attestedUser ?? null,
    attestedLoginUser: r.attestedLoginUser ?? null,
    flags: forgedFlag(recordFlags({ hostname: r.hostname, suser: r.suser, luser: r.luser, terminal: r.terminal, cwd: r.cwd ?? null }), r),
    redactions: kept.redactions,
  };
}
