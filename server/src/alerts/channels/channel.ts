/**
 * What a delivery channel is given and must do. The dispatcher (../dispatch.ts) calls send() once per
 * attempt; a send that resolves was delivered, one that throws is retried later with backoff, so a
 * channel never retries by itself. `deliveryId` is the same on every attempt of one message: receivers
 * that can (the generic webhook) use it to drop a copy of a message whose answer was lost.
 */
import type { Severity } from "../rules.ts";

export interface AlertMessage {
  /** Stable across retries of this message to this channel. */
  deliveryId: string;
  /** "alert": the first match of a rule for a host and user in a window; "repeat": how many more matched in that window after it was sent. */
  kind: "alert" | "repeat";
  ruleId: string;
  severity: Severity;
  description: string;
  hostname: string;
  luser: string;
  suser: string;
  /** The record's command (its start: at most 1,000 characters); empty for a silent host. */
  command: string;
  sessionId: string | null;
  seq: number | null;
  /** When the command ran (UTC µs); for a silent host, when it was last heard from. */
  recordTsUs: number;
  /** When the server raised the alert (UTC µs). */
  raisedUs: number;
  /** Matches this message stands for: 1 for an alert sent before any other matched; more otherwise. */
  count: number;
  /** The end of the de-duplication window (UTC µs). */
  windowEndUs: number;
  /** A console link to the record or host, when alerts.console_url is set. */
  link?: string;
}

/** A failed send; the message must name neither a secret nor a URL that holds one (webhook URLs often do). */
export class ChannelError extends Error {}

export interface Channel {
  readonly name: string;
  readonly type: string;
  /** Lowest severity this channel takes. */
  readonly minSeverity: Severity;
  send(m: AlertMessage, signal: AbortSignal): Promise<void>;
  /** Sockets held open between sends (SMTP, syslog over TCP): closed here. */
  close?(): Promise<void>;
}
