/** The config loader server and reporter share: a YAML mapping from a file, zod issues as one message naming each key. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError as ReporterConfigError, loadReporterConfig } from "../../agent/src/config.ts";
import { ConfigError, readYamlMapping, validateConfig } from "../../protocol/config-file.ts";
import { ConfigError as ServerConfigError, loadConfig } from "../../server/src/config.ts";

const dir = mkdtempSync(join(tmpdir(), "cmdaudit-config-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const p = join(dir, `c${n++}.yml`);
  writeFileSync(p, text);
  return p;
}

/** The ConfigError `fn` throws (fails the test if it throws nothing or something else). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("no ConfigError thrown");
}

describe("readYamlMapping", () => {
  test("a mapping is read; an empty file is an empty mapping", () => {
    expect(readYamlMapping(file("a: 1\nb:\n  c: [x]\n"))).toEqual({ a: 1, b: { c: ["x"] } });
    expect(readYamlMapping(file(""))).toEqual({});
    expect(readYamlMapping(file("# only a comment\n"))).toEqual({});
  });

  test("a missing file, a directory and an unreadable file are named with the reason", () => {
    const missing = join(dir, "nope.yml");
    expect(configError(() => readYamlMapping(missing)).message).toBe(`cannot read config file ${missing}: ENOENT`);
    const d = join(dir, "a-dir");
    mkdirSync(d);
    expect(configError(() => readYamlMapping(d)).message).toBe(`cannot read config file ${d}: EISDIR`);
    // Root reads a mode-000 file: an unreadable one is a path below a file instead.
    const below = join(file("x: 1\n"), "x.yml");
    expect(configError(() => readYamlMapping(below)).message).toBe(`cannot read config file ${below}: ENOTDIR`);
  });

  test("invalid YAML: the file and the parser's first line, not the rest of its report", () => {
    const p = file("a: [1, 2\nb: 3\n");
    const m = configError(() => readYamlMapping(p)).message;
    expect(m).toStartWith(`config file ${p} is not valid YAML: `);
    expect(m).not.toContain("\n");
    expect(configError(() => readYamlMapping(file("a: 1\na: 2\n"))).message).toContain("is not valid YAML");
  });

  test.each([["a list", "- a\n- b\n"], ["a string", "just text\n"], ["a number", "42\n"]])("%s is not a mapping", (_name, text) => {
    const p = file(text);
    expect(configError(() => readYamlMapping(p)).message).toBe(`config file ${p} must be a YAML mapping`);
  });
});

describe("validateConfig", () => {
  const schema = z.strictObject({
    port: z.number().int().default(8080),
    server: z.strictObject({ url: z.string().min(1), token: z.string().min(16) }),
    list: z.array(z.strictObject({ name: z.string() })).default([]),
  });

  test("valid data comes back parsed, defaults filled in", () => {
    expect(validateConfig(schema, { server: { url: "u", token: "t".repeat(16) } }, "/etc/x.yml")).toEqual({
      port: 8080, server: { url: "u", token: "t".repeat(16) }, list: [],
    });
  });

  test("every issue in one message, each named by its key path; unknown keys listed with their parents", () => {
    const m = configError(() => validateConfig(schema, { port: "80", server: { url: "", tokn: 1 }, list: [{ nam: "a" }], extra: 1 }, "/etc/x.yml")).message;
    const lines = m.split("\n");
    expect(lines[0]).toBe("invalid configuration (/etc/x.yml):");
    expect(lines.slice(1).every((l) => l.startsWith("  "))).toBe(true);
    expect(m).toContain("  port: ");
    expect(m).toContain("  server.url: ");
    expect(m).toContain("  server.token: ");
    expect(m).toContain("  unknown key(s) server.tokn");
    expect(m).toContain("  list.0.name: ");
    expect(m).toContain("  unknown key(s) list.0.nam");
    expect(m).toContain("  unknown key(s) extra");
  });

  test("problems found before validation come first; with no path the header names none", () => {
    const m = configError(() => validateConfig(schema, { server: { url: "u", token: "t".repeat(16) } }, undefined, ["unknown environment variable CMDAUDIT_X"])).message;
    expect(m).toBe("invalid configuration:\n  unknown environment variable CMDAUDIT_X");
  });

  test("a non-object is an issue at the top level", () => {
    expect(configError(() => validateConfig(schema, 5, "/x")).message).toMatch(/^invalid configuration \(\/x\):\n {2}\(top level\): /);
  });
});

describe("server and reporter load through it", () => {
  test("both throw the one ConfigError class", () => {
    expect(ServerConfigError).toBe(ConfigError);
    expect(ReporterConfigError).toBe(ConfigError);
  });

  test.each([["not YAML", "a: [1\n"], ["a list", "- 1\n"]])("%s: the same message from both", (_name, text) => {
    const p = file(text);
    const fromServer = configError(() => loadConfig(p, {})).message;
    expect(configError(() => loadReporterConfig(p)).message).toBe(fromServer);
    expect(fromServer).toContain(p);
  });

  test("a missing file: the same message from both", () => {
    const p = join(dir, "missing.yml");
    expect(configError(() => loadConfig(p, {})).message).toBe(`cannot read config file ${p}: ENOENT`);
    expect(configError(() => loadReporterConfig(p)).message).toBe(`cannot read config file ${p}: ENOENT`);
  });

  test("an unknown key: the same form from both", () => {
    const token = "secret-token-0123456789";
    const server = configError(() => loadConfig(file("listen:\n  prot: 1\n"), {})).message;
    const reporter = configError(() => loadReporterConfig(file(`server:\n  url: http://a\n  token: ${token}\n  prot: 1\n`))).message;
    expect(server).toContain("\n  unknown key(s) listen.prot");
    expect(reporter).toContain("\n  unknown key(s) server.prot");
    expect(reporter).not.toContain(token);
  });
});

describe("server: per-host token settings", () => {
  const KEY = "a-host-key-of-at-least-32-chars-0123456789";

  test("host_key_file: the key is its first line; unreadable or short is named, the key never printed", () => {
    const keyFile = join(dir, "host.key");
    writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
    expect(loadConfig(file(`tokens:\n  host_key_file: ${keyFile}\n`), {}).tokens.host_key).toBe(KEY);
    expect(loadConfig(undefined, { CMDAUDIT_HOST_KEY_FILE: keyFile }).tokens.host_key).toBe(KEY);
    const missing = join(dir, "no.key");
    expect(configError(() => loadConfig(file(`tokens:\n  host_key_file: ${missing}\n`), {})).message).toBe(`tokens.host_key_file: cannot read ${missing}: ENOENT`);
    const short = join(dir, "short.key");
    writeFileSync(short, "too-short\n");
    const m = configError(() => loadConfig(file(`tokens:\n  host_key_file: ${short}\n`), {})).message;
    expect(m).toBe(`tokens.host_key_file: the key in ${short} must be at least 32 characters`);
  });

  test("host_key: too short, or given with host_key_file, is named; generations are per host name in lower case", () => {
    const short = configError(() => loadConfig(file("tokens:\n  host_key: short-key-abc\n"), {})).message;
    expect(short).toContain("tokens.host_key: host_key must be at least 32 characters");
    expect(short).not.toContain("short-key-abc");
    expect(configError(() => loadConfig(file(`tokens:\n  host_key: ${KEY}\n  host_key_file: /x\n`), {})).message).toContain("tokens.host_key_file: give host_key or host_key_file, not both");
    const c = loadConfig(file(`tokens:\n  host_key: ${KEY}\n  host_generations:\n    Web-1.Example.COM: 3\n`), {});
    expect(c.tokens.host_generations).toEqual({ "web-1.example.com": 3 });
    expect(configError(() => loadConfig(file("tokens:\n  host_generations:\n    'web 1': 1\n"), {})).message).toContain("a host name here holds only");
    expect(configError(() => loadConfig(file("tokens:\n  host_generations:\n    web-1: -1\n"), {})).message).toContain("tokens.host_generations.web-1");
  });

  test("shared ingest tokens: on where configured unless shared_ingest: false; off on a config without them", async () => {
    const { sharedIngestOn } = await import("../../server/src/config.ts");
    const shared = "shared-ingest-token-0123456789";
    expect(sharedIngestOn(loadConfig(file(`tokens:\n  ingest: [${shared}]\n`), {}))).toBe(true);
    expect(sharedIngestOn(loadConfig(file(`tokens:\n  ingest: [${shared}]\n  shared_ingest: false\n`), {}))).toBe(false);
    expect(sharedIngestOn(loadConfig(file(`tokens:\n  host_key: ${KEY}\n`), {}))).toBe(false);
    expect(sharedIngestOn(loadConfig(file(`tokens:\n  ingest: [${shared}]\n`), { CMDAUDIT_SHARED_INGEST: "false" }))).toBe(false);
  });
});
