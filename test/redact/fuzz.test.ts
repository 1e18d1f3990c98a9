/**
 * Seeded fuzzing of the redactor: random commands (ASCII, multi-byte UTF-8, control characters,
 * and for redactBytes random bytes) with secrets and rule fragments spliced in. Every run uses the
 * same seeds, so a failure is reproducible; change SEED locally to explore further.
 *
 * The properties: it never throws; every byte outside a replaced secret is the input's (the input
 * is rebuilt from the output's unchanged parts and secrets whose fingerprints match the markers);
 * the reported ranges are exactly the markers; valid input gives valid output; redaction is
 * idempotent; a 1 MiB command of any shape finishes in well under 2 s (a guard against
 * catastrophic backtracking, not a benchmark).
 */
import { describe, expect, test } from "bun:test";
import { BUILTIN_RULES, createRedactor, fingerprint, MARKER_PATTERN, type Redaction } from "../../protocol/redact/index.ts";
import { Rng } from "../support/rng.ts";
import { CORPUS, parseHit } from "./corpus.ts";

const SEED = 20260417;
const KEY = "fuzz-test-fingerprint-key-0123456789abcdef";
const redactor = createRedactor({ key: KEY });
const te = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const MARKER_ALONE = new RegExp(`^${MARKER_PATTERN.source}$`);

/** Every hit of the corpus as a plain command, and the text before its first secret. */
const HITS = Object.entries(CORPUS).flatMap(([rule, c]) => c.hits.map((line) => ({ rule, line, ...parseHit(rule, line, () => "") })));
const PREFIXES = HITS.map((h) => h.line.slice(0, h.line.indexOf("«")));
const FRAGMENTS = [
  "mysql -p", "PASSWORD=", "export TOKEN=", "://u:", "@", "Authorization: Bearer ", "-----BEGIN PRIVATE KEY-----", "-----END",
  "eyJ", ".", "ghp_", "--password ", "--token=", "curl -u ", ":", "|", " | passwd", "echo ", "'", '"', "\\", "$", "${", "{{", "}}",
  "?token=", "&sig=", "-H 'Cookie: ", "[REDACTED:", "]", "-D", "\n", "\t", " ", "=", "AKIA", "xoxb-", "sk_live_", "npm_", "hvs.",
];
const WORDS = ["ls", "-la", "cd", "/var/log", "grep", "-r", "kubectl", "get", "pods", "&&", ";", "git", "push", "origin", "main", "docker", "run"];
const UNICODE = ["é", "ü", "ß", "中文", "日本語", "😀", "🔑", "\u00a0", "\u2028", "\ufeff", "Ω", "ñ"];

function randomAscii(rng: Rng, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.range(0x20, 0x7e));
  return s;
}

function randomValue(rng: Rng): string {
  const alphabet = rng.pick(["abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "abcXYZ019_-./+=:@!#%^*", "é中😀aZ9"]);
  const chars = [...alphabet];
  let s = "";
  for (let i = rng.range(1, 48); i > 0; i--) s += rng.pick(chars);
  return s;
}

/** A random command: words, fragments of rules, corpus hits, random values, Unicode and control characters. */
function randomCommand(rng: Rng, parts: number): string {
  let s = "";
  for (let i = 0; i < parts; i++) {
    const k = rng.int(10);
    if (k < 2) s += rng.pick(WORDS) + " ";
    else if (k < 4) s += rng.pick(FRAGMENTS);
    else if (k < 5) s += rng.pick(HITS).command;
    else if (k < 6) s += rng.pick(PREFIXES);
    else if (k < 7) s += randomValue(rng);
    else if (k < 8) s += rng.pick(UNICODE);
    else if (k < 9) s += String.fromCharCode(rng.chance(0.8) ? rng.int(0x20) : 0x7f);
    else s += randomAscii(rng, rng.range(1, 12));
  }
  return s;
}

function randomBytesCommand(rng: Rng, parts: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < parts; i++) chunks.push(rng.chance(0.5) ? te.encode(randomCommand(rng, 2)) : rng.bytes(rng.range(1, 8)));
  return Buffer.concat(chunks);
}

/**
 * Rebuilds the input from the output: the bytes outside the reported ranges must be the input's, in
 * order, and each range a marker whose fingerprint is that of the input bytes it replaced.
 */
function expectFaithful(input: Uint8Array, output: Uint8Array, redactions: Redaction[]): void {
  let inPos = 0;
  let outPos = 0;
  const outside = (from: number, to: number) => output.subarray(from, to);
  for (let i = 0; i < redactions.length; i++) {
    const r = redactions[i]!;
    const before = outside(outPos, r.start);
    expect(Buffer.compare(input.subarray(inPos, inPos + before.length), before)).toBe(0);
    inPos += before.length;
    const text = Buffer.from(output.subarray(r.start, r.end)).toString("latin1");
    expect(text).toMatch(MARKER_ALONE);
    expect(text.startsWith(`[REDACTED:${r.rule}:`)).toBe(true);
    const fp = text.slice(-13, -1);
    // The secret is the shortest run of input bytes with this fingerprint that the next unchanged part follows.
    const nextStart = i + 1 < redactions.length ? redactions[i + 1]!.start : output.length;
    const after = outside(r.end, nextStart);
    let end = inPos + 1;
    for (; end <= input.length; end++) {
      if (fingerprint(KEY, input.subarray(inPos, end)) === fp && Buffer.compare(input.subarray(end, end + after.length), after) === 0) break;
    }
    expect(end, "no input bytes match the marker's fingerprint").toBeLessThanOrEqual(input.length);
    inPos = end;
    outPos = r.end;
  }
  expect(Buffer.compare(input.subarray(inPos), outside(outPos, output.length))).toBe(0);
}

function expectRangesSortedAndMarkers(output: Uint8Array, redactions: Redaction[]): void {
  let last = 0;
  for (const r of redactions) {
    expect(r.start).toBeGreaterThanOrEqual(last);
    expect(r.end).toBeGreaterThan(r.start);
    last = r.end;
  }
  const markers = [...Buffer.from(output).toString("latin1").matchAll(MARKER_PATTERN)].map((m) => m.index);
  for (const r of redactions) expect(markers).toContain(r.start);
}

describe("redact(text) on random commands", () => {
  test("faithful outside secrets, exact ranges, valid UTF-8, idempotent", () => {
    const rng = new Rng(SEED);
    let redacted = 0;
    for (let n = 0; n < 1500; n++) {
      const command = randomCommand(rng, rng.range(1, 14));
      const out = redactor.redact(command);
      const input = te.encode(command);
      const output = te.encode(out.text);
      expect(out.text.isWellFormed()).toBe(true);
      expectRangesSortedAndMarkers(output, out.redactions);
      if (!command.includes("[REDACTED:")) expectFaithful(input, output, out.redactions);
      const again = redactor.redact(out.text);
      expect(again.text, JSON.stringify(command)).toBe(out.text);
      expect(again.redactions).toEqual([]);
      if (out.redactions.length) redacted++;
    }
    expect(redacted).toBeGreaterThan(300);
  });

  test("redactBytes of the UTF-8 gives the same as redact", () => {
    const rng = new Rng(SEED + 1);
    for (let n = 0; n < 500; n++) {
      const command = randomCommand(rng, rng.range(1, 10));
      const text = redactor.redact(command);
      const bytes = redactor.redactBytes(te.encode(command));
      expect(strictUtf8.decode(bytes.bytes)).toBe(text.text);
      expect(bytes.redactions).toEqual(text.redactions);
    }
  });

  test("a corpus hit among random benign lines is still redacted", () => {
    const rng = new Rng(SEED + 2);
    for (const h of HITS) {
      const noise = () => Array.from({ length: rng.range(0, 3) }, () => `${rng.pick(WORDS)} ${rng.pick(WORDS)} ${rng.pick(UNICODE)}`).join("\n");
      const command = `${noise()}\n${h.command}\n${noise()}`;
      const out = redactor.redact(command);
      for (const s of h.secrets) expect(out.text, command).toContain(`[REDACTED:${s.rule}:${fingerprint(KEY, s.value)}]`);
    }
  });
});

describe("redactBytes on random bytes", () => {
  test("never throws; every byte outside a secret is kept; idempotent", () => {
    const rng = new Rng(SEED + 3);
    let invalid = 0;
    let redacted = 0;
    for (let n = 0; n < 1500; n++) {
      const input = randomBytesCommand(rng, rng.range(1, 10));
      const out = redactor.redactBytes(input);
      expectRangesSortedAndMarkers(out.bytes, out.redactions);
      if (!Buffer.from(input).toString("latin1").includes("[REDACTED:")) expectFaithful(input, out.bytes, out.redactions);
      const again = redactor.redactBytes(out.bytes);
      expect(Buffer.compare(again.bytes, out.bytes)).toBe(0);
      expect(again.redactions).toEqual([]);
      try {
        strictUtf8.decode(input);
      } catch {
        invalid++;
      }
      if (out.redactions.length) redacted++;
    }
    expect(invalid).toBeGreaterThan(500);
    expect(redacted).toBeGreaterThan(100);
  });

  test("valid UTF-8 in, valid UTF-8 out", () => {
    const rng = new Rng(SEED + 4);
    for (let n = 0; n < 300; n++) {
      const out = redactor.redactBytes(te.encode(randomCommand(rng, rng.range(1, 10))));
      expect(() => strictUtf8.decode(out.bytes)).not.toThrow();
    }
  });
});

describe("1 MiB commands finish in under 2 s", () => {
  const MiB = 1 << 20;
  const fill = (unit: string) => unit.repeat(Math.ceil(MiB / unit.length)).slice(0, MiB);
  const rng = new Rng(SEED + 5);

  function expectQuick(shapes: [string, string][]): void {
    const slow: string[] = [];
    for (const [name, command] of shapes) {
      const t0 = performance.now();
      const out = redactor.redact(command);
      const ms = performance.now() - t0;
      expect(out.text.length).toBeGreaterThan(0);
      if (ms > 2000) slow.push(`${name}: ${ms.toFixed(0)} ms`);
    }
    expect(slow).toEqual([]);
  }

  test("plain shapes: one letter, random ASCII, random commands, blanks, unclosed quote, endless key body", () => {
    expectQuick([
      ["one letter", fill("a")],
      ["random printable ASCII", randomAscii(rng, MiB)],
      ["random command parts", randomCommand(rng, 60_000).slice(0, MiB)],
      ["blanks", fill(" ")],
      ["newlines", fill("\n")],
      ["unclosed double quote with escapes", `PASSWORD="${fill('a\\"b')}`],
      ["private key body without END", `-----BEGIN PRIVATE KEY-----\n${fill("QUJD")}`],
      ["base64 of JWT heads", fill("eyJhbGciOi")],
      ["many variables as one value", `PASSWORD=${fill("$a")}`],
      ["many printf directives as one value", `echo ${fill("%s")} | passwd`],
      ["single dashes in a key body", `-----BEGIN PRIVATE KEY-----\n${fill("a-")}`],
      ["BEGIN lines without bodies", fill("-----BEGIN RSA PRIVATE KEY-----\n")],
    ]);
  });

  test("each rule fragment repeated", () => {
    expectQuick(FRAGMENTS.map((f) => [JSON.stringify(f), fill(f)]));
  });

  // What leads up to a secret, repeated with nothing, a quote or a value after it, and whole hits repeated.
  for (const rule of BUILTIN_RULES) {
    test(`${rule.id}: its context repeated`, () => {
      const hit = HITS.find((h) => h.rule === rule.id)!;
      const prefix = hit.line.slice(0, hit.line.indexOf("«"));
      expectQuick([
        ["prefix", fill(prefix)],
        ['prefix + "', fill(`${prefix}"`)],
        ["prefix + '", fill(`${prefix}'`)],
        ["prefix + value + blank", fill(`${prefix}x1 `)],
        ["the hit", fill(`${hit.command} `)],
      ]);
    });
  }
});
