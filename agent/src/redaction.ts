/**
 * The reporter's redactor (config `redact`, issue [redact]): secrets in commands are replaced before
 * anything leaves this host, on both ways out (the log's raw lines, tail/redact-body.ts; the spool's
 * JSON records, below), and each request says which markers are redactions, so the server lists them.
 *
 * When it is on, and what a missing key does:
 * - `redact.enabled: true`, or a `redact.key_file` given: the key must be readable (its first line,
 *   at least 32 characters), or `run` stops before it reads or sends anything: exit 2, the file and
 *   the reason named (what the Ansible role, which places the key, should write: a host whose key
 *   went missing then stops and shows, it does not quietly ship secrets).
 * - not set: on when the default key file (/etc/cmdaudit/redact.key) exists, with the same rule for
 *   a key that is there but cannot be read or is too short; off when there is no such file, and then
 *   `status` and `check` say so. The server still redacts every command before it stores it.
 * - `redact.enabled: false`: off.
 * The stamping daemon (`listen`) needs no key: it keeps the lines on this host.
 */
import { statSync } from "node:fs";
import { readKeyFile } from "../../protocol/config-file.ts";
import { MAX_REDACTIONS } from "../../protocol/redact/declared.ts";
import { createRedactor, type Redactor } from "../../protocol/redact/index.ts";
import type { WireRecord } from "../../protocol/index.ts";
import { ConfigError, DEFAULT_REDACT_KEY_FILE, type ReporterConfig } from "./config.ts";

export type ReporterRedaction =
  | { redactor: Redactor; keyFile: string }
  | { redactor: null; why: string };

/** The redactor `redact` asks for, or why there is none; a ConfigError when it is on and its key cannot be had. */
export function reporterRedaction(cfg: ReporterConfig): ReporterRedaction {
  const r = cfg.redact;
  if (r.enabled === false) return { redactor: null, why: "redact.enabled is false" };
  const file = r.key_file ?? DEFAULT_REDACT_KEY_FILE;
  const required = r.enabled === true || r.key_file !== undefined;
  const fix = "; redaction is on: give this host the deployment's key (the server's redact.key_file), or set redact.enabled: false to send commands as typed";
  if (!required && statSync(file, { throwIfNoEntry: false }) === undefined) return { redactor: null, why: `no key file ${file} (redact.enabled is not set)` };
  let key: string;
  try {
    key = readKeyFile("redact.key_file", file);
  } catch (e) {
    throw e instanceof ConfigError ? new ConfigError(`${e.message}${fix}`) : e;
  }
  return { redactor: createRedactor({ key, rules: r.rules, disabled: r.disabled, exceptions: r.exceptions }), keyFile: file };
}

/** What `status` and `check` say about redaction, without failing: on (with the key file), off (why), or the error. */
export function describeRedaction(cfg: ReporterConfig): { on: boolean; keyFile: string | null; problem: string | null; text: string } {
  try {
    const r = reporterRedaction(cfg);
    if (r.redactor === null) return { on: false, keyFile: null, problem: null, text: `off: ${r.why}; commands leave this host as typed (the server redacts them before it stores them)` };
    let loose = "";
    try {
      const mode = statSync(r.keyFile).mode & 0o777;
      if (mode & 0o077) loose = `${r.keyFile} is mode ${mode.toString(8)}: users who can read the key can test guesses against fingerprints; it should be 600`;
    } catch { /* read a moment ago */ }
    return { on: true, keyFile: r.keyFile, problem: loose || null, text: `on: key ${r.keyFile}, ${r.redactor.rules.length} rules` };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { on: false, keyFile: null, problem: e.message, text: `not possible: ${e.message}` };
  }
}

/**
 * A JSON record with its command redacted and its `redactions` declared (the spool's way out).
 * A record with more markers than a record may list declares the first MAX_REDACTIONS: the others
 * stay in the text, unlisted, and the secrets behind them stay on this host all the same.
 */
export function redactWireRecord(w: WireRecord, redactor: Redactor | null): WireRecord {
  if (!redactor) return w;
  if (w.command !== undefined && w.command !== "") {
    const r = redactor.redact(w.command);
    if (r.redactions.length) return { ...w, command: r.text, redactions: r.redactions.slice(0, MAX_REDACTIONS) };
  } else if (w.commandB64 !== undefined) {
    const r = redactor.redactBytes(Buffer.from(w.commandB64, "base64"));
    if (r.redactions.length) return { ...w, commandB64: Buffer.from(r.bytes).toString("base64"), redactions: r.redactions.slice(0, MAX_REDACTIONS) };
  }
  return w;
}
