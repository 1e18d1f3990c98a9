/** The reporter's config and state files: every bad input is a clear error naming the key; the token never shows. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { ConfigError, loadReporterConfig } from "../../../agent/src/config.ts";
import { loadState, newState, saveState, StateError } from "../../../agent/src/state.ts";
import { Rng } from "../../support/rng.ts";

const TOKEN = "secret-ingest-token-0123456789";
const dir = () => mkdtempSync(join(tmpdir(), "cmdaudit-cfg-"));
const good = () => ({ server: { url: "https://audit.example.com:8443", token: TOKEN }, log: { path: "/var/log/cmdaudit/commands.log" } });

function load(text: string): ReturnType<typeof loadReporterConfig> | ConfigError {
  const p = join(dir(), "reporter.yml");
  writeFileSync(p, text);
  try {
    return loadReporterConfig(p);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
}

describe("reporter config", () => {
  test("defaults fill in what is not given", () => {
    const c = load(stringify(good()));
    if (c instanceof ConfigError) throw c;
    expect(c.tokenValue).toBe(TOKEN);
    expect(c.state_dir).toBe("/var/lib/cmdaudit");
    expect(c.log.rotate_bytes).toBe(64 * 1024 * 1024);
    expect(c.run.budget_seconds).toBe(50);
  });

  test.each([
    ["unknown key", { ...good(), lgo: {} }, "unknown key(s) lgo"],
    ["nested unknown key", { ...good(), server: { ...good().server, tiemout: 1 } }, "server.tiemout"],
    ["no token", { server: { url: "https://a" } }, "exactly one of server.token and server.token_file"],
    ["both tokens", { server: { url: "https://a", token: TOKEN, token_file: "/x" } }, "exactly one of"],
    ["short token", { server: { url: "https://a", token: "short" } }, "server.token: a token is at least 16"],
    ["bad url", { server: { url: "ftp://a", token: TOKEN } }, "server.url: must be an http"],
    ["cap below rotation", { ...good(), log: { rotate_bytes: 1 << 30, max_retained_bytes: 1 << 20 } }, "log.rotate_bytes: must be smaller"],
    ["bad offset", { ...good(), log: { legacy_utc_offset: "8" } }, "log.legacy_utc_offset: must be ±HH:MM"],
    ["string number", { ...good(), run: { budget_seconds: "50" } }, "run.budget_seconds"],
    ["a stamp port users could bind", { ...good(), stamp: { port: 8979 } }, "stamp.port"],
  ])("%s: the error names the key", (_name, tree, want) => {
    const c = load(stringify(tree));
    expect(c).toBeInstanceOf(ConfigError);
    expect((c as ConfigError).message).toContain(want);
    expect((c as ConfigError).message).not.toContain(TOKEN);
  });

  test("a __proto__ key in the YAML is an unknown key and pollutes nothing", () => {
    const c = load(`server:\n  url: https://a\n  token: ${TOKEN}\n__proto__:\n  polluted: 1\n`);
    expect(c).toBeInstanceOf(ConfigError);
    expect((c as ConfigError).message).toContain("__proto__");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("a token file that is missing is named; its content never is", () => {
    const c = load(stringify({ server: { url: "https://a", token_file: "/nonexistent/token" } }));
    expect((c as ConfigError).message).toContain("server.token_file: cannot read /nonexistent/token: ENOENT");
  });

  test("fuzz: mutated configs load or fail with a ConfigError, never a crash, never the token in the message", () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 100000);
    const rng = new Rng(seed);
    const values = [null, true, 0, -1, 1.5, 1e300, "", "x", "+08:00", TOKEN, [], {}, [1, "a"], { a: 1 }];
    const keys = ["server", "url", "token", "token_file", "log", "path", "rotate_bytes", "max_retained_bytes", "batch", "bytes", "run", "attempts", "state_dir", "constructor"];
    for (let i = 0; i < 200; i++) {
      const tree = structuredClone(good()) as Record<string, unknown>;
      for (let m = rng.range(1, 4); m > 0; m--) {
        let node: Record<string, unknown> = tree;
        for (let d = rng.range(0, 2); d > 0; d--) {
          const k = rng.pick(keys);
          if (!node[k] || typeof node[k] !== "object" || Array.isArray(node[k])) node[k] = {};
          node = node[k] as Record<string, unknown>;
        }
        node[rng.pick(keys)] = rng.pick(values);
      }
      const text = rng.chance(0.1) ? stringify(tree).slice(0, rng.int(200)) + rng.pick(["\t", ":", "- [", "{"]) : stringify(tree);
      const c = load(text);
      if (c instanceof ConfigError) {
        expect(c.message.length).toBeGreaterThan(10);
        if (!c.message.includes(TOKEN)) continue;
        throw new Error(`token in message (FUZZ_SEED=${seed}): ${c.message}`);
      }
      expect(c.tokenValue.length).toBeGreaterThanOrEqual(16);
    }
  });
});

describe("reporter state", () => {
  test("round trip through the atomic save; mode 0600", () => {
    const d = dir();
    const s = newState();
    s.files.push({ path: "/x", dev: 1, ino: 2, offset: 3, size: 4, head: "ab", role: "live", ownRotation: false });
    saveState(d, s);
    expect(loadState(d)).toEqual(s);
    expect(Bun.spawnSync(["stat", "-c", "%a", join(d, "state.json")]).stdout.toString().trim()).toBe("600");
  });

  test("a damaged state file is an error that says what to do, not a silent restart", () => {
    const d = dir();
    writeFileSync(join(d, "state.json"), "{\"version\":1,");
    expect(() => loadState(d)).toThrow(StateError);
    expect(() => loadState(d)).toThrow(/not valid JSON; move it away/);
    writeFileSync(join(d, "state.json"), JSON.stringify({ ...newState(), nextLossSeq: -1 }));
    expect(() => loadState(d)).toThrow(/nextLossSeq/);
  });
});
