/**
 * The bash hook in the tree, and the one rule that points it at a log: its line
 * `__cmdaudit_log=<path> # cmdaudit:log …` gets a new, shell-quoted path, the rest of the
 * hook stays byte for byte. The Ansible role (vars/main.yml) applies the same rule, and takes the
 * same paths: absolute, one line, no backslash.
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
