/**
 * The one way server and reporter read their YAML config: a mapping from a file, then a zod
 * schema, every problem in one ConfigError that names each key. Callers print the message and
 * exit 2. Messages name keys and files, never values (a token must not reach a log).
 */
import { chmodSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The YAML file at `path` as a mapping (an empty file is an empty one). */
export function readYamlMapping(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ConfigError(`config file ${path} must be a YAML mapping`);
  return raw as Record<string, unknown>;
}

/**
 * A key kept in a file (its first line, at least 32 characters), or a ConfigError naming `setting`
 * and the file, never the key; `ownerOnly` makes the file 0600 first (one the program made itself).
 */
export function readKeyFile(setting: string, file: string, opts: { ownerOnly?: boolean } = {}): string {
  let key: string;
  try {
    if (opts.ownerOnly) chmodSync(file, 0o600);
    key = readFileSync(file, "utf8").split("\n")[0]!.trim();
  } catch (e) {
    throw new ConfigError(`${setting}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (key.length < 32) throw new ConfigError(`${setting}: the key in ${file} must be at least 32 characters`);
  return key;
}

/** One line per zod issue: `key.path: message`, or `unknown key(s) a.b, a.c`. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => {
    const key = i.path.map(String).join(".");
    if (i.code === "unrecognized_keys") return `unknown key(s) ${i.keys.map((k) => (key ? `${key}.${k}` : k)).join(", ")}`;
    return `${key || "(top level)"}: ${i.message}`;
  });
}

/**
 * `data` validated by `schema`, or a ConfigError listing `problems` found before (e.g. unknown
 * environment variables) and every issue, under "invalid configuration (<path>):".
 */
export function validateConfig<S extends z.ZodType>(schema: S, data: unknown, path: string | undefined, problems: readonly string[] = []): z.output<S> {
  const parsed = schema.safeParse(data);
  const all = [...problems, ...(parsed.success ? [] : describeIssues(parsed.error.issues))];
  if (all.length || !parsed.success) throw new ConfigError(`invalid configuration${path ? ` (${path})` : ""}:\n  ${all.join("\n  ")}`);
  return parsed.data;
}
