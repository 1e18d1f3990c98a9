/**
 * The bash hook in the tree, and the two rules that set it up for a host: its line
 * `__cmdaudit_log=<path> # cmdaudit:log …` gets a new, shell-quoted path, and its line
 * `__cmdaudit_port=<n> # cmdaudit:port …` the stamping daemon's port (0: the log file only); the
 * rest of the hook stays byte for byte. The Ansible role (vars/main.yml) applies the same rules, and
 * takes the same values: an absolute path on one line without a backslash, a port 0–65535.
 */
import { fileURLToPath } from "node:url";

export const HOOK_FILE = fileURLToPath(new URL("./cmdaudit.sh", import.meta.url));

/** The line that sets the log path: the value, then the marker comment (kept as it is). */
const LOG_LINE = /^__cmdaudit_log=.*( +# cmdaudit:log(?: .*)?)$/gm;

/** `s` as one shell word, as Python's shlex.quote (Ansible's `quote` filter) writes it. */
export function shellQuote(s: string): string {
  if (/^[\w@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}

/** `source` (the hook) with its log path set to `path`; throws unless the log line is there exactly once. */
export function withLogPath(source: string, path: string): string {
  if (!path.startsWith("/")) throw new Error(`the hook's log path must be absolute: ${JSON.stringify(path)}`);
  // No backslash: the role's regex_replace would read it as an escape (ansible/roles/cmdaudit_hook/vars/main.yml).
  if (/[\n\r\0\\]/.test(path)) throw new Error(`the hook's log path must be one line without a backslash: ${JSON.stringify(path)}`);
  const found = source.match(LOG_LINE)?.length ?? 0;
  if (found !== 1) throw new Error(`the hook must have exactly one \`__cmdaudit_log=… # cmdaudit:log\` line, found ${found}`);
  return source.replace(LOG_LINE, (_line, marker: string) => `__cmdaudit_log=${shellQuote(path)}${marker}`);
}

const PORT_LINE = /^__cmdaudit_port=.*( +# cmdaudit:port(?: .*)?)$/gm;

/** `source` (the hook) with the stamping daemon's port set to `port` (0: none); throws unless the port line is there exactly once. */
export function withStampPort(source: string, port: number): string {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`the hook's stamp port must be 0-65535: ${port}`);
  const found = source.match(PORT_LINE)?.length ?? 0;
  if (found !== 1) throw new Error(`the hook must have exactly one \`__cmdaudit_port=… # cmdaudit:port\` line, found ${found}`);
  return source.replace(PORT_LINE, (_line, marker: string) => `__cmdaudit_port=${port}${marker}`);
}
