/**
 * The server's redactor (config `redact`): every command, whichever way it came (the sh reporter,
 * the JSON API, 2018 logs, a reporter that redacted already), has its secrets replaced before its
 * key is made, an alert rule sees it, or the store keeps it.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRedactor, type Redactor } from "../../protocol/redact/index.ts";
import { readKeyFile } from "../../protocol/config-file.ts";
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";

export const REDACT_KEY_FILE = "redact.key";

/**
 * The fingerprint key: redact.key_file's first line, or <data_dir>/redact.key, made (0600) when
 * it is not there yet. The log names the file, never the key.
 */
export function redactKey(config: Config, log?: Logger): string {
  const configured = config.redact.key_file;
  const file = configured ?? join(config.data_dir, REDACT_KEY_FILE);
  if (configured === undefined && !existsSync(file)) {
    mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
    log?.log("warn", "no redaction key: generated one; give the same file to every server and reporter of this deployment (redact.key_file)", { file });
  }
  return readKeyFile("redact.key_file", file, { ownerOnly: configured === undefined });
}

/** The redactor the config asks for; undefined when redaction is off. */
export function serverRedactor(config: Config, log?: Logger): Redactor | undefined {
  if (!config.redact.enabled) return undefined;
  const { rules, disabled, exceptions } = config.redact;
  return createRedactor({ key: redactKey(config, log), rules, disabled, exceptions });
}
