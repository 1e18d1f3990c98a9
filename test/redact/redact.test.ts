/** The redactor's API: markers and fingerprints, byte offsets, configuration, overlaps, raw bytes. */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { BUILTIN_RULES, createRedactor, fingerprint, MARKER_PATTERN, redactRuleSchema, RULE_ID } from "../../protocol/redact/index.ts";
import { Rng } from "../support/rng.ts";
import { CORPUS, KNOWN_GAPS, parseHit } from "./corpus.ts";

const KEY = "redact-test-fingerprint-key-0123456789";
const redactor = createRedactor({ key: KEY });
const te = new TextEncoder();
const marker = (rule: string, value: string | Uint8Array) => `[REDACTED:${rule}:${fingerprint(KEY, value)}]`;

describe("markers and fingerprints", () => {
  test("a marker names the rule and carries the first 12 hex digits of HMAC-SHA256(key, secret)", () => {
    const out = redactor.redact("mysql -uroot -pS3cret db");
    const hmac = createHmac("sha256", KEY).update("S3cret").digest("hex").slice(0, 12);
    expect(out.text).toBe(`mysql -uroot -p[REDACTED:mysql-password:${hmac}] db`);
    expect(out.text.match(MARKER_PATTERN)).toHaveLength(1);
  });

  test("the same secret has the same fingerprint under any rule; another key gives another", () => {
    const a = redactor.redact("mysql -pS3cretPw1 db").text.match(/:([0-9a-f]{12})\]/)![1];
    const b = redactor.redact("PASSWORD=S3cretPw1 ./run").text.match(/:([0-9a-f]{12})\]/)![1];
    expect(a).toBe(b!);
    const other = createRedactor({ key: "another-deployment-key-0123456789abcdef" });
    expect(other.redact("PASSWORD=S3cretPw1 ./run").text).not.toContain(a!);
  });

  test("ranges are UTF-8 byte offsets of the markers in the output", () => {
    const out = redactor.redact("échó 中文 PASSWORD=S3cret ./run && TOKEN=abc123 ./x");
    const bytes = te.encode(out.text);
    expect(out.redactions.map((r) => r.rule)).toEqual(["env-secret", "env-secret"]);
    for (const r of out.redactions) expect(Buffer.from(bytes.subarray(r.start, r.end)).toString()).toMatch(new RegExp(`^${MARKER_PATTERN.source}$`));
    expect(out.redactions[0]!.start).toBe(te.encode("échó 中文 PASSWORD=").length);
  });

  test("idempotent, and markers already in a text are left alone", () => {
    const once = redactor.redact("export DB_PASSWORD='x y z' && mysql -pS3cret && curl -u a:b1c2 https://h");
    expect(redactor.redact(once.text)).toEqual({ text: once.text, redactions: [] });
    const typed = "PASSWORD=[REDACTED:env-secret:0123456789ab] ./run";
    expect(redactor.redact(typed)).toEqual({ text: typed, redactions: [] });
  });

  test("a command without secrets comes back as it was", () => {
    for (const c of ["", "ls -la", "echo 'héllo' \u0000\u0007", "x".repeat(10_000)]) expect(redactor.redact(c)).toEqual({ text: c, redactions: [] });
  });

  test("long values are replaced whole", () => {
    const value = (n: number) => "aB3".repeat(n).slice(0, n);
    for (const [command, secret] of [
      [`PASSWORD="${value(5000)}" ./x`, value(5000)],
      [`PASSWORD="${value(100)}\\"${value(100)}" ./x`, `${value(100)}\\"${value(100)}`],
      [`PASSWORD=${value(100_000)} ./x`, value(100_000)],
      [`-----BEGIN PRIVATE KEY-----\n${value(200_000)}\n-----END PRIVATE KEY-----`, value(200_000)],
    ] as const) {
      expect(redactor.redact(command).text).toBe(command.replace(secret, marker(command.startsWith("-") ? "private-key" : "env-secret", secret)));
    }
  });
});

describe("overlaps", () => {
  test("on the same span the earlier rule names the marker (token formats before places)", () => {
    const token = "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d";
    expect(redactor.redact(`export GITHUB_TOKEN=${token}`).text).toBe(`export GITHUB_TOKEN=${marker("github-token", token)}`);
  });

  test("from the same start the longer match wins", () => {
    const value = "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d-and-more";
    const out = redactor.redact(`X_TOKEN=${value}`);
    expect(out.text).toBe(`X_TOKEN=${marker("env-secret", value)}`);
    expect(out.redactions).toHaveLength(1);
  });
});

describe("configuration", () => {
  test("the key needs 32 characters; unknown disabled ids and duplicate rule ids are refused", () => {
    expect(() => createRedactor({ key: "short" })).toThrow(/32/);
    expect(() => createRedactor({ key: KEY, disabled: ["no-such-rule"] })).toThrow(/no-such-rule/);
    expect(() => createRedactor({ key: KEY, rules: [{ id: "env-secret", regex: "x(?<secret>y)" }] })).toThrow(/env-secret/);
  });

  test("an extra rule replaces its secret group; keywords gate it; min_entropy and ignore_case apply", () => {
    const rule = { id: "acme-token", regex: "acme_(?<secret>[a-z0-9]{16})", keywords: ["ACME_"], min_entropy: 3 };
    const r = createRedactor({ key: KEY, rules: [rule] });
    expect(r.redact("deploy acme_k3y9q2m7x1v5z8w4").text).toBe(`deploy acme_${marker("acme-token", "k3y9q2m7x1v5z8w4")}`);
    expect(r.redact("deploy acme_aaaaaaaaaaaaaaaa").text).toBe("deploy acme_aaaaaaaaaaaaaaaa");
    const gated = createRedactor({ key: KEY, rules: [{ ...rule, keywords: ["zzz"] }] });
    expect(gated.redact("deploy acme_k3y9q2m7x1v5z8w4").redactions).toEqual([]);
    const caseless = createRedactor({ key: KEY, rules: [{ ...rule, regex: "ACME_(?<secret>[a-z0-9]{16})", ignore_case: true }] });
    expect(caseless.redact("deploy acme_k3y9q2m7x1v5z8w4").redactions).toHaveLength(1);
  });

  test("nextMaybeSecret: where the first keyword of any rule begins in a range, escapes undone or not; a rule without keywords makes it the range's start; keywords hold no backslash", () => {
    const r = createRedactor({ key: KEY, rules: [{ id: "acme-token", regex: "acme_(?<secret>[a-z0-9]{16})", keywords: ["acme_"] }] });
    const bytes = (s: string) => Buffer.from(s, "latin1");
    expect(r.nextMaybeSecret(bytes("ls -la /tmp"), 0, 11)).toBe(-1);
    expect(r.nextMaybeSecret(bytes("deploy ACME_k3y9q2m7x1v5z8w4"), 0, 28)).toBe(7);
    expect(r.nextMaybeSecret(bytes("acme_k3y9q2m7x1v5z8w4"), 0, 21)).toBe(0);
    // Only the range is looked at, a keyword cut by its ends included.
    expect(r.nextMaybeSecret(bytes("deploy ACME_k3y9q2m7x1v5z8w4"), 0, 10)).toBe(-1);
    expect(r.nextMaybeSecret(bytes("deploy ACME_k3y9q2m7x1v5z8w4"), 8, 28)).toBe(-1);
    expect(r.nextMaybeSecret(bytes("x\tmysql -pS3cret\nacme_"), 3, 21)).toBe(-1);
    expect(r.nextMaybeSecret(bytes("x\tmysql -pS3cret\nacme_"), 3, 22)).toBe(17);
    expect(r.nextMaybeSecret(bytes("ls\nmysql -pS3cret"), 0, 17)).toBe(3);
    const always = createRedactor({ key: KEY, rules: [{ id: "any-hex", regex: "(?<secret>[0-9a-f]{40})" }] });
    expect(always.nextMaybeSecret(bytes("ls -la /tmp"), 4, 11)).toBe(4);
    expect(always.nextMaybeSecret(bytes("ls -la /tmp"), 11, 11)).toBe(-1);
    expect(redactRuleSchema.safeParse({ id: "bs", regex: "x(?<secret>y)", keywords: ["a\\b"] }).error?.issues[0]?.message).toContain("backslash");
    expect(() => createRedactor({ key: KEY, rules: [{ id: "bs", regex: "x(?<secret>y)", keywords: ["a\\b\\"] }] })).toThrow(/backslash/);
  });

  test("disabled built-ins do not run; exceptions leave matching values", () => {
    expect(createRedactor({ key: KEY, disabled: ["mysql-password"] }).redact("mysql -pS3cret db").redactions).toEqual([]);
    const r = createRedactor({ key: KEY, exceptions: ["^hunter2$"] });
    expect(r.redact("PASSWORD=hunter2 ./x").redactions).toEqual([]);
    expect(r.redact("PASSWORD=hunter22 ./x").redactions).toHaveLength(1);
  });

  test("a rule regex must have a secret group and no backtracking traps", () => {
    const issues = (regex: string) => redactRuleSchema.safeParse({ id: "x", regex }).error?.issues.map((i) => i.message).join("; ") ?? "";
    expect(issues("token=(?<secret>\\w+)")).toBe("");
    expect(issues("token=(\\w+)")).toContain("named group secret");
    expect(issues("(?<secret>(a+)+)")).toContain("exponential");
    expect(issues("(?<secret>(a)\\1)")).toContain("exponential");
    expect(issues("(?<secret>(?<q>a)\\k<q>)")).toContain("exponential");
    expect(issues(`(?<secret>${"a".repeat(600)})`)).not.toBe("");
    expect(issues("(?<secret>[)")).toContain("not a regular expression");
    expect(redactRuleSchema.safeParse({ id: "Bad_Id", regex: "(?<secret>x)" }).success).toBe(false);
  });

  test("the built-in rules are well formed", () => {
    const ids = BUILTIN_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of BUILTIN_RULES) {
      expect(r.id).toMatch(RULE_ID);
      expect(r.pattern.source).toContain("(?<secret>");
      expect(r.pattern.flags).not.toMatch(/[gy]/);
      for (const k of r.keywords) expect(k).toMatch(/^[\x20-\x7e]{3,}$/);
      for (const k of r.keywords) expect(k).toBe(k.toLowerCase());
    }
  });
});

describe("keywords", () => {
  test("a built-in rule's regex matches only texts holding one of its keywords: the prefilter never hides a secret", () => {
    // Every corpus line, and random recombinations of their words (a program's option without the
    // program, a value after another program's name, …).
    const lines = [...Object.entries(CORPUS), ...Object.entries(KNOWN_GAPS)].flatMap(([rule, c]) => [...c.hits.map((h) => parseHit(rule, h, () => "x").command), ...c.misses]);
    const words = lines.flatMap((l) => l.split(/[ \t]+/)).filter((w) => w.length > 0);
    const rng = new Rng(Number(process.env.FUZZ_SEED ?? 20261203));
    const seps = [" ", " ", " ", "\t", " | ", "; ", " && ", "="];
    for (let i = 0; i < 20_000; i++) {
      let line = rng.pick(words);
      for (let k = rng.range(1, 10); k > 0; k--) line += rng.pick(seps) + rng.pick(words);
      lines.push(line);
    }
    const missing: string[] = [];
    for (const rule of BUILTIN_RULES) {
      if (rule.keywords.length === 0) continue;
      const re = new RegExp(rule.pattern.source, `${rule.pattern.flags}g`);
      for (const line of lines) {
        const folded = line.toLowerCase();
        if (rule.keywords.some((k) => folded.includes(k))) continue;
        for (const m of line.matchAll(re)) {
          if (m.groups?.secret) missing.push(`${rule.id}: ${JSON.stringify(line)}`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(lines.length).toBeGreaterThan(20_000);
  });
});

describe("redactBytes", () => {
  test("bytes that are not UTF-8 are kept as they are around the secret; the fingerprint is of the raw bytes", () => {
    const input = Uint8Array.from([0xff, 0x20, ...te.encode("PASSWORD="), 0xe9, 0x74, 0xe9, 0x20, 0xfe]);
    const out = redactor.redactBytes(input);
    const m = marker("env-secret", Uint8Array.from([0xe9, 0x74, 0xe9]));
    expect([...out.bytes]).toEqual([0xff, 0x20, ...te.encode(`PASSWORD=${m}`), 0x20, 0xfe]);
    expect(out.redactions).toEqual([{ rule: "env-secret", start: 11, end: 11 + m.length }]);
  });

  test("UTF-8 gets what redact gives; without a secret the same array comes back", () => {
    const command = "é PASSWORD=S3cret ./run";
    const out = redactor.redactBytes(te.encode(command));
    const text = redactor.redact(command);
    expect(new TextDecoder().decode(out.bytes)).toBe(text.text);
    expect(out.redactions).toEqual(text.redactions);
    const plain = te.encode("ls -la");
    expect(redactor.redactBytes(plain).bytes).toBe(plain);
    const bom = Uint8Array.from([0xef, 0xbb, 0xbf, ...te.encode("PASSWORD=x1 ")]);
    expect([...redactor.redactBytes(bom).bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  });

  test("a keyword inside a typed marker wakes no rule, as text or as bytes, UTF-8 or not", () => {
    // "password" is only in the marker's rule id: the pin rule must not run.
    const r = createRedactor({ key: KEY, rules: [{ id: "pin", regex: "pin (?<secret>\\d{6})", keywords: ["password"] }] });
    const typed = "[REDACTED:mysql-password:0123456789ab] pin 123456";
    expect(r.redact(typed).redactions).toEqual([]);
    expect(r.redactBytes(te.encode(typed)).redactions).toEqual([]);
    expect(r.redactBytes(Uint8Array.from([0xff, ...te.encode(typed)])).redactions).toEqual([]);
    expect(r.redactBytes(te.encode(`${typed} password`)).redactions).toHaveLength(1);
  });
});

describe("commands seen before", () => {
  test("a command redacted again gives what it gave the first time, past the cache's capacity, secrets or not", () => {
    const warm = createRedactor({ key: KEY });
    const commands: string[] = [];
    for (let i = 0; i < 6000; i++) commands.push(`ls -la /srv/app-${i}`, i % 7 === 0 ? `mysql -uroot -pS3cretPw${i}x db` : "git status", `echo ${"x".repeat(600 + (i % 3))}`);
    const first = commands.map((c) => warm.redact(c));
    // Again, in another order: each must equal what a fresh redactor (no cache) gives.
    const fresh = createRedactor({ key: KEY });
    for (let i = commands.length - 1; i >= 0; i -= 3) {
      expect(warm.redact(commands[i]!)).toEqual(fresh.redact(commands[i]!));
      expect(warm.redact(commands[i]!)).toEqual(first[i]!);
    }
  });

  test("one redactor's clean commands are not another's: a rule of one's own still finds its secret", () => {
    const plain = createRedactor({ key: KEY });
    const own = createRedactor({ key: KEY, rules: [{ id: "acme", regex: "acme_(?<secret>[a-z]{8})", keywords: ["acme_"] }] });
    expect(plain.redact("curl -d acme_abcdefgh x").redactions).toEqual([]);
    expect(own.redact("curl -d acme_abcdefgh x").redactions.map((r) => r.rule)).toEqual(["acme"]);
  });
});
