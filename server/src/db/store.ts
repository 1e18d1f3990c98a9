import { and, type Column, eq, type SQL } from "drizzle-orm";
import type { AuditRecord, IngestAuth } from "../../../protocol/index.ts";
import type { Redaction } from "../../../protocol/redact/index.ts";
import type { AlertDraft, AlertSink } from "../alerts/raise.ts";
import type { Severity } from "../alerts/rules.ts";

/** A stored audit record: the contract record plus its row id and arrival time. */
export interface StoredRecord extends AuditRecord {
  id: number;
  /** When the server committed it (UTC µs); 0 for rows the 2018 backend wrote. */
  receivedUs: number;
}

export interface CommandFilter {
  host?: string;
  luser?: string;
  suser?: string;
  clientIp?: string;
  sessionId?: string;
  kind?: string;
  exitStatus?: number;
  /** Substring of the command text, case-sensitive. */
  q?: string;
  /** Inclusive lower bound, UTC µs. */
  fromUs?: number;
  /** Exclusive upper bound, UTC µs. */
  toUs?: number;
  /** true: only records with flags; false: only records without. */
  flagged?: boolean;
  /** Only these hosts (a console reader's host groups); an empty list matches nothing. */
  hostIn?: string[];
}

/** A position in a session's transcript: records after (seq, id) in (seq, id) order. */
export interface TranscriptCursor {
  seq: number;
  id: number;
}

export type ConsoleRole = "reader" | "admin";

/** A person who signs in to the console. */
export interface ConsoleUser {
  name: string;
  /** Bun.password's hash; never the password. */
  passwordHash: string;
  role: ConsoleRole;
  /** Host groups a reader may see; `*`: every host. Admins see every host. */
  hostGroups: string[];
  createdUs: number;
}

/** A signed-in browser, by the SHA-256 (hex) of its cookie's token. */
export interface ConsoleSession {
  idHash: string;
  userName: string;
  createdUs: number;
  expiresUs: number;
}

/** One line of the console's access log: who viewed, searched or exported what, and every sign-in. */
export interface AccessEntry {
  tsUs: number;
  userName: string;
  action: string;
  detail: string;
  clientIp: string;
}

/** Keyset position: rows strictly older than (tsUs, id) in newest-first order. */
export interface Cursor {
  tsUs: number;
  id: number;
}

export interface HostSummary {
  hostname: string;
  serverIps: string;
  firstSeenUs: number;
  lastSeenUs: number;
  /** The latest batch with a record of this host (duplicates included): the host's reporter is talking. */
  lastReceivedUs: number;
  /** The latest batch that stored something new of this host: the host's records are arriving. */
  lastStoredUs: number;
  /** The host's usual gap between batches that stored something (µs, moving average); 0 until two such batches. */
  cadenceUs: number;
  records: number;
  /** The token kind of the latest batch that stored records of this host; null before it was kept. */
  ingestAuth: IngestAuth | null;
  /** Loss records stored of this host. */
  losses: number;
  /** Records refused at ingest that this host's own token sent. */
  rejected: number;
  /** The User-Agent of the latest batch that stored something new of this host (the reporter and its version); null before it was kept. */
  reporter: string | null;
}

/** A session's stored records, summed up (Store.sessions). */
export interface SessionSummary {
  sessionId: string;
  hostname: string;
  lusers: string[];
  susers: string[];
  /** The attested writers of its kernel-attested records: more than one means two writers used one session. */
  attestedUsers: string[];
  firstTsUs: number;
  lastTsUs: number;
  records: number;
  firstSeq: number;
  lastSeq: number;
  /** Distinct sequence numbers stored. */
  seqs: number;
  started: boolean;
  ended: boolean;
  conflicts: number;
}

export interface SessionFilter {
  host: string;
  fromUs?: number;
  toUs?: number;
}

/** Sessions page by their newest record: (lastTsUs, sessionId) descending. */
export interface SessionCursor {
  lastTsUs: number;
  sessionId: string;
}

export interface InsertResult {
  inserted: number;
  duplicates: number;
  /** Alerts the stored records raised (written in the same transaction). */
  alerts: number;
  /** Outbox messages they queued (the windows they opened): the dispatcher has something to send. */
  messages: number;
}

/** A raised alert as stored: the draft's alert without its routing, its row id and when it was raised. */
export interface StoredAlert extends Omit<AlertDraft, "groupKey" | "channels"> {
  id: number;
  raisedUs: number;
}

export interface AlertFilter {
  host?: string;
  ruleId?: string;
  severity?: Severity;
  /** Inclusive lower bound of raisedUs. */
  fromUs?: number;
  /** Exclusive upper bound of raisedUs. */
  toUs?: number;
  /** Only these hosts (a console reader's host groups); an empty list matches nothing. */
  hostIn?: string[];
}

/** One outbox message due to be sent, with the alert it is about. */
export interface OutboxMessage {
  id: number;
  channel: string;
  kind: "alert" | "repeat";
  count: number;
  windowEndUs: number;
  attempts: number;
  nextAttemptUs: number;
  alert: StoredAlert;
}

export interface OutboxStats {
  pending: number;
  /** When the oldest pending message's alert was raised (UTC µs); 0 with none pending. */
  oldestPendingUs: number;
}

/** A rule added through the admin API: its config as JSON. */
export interface StoredRule {
  id: string;
  body: string;
  updatedUs: number;
}

/** A stored row's command as `redact-history` reads and rewrites it (server/src/redact-history.ts). */
export interface StoredCommand {
  id: number;
  /** The record's key: its alerts (cmdaudit_alerts.record_key) hold the start of its command too. */
  oci: string;
  command: string;
  /** The exact bytes, only when they are not valid UTF-8 (as AuditRecord.commandRaw). */
  commandRaw: Uint8Array | null;
  redactions: Redaction[];
}

/**
 * How far `redact-history` has applied which rule set: every row with id <= lastId is done. One per
 * database; its fields are compared whole when it is moved (Store.advanceRedactProgress).
 */
export interface RedactProgress {
  /** Hash of the rule set (rules and exceptions) the pass applies. */
  rules: string;
  lastId: number;
  /** The pass ends at this id: the largest when it started (or was extended). */
  endId: number;
  /** Rows read and rows rewritten by the pass so far. */
  seen: number;
  changed: number;
  startedUs: number;
  /** Strictly increasing with every write, so a progress never comes back to a value a job read. */
  updatedUs: number;
  /** When the pass reached endId; 0 while it runs. */
  finishedUs: number;
}

/** Everything the server needs from a database; one implementation per dialect. */
export interface Store {
  readonly dialect: "mysql" | "sqlite";
  /**
   * Store records once each (by `oci`); resolves only after the transaction committed. `auth`: the
   * kind of token that sent them, kept per host when the batch stored something new of it.
   */
  insert(records: AuditRecord[], receivedUs: number, auth?: IngestAuth, reporter?: string, alerts?: AlertSink): Promise<InsertResult>;
  /** Count records refused at ingest against a host that has a row (a host token's own). */
  countRejected(hostname: string, n: number): Promise<void>;
  /** Newest first, (tsUs, id) descending, at most `limit` rows after `after`. */
  query(filter: CommandFilter, limit: number, after?: Cursor): Promise<StoredRecord[]>;
  hosts(): Promise<HostSummary[]>;
  /** The sessions of one host with a record in the range, most recently active first, at most `limit` after `after`. */
  sessions(filter: SessionFilter, limit: number, after?: SessionCursor): Promise<SessionSummary[]>;
  /** One session's records on one host in (seq, id) order, at most `limit` after `after`: a transcript read in pages. */
  transcript(host: string, sessionId: string, limit: number, after?: TranscriptCursor): Promise<StoredRecord[]>;

  /** Add or replace a console user (by name). */
  putConsoleUser(user: ConsoleUser): Promise<void>;
  consoleUser(name: string): Promise<ConsoleUser | undefined>;
  consoleUsers(): Promise<ConsoleUser[]>;
  /** Remove a user and every session of theirs; false when there was none. */
  removeConsoleUser(name: string): Promise<boolean>;
  createConsoleSession(session: ConsoleSession): Promise<void>;
  /** The session and its user while it has not expired at `nowUs`; expired sessions are deleted. */
  consoleSession(idHash: string, nowUs: number): Promise<{ session: ConsoleSession; user: ConsoleUser } | undefined>;
  removeConsoleSession(idHash: string): Promise<void>;
  logAccess(entry: AccessEntry): Promise<void>;
  /** The access log, newest first, at most `limit` entries with id below `beforeId`. */
  accessLog(limit: number, beforeId?: number): Promise<(AccessEntry & { id: number })[]>;

  /** Write alerts not raised by a batch (a silent host) in their own transaction; a draft already raised is skipped. */
  raiseAlerts(drafts: AlertDraft[], nowUs: number, windowUs: number): Promise<number>;
  /** Raised alerts, newest first (id descending), at most `limit` with id below `beforeId`. */
  alerts(filter: AlertFilter, limit: number, beforeId?: number): Promise<StoredAlert[]>;
  /** Pending messages due at `nowUs`, oldest first. */
  dueMessages(nowUs: number, limit: number): Promise<OutboxMessage[]>;
  /** Take a due message for one attempt: true only for the one caller whose `nextAttemptUs` still matched; the lease pushes it out. */
  claimMessage(id: number, nextAttemptUs: number, leaseUntilUs: number): Promise<boolean>;
  /** Sent, standing for `count` matches. */
  messageSent(id: number, count: number, nowUs: number): Promise<void>;
  messageFailed(id: number, nextAttemptUs: number, error: string): Promise<void>;
  /** Close windows that ended before `nowUs`: a repeat message for each sent alert whose window counted more than it sent. Returns the repeats written. */
  settleWindows(nowUs: number, limit: number): Promise<number>;
  outboxStats(): Promise<OutboxStats>;
  storedRules(): Promise<StoredRule[]>;
  putStoredRule(rule: StoredRule): Promise<void>;
  /** False when there was none. */
  removeStoredRule(id: string): Promise<boolean>;

  /** The largest row id of servercmdhist; 0 when it is empty. */
  lastRecordId(): Promise<number>;
  /** Rows with afterId < id <= throughId. */
  countRecords(afterId: number, throughId: number): Promise<number>;
  /** The commands of rows with afterId < id <= throughId, id ascending, at most `limit`. */
  commandsAfter(afterId: number, throughId: number, limit: number): Promise<StoredCommand[]>;
  redactProgress(): Promise<RedactProgress | undefined>;
  /**
   * One transaction: if the progress is still `expected` (every field; undefined: there is none),
   * write `next` and rewrite each row's command, commandRaw and redactions (nothing else; a row
   * that is gone is skipped). False, with nothing written, when it was not.
   */
  advanceRedactProgress(expected: RedactProgress | undefined, next: RedactProgress, rewrites: StoredCommand[]): Promise<boolean>;

  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The one row of cmdaudit_redact_progress. */
export const REDACT_JOB = "history";
const PROGRESS_FIELDS = ["rules", "lastId", "endId", "seen", "changed", "startedUs", "updatedUs", "finishedUs"] as const satisfies readonly (keyof RedactProgress)[];

/** The progress row (either dialect) without its job name. */
export function redactProgressFromRow(r: RedactProgress & { job: string }): RedactProgress {
  const { job: _, ...p } = r;
  return p;
}

/** WHERE the progress row is exactly `p` (the compare of advanceRedactProgress's compare-and-set). */
export function redactProgressIs(t: Record<(typeof PROGRESS_FIELDS)[number] | "job", Column>, p: RedactProgress): SQL {
  return and(eq(t.job, REDACT_JOB), ...PROGRESS_FIELDS.map((k) => eq(t[k], p[k])))!;
}

/** Host groups are stored comma-separated (a group name holds no comma: config.ts checks). */
export function joinGroups(groups: string[]): string {
  return groups.join(",");
}

export function splitGroups(s: string): string[] {
  return s === "" ? [] : s.split(",");
}

/** A console user's row (either dialect) as a ConsoleUser. */
export function consoleUserFromRow(r: { name: string; passwordHash: string; role: string; hostGroups: string; createdUs: number }): ConsoleUser {
  return { name: r.name, passwordHash: r.passwordHash, role: r.role as ConsoleRole, hostGroups: splitGroups(r.hostGroups), createdUs: r.createdUs };
}

/** Per-host aggregates of a batch, applied to the hosts table in the same transaction. */
/** A stored alert row (either dialect) as a StoredAlert. */
export function alertFromRow(r: Omit<StoredAlert, "severity"> & { severity: string }): StoredAlert {
  return { ...r, severity: r.severity as Severity };
}

export function hostDeltas(records: AuditRecord[]): Map<string, { serverIps: string; minTs: number; maxTs: number; records: AuditRecord[] }> {
  const by = new Map<string, { serverIps: string; minTs: number; maxTs: number; records: AuditRecord[] }>();
  for (const r of records) {
    const h = by.get(r.hostname);
    if (!h) by.set(r.hostname, { serverIps: r.serverIps, minTs: r.tsUs, maxTs: r.tsUs, records: [r] });
    else {
      h.records.push(r);
      if (r.tsUs < h.minTs) h.minTs = r.tsUs;
      if (r.tsUs > h.maxTs) { h.maxTs = r.tsUs; h.serverIps = r.serverIps; }
    }
  }
  // Sorted so concurrent batches lock host rows in the same order (no deadlocks).
  return new Map([...by].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** LIKE pattern for a literal substring (backslash is the escape character in both dialects as used). */
export function likeContains(s: string): string {
  return "%" + s.replace(/[\\%_]/g, (c) => "\\" + c) + "%";
}

/** One session's aggregate row as both dialects' SQL returns it (numbers may come back as strings or bigints). */
export interface SessionRow {
  session_id: string;
  hostname: string;
  /** The distinct names, as sessionFromRow's `lists` says. */
  lusers: string | null;
  susers: string | null;
  attested_users: string | null;
  first_ts: number | string;
  last_ts: number | string;
  records: number | string;
  first_seq: number | string;
  last_seq: number | string;
  seqs: number | string;
  started: number | string | null;
  ended: number | string | null;
  conflicts: number | string | null;
}

/**
 * The separator of MySQL's GROUP_CONCAT of names (`SEPARATOR X'1F'` in mysql/store.ts): a control
 * character, which no user name holds (the contract refuses them). GROUP_CONCAT, not
 * JSON_ARRAYAGG(DISTINCT …), which MySQL 8 lacks.
 */
export const NAME_SEPARATOR = "\u001f";

/** `lists`: how the dialect returns the distinct names: joined by NAME_SEPARATOR (MySQL) or a JSON array (SQLite's json_group_array). */
export function sessionFromRow(r: SessionRow, lists: "separated" | "json"): SessionSummary {
  const n = (v: number | string | null) => Number(v ?? 0);
  const names = (v: string | null) => {
    if (v === null || v === "") return [];
    const list = lists === "json" ? (JSON.parse(v) as (string | null)[]) : v.split(NAME_SEPARATOR);
    return list.filter((x): x is string => x !== null).sort();
  };
  return {
    sessionId: r.session_id, hostname: r.hostname, lusers: names(r.lusers), susers: names(r.susers), attestedUsers: names(r.attested_users),
    firstTsUs: n(r.first_ts), lastTsUs: n(r.last_ts), records: n(r.records), firstSeq: n(r.first_seq), lastSeq: n(r.last_seq),
    seqs: n(r.seqs), started: n(r.started) > 0, ended: n(r.ended) > 0, conflicts: n(r.conflicts),
  };
}
