/**
 * Every built-in rule against its corpus (corpus.ts): each hit must come out exactly as expected
 * (its secrets, and nothing else, replaced under the expected rules), each miss unchanged. The known
 * gaps must still be wrong. The last test prints each rule's precision and recall over both.
 */
import { describe, expect, test } from "bun:test";
import { BUILTIN_RULES, createRedactor, fingerprint, MARKER_PATTERN } from "../../protocol/redact/index.ts";
import { CORPUS, EVERYDAY, KNOWN_GAPS, parseHit, type RuleCorpus, type Secret } from "./corpus.ts";

const KEY = "corpus-test-fingerprint-key-0123456789";
const redactor = createRedactor({ key: KEY });
const markerOf = (rule: string, value: string) => `[REDACTED:${rule}:${fingerprint(KEY, value)}]`;
const utf8 = new TextEncoder();

/** The markers in `text` as rule + fingerprint, with their UTF-8 byte ranges. */
function markersIn(text: string): { id: string; start: number; end: number }[] {
  return [...text.matchAll(MARKER_PATTERN)].map((m) => {
    const start = utf8.encode(text.slice(0, m.index)).length;
    return { id: m[0].slice(10, -1), start, end: start + m[0].length };
  });
}

test("every built-in rule has hits and misses in the corpus, and the corpus names no other rule", () => {
  const ids = BUILTIN_RULES.map((r) => r.id);
  for (const id of ids) {
    expect(CORPUS[id]?.hits.length ?? 0, id).toBeGreaterThan(0);
    expect(CORPUS[id]?.misses.length ?? 0, id).toBeGreaterThan(0);
  }
  expect(Object.keys(CORPUS).filter((k) => k !== EVERYDAY && !ids.includes(k))).toEqual([]);
});

for (const [rule, { hits, misses }] of Object.entries(CORPUS)) {
  describe(rule, () => {
    if (hits.length > 0) {
      test("hits: exactly the secrets are replaced, under the expected rules, at the reported ranges", () => {
        for (const line of hits) {
          const { command, secrets, expected } = parseHit(rule, line, markerOf);
          const out = redactor.redact(command);
          expect(out.text, command).toBe(expected);
          expect(out.redactions.map((r) => r.rule), command).toEqual(secrets.map((s) => s.rule));
          expect(out.redactions.map(({ start, end }) => ({ start, end }))).toEqual(markersIn(out.text).map(({ start, end }) => ({ start, end })));
          expect(redactor.redact(out.text).text, `idempotent: ${command}`).toBe(out.text);
        }
      });
    }
    test("misses: unchanged", () => {
      for (const command of misses) {
        const out = redactor.redact(command);
        expect(out.text, command).toBe(command);
        expect(out.redactions).toEqual([]);
      }
    });
  });
}

test("the known gaps are still gaps (a fixed one belongs in CORPUS)", () => {
  for (const [rule, { hits, misses }] of Object.entries(KNOWN_GAPS)) {
    for (const line of hits) {
      const { command, expected } = parseHit(rule, line, markerOf);
      expect(redactor.redact(command).text, command).not.toBe(expected);
    }
    for (const command of misses) expect(redactor.redact(command).text, command).not.toBe(command);
  }
});

test("precision and recall of each rule on the corpus and the known gaps", () => {
  const counts = new Map(BUILTIN_RULES.map((r) => [r.id, { tp: 0, fp: 0, fn: 0 }]));
  const count = (id: string) => counts.get(id) ?? counts.set(id, { tp: 0, fp: 0, fn: 0 }).get(id)!;
  const score = (command: string, secrets: Secret[]) => {
    const found = markersIn(redactor.redact(command).text).map((m) => m.id);
    for (const s of secrets) {
      const at = found.indexOf(`${s.rule}:${fingerprint(KEY, s.value)}`);
      if (at >= 0) { count(s.rule).tp++; found.splice(at, 1); } else count(s.rule).fn++;
    }
    for (const id of found) count(id.slice(0, id.lastIndexOf(":"))).fp++;
  };
  const cases: [string, RuleCorpus][] = [...Object.entries(CORPUS), ...Object.entries(KNOWN_GAPS)];
  for (const [rule, { hits, misses }] of cases) {
    for (const line of hits) {
      const { command, secrets } = parseHit(rule, line, markerOf);
      score(command, secrets);
    }
    for (const command of misses) score(command, []);
  }
  const pct = (a: number, b: number) => (b === 0 ? "-" : `${((100 * a) / b).toFixed(1)}%`);
  const rows = [...counts].map(([id, c]) => [id, c.tp, c.fp, c.fn, pct(c.tp, c.tp + c.fp), pct(c.tp, c.tp + c.fn)]);
  const total = [...counts.values()].reduce((t, c) => ({ tp: t.tp + c.tp, fp: t.fp + c.fp, fn: t.fn + c.fn }), { tp: 0, fp: 0, fn: 0 });
  rows.push(["(all rules)", total.tp, total.fp, total.fn, pct(total.tp, total.tp + total.fp), pct(total.tp, total.tp + total.fn)]);
  const header = ["rule", "TP", "FP", "FN", "precision", "recall"];
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => "| " + r.map((c, i) => (i === 0 ? String(c).padEnd(width[i]!) : String(c).padStart(width[i]!))).join(" | ") + " |";
  console.log(["", "Redaction corpus: precision and recall per rule", line(header), "|" + width.map((w) => "-".repeat(w + 2)).join("|") + "|", ...rows.map(line)].join("\n"));
  expect(total.tp).toBeGreaterThan(0);
});
