/**
 * From stored records to alerts: which rules a record matches and where each alert goes. The store
 * writes the drafts in the transaction that stores the records (writeAlerts in db/mysql/store.ts and db/sqlite/store.ts), so an
 * alert exists exactly when its record does.
 */
import { createHash } from "node:crypto";
import type { AuditRecord } from "../../../protocol/index.ts";
import { matchRecord, type Rule, SEVERITIES, type Severity } from "./rules.ts";

/** An alert keeps the start of its command; the record holds the whole of it. */
export const ALERT_COMMAND_CHARS = 1000;

export interface AlertDraft {
  ruleId: string;
  severity: Severity;
  hostname: string;
  luser: string;
  suser: string;
  /** One alert per rule and key: the record's oci, or a silence's own key. */
  recordKey: string;
  recordTsUs: number;
  sessionId: string | null;
  seq: number | null;
  command: string;
  /** The de-duplication group: rule + host + user. */
  groupKey: string;
  /** Channels that take this severity. */
  channels: string[];
}

/** What the store needs to write a batch's alerts: the drafts for the records it stored, and the window. */
export interface AlertSink {
  drafts(stored: AuditRecord[]): AlertDraft[];
  /** The oci of every record that matched a rule: the store finds out exactly which of these are new. */
  keys: string[];
  nowUs: number;
  windowUs: number;
}

const rank = (s: Severity) => SEVERITIES.indexOf(s);

export function groupKey(ruleId: string, hostname: string, user: string): string {
  return createHash("md5").update(`${ruleId}\u0000${hostname}\u0000${user}`).digest("hex");
}

/** The user an alert is about: who they became (suser) when it differs from who logged in. */
export function alertUser(d: { luser: string; suser: string }): string {
  return d.suser && d.suser !== d.luser ? `${d.luser}→${d.suser}` : d.luser;
}

export interface RouteTarget {
  name: string;
  minSeverity: Severity;
}

/** Channels routed by severity: each takes its min_severity and above. */
export function routeFor(channels: RouteTarget[], severity: Severity): string[] {
  return channels.filter((c) => rank(severity) >= rank(c.minSeverity)).map((c) => c.name);
}

export function draftFor(rule: Pick<Rule, "id" | "severity">, r: Pick<AuditRecord, "hostname" | "luser" | "suser" | "oci" | "tsUs" | "sessionId" | "seq" | "command">, channels: RouteTarget[]): AlertDraft {
  return {
    ruleId: rule.id, severity: rule.severity, hostname: r.hostname, luser: r.luser, suser: r.suser ?? "",
    recordKey: r.oci, recordTsUs: r.tsUs, sessionId: r.sessionId, seq: r.seq, command: r.command.slice(0, ALERT_COMMAND_CHARS),
    groupKey: groupKey(rule.id, r.hostname, alertUser(r)), channels: routeFor(channels, rule.severity),
  };
}

/**
 * Matches records against the active rules. Matching runs before the store's transaction (outside
 * its locks) through `prepare`; inside it `drafts` only looks the results up, except for records
 * the transaction made itself (a conflict's re-keyed copy), which are matched there.
 */
export class AlertRaiser {
  constructor(private readonly channels: RouteTarget[], private readonly windowUs: number) {}

  sink(records: AuditRecord[], rules: readonly Rule[], nowUs: number): AlertSink | undefined {
    if (rules.length === 0) return undefined;
    const channels = this.channels;
    // A record is its own RuleInput; only the few that match keep drafts.
    const draftsOf = (r: AuditRecord) => matchRecord(rules, r).map((rule) => draftFor(rule, r, channels));
    const matched = new Map<AuditRecord, AlertDraft[]>();
    for (const r of records) {
      const d = draftsOf(r);
      if (d.length) matched.set(r, d);
    }
    const batch = new Set(records);
    return {
      nowUs, windowUs: this.windowUs, keys: [...matched.keys()].map((r) => r.oci),
      drafts: (stored) => stored.flatMap((r) => matched.get(r) ?? (batch.has(r) ? [] : draftsOf(r))),
    };
  }
}
