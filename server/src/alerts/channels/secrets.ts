/**
 * The secrets of a channel, read once when it is created: inline from the config, or the first line
 * of a `<key>_file`. A problem is a ConfigError naming the channel, the key and the file, never the value.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../../../../protocol/config-file.ts";
import { isHttpUrl } from "./config.ts";

function readFile(channel: string, key: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`channel ${channel}: ${key}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * The inline value (the schema checked it), else the first line (trimmed) of `file`, which must be
 * at least `minLength` characters; undefined when neither is given.
 */
export function inlineOrFirstLine(channel: string, key: string, inline: string | undefined, file: string | undefined, minLength = 1): string | undefined {
  if (inline !== undefined || file === undefined) return inline;
  const line = readFile(channel, `${key}_file`, file).split("\n")[0]!.trim();
  if (line.length < minLength) {
    throw new ConfigError(`channel ${channel}: ${key}_file: the first line of ${file} ${line === "" ? "is empty" : `is shorter than ${minLength} characters`}`);
  }
  return line;
}

/** A robot's webhook URL, inline or from url_file; the schema has made sure one is given. */
export function webhookUrl(channel: string, inline: string | undefined, file: string | undefined): string {
  const url = inlineOrFirstLine(channel, "url", inline, file);
  if (url === undefined || !isHttpUrl(url)) throw new ConfigError(`channel ${channel}: url_file: the first line of ${file} is not an http:// or https:// URL`);
  return url;
}

/** A whole PEM file (ca_file). */
export function pemFile(channel: string, key: string, path: string): string {
  const pem = readFile(channel, key, path);
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`channel ${channel}: ${key}: ${path} holds no PEM certificate`);
  return pem;
}
